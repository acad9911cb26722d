/* Unit tests for the pure parts of src/net: CIDRs and policies, the slot
 * address plan, names, the nftables commands a policy becomes, and the
 * nftables notifications the rules' guard reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/internal.h"

static void test_cidr_parse(void **state)
{
	(void)state;
	struct net_cidr c;
	assert_int_equal(net_cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.addr, 0x0a000000u);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(net_cidr_parse("1.2.3.4", &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(net_cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(net_cidr_parse("203.0.113.7/32", &c), 0);
	const char *bad[] = { "", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8",
			      "10.0.0.0/ 8", "example.com", "1.2.3", "1.2.3.4.5", "::1", "10.0.0.0/8x",
			      "256.0.0.0", "1.2.3.4/32 ", "10.0.0.0/8; flush ruleset" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (net_cidr_parse(bad[i], &c) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(net_cidr_parse(NULL, &c), -EINVAL);
}

static void test_policy_check(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	const char *ok[] = { "1.1.1.1", "8.8.8.0/24", NULL };
	struct net_policy p = { .internet = false, .allow_out = ok, .deny_out = NULL };
	assert_int_equal(net_policy_check(&p, &err), 0);
	const char *names[] = { "1.1.1.1", "example.com", "*.github.com", NULL };
	p.deny_out = names;
	assert_int_equal(net_policy_check(&p, &err), 0);
	assert_true(net_policy_has_domains(&p));
	const char *bad[] = { "1.1.1.1", "1.1.1.1/33", NULL };
	p.deny_out = bad;
	assert_int_equal(net_policy_check(&p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "deny_out: '1.1.1.1/33'"));
	assert_non_null(strstr(err.msg, "nor a domain name"));
	const char *bad_name[] = { "exa mple.com", NULL };
	p.deny_out = bad_name;
	assert_int_equal(net_policy_check(&p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "deny_out"));
	assert_non_null(strstr(err.msg, "exa mple.com"));
	static const char *many[NET_MAX_RULES + 2];
	for (size_t i = 0; i <= NET_MAX_RULES; i++)
		many[i] = "10.0.0.0/8";
	p.deny_out = NULL;
	p.allow_out = many;
	assert_int_equal(net_policy_check(&p, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "allow_out"));
}

static void test_slot_addresses(void **state)
{
	(void)state;
	struct net_cidr r;
	assert_int_equal(net_cidr_parse("10.200.0.0/16", &r), 0);
	assert_int_equal(net_range_slots(&r), 32768);
	uint32_t host, ns;
	char a[16], b[16];
	assert_int_equal(net_slot_addrs(&r, 0, &host, &ns), 0);
	net_addr_format(host, a);
	net_addr_format(ns, b);
	assert_string_equal(a, "10.200.0.0");
	assert_string_equal(b, "10.200.0.1");
	assert_int_equal(net_slot_addrs(&r, 200, &host, &ns), 0);
	net_addr_format(ns, b);
	assert_string_equal(b, "10.200.1.145");
	assert_int_equal(net_slot_addrs(&r, 32767, &host, &ns), 0);
	net_addr_format(ns, b);
	assert_string_equal(b, "10.200.255.255");
	assert_int_equal(net_slot_addrs(&r, 32768, &host, &ns), -ERANGE);
	assert_int_equal(net_cidr_parse("192.168.7.4/30", &r), 0);
	assert_int_equal(net_range_slots(&r), 2);
	assert_int_equal(net_cidr_parse("192.168.7.4/31", &r), 0);
	assert_int_equal(net_range_slots(&r), 0);
}

static void test_names_and_indices(void **state)
{
	(void)state;
	assert_int_equal(net_name_check("cove"), 0);
	assert_int_equal(net_name_check("c0ve2"), 0);
	assert_int_equal(net_name_check("abcdefgh"), 0);
	const char *bad[] = { "", "abcdefghi", "Cove", "co-ve", "co*", "a b", "co\"ve" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(net_name_check(bad[i]), -EINVAL);
	unsigned idx;
	assert_int_equal(slot_parse_index("cove-", "cove-12", &idx), 0);
	assert_int_equal(idx, 12);
	assert_int_equal(slot_parse_index("slot-", "slot-0", &idx), 0);
	assert_int_equal(idx, 0);
	const char *notours[] = { "cove-", "cove-01", "cove-1a", "coves-1", "cove-12345678", "eth0", "cove--1" };
	for (size_t i = 0; i < sizeof(notours) / sizeof(*notours); i++)
		assert_int_equal(slot_parse_index("cove-", notours[i], &idx), -EINVAL);
	assert_int_equal(slot_parse_index("cove-", NULL, &idx), -EINVAL);
}

static void test_policy_commands(void **state)
{
	(void)state;
	char buf[4096];
	struct net_policy open = { .internet = true };
	assert_true(fw_slot_commands("cove", 7, &open, NULL, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "add chain inet cove slot-7\n"
				 "flush chain inet cove slot-7\n"
				 "add rule inet cove slot-7 ip daddr @private reject with icmpx admin-prohibited\n"
				 "add rule inet cove slot-7 accept\n"
				 "add element inet cove slots { \"cove-7\" : jump slot-7 }\n"
				 "add chain inet cove nat-7\n"
				 "flush chain inet cove nat-7\n"
				 "add element inet cove natslots { \"cove-7\" : jump nat-7 }\n"
				 "add element inet cove volclients { \"cove-7\" }\n"
				 "delete element inet cove volclients { \"cove-7\" }\n");

	/* A guest that mounts volumes: its link in volclients, kept. */
	struct net_policy mounts = { .internet = true, .volumes = true };
	assert_true(fw_slot_commands("cove", 7, &mounts, NULL, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "add element inet cove volclients { \"cove-7\" }\n"));
	assert_null(strstr(buf, "delete element inet cove volclients"));

	/* E2B: internet off is deny 0.0.0.0/0, and allow_out wins. */
	const char *allow[] = { "1.1.1.1", "8.8.8.0/24", NULL };
	struct net_policy closed = { .internet = false, .allow_out = allow };
	assert_true(fw_slot_commands("covt", 3, &closed, NULL, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "add chain inet covt slot-3\n"
				 "flush chain inet covt slot-3\n"
				 "add rule inet covt slot-3 ip daddr { 1.1.1.1/32, 8.8.8.0/24 } accept\n"
				 "add rule inet covt slot-3 reject with icmpx admin-prohibited\n"
				 "add element inet covt slots { \"covt-3\" : jump slot-3 }\n"
				 "add chain inet covt nat-3\n"
				 "flush chain inet covt nat-3\n"
				 "add element inet covt natslots { \"covt-3\" : jump nat-3 }\n"
				 "add element inet covt volclients { \"covt-3\" }\n"
				 "delete element inet covt volclients { \"covt-3\" }\n");

	/* Domains: never printed; web traffic goes to the proxy, and a policy
	 * without internet keeps DNS to the nameservers. */
	const char *named[] = { "pypi.org", "*.github.com", "1.1.1.1", NULL }, *dns[] = { "203.0.113.53", NULL };
	struct net_policy domains = { .internet = false, .allow_out = named };
	assert_true(fw_slot_commands("covt", 4, &domains, dns, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "add chain inet covt slot-4\n"
				 "flush chain inet covt slot-4\n"
				 "add rule inet covt slot-4 ip daddr { 1.1.1.1/32 } accept\n"
				 "add rule inet covt slot-4 ip daddr { 203.0.113.53/32 } udp dport 53 accept\n"
				 "add rule inet covt slot-4 ip daddr { 203.0.113.53/32 } tcp dport 53 accept\n"
				 "add rule inet covt slot-4 reject with icmpx admin-prohibited\n"
				 "add element inet covt slots { \"covt-4\" : jump slot-4 }\n"
				 "add chain inet covt nat-4\n"
				 "flush chain inet covt nat-4\n"
				 "add rule inet covt nat-4 jump proxy\n"
				 "add element inet covt natslots { \"covt-4\" : jump nat-4 }\n"
				 "add element inet covt volclients { \"covt-4\" }\n"
				 "delete element inet covt volclients { \"covt-4\" }\n");
	const char *only_names[] = { "*.github.com", NULL };
	struct net_policy deny_names = { .internet = true, .deny_out = only_names };
	assert_true(fw_slot_commands("covt", 4, &deny_names, dns, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "github"));
	assert_non_null(strstr(buf, "nat-4 jump proxy"));
	/* With names, the nameservers are open before anything is denied. */
	assert_non_null(strstr(buf, "udp dport 53 accept"));
	assert_true(strstr(buf, "dport 53") < strstr(buf, "reject"));
	/* E2B's usual form: the internet on, everything denied but names. */
	const char *all[] = { "0.0.0.0/0", NULL };
	struct net_policy usual = { .internet = true, .allow_out = only_names, .deny_out = all };
	assert_true(fw_slot_commands("covt", 4, &usual, dns, buf, sizeof(buf)) > 0);
	assert_true(strstr(buf, "dport 53") && strstr(buf, "dport 53") < strstr(buf, "0.0.0.0/0"));
	/* The internet on, no names: open before private networks close. */
	struct net_policy plain = { .internet = true };
	assert_true(fw_slot_commands("covt", 4, &plain, dns, buf, sizeof(buf)) > 0);
	assert_true(strstr(buf, "dport 53") && strstr(buf, "dport 53") < strstr(buf, "@private"));
	/* Without it and without names, closed. */
	struct net_policy closed_nodns = { .internet = false, .allow_out = allow };
	assert_true(fw_slot_commands("covt", 4, &closed_nodns, dns, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "dport 53"));

	const char *deny[] = { "203.0.113.0/24", NULL };
	struct net_policy some = { .internet = true, .deny_out = deny };
	assert_true(fw_slot_commands("cove", 0, &some, NULL, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "add rule inet cove slot-0 ip daddr { 203.0.113.0/24 } reject"));
	assert_true(strstr(buf, "203.0.113.0/24") < strstr(buf, "@private"));

	/* Entries are re-printed from their parsed form; anything else is refused. */
	const char *evil[] = { "1.1.1.1/32 } accept; flush ruleset; {", NULL };
	struct net_policy bad = { .internet = true, .deny_out = evil };
	assert_int_equal(fw_slot_commands("cove", 0, &bad, NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fw_slot_commands("cove", 0, &open, NULL, buf, 40), -ENOSPC);
}

static void test_egress_decide(void **state)
{
	(void)state;
	const uint32_t allowed_ip = 0xcb00710a, other = 0xcb007114, private = 0xc0a84d0a; /* .10, .20, 192.168.77.10 */
	/* The usual form: everything denied but some names and an address. */
	const char *allow[] = { "allowed.test", "*.wild.test", "203.0.113.10", NULL }, *all[] = { "0.0.0.0/0", NULL };
	struct net_policy p = { .internet = false, .allow_out = allow, .deny_out = all };
	assert_int_equal(net_egress_decide(&p, other, "allowed.test"), NET_EGRESS_BY_NAME);
	assert_int_equal(net_egress_decide(&p, other, "ALLOWED.test"), NET_EGRESS_BY_NAME);
	assert_int_equal(net_egress_decide(&p, other, "a.wild.test"), NET_EGRESS_BY_NAME);
	assert_int_equal(net_egress_decide(&p, other, "wild.test"), NET_EGRESS_DENY);
	assert_int_equal(net_egress_decide(&p, other, "denied.test"), NET_EGRESS_DENY);
	assert_int_equal(net_egress_decide(&p, other, ""), NET_EGRESS_DENY);
	assert_int_equal(net_egress_decide(&p, allowed_ip, "denied.test"), NET_EGRESS_DIRECT);
	assert_int_equal(net_egress_decide(&p, allowed_ip, ""), NET_EGRESS_DIRECT);
	/* Internet on, some names denied: allow wins, private stays closed. */
	const char *deny[] = { "denied.test", "*.wild.test", NULL }, *allow2[] = { "b.wild.test", NULL };
	struct net_policy q = { .internet = true, .allow_out = allow2, .deny_out = deny };
	assert_int_equal(net_egress_decide(&q, other, "denied.test"), NET_EGRESS_DENY);
	assert_int_equal(net_egress_decide(&q, other, "a.wild.test"), NET_EGRESS_DENY);
	assert_int_equal(net_egress_decide(&q, other, "b.wild.test"), NET_EGRESS_BY_NAME);
	assert_int_equal(net_egress_decide(&q, other, "elsewhere.test"), NET_EGRESS_DIRECT);
	assert_int_equal(net_egress_decide(&q, private, "elsewhere.test"), NET_EGRESS_DENY);
}

static void test_policy_text(void **state)
{
	(void)state;
	struct net_policy open = { .internet = true };
	char *text = net_policy_encode(&open);
	assert_string_equal(text, "");
	struct net_policy_copy pc;
	assert_int_equal(net_policy_decode(text, &pc), 0);
	assert_true(net_policy_is_default(&pc.policy));
	net_policy_copy_free(&pc);
	free(text);

	const char *allow[] = { "203.0.113.10", NULL }, *deny[] = { "10.0.0.0/8", "192.168.0.0/16", NULL };
	struct net_policy p = { .internet = false, .allow_out = allow, .deny_out = deny };
	text = net_policy_encode(&p);
	assert_non_null(text);
	assert_int_equal(net_policy_decode(text, &pc), 0);
	assert_false(pc.policy.internet);
	assert_string_equal(pc.policy.allow_out[0], "203.0.113.10");
	assert_null(pc.policy.allow_out[1]);
	assert_string_equal(pc.policy.deny_out[1], "192.168.0.0/16");
	assert_null(pc.policy.deny_out[2]);
	net_policy_copy_free(&pc);
	free(text);

	/* An egressProxy is kept whole (its password too: the record is the
	 * state directory's, never an API answer). */
	struct net_policy via = { .internet = true, .proxy = { "proxy.test:1080", "u", "p" } };
	text = net_policy_encode(&via);
	assert_non_null(strstr(text, "\"egressProxy\""));
	assert_int_equal(net_policy_decode(text, &pc), 0);
	assert_false(net_policy_is_default(&pc.policy));
	assert_string_equal(pc.policy.proxy.address, "proxy.test:1080");
	assert_string_equal(pc.policy.proxy.username, "u");
	assert_string_equal(pc.policy.proxy.password, "p");
	net_policy_copy_free(&pc);
	free(text);
	char host[256];
	uint16_t port;
	assert_int_equal(net_egress_proxy_split("203.0.113.54:1080", host, &port), 0);
	assert_string_equal(host, "203.0.113.54");
	assert_int_equal(port, 1080);
	assert_int_equal(net_egress_proxy_split("203.0.113.0/24:1080", host, &port), -EINVAL);
	assert_int_equal(net_egress_proxy_split(":1080", host, &port), -EINVAL);
	assert_int_equal(net_egress_proxy_split("p.test:65536", host, &port), -EINVAL);

	const char *bad[] = { "{", "[]", "{\"allowOut\":[]}", "{\"allowInternetAccess\":true,\"allowOut\":[1]}",
			      "{\"allowInternetAccess\":true,\"denyOut\":[\"exa mple.com\"]}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (net_policy_decode(bad[i], &pc) != -EINVAL)
			fail_msg("'%s' decoded", bad[i]);
}

/* network.rules: parsed from E2B's JSON (hosts lower-cased, a later
 * transform's header replacing an earlier one), checked, matched (exact
 * first, then the longest wildcard), kept in the record. */
static void test_rules(void **state)
{
	(void)state;
	json_t *j = json_loads("{\"API.test\": [{\"transform\": {\"headers\": {\"Authorization\": \"Bearer "
			       "${e2b.secrets.k}\", \"X-A\": \"1\"}}}, {\"transform\": {\"headers\": {\"x-a\": \"2\"}}}],"
			       " \"*.test\": [{\"transform\": {\"headers\": {\"X-W\": \"w\"}}}],"
			       " \"*.b.test\": [{\"transform\": {\"headers\": {\"X-B\": \"b\"}}}]}",
			       0, NULL);
	struct net_rules_parsed rp;
	struct cove_err err = { 0 };
	assert_int_equal(net_rules_parse(j, "network.rules", &rp, &err), 0);
	struct net_policy p = { .internet = true, .rules = rp.rules, .nrules = rp.nrules };
	assert_int_equal(net_policy_check_as(&p, "network.allowOut", "network.denyOut", &err), 0);
	assert_true(net_policy_needs_proxy(&p));
	const struct net_rule *r = net_rule_match(&p, "api.test");
	assert_non_null(r);
	assert_string_equal(r->host, "api.test");
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(r->headers[1].value, "2");
	assert_string_equal(net_rule_match(&p, "a.b.test")->host, "*.b.test");
	assert_string_equal(net_rule_match(&p, "x.test")->host, "*.test");
	assert_null(net_rule_match(&p, "test"));
	assert_null(net_rule_match(&p, "other.example"));

	char *text = net_policy_encode(&p);
	struct net_policy_copy pc;
	assert_int_equal(net_policy_decode(text, &pc), 0);
	assert_int_equal(pc.policy.nrules, 3);
	assert_string_equal(net_rule_match(&pc.policy, "api.test")->headers[0].value, "Bearer ${e2b.secrets.k}");
	net_policy_copy_free(&pc);
	free(text);
	net_rules_parsed_free(&rp);
	json_decref(j);

	const char *bad[] = {
		"{\"*\": []}",
		"{\"a..b\": []}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"Host\": \"x\"}}}]}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"Transfer-Encoding\": \"x\"}}}]}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"A\": \"x\\r\\nB: y\"}}}]}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"A B\": \"x\"}}}]}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"A\": \"${e2b.secrets.}\"}}}]}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"A\": \"${e2b.other}\"}}}]}",
		"{\"a.test\": [{\"transform\": {\"headers\": {\"A\": 1}}}]}",
		"{\"a.test\": {}}",
		"{\"A.test\": [], \"a.test\": []}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		memset(&err, 0, sizeof(err));
		int rc = net_rules_parse(j, "network.rules", &rp, &err);
		if (rc == 0) {
			p = (struct net_policy){ .internet = true, .rules = rp.rules, .nrules = rp.nrules };
			rc = net_policy_check_as(&p, "network.allowOut", "network.denyOut", &err);
			net_rules_parsed_free(&rp);
		}
		if (rc >= 0 || !strstr(err.msg, "network.rules"))
			fail_msg("accepted or unnamed: %s (%s)", bad[i], err.msg);
		json_decref(j);
	}
}

/* One nftables notification: nlmsg type t (NFT_MSG_*), family, table name
 * (NULL: none), appended to buf at *off. */
static void put_event(char *buf, size_t *off, uint16_t t, uint8_t family, const char *name)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *off);
	nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | t);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	if (name)
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, name);
	*off += nlh->nlmsg_len;
}

