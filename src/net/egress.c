/* The egress proxy's side of the net module: what a policy says of one
 * connection (net_egress_decide), which slot a connection came from and its
 * policy, the addresses no policy opens, and pointing slots' web traffic at
 * the proxy. */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/internal.h"
#include "proto/domain.h"
#include "store/store.h"

static bool in_table(const struct net_cidr *t, uint32_t addr)
{
	for (; t->prefix; t++)
		if (net_cidr_contains(t, addr))
			return true;
	return false;
}

static bool addr_listed(const char *const *list, uint32_t addr)
{
	for (size_t i = 0; list && list[i]; i++) {
		struct net_cidr c;
		if (net_cidr_parse(list[i], &c) == 0 && net_cidr_contains(&c, addr))
			return true;
	}
	return false;
}

static bool name_listed(const char *const *list, const char *name)
{
	if (!name || !*name)
		return false;
	for (size_t i = 0; list && list[i]; i++)
		if (domain_is_name(list[i]) && domain_match(list[i], name))
			return true;
	return false;
}

enum net_egress_verdict net_egress_decide(const struct net_policy *p, uint32_t dst, const char *name)
{
	if (name_listed(p->allow_out, name))
		return NET_EGRESS_BY_NAME;
	if (addr_listed(p->allow_out, dst))
		return NET_EGRESS_DIRECT;
	if (name_listed(p->deny_out, name) || !p->internet || addr_listed(p->deny_out, dst) ||
	    in_table(net_private, dst))
		return NET_EGRESS_DENY;
	return NET_EGRESS_DIRECT;
}

int net_slots_set_proxy(struct net_slots *ns, uint16_t port, struct cove_err *err)
{
	return fw_set_proxy(ns->fw, port, err);
}

int net_egress_lookup(struct net_slots *ns, uint32_t peer, unsigned *index, struct net_policy_copy *ret,
		      struct cove_err *err)
{
	const struct net_cidr *range = &ns->layout.range;
	/* A slot's namespace end: range + 2N + 1. */
	if (!net_cidr_contains(range, peer) || (peer - range->addr) % 2 != 1)
		return cove_errf(err, -ENOENT, "egress: a connection from outside the slots");
	unsigned i = (peer - range->addr) / 2;
	char *text = NULL;
	int r = store_slot_get_policy(ns->store, i, &text, err);
	if (r < 0)
		return r;
	if ((r = net_policy_decode(text, ret)) < 0)
		cove_errf(err, r, "slot %u: unreadable policy record", i);
	free(text);
	*index = i;
	return r;
}

static bool host_addr(uint32_t addr)
{
	struct ifaddrs *all;
	if (getifaddrs(&all) < 0)
		return true; /* unknown: refused */
	bool found = false;
	for (struct ifaddrs *a = all; a && !found; a = a->ifa_next)
		if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET)
			found = ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr) == addr;
	freeifaddrs(all);
	return found;
}

bool net_egress_forbidden(struct net_slots *ns, uint32_t addr)
{
	return in_table(net_blocked, addr) || net_cidr_contains(&ns->layout.range, addr) || host_addr(addr);
}
