/* Cove's nftables rules, through libnftables (one batch per change, so every
 * change is one kernel transaction: atomic, and all or nothing).
 *
 *   table inet NAME
 *     set blocked   link-local (cloud metadata), loopback, multicast, and the
 *                   slot range itself (other sandboxes): never reachable
 *     set private   the host's private networks: reachable only by allow_out
 *     map slots     host link name -> jump to that slot's chain
 *     map natslots  host link name -> jump to that slot's nat chain
 *     set volclients host link names of slots whose sandboxes mount volumes
 *     chain input       no new connections from a slot to the host itself,
 *                       but those redirected to the egress proxy
 *     chain egress      (nat, prerouting) the slot's nat chain
 *     chain proxy       redirect of TCP 80 and 443 to the egress proxy's
 *                       port, or nothing when no proxy runs
 *     chain proxy_all   the same for all TCP (slots with an egressProxy)
 *     chain forward     to the volume server: chain volumes; from a slot:
 *                       blocked, then the slot's chain, then reject
 *     chain volumes     NFS and MOUNT (TCP) from the slots in volclients to
 *                       the volume server's link (net.h), nothing else
 *     chain postrouting masquerade of the range on the way out
 *     chain slot-N      the sandbox's policy: allow_out, deny_out, private
 *     chain nat-N       jump proxy when the policy names domains or has rules, proxy_all
 *                       when it has an egressProxy
 *
 * Inside each slot's namespace a small table of its own SNATs the guest to
 * the namespace's end of the veth. Entries come from net_cidr_parse and are
 * printed back by us, so nothing from a request reaches nft's parser as is. */
#include <errno.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "net/internal.h"

#define REJECT "reject with icmpx admin-prohibited"

/* A slot's policy waiting to be committed (fw_slot_set). */
struct pending {
	const char *cmds;
	unsigned index;
	int r;
	struct cove_err err;
	bool done;
	struct pending *next;
};

struct firewall {
	char name[NET_NAME_MAX + 1];
	struct net_cidr range;
	struct nft_ctx *nft; /* under lock */
	pthread_mutex_t lock;
	/* Group commit of policies: callers queue theirs; whoever finds no
	 * commit under way takes the whole queue into one transaction. */
	pthread_mutex_t queue_lock;
	pthread_cond_t committed;
	struct pending *queue, **queue_end; /* in the order they came */
	bool committing;
	/* The sandboxes' nameservers (net_config.dns), NULL-terminated. */
	char dns_text[NET_DNS_MAX][16];
	const char *dns[NET_DNS_MAX + 1];
	/* The egress proxy's port; 0: none runs in this process. */
	uint16_t proxy_port;
};

/* The kernel's errno, as libnftables reports it only in text. */
static int error_code(const char *msg)
{
	static const struct {
		const char *text;
		int code;
	} known[] = {
		{ "No such file or directory", -ENOENT },       { "Operation not permitted", -EPERM },
		{ "Protocol not supported", -EPROTONOSUPPORT }, { "File exists", -EEXIST },
		{ "Device or resource busy", -EBUSY },          { "No space left", -ENOSPC },
		{ "Cannot allocate memory", -ENOMEM },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (msg && strstr(msg, known[i].text))
			return known[i].code;
	return -EIO;
}

/* The first line of nft's error output, for a one-line message. */
static void first_line(const char *msg, char *buf, size_t len)
{
	snprintf(buf, len, "%s", msg && *msg ? msg : "failed");
	buf[strcspn(buf, "\n")] = '\0';
}

/* Runs commands in ctx. Its output and error buffers are emptied first
 * (reading a buffer resets it), so what the caller reads afterwards is this
 * command's alone. */
static int run(struct nft_ctx *nft, const char *cmds, const char *what, struct cove_err *err)
{
	nft_ctx_get_output_buffer(nft);
	nft_ctx_get_error_buffer(nft);
	if (nft_run_cmd_from_buffer(nft, cmds) == 0)
		return 0;
	const char *msg = nft_ctx_get_error_buffer(nft);
	int code = error_code(msg);
	if (err) {
		char line[256];
		first_line(msg, line, sizeof(line));
		cove_errf(err, code, "nftables: %s: %s", what, line);
	}
	return code;
}

static struct nft_ctx *ctx_new(void)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return NULL;
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	/* Names are never looked up: no DNS in the middle of a transaction. */
	nft_ctx_output_set_flags(nft, NFT_CTX_OUTPUT_NUMERIC_ALL);
	return nft;
}