static void test_nft_events(void **state)
{
	(void)state;
	_Alignas(struct nlmsghdr) char buf[1024];
	size_t n = 0;
	put_event(buf, &n, NFT_MSG_DELTABLE, NFPROTO_INET, "cove");
	assert_int_equal(nft_event_deletes_table(buf, n, "cove"), 1);
	assert_int_equal(nft_event_deletes_table(buf, n, "cov"), 0);
	assert_int_equal(nft_event_deletes_table(buf, n, "covex"), 0);
	/* Our own changes (a slot's chain going) and other families' tables are not. */
	n = 0;
	put_event(buf, &n, NFT_MSG_DELCHAIN, NFPROTO_INET, "cove");
	put_event(buf, &n, NFT_MSG_DELTABLE, NFPROTO_IPV4, "cove");
	put_event(buf, &n, NFT_MSG_NEWTABLE, NFPROTO_INET, "cove");
	assert_int_equal(nft_event_deletes_table(buf, n, "cove"), 0);
	/* A flush's notifications: another table's deletion, then ours. */
	put_event(buf, &n, NFT_MSG_DELTABLE, NFPROTO_INET, "other");
	put_event(buf, &n, NFT_MSG_DELTABLE, NFPROTO_INET, "cove");
	assert_int_equal(nft_event_deletes_table(buf, n, "cove"), 1);
	/* A truncated message, or one too short for its header. */
	assert_int_equal(nft_event_deletes_table(buf, 10, "cove"), -EINVAL);
	n = 0;
	put_event(buf, &n, NFT_MSG_DELTABLE, NFPROTO_INET, NULL);
	((struct nlmsghdr *)buf)->nlmsg_len = sizeof(struct nlmsghdr) + 2;
	assert_int_equal(nft_event_deletes_table(buf, sizeof(struct nlmsghdr) + 2, "cove"), -EINVAL);
	assert_int_equal(nft_event_deletes_table(buf, 0, "cove"), 0);
}

