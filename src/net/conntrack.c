/* The kernel's connection tracking entries of a slot's address, forgotten
 * when the slot is made and when it is released (ctnetlink, through libmnl).
 *
 * Why: a slot's address is handed to sandbox after sandbox, and sandboxes
 * restored from one snapshot pick the same source ports in the same order
 * (the guest kernel's port secret is in the snapshot). An entry a killed
 * sandbox left (established: five days) then matches the new sandbox's
 * first packets, which take its old NAT binding: to an egress proxy port
 * that a restarted coved no longer listens on (the guest sees "connection
 * refused"), or past a policy that has changed. Left alone, such entries
 * also pile up in the host's table.
 *
 * The kernel filters the dumps (CTA_FILTER, Linux 5.8 and later; an older
 * one sends everything, so each entry is checked here again), but deletes
 * only by tuple: each entry found is deleted by its original tuple. */
#include <errno.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "net/internal.h"

/* The kernel's CTA_FILTER_F_CTA_IP_SRC and _DST (net/netfilter/nf_internals.h,
 * an ABI since 5.8 though not in the uapi headers). */
#define CT_FILTER_IP_SRC (1u << 0)
#define CT_FILTER_IP_DST (1u << 1)
#define CT_TUPLE_MAX 256
#define CT_DUMP_BUFFER (64 * 1024)

struct addr_pair {
	uint32_t src, dst;
	bool have_src, have_dst;
};

static int ip_attr(const struct nlattr *a, void *data)
{
	struct addr_pair *p = data;
	int type = mnl_attr_get_type(a);
	if ((type == CTA_IP_V4_SRC || type == CTA_IP_V4_DST) && mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
		uint32_t v = ntohl(mnl_attr_get_u32(a));
		if (type == CTA_IP_V4_SRC) {
			p->src = v;
			p->have_src = true;
		} else {
			p->dst = v;
			p->have_dst = true;
		}
	}
	return MNL_CB_OK;
}

static int tuple_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_TUPLE_IP && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
		mnl_attr_parse_nested(a, ip_attr, data);
	return MNL_CB_OK;
}

struct entry_attrs {
	const struct nlattr *orig, *reply, *zone;
};

static int entry_attr(const struct nlattr *a, void *data)
{
	struct entry_attrs *e = data;
	switch (mnl_attr_get_type(a)) {
	case CTA_TUPLE_ORIG:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			e->orig = a;
		break;
	case CTA_TUPLE_REPLY:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			e->reply = a;
		break;
	case CTA_ZONE:
		if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
			e->zone = a;
		break;
	}
	return MNL_CB_OK;
}

static bool names(const struct nlattr *tuple, uint32_t addr)
{
	struct addr_pair p = { 0 };
	if (!tuple || mnl_attr_parse_nested(tuple, tuple_attr, &p) < 0)
		return false;
	return (p.have_src && p.src == addr) || (p.have_dst && p.dst == addr);
}

/* One entry of a dump: handed to fn when either of its tuples names addr. */
static int entry(const struct nlmsghdr *nlh, uint32_t addr, int (*fn)(void *ctx, const struct ct_entry *e),
		 void *ctx)
{
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
		return -EINVAL;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family != AF_INET)
		return 0;
	struct entry_attrs a = { 0 };
	/* Bounded by nlmsg_len itself: mnl_attr_parse would walk to its
	 * aligned end, past the buffer when the last message is not padded. */
	if (mnl_attr_parse_payload((const char *)g + sizeof(*g), mnl_nlmsg_get_payload_len(nlh) - sizeof(*g),
				   entry_attr, &a) < 0)
		return -EINVAL;
	if (!a.orig || (!names(a.orig, addr) && !names(a.reply, addr)))
		return 0;
	struct ct_entry e = { .orig = a.orig, .has_zone = a.zone != NULL };
	if (a.zone)
		e.zone = ntohs(mnl_attr_get_u16(a.zone));
	return fn(ctx, &e);
}