int fw_open(const char *name, const struct net_cidr *range, const char *const *dns, struct firewall **ret,
	    struct cove_err *err)
{
	struct firewall *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return cove_errf(err, -ENOMEM, "nftables: out of memory");
	snprintf(fw->name, sizeof(fw->name), "%s", name);
	fw->range = *range;
	for (size_t i = 0, n = 0; dns && dns[i] && n < NET_DNS_MAX; i++) {
		struct net_cidr c;
		if (net_cidr_parse(dns[i], &c) < 0 || c.prefix != 32)
			continue; /* net_config_check refused it already */
		net_addr_format(c.addr, fw->dns_text[n]);
		fw->dns[n] = fw->dns_text[n];
		n++;
	}
	pthread_mutex_init(&fw->lock, NULL);
	pthread_mutex_init(&fw->queue_lock, NULL);
	pthread_cond_init(&fw->committed, NULL);
	fw->queue_end = &fw->queue;
	fw->nft = ctx_new();
	if (!fw->nft) {
		fw_close(fw);
		return cove_errf(err, -ENOMEM, "nftables: cannot make a libnftables context");
	}
	/* Listing the tables proves nftables answers (the module is there and
	 * we may use it) before anything is made. */
	int r = run(fw->nft, "list tables", "list tables", err);
	if (r < 0) {
		fw_close(fw);
		return cove_err_prefix(err, "nftables unavailable%s",
				       r == -EPERM             ? " (needs root or CAP_NET_ADMIN)"
				       : r == -EPROTONOSUPPORT ? " (no nf_tables in this kernel)"
							       : "");
	}
	*ret = fw;
	return 0;
}

struct firewall *fw_close(struct firewall *fw)
{
	if (!fw)
		return NULL;
	if (fw->nft)
		nft_ctx_free(fw->nft);
	pthread_mutex_destroy(&fw->lock);
	pthread_mutex_destroy(&fw->queue_lock);
	pthread_cond_destroy(&fw->committed);
	free(fw);
	return NULL;
}

/* A growing command buffer; overflow is remembered and reported once. */
struct cmdbuf {
	char *buf;
	size_t len, used;
	bool overflow;
};

__attribute__((format(printf, 2, 3))) static void emit(struct cmdbuf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->buf + b->used, b->len - b->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->len - b->used)
		b->overflow = true;
	else
		b->used += (size_t)n;
}

static void emit_cidr(struct cmdbuf *b, const struct net_cidr *c)
{
	char a[16];
	net_addr_format(c->addr, a);
	emit(b, "%s/%u", a, c->prefix);
}

/* A table's prefixes, separated by ", ". */
static void emit_table(struct cmdbuf *b, const struct net_cidr *t)
{
	for (size_t i = 0; t[i].prefix; i++) {
		emit(b, i ? ", " : "");
		emit_cidr(b, &t[i]);
	}
}

