#include "net/rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rtnl {
	struct mnl_socket *nl;
	unsigned portid;
	unsigned seq;
	char buf[8192]; /* MNL_SOCKET_BUFFER_SIZE is 8192 on 4 KiB pages, but not a constant */
};

static int rtnl_open(struct rtnl *r, struct cove_err *err)
{
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl)
		return cove_errno(err, -errno, "netlink: open");
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;
		mnl_socket_close(r->nl);
		return cove_errno(err, e, "netlink: bind");
	}
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (unsigned)time(NULL);
	return 0;
}

static struct nlmsghdr *rtnl_msg(struct rtnl *r, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++r->seq;
	return nlh;
}

/* Sends a request and waits for its acknowledgement; the kernel's errno on failure. */
static int rtnl_call(struct rtnl *r, struct nlmsghdr *nlh)
{
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	unsigned seq = nlh->nlmsg_seq;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (n < 0)
			return -errno;
		int ret = mnl_cb_run(r->buf, (size_t)n, seq, r->portid, NULL, NULL);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

static int link_up(struct rtnl *r, unsigned ifindex)
{
	struct nlmsghdr *nlh = rtnl_msg(r, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return rtnl_call(r, nlh);
}

static int addr_add(struct rtnl *r, unsigned ifindex, struct in_addr addr, int prefix)
{
	struct nlmsghdr *nlh = rtnl_msg(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr.s_addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr.s_addr);
	return rtnl_call(r, nlh);
}

static int neigh_add(struct rtnl *r, unsigned ifindex, struct in_addr addr, const unsigned char mac[6])
{
	struct nlmsghdr *nlh = rtnl_msg(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = (int)ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	mnl_attr_put_u32(nlh, NDA_DST, addr.s_addr);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return rtnl_call(r, nlh);
}

static int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned b[6];
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (unsigned char)b[i];
	return 0;
}

int rtnl_configure_slot(const char *ifname, const char *addr, int prefix, const char *guest_addr,
			const char *guest_mac, struct cove_err *err)
{
	struct in_addr a, g;
	unsigned char mac[6];
	if (inet_pton(AF_INET, addr, &a) != 1 || inet_pton(AF_INET, guest_addr, &g) != 1 ||
	    parse_mac(guest_mac, mac) < 0)
		return cove_errf(err, -EINVAL, "netlink: bad address %s, %s or MAC %s", addr, guest_addr, guest_mac);
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return cove_errno(err, -errno, "netlink: find link %s", ifname);
	struct rtnl *r = malloc(sizeof(*r));
	if (!r)
		return cove_errf(err, -ENOMEM, "netlink: out of memory");
	int ret = rtnl_open(r, err);
	if (ret < 0) {
		free(r);
		return ret;
	}
	if ((ret = link_up(r, 1)) < 0) /* lo is ifindex 1 in every new namespace */
		cove_errno(err, ret, "netlink: bring lo up");
	else if ((ret = addr_add(r, ifindex, a, prefix)) < 0)
		cove_errno(err, ret, "netlink: add %s/%d to %s", addr, prefix, ifname);
	else if ((ret = link_up(r, ifindex)) < 0)
		cove_errno(err, ret, "netlink: bring %s up", ifname);
	else if ((ret = neigh_add(r, ifindex, g, mac)) < 0)
		cove_errno(err, ret, "netlink: add neighbour %s %s on %s", guest_addr, guest_mac, ifname);
	mnl_socket_close(r->nl);
	free(r);
	return ret;
}
