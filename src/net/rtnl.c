#include "net/rtnl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rtnl {
	struct mnl_socket *nl;
	unsigned portid;
	unsigned seq;
	/* A link dump arrives in many messages; 32 KiB takes several per read. */
	char buf[32768];
};

int rtnl_open(struct rtnl **ret, struct cove_err *err)
{
	struct rtnl *r = calloc(1, sizeof(*r));
	if (!r)
		return cove_errf(err, -ENOMEM, "netlink: out of memory");
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl) {
		int e = -errno;
		free(r);
		return cove_errno(err, e, "netlink: open");
	}
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;
		rtnl_close(r);
		return cove_errno(err, e, "netlink: bind");
	}
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (unsigned)time(NULL);
	*ret = r;
	return 0;
}

struct rtnl *rtnl_close(struct rtnl *r)
{
	if (!r)
		return NULL;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r);
	return NULL;
}

static struct nlmsghdr *msg_new(struct rtnl *r, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++r->seq;
	return nlh;
}

/* Sends a request and reads replies (to cb, if any) until the kernel's
 * acknowledgement or the end of a dump; the kernel's errno on failure. */
static int call(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *ctx)
{
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	unsigned seq = nlh->nlmsg_seq;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (n < 0)
			return -errno;
		int ret = mnl_cb_run(r->buf, (size_t)n, seq, r->portid, cb, ctx);
		if (ret < 0)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, unsigned ifindex)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	return ifi;
}

static int index_cb(const struct nlmsghdr *nlh, void *ctx)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	*(unsigned *)ctx = (unsigned)ifi->ifi_index;
	return MNL_CB_OK;
}

int rtnl_link_index(struct rtnl *r, const char *name, unsigned *ret)
{
	/* With NLM_F_ACK the reply is followed by an acknowledgement, which
	 * ends the read loop. */
	struct nlmsghdr *nlh = msg_new(r, RTM_GETLINK, 0);
	put_ifinfo(nlh, 0);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	unsigned index = 0;
	int e = call(r, nlh, index_cb, &index);
	if (e < 0)
		return e;
	if (!index)
		return -ENODEV;
	*ret = index;
	return 0;
}

int rtnl_link_up(struct rtnl *r, unsigned ifindex)
{
	struct nlmsghdr *nlh = msg_new(r, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = put_ifinfo(nlh, ifindex);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return call(r, nlh, NULL, NULL);
}

int rtnl_link_up_alias(struct rtnl *r, const char *name, const char *alias)
{
	struct nlmsghdr *nlh = msg_new(r, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = put_ifinfo(nlh, 0);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
	return call(r, nlh, NULL, NULL);
}

int rtnl_link_delete(struct rtnl *r, const char *name)
{
	struct nlmsghdr *nlh = msg_new(r, RTM_DELLINK, 0);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return call(r, nlh, NULL, NULL);
}

int rtnl_veth_create(struct rtnl *r, const char *name, const char *peer, int peer_netns_fd)
{
	struct nlmsghdr *nlh = msg_new(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peer_info = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* The peer's own ifinfomsg, then its attributes. */
	struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
	memset(pifi, 0, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	mnl_attr_nest_end(nlh, peer_info);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return call(r, nlh, NULL, NULL);
}

int rtnl_addr_add(struct rtnl *r, unsigned ifindex, uint32_t addr, unsigned prefix)
{
	struct nlmsghdr *nlh = msg_new(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr);
	return call(r, nlh, NULL, NULL);
}

int rtnl_route_default(struct rtnl *r, unsigned ifindex, uint32_t gateway)
{
	struct nlmsghdr *nlh = msg_new(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_GATEWAY, gateway);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	return call(r, nlh, NULL, NULL);
}

int rtnl_neigh_add(struct rtnl *r, unsigned ifindex, uint32_t addr, const unsigned char mac[6])
{
	struct nlmsghdr *nlh = msg_new(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = (int)ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	mnl_attr_put_u32(nlh, NDA_DST, addr);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return call(r, nlh, NULL, NULL);
}

/* Reads what is left of an interrupted dump, up to its end (the kernel makes
 * each part of a dump as the previous one is read, so this never waits on
 * anything but the kernel). */
static void drain(struct rtnl *r)
{
	for (;;) {
		ssize_t got = recv(mnl_socket_get_fd(r->nl), r->buf, sizeof(r->buf), 0);
		if (got <= 0)
			return;
		int len = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)r->buf; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len))
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				return;
	}
}

struct link_walk {
	rtnl_link_fn fn;
	void *ctx;
	int result;
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);
	if ((type == IFLA_IFNAME || type == IFLA_IFALIAS) && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *ctx)
{
	struct link_walk *w = ctx;
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, tb);
	if (!tb[IFLA_IFNAME] || w->result < 0)
		return MNL_CB_OK;
	int r = w->fn(w->ctx, mnl_attr_get_str(tb[IFLA_IFNAME]), tb[IFLA_IFALIAS] ? mnl_attr_get_str(tb[IFLA_IFALIAS]) : "");
	if (r < 0)
		w->result = r;
	return MNL_CB_OK;
}

int rtnl_link_each(struct rtnl *r, rtnl_link_fn fn, void *ctx)
{
	/* A dump ends with NLMSG_DONE; no acknowledgement is asked for, since
	 * one would be left unread after it. */
	/* A dump that links changed under is flagged (libmnl: EINTR) and is
	 * simply asked for again. */
	for (int attempt = 0;; attempt++) {
		struct nlmsghdr *nlh = msg_new(r, RTM_GETLINK, NLM_F_DUMP);
		nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
		put_ifinfo(nlh, 0);
		mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
		struct link_walk w = { fn, ctx, 0 };
		int e = call(r, nlh, link_cb, &w);
		if (e == -EINTR && attempt < 10) {
			drain(r);
			continue;
		}
		return e < 0 ? e : w.result;
	}
}

int rtnl_parse_mac(const char *s, unsigned char mac[6])
{
	unsigned b[6];
	char end;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (unsigned char)b[i];
	return 0;
}