static int table_commands(const struct firewall *fw, char *buf, size_t len)
{
	struct cmdbuf b = { buf, len, 0, false };
	const char *t = fw->name;
	/* create: the whole batch fails (EEXIST) if another process of the
	 * instance made the table meanwhile, rather than add its rules twice. */
	emit(&b, "create table inet %s\n", t);
	emit(&b, "add set inet %s blocked { type ipv4_addr; flags interval; auto-merge; elements = { ", t);
	emit_table(&b, net_blocked);
	emit(&b, ", ");
	emit_cidr(&b, &fw->range);
	emit(&b, " }; }\n");
	emit(&b, "add set inet %s private { type ipv4_addr; flags interval; auto-merge; elements = { ", t);
	emit_table(&b, net_private);
	emit(&b, " }; }\n");
	emit(&b, "add map inet %s slots { type ifname : verdict; }\n", t);
	emit(&b, "add map inet %s natslots { type ifname : verdict; }\n", t);
	emit(&b, "add set inet %s volclients { type ifname; }\n", t);
	emit(&b, "add chain inet %s input { type filter hook input priority filter; policy accept; }\n", t);
	emit(&b, "add rule inet %s input iifname \"%s-*\" ct state established,related accept\n", t, t);
	/* Only the proxy's redirect makes a slot's connection to the host
	 * DNAT'd; a guest dialling the proxy's port itself is rejected. */
	emit(&b, "add rule inet %s input iifname \"%s-*\" ct status dnat accept\n", t, t);
	emit(&b, "add rule inet %s input iifname \"%s-*\" " REJECT "\n", t, t);
	emit(&b, "add chain inet %s volumes\n", t);
	emit(&b, "add rule inet %s volumes ct state established,related accept\n", t);
	emit(&b, "add rule inet %s volumes iifname @volclients tcp dport { %u, %u } accept\n", t, NET_NFS_PORT,
	     NET_MOUNT_PORT);
	emit(&b, "add rule inet %s volumes " REJECT "\n", t);
	emit(&b, "add chain inet %s forward { type filter hook forward priority filter; policy accept; }\n", t);
	emit(&b, "add rule inet %s forward oifname \"%s-" NET_VOLUME_LINK "\" jump volumes\n", t, t);
	emit(&b, "add rule inet %s forward oifname \"%s-*\" ct state established,related accept\n", t, t);
	emit(&b, "add rule inet %s forward oifname \"%s-*\" " REJECT "\n", t, t);
	emit(&b, "add rule inet %s forward iifname \"%s-*\" meta nfproto != ipv4 drop\n", t, t);
	emit(&b, "add rule inet %s forward iifname \"%s-*\" ip daddr @blocked " REJECT "\n", t, t);
	emit(&b, "add rule inet %s forward iifname vmap @slots\n", t);
	emit(&b, "add rule inet %s forward iifname \"%s-*\" " REJECT "\n", t, t);
	emit(&b, "add chain inet %s proxy\n", t);
	emit(&b, "add chain inet %s proxy_all\n", t);
	emit(&b, "add chain inet %s egress { type nat hook prerouting priority dstnat; policy accept; }\n", t);
	emit(&b, "add rule inet %s egress iifname vmap @natslots\n", t);
	emit(&b, "add chain inet %s postrouting { type nat hook postrouting priority srcnat; policy accept; }\n", t);
	emit(&b, "add rule inet %s postrouting ip saddr ", t);
	emit_cidr(&b, &fw->range);
	emit(&b, " oifname != \"%s-*\" masquerade\n", t);
	return b.overflow ? -ENOSPC : (int)b.used;
}

/* The proxy chains' rules for port (0: none), after flushing them; false
 * when buf is too small. */
static bool proxy_commands(const struct firewall *fw, uint16_t port, char *buf, size_t len)
{
	struct cmdbuf b = { buf, len, 0, false };
	emit(&b, "flush chain inet %s proxy\nflush chain inet %s proxy_all\n", fw->name, fw->name);
	if (port)
		emit(&b,
		     "add rule inet %s proxy tcp dport { 80, 443 } redirect to :%u\n"
		     "add rule inet %s proxy_all meta l4proto tcp redirect to :%u\n",
		     fw->name, port, fw->name, port);
	return !b.overflow;
}

int fw_delete_table(struct firewall *fw, struct cove_err *err)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "delete table inet %s", fw->name);
	pthread_mutex_lock(&fw->lock);
	int r = run(fw->nft, cmd, "delete table", err);
	pthread_mutex_unlock(&fw->lock);
	return r == -ENOENT ? 0 : r;
}

int fw_ensure_table(struct firewall *fw, bool replace, bool *made, struct cove_err *err)
{
	if (made)
		*made = false;
	char cmds[4096], probe[96];
	if (replace) {
		int r = fw_delete_table(fw, err);
		if (r < 0)
			return r;
	}
	int n = table_commands(fw, cmds, sizeof(cmds));
	if (n < 0)
		return cove_errf(err, -ENOSPC, "nftables: table commands too long");
	/* The newest chain: a table an older Cove made lacks it, and is made
	 * again (recovery then puts back the rules of the slots in use). */
	snprintf(probe, sizeof(probe), "list chain inet %s volumes", fw->name);
	pthread_mutex_lock(&fw->lock);
	int r = run(fw->nft, probe, "look for the table", NULL);
	if (r == -ENOENT) {
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "list table inet %s", fw->name);
		if (run(fw->nft, cmd, "look for the table", NULL) == 0) {
			snprintf(cmd, sizeof(cmd), "delete table inet %s", fw->name);
			r = run(fw->nft, cmd, "delete the old table", NULL);
		}
		if (r < 0 && r != -ENOENT)
			r = cove_errf(err, r, "nftables: replace table inet %s", fw->name);
		/* Made again while this process runs (someone deleted it): the
		 * proxy's redirect comes back in the same transaction. */
		else if (fw->proxy_port && !proxy_commands(fw, fw->proxy_port, cmds + n, sizeof(cmds) - (size_t)n))
			r = cove_errf(err, -ENOSPC, "nftables: table commands too long");
		else if ((r = run(fw->nft, cmds, "make the table", err)) == -EEXIST)
			r = 0; /* another process of the instance made it first */
		else if (r == 0 && made)
			*made = true;
	} else if (r < 0)
		cove_errf(err, r, "nftables: look for table inet %s: %s", fw->name, strerror(-r));
	pthread_mutex_unlock(&fw->lock);
	return r;
}