/* A conntrack entry's message, UDP from src:sport to dst:dport (host byte
 * order; the reply tuple the other way round), appended to buf at *off. */
static struct nlmsghdr *put_ct(char *buf, size_t *off, uint16_t type, uint16_t flags, uint32_t src, uint32_t dst,
			       uint16_t sport, uint16_t dport)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *off);
	nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | type);
	nlh->nlmsg_flags = flags;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	for (int dir = 0; dir < 2; dir++) {
		struct nlattr *t = mnl_attr_nest_start(nlh, dir ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG);
		struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
		mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(dir ? dst : src));
		mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(dir ? src : dst));
		mnl_attr_nest_end(nlh, ip);
		struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
		mnl_attr_put_u8(nlh, CTA_PROTO_NUM, 17);
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(dir ? dport : sport));
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dir ? sport : dport));
		mnl_attr_nest_end(nlh, pr);
		mnl_attr_nest_end(nlh, t);
	}
	*off += nlh->nlmsg_len;
	return nlh;
}

static int count_entry(void *ctx, const struct ct_entry *e)
{
	assert_non_null(e->orig);
	(*(unsigned *)ctx)++;
	return 0;
}

#define CT_A 0xc6336401u /* 198.51.100.1 */
#define CT_B 0xc6336402u