int ct_dump_parse(const void *buf, size_t len, uint32_t addr, int (*fn)(void *ctx, const struct ct_entry *e),
		  void *ctx)
{
	/* Walked here, not with mnl_nlmsg_ok (which compares lengths as int). */
	const char *p = buf;
	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const void *)p;
		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
			return -EINVAL;
		if (nlh->nlmsg_type == NLMSG_DONE)
			return 1;
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr))
				return -EINVAL;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			/* error 0 would be an acknowledgement; a dump ends with DONE */
			return e->error < 0 && e->error > -4096 ? e->error : -EPROTO;
		}
		if (nlh->nlmsg_type == ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)) {
			int r = entry(nlh, addr, fn, ctx);
			if (r < 0)
				return r;
		}
		size_t step = MNL_ALIGN(nlh->nlmsg_len);
		if (step >= len)
			return 0;
		p += step;
		len -= step;
	}
	return len > 0 ? -EINVAL : 0;
}

/* --- the socket side --- */

struct found {
	struct kept {
		unsigned char tuple[CT_TUPLE_MAX];
		size_t len;
		uint16_t zone;
		bool has_zone;
	} *v;
	size_t n, cap;
};

static int keep(void *ctx, const struct ct_entry *e)
{
	struct found *f = ctx;
	if (e->orig->nla_len > CT_TUPLE_MAX)
		return 0; /* not a tuple the kernel sends */
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct kept *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	struct kept *k = &f->v[f->n++];
	memcpy(k->tuple, e->orig, e->orig->nla_len);
	k->len = e->orig->nla_len;
	k->zone = e->zone;
	k->has_zone = e->has_zone;
	return 0;
}

static struct nlmsghdr *request(char *buf, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

/* Every entry whose original tuple has addr as its source (dst: its
 * destination), added to f. */
static int dump(struct mnl_socket *nl, uint32_t addr, bool dst, uint32_t seq, struct found *f, struct cove_err *err)
{
	/* A dump's datagrams can be larger than a page (32 KiB and more):
	 * one cut short would not parse. */
	char *buf = malloc(CT_DUMP_BUFFER);
	if (!buf)
		return cove_errf(err, -ENOMEM, "conntrack: out of memory");
	struct nlmsghdr *nlh = request(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
	struct nlattr *tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put_u32(nlh, dst ? CTA_IP_V4_DST : CTA_IP_V4_SRC, htonl(addr));
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, tuple);
	struct nlattr *filter = mnl_attr_nest_start(nlh, CTA_FILTER);
	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, dst ? CT_FILTER_IP_DST : CT_FILTER_IP_SRC);
	mnl_attr_nest_end(nlh, filter);
	int r = 0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		r = cove_errno(err, -errno, "conntrack: ask for the entries");
	while (r == 0) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, CT_DUMP_BUFFER);
		if (n < 0) {
			r = cove_errno(err, -errno, "conntrack: read the entries");
			break;
		}
		int p = ct_dump_parse(buf, (size_t)n, addr, keep, f);
		if (p < 0)
			r = cove_errf(err, p, "conntrack: list the entries: %s", strerror(-p));
		else if (p == 1)
			break;
	}
	free(buf);
	return r;
}

/* 0, or the kernel's error (-ENOENT: gone already). */
static int delete_one(struct mnl_socket *nl, const struct kept *k, uint32_t seq)
{
	_Alignas(struct nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq);
	memcpy((char *)nlh + nlh->nlmsg_len, k->tuple, k->len);
	nlh->nlmsg_len += MNL_ALIGN(k->len);
	if (k->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(k->zone));
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	return mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL, NULL) < 0 ? -errno : 0;
}

int ct_forget_addr(uint32_t addr, unsigned *forgotten, struct cove_err *err)
{
	if (forgotten)
		*forgotten = 0;
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return cove_errno(err, -errno, "conntrack: open a netfilter netlink socket");
	struct found f = { 0 };
	uint32_t seq = (uint32_t)time(NULL);
	int r = mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ? cove_errno(err, -errno, "conntrack: bind") : 0;
	/* From it (its connections out) and to it (the host's to the guest). */
	if (r == 0)
		r = dump(nl, addr, false, seq++, &f, err);
	if (r == 0)
		r = dump(nl, addr, true, seq++, &f, err);
	unsigned n = 0;
	for (size_t i = 0; r == 0 && i < f.n; i++) {
		int d = delete_one(nl, &f.v[i], seq++);
		if (d == 0)
			n++;
		else if (d != -ENOENT) /* listed twice, or ended meanwhile */
			r = cove_errf(err, d, "conntrack: delete an entry: %s", strerror(-d));
	}
	free(f.v);
	mnl_socket_close(nl);
	if (forgotten)
		*forgotten = n;
	return r;
}