/* The list's addresses and CIDRs (its domain names are the egress proxy's
 * to judge); false when it has none. */
static bool has_cidrs(const char *const *list)
{
	struct net_cidr c;
	for (size_t i = 0; list && list[i]; i++)
		if (net_cidr_parse(list[i], &c) == 0)
			return true;
	return false;
}

static void emit_list(struct cmdbuf *b, const char *const *list)
{
	emit(b, "{ ");
	bool first = true;
	for (size_t i = 0; list[i]; i++) {
		struct net_cidr c;
		if (net_cidr_parse(list[i], &c) < 0)
			continue; /* a domain name (checked): the proxy's, never printed */
		emit(b, first ? "" : ", ");
		emit_cidr(b, &c);
		first = false;
	}
	emit(b, " }");
}

/* DNS to the sandboxes' nameservers: open with the internet (even where
 * they sit on a private network), and always for a policy that names
 * domains, as E2B keeps its nameserver open then. */
static void emit_dns(struct cmdbuf *b, const char *t, unsigned index, const char *const *dns)
{
	if (!has_cidrs(dns))
		return;
	for (int tcp = 0; tcp < 2; tcp++) {
		emit(b, "add rule inet %s slot-%u ip daddr ", t, index);
		emit_list(b, dns);
		emit(b, " %s dport 53 accept\n", tcp ? "tcp" : "udp");
	}
}

int fw_slot_commands(const char *name, unsigned index, const struct net_policy *p, const char *const *dns, char *buf,
		     size_t len)
{
	struct cmdbuf b = { buf, len, 0, false };
	const char *t = name;
	bool domains = net_policy_has_domains(p);
	if (net_policy_check(p, NULL) < 0)
		return -EINVAL; /* checked before; nothing from a request reaches nft as is */
	emit(&b, "add chain inet %s slot-%u\n", t, index);
	emit(&b, "flush chain inet %s slot-%u\n", t, index);
	if (has_cidrs(p->allow_out)) {
		emit(&b, "add rule inet %s slot-%u ip daddr ", t, index);
		emit_list(&b, p->allow_out);
		emit(&b, " accept\n");
	}
	/* Names are resolved whatever else is denied. */
	if (domains)
		emit_dns(&b, t, index, dns);
	if (!p->internet) {
		/* deny_out 0.0.0.0/0: everything but allow_out. */
		emit(&b, "add rule inet %s slot-%u " REJECT "\n", t, index);
	} else {
		if (has_cidrs(p->deny_out)) {
			emit(&b, "add rule inet %s slot-%u ip daddr ", t, index);
			emit_list(&b, p->deny_out);
			emit(&b, " " REJECT "\n");
		}
		/* The nameservers guests are given may sit on a private network. */
		if (!domains)
			emit_dns(&b, t, index, dns);
		emit(&b, "add rule inet %s slot-%u ip daddr @private " REJECT "\n", t, index);
		emit(&b, "add rule inet %s slot-%u accept\n", t, index);
	}
	emit(&b, "add element inet %s slots { \"%s-%u\" : jump slot-%u }\n", t, t, index, index);
	/* Web traffic of a policy with domains or rules goes to the egress proxy. */
	emit(&b, "add chain inet %s nat-%u\n", t, index);
	emit(&b, "flush chain inet %s nat-%u\n", t, index);
	if (p->proxy.address) {
		/* Everything over TCP but DNS, which stays with the nameservers. */
		emit(&b, "add rule inet %s nat-%u tcp dport 53 return\n", t, index);
		emit(&b, "add rule inet %s nat-%u jump proxy_all\n", t, index);
	} else if (net_policy_needs_proxy(p)) {
		emit(&b, "add rule inet %s nat-%u jump proxy\n", t, index);
	}
	emit(&b, "add element inet %s natslots { \"%s-%u\" : jump nat-%u }\n", t, t, index, index);
	/* Added, then deleted when the policy has no volumes: a delete alone
	 * fails when the element is not there. */
	emit(&b, "add element inet %s volclients { \"%s-%u\" }\n", t, t, index);
	if (!p->volumes)
		emit(&b, "delete element inet %s volclients { \"%s-%u\" }\n", t, t, index);
	return b.overflow ? -ENOSPC : (int)b.used;
}

