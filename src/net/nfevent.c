/* nftables change notifications (NFNLGRP_NFTABLES) as the kernel sends
 * them: which of a read's messages delete a given inet table. Pure, so that
 * it is unit-tested and fuzzed (tests/fuzz/fuzz_nft_event.c). */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>

#include "net/internal.h"

struct table_name {
	const char *name;
	size_t len;
};

static int table_attr(const struct nlattr *a, void *data)
{
	struct table_name *t = data;
	if (mnl_attr_get_type(a) == NFTA_TABLE_NAME && mnl_attr_validate(a, MNL_TYPE_STRING) == 0) {
		t->name = mnl_attr_get_payload(a);
		t->len = strnlen(t->name, mnl_attr_get_payload_len(a));
	}
	return MNL_CB_OK;
}

/* 1 when this message deletes inet table name; 0 otherwise; -EINVAL when
 * its attributes do not parse. */
static int deletes(const struct nlmsghdr *nlh, const char *name)
{
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_DELTABLE)
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
		return -EINVAL;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family != NFPROTO_INET)
		return 0;
	struct table_name t = { 0 };
	if (mnl_attr_parse(nlh, sizeof(*g), table_attr, &t) < 0)
		return -EINVAL;
	/* A delete with no name is a whole flush; the kernel names each table
	 * in its notifications, but treat it as ours all the same. */
	if (!t.name)
		return 1;
	return t.len == strlen(name) && memcmp(t.name, name, t.len) == 0;
}

int nft_event_deletes_table(const void *buf, size_t len, const char *name)
{
	/* Walked here rather than with mnl_nlmsg_ok/next: they compare lengths
	 * as int, so a length past 2 GiB would walk off the buffer. */
	const char *p = buf;
	int found = 0;
	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const void *)p;
		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
			return found ? found : -EINVAL;
		int r = deletes(nlh, name);
		if (r < 0)
			return found ? found : r;
		found |= r;
		size_t step = MNL_ALIGN(nlh->nlmsg_len);
		if (step >= len)
			return found;
		p += step;
		len -= step;
	}
	/* A part that is not a whole message: the kernel does not send one. */
	return len > 0 && !found ? -EINVAL : found;
}