static void test_conntrack_dump(void **state)
{
	(void)state;
	_Alignas(struct nlmsghdr) char buf[2048];
	size_t n = 0;
	unsigned seen = 0;
	put_ct(buf, &n, IPCTNL_MSG_CT_NEW, 0, CT_A, CT_B, 1000, 53);
	put_ct(buf, &n, IPCTNL_MSG_CT_NEW, 0, CT_B, CT_A, 1001, 80);     /* to it */
	put_ct(buf, &n, IPCTNL_MSG_CT_NEW, 0, CT_B, CT_B + 1, 1002, 80); /* not it */
	size_t entries = n;
	struct nlmsghdr *done = mnl_nlmsg_put_header(buf + n);
	done->nlmsg_type = NLMSG_DONE;
	n += done->nlmsg_len;
	assert_int_equal(ct_dump_parse(buf, entries, CT_A, count_entry, &seen), 0);
	assert_int_equal(seen, 2);
	seen = 0;
	assert_int_equal(ct_dump_parse(buf, n, CT_A, count_entry, &seen), 1);
	assert_int_equal(seen, 2);
	seen = 0;
	assert_int_equal(ct_dump_parse(buf, n, CT_B + 1, count_entry, &seen), 1);
	assert_int_equal(seen, 1);
	/* Truncated; an error; nothing. */
	assert_int_equal(ct_dump_parse(buf, 10, CT_A, count_entry, &seen), -EINVAL);
	assert_int_equal(ct_dump_parse(buf, entries - 4, CT_A, count_entry, &seen), -EINVAL);
	n = 0;
	struct nlmsghdr *e = mnl_nlmsg_put_header(buf);
	e->nlmsg_type = NLMSG_ERROR;
	struct nlmsgerr *err = mnl_nlmsg_put_extra_header(e, sizeof(*err));
	err->error = -EPERM;
	assert_int_equal(ct_dump_parse(buf, e->nlmsg_len, CT_A, count_entry, &seen), -EPERM);
	assert_int_equal(ct_dump_parse(buf, 0, CT_A, count_entry, &seen), 0);
}