int fw_set_proxy(struct firewall *fw, uint16_t port, struct cove_err *err)
{
	char cmds[512];
	if (!proxy_commands(fw, port, cmds, sizeof(cmds)))
		return cove_errf(err, -ENOSPC, "nftables: proxy commands too long");
	pthread_mutex_lock(&fw->lock);
	int r = run(fw->nft, cmds, "point web traffic at the egress proxy", err);
	if (r == 0)
		fw->proxy_port = port;
	pthread_mutex_unlock(&fw->lock);
	return r;
}

int fw_proxy_again(struct firewall *fw, struct cove_err *err)
{
	char cmds[512];
	pthread_mutex_lock(&fw->lock);
	int r = 0;
	if (fw->proxy_port && !proxy_commands(fw, fw->proxy_port, cmds, sizeof(cmds)))
		r = cove_errf(err, -ENOSPC, "nftables: proxy commands too long");
	else if (fw->proxy_port)
		r = run(fw->nft, cmds, "point web traffic at the egress proxy again", err);
	pthread_mutex_unlock(&fw->lock);
	return r;
}

/* Commits a batch of queued policies in one transaction; if that fails,
 * each alone, so that each caller gets its own result. */
static void commit_batch(struct firewall *fw, struct pending *batch)
{
	size_t len = 1, n = 0;
	for (struct pending *p = batch; p; p = p->next, n++)
		len += strlen(p->cmds);
	char *all = n > 1 ? malloc(len) : NULL;
	int r = -1;
	pthread_mutex_lock(&fw->lock);
	if (all) {
		char *at = all;
		for (struct pending *p = batch; p; p = p->next)
			at = stpcpy(at, p->cmds);
		r = run(fw->nft, all, "set slot policies", NULL);
	}
	for (struct pending *p = batch; p; p = p->next) {
		p->r = r == 0 ? 0 : run(fw->nft, p->cmds, "set slot policy", &p->err);
		if (p->r < 0)
			cove_err_prefix(&p->err, "slot %u", p->index);
	}
	pthread_mutex_unlock(&fw->lock);
	free(all);
}

int fw_slot_set(struct firewall *fw, unsigned index, const struct net_policy *p, struct cove_err *err)
{
	/* 2 lists of NET_MAX_RULES entries of at most 18 characters, and the rest. */
	size_t len = 2 * NET_MAX_RULES * 24 + 2048;
	char *cmds = malloc(len);
	if (!cmds)
		return cove_errf(err, -ENOMEM, "nftables: out of memory");
	int r = fw_slot_commands(fw->name, index, p, fw->dns, cmds, len);
	if (r < 0) {
		free(cmds);
		return cove_errf(err, -EINVAL, "nftables: slot %u: bad policy", index);
	}
	/* Many sandboxes start at once (a warm pool's claims): one transaction
	 * for all that are waiting instead of one each in turn (20 at once
	 * waited up to 200 ms for the others' here). */
	struct pending me = { .cmds = cmds, .index = index };
	pthread_mutex_lock(&fw->queue_lock);
	*fw->queue_end = &me;
	fw->queue_end = &me.next;
	while (!me.done) {
		if (fw->committing) {
			pthread_cond_wait(&fw->committed, &fw->queue_lock);
			continue;
		}
		struct pending *batch = fw->queue;
		fw->queue = NULL;
		fw->queue_end = &fw->queue;
		fw->committing = true;
		pthread_mutex_unlock(&fw->queue_lock);
		commit_batch(fw, batch);
		pthread_mutex_lock(&fw->queue_lock);
		for (struct pending *q = batch; q; q = q->next)
			q->done = true;
		fw->committing = false;
		pthread_cond_broadcast(&fw->committed);
	}
	pthread_mutex_unlock(&fw->queue_lock);
	free(cmds);
	if (me.r < 0 && err)
		*err = me.err;
	return me.r;
}

int fw_slot_remove(struct firewall *fw, unsigned index, struct cove_err *err)
{
	char elem[384], chain[320];
	const char *t = fw->name;
	snprintf(elem, sizeof(elem),
		 "delete element inet %s slots { \"%s-%u\" }\n"
		 "add element inet %s volclients { \"%s-%u\" }\ndelete element inet %s volclients { \"%s-%u\" }\n",
		 t, t, index, t, t, index, t, t, index);
	snprintf(chain, sizeof(chain), "flush chain inet %s slot-%u\ndelete chain inet %s slot-%u\n", t, index, t,
		 index);
	char nat_elem[256], nat_chain[320];
	snprintf(nat_elem, sizeof(nat_elem), "delete element inet %s natslots { \"%s-%u\" }\n", t, t, index);
	snprintf(nat_chain, sizeof(nat_chain), "flush chain inet %s nat-%u\ndelete chain inet %s nat-%u\n", t, index, t,
		 index);
	char all[sizeof(elem) + sizeof(chain) + sizeof(nat_elem) + sizeof(nat_chain)];
	snprintf(all, sizeof(all), "%s%s%s%s", elem, chain, nat_elem, nat_chain);
	pthread_mutex_lock(&fw->lock);
	/* One transaction in the common case; piece by piece when a part is
	 * already gone (nft 1.0.6 has no 'destroy', which would ignore that):
	 * each map entry before the chain it jumps to. */
	int r = run(fw->nft, all, "remove slot", NULL);
	if (r == -ENOENT) {
		const char *parts[] = { elem, chain, nat_elem, nat_chain };
		const char *whats[] = { "remove slot map entry", "remove slot chain", "remove slot nat map entry",
					"remove slot nat chain" };
		r = 0;
		for (size_t i = 0; i < 4 && (r == 0 || r == -ENOENT); i++)
			r = run(fw->nft, parts[i], whats[i], err);
		if (r == -ENOENT)
			r = 0;
	} else if (r < 0) {
		r = run(fw->nft, all, "remove slot", err);
	}
	pthread_mutex_unlock(&fw->lock);
	return r;
}

static int each_in_json(const char *name, const char *text, int (*fn)(void *ctx, unsigned index, bool is_chain),
			void *ctx, struct cove_err *err)
{
	json_error_t jerr;
	_cleanup_json_ json_t *root = json_loads(text, 0, &jerr);
	json_t *items = json_object_get(root, "nftables");
	if (!json_is_array(items))
		return cove_errf(err, -EPROTO, "nftables: unreadable listing: %s", jerr.text);
	char prefix[NET_NAME_MAX + 2];
	snprintf(prefix, sizeof(prefix), "%s-", name);
	size_t i;
	json_t *item;
	int r = 0;
	json_array_foreach(items, i, item) {
		unsigned index;
		json_t *chain = json_object_get(item, "chain"), *map = json_object_get(item, "map");
		const char *chain_name = json_string_value(json_object_get(chain, "name"));
		if (chain && (slot_parse_index("slot-", chain_name, &index) == 0 ||
			      slot_parse_index("nat-", chain_name, &index) == 0))
			r = fn(ctx, index, true);
		const char *map_name = json_string_value(json_object_get(map, "name"));
		json_t *elems = map_name && (strcmp(map_name, "slots") == 0 || strcmp(map_name, "natslots") == 0)
				      ? json_object_get(map, "elem")
				      : NULL;
		size_t j;
		json_t *e;
		json_array_foreach(elems, j, e) {
			/* [ "NAME-N", { "jump": ... } ] */
			if (r == 0 && slot_parse_index(prefix, json_string_value(json_array_get(e, 0)), &index) == 0)
				r = fn(ctx, index, false);
		}
		if (r < 0)
			break;
	}
	return r;
}

int fw_slot_each(struct firewall *fw, int (*fn)(void *ctx, unsigned index, bool is_chain), void *ctx,
		 struct cove_err *err)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "list table inet %s", fw->name);
	pthread_mutex_lock(&fw->lock);
	nft_ctx_output_set_flags(fw->nft, NFT_CTX_OUTPUT_NUMERIC_ALL | NFT_CTX_OUTPUT_JSON);
	int r = run(fw->nft, cmd, "list table", err);
	nft_ctx_output_set_flags(fw->nft, NFT_CTX_OUTPUT_NUMERIC_ALL);
	_cleanup_free_ char *text = r == 0 ? strdup(nft_ctx_get_output_buffer(fw->nft)) : NULL;
	pthread_mutex_unlock(&fw->lock);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (!text)
		return cove_errf(err, -ENOMEM, "nftables: out of memory");
	return each_in_json(fw->name, text, fn, ctx, err);
}