/* One request to ctnetlink; the kernel's answer (0 or -errno). */
static int ct_request(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	_Alignas(struct nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 7;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	return mnl_cb_run(buf, (size_t)n, 7, mnl_socket_get_portid(nl), NULL, NULL) < 0 ? -errno : 0;
}

/* Against the kernel: entries from and to an address, made through
 * ctnetlink as `conntrack -I` makes them, are gone after ct_forget_addr;
 * another address's stays. */
static void test_conntrack_forget(void **state)
{
	(void)state;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	assert_non_null(nl);
	assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	_Alignas(struct nlmsghdr) char buf[1024];
	size_t n = 0;
	struct nlmsghdr *nlh = put_ct(buf, &n, IPCTNL_MSG_CT_NEW, NLM_F_CREATE, CT_A, CT_B, 40000, 53);
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(120));
	int r = ct_request(nl, nlh);
	if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOENT) {
		mnl_socket_close(nl);
		skip(); /* not root, or no conntrack here */
	}
	assert_int_equal(r, 0);
	n = 0;
	nlh = put_ct(buf, &n, IPCTNL_MSG_CT_NEW, NLM_F_CREATE, CT_B, CT_A, 40001, 80);
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(120));
	assert_int_equal(ct_request(nl, nlh), 0);
	n = 0;
	nlh = put_ct(buf, &n, IPCTNL_MSG_CT_NEW, NLM_F_CREATE, CT_B, CT_B + 1, 40002, 80);
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(120));
	assert_int_equal(ct_request(nl, nlh), 0);

	struct cove_err err = { 0 };
	unsigned forgotten = 0;
	assert_int_equal(ct_forget_addr(CT_A, &forgotten, &err), 0);
	assert_int_equal(forgotten, 2);
	n = 0;
	assert_int_equal(ct_request(nl, put_ct(buf, &n, IPCTNL_MSG_CT_GET, 0, CT_A, CT_B, 40000, 53)), -ENOENT);
	n = 0;
	assert_int_equal(ct_request(nl, put_ct(buf, &n, IPCTNL_MSG_CT_GET, 0, CT_B, CT_A, 40001, 80)), -ENOENT);
	n = 0;
	assert_int_equal(ct_request(nl, put_ct(buf, &n, IPCTNL_MSG_CT_GET, 0, CT_B, CT_B + 1, 40002, 80)), 0);
	assert_int_equal(ct_forget_addr(CT_A, &forgotten, &err), 0);
	assert_int_equal(forgotten, 0);
	n = 0;
	assert_int_equal(ct_request(nl, put_ct(buf, &n, IPCTNL_MSG_CT_DELETE, 0, CT_B, CT_B + 1, 40002, 80)), 0);
	mnl_socket_close(nl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_policy_check),
		cmocka_unit_test(test_slot_addresses),
		cmocka_unit_test(test_names_and_indices),
		cmocka_unit_test(test_policy_commands),
		cmocka_unit_test(test_egress_decide),
		cmocka_unit_test(test_policy_text),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_nft_events),
		cmocka_unit_test(test_conntrack_dump),
		cmocka_unit_test(test_conntrack_forget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