/* Runs cmds in a context of its own (inside a namespace: a thread's). */
static int run_new_ctx(const char *cmds, const char *what, struct cove_err *err)
{
	struct nft_ctx *nft = ctx_new();
	if (!nft)
		return cove_errf(err, -ENOMEM, "nftables: cannot make a libnftables context");
	int r = run(nft, cmds, what, err);
	nft_ctx_free(nft);
	return r;
}

int fw_namespace_setup(uint32_t ns_end, struct cove_err *err)
{
	char addr[16], cmds[1024];
	net_addr_format(ns_end, addr);
	snprintf(cmds, sizeof(cmds),
		 "add table inet slot\n"
		 "add chain inet slot input { type filter hook input priority filter; policy accept; }\n"
		 "add rule inet slot input ct state established,related accept\n"
		 "add rule inet slot input iifname { \"" NET_TAP_NAME "\", \"" NET_SLOT_VETH "\" } " REJECT "\n"
		 "add chain inet slot postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
		 "add rule inet slot postrouting oifname \"" NET_SLOT_VETH "\" ip saddr " NET_GUEST_ADDR
		 " snat ip to %s\n",
		 addr);
	return run_new_ctx(cmds, "slot namespace rules", err);
}

int fw_namespace_volumes(uint32_t server, struct cove_err *err)
{
	char addr[16], cmds[1024];
	net_addr_format(server, addr);
	/* A guest restored from a snapshot (a resume, a fork) carries TCP
	 * connections to the server that no tracking entry here knows: their
	 * next segment is answered with a reset at once, so the guest's NFS
	 * client connects again now rather than after its RPC timeout. */
	snprintf(cmds, sizeof(cmds),
		 "add table inet slotvol\n"
		 "flush table inet slotvol\n"
		 "add chain inet slotvol stale { type filter hook prerouting priority -150; policy accept; }\n"
		 "add rule inet slotvol stale iifname \"" NET_TAP_NAME "\" ip daddr " NET_TAP_ADDR
		 " tcp dport { %u, %u } ct state new,invalid tcp flags & (syn | rst) == 0 reject with tcp reset\n"
		 "add chain inet slotvol pre { type nat hook prerouting priority dstnat; policy accept; }\n"
		 "add rule inet slotvol pre iifname \"" NET_TAP_NAME "\" ip daddr " NET_TAP_ADDR
		 " tcp dport { %u, %u } dnat ip to %s\n",
		 NET_NFS_PORT, NET_MOUNT_PORT, NET_NFS_PORT, NET_MOUNT_PORT, addr);
	return run_new_ctx(cmds, "volume server rules in the slot's namespace", err);
}

int fw_server_namespace_setup(struct cove_err *err)
{
	char cmds[768];
	snprintf(cmds, sizeof(cmds),
		 "add table inet volsrv\n"
		 "flush table inet volsrv\n"
		 "add chain inet volsrv input { type filter hook input priority filter; policy accept; }\n"
		 "add rule inet volsrv input ct state established,related accept\n"
		 "add rule inet volsrv input iifname \"" NET_SLOT_VETH "\" tcp dport { %u, %u } accept\n"
		 "add rule inet volsrv input iifname \"" NET_SLOT_VETH "\" " REJECT "\n"
		 "add chain inet volsrv output { type filter hook output priority filter; policy accept; }\n"
		 "add rule inet volsrv output oifname \"" NET_SLOT_VETH "\" ct state established,related accept\n"
		 "add rule inet volsrv output oifname \"" NET_SLOT_VETH "\" " REJECT "\n",
		 NET_NFS_PORT, NET_MOUNT_PORT);
	return run_new_ctx(cmds, "volume server namespace rules", err);
}

bool fw_has_proxy(struct firewall *fw)
{
	pthread_mutex_lock(&fw->lock);
	bool has = fw->proxy_port != 0;
	pthread_mutex_unlock(&fw->lock);
	return has;
}
