/* Crash recovery of the slot allocator: reconciles the records in the state
 * database with what the kernel holds (namespaces, host links, nftables
 * rules). A record whose holder is gone is removed with its kernel objects;
 * kernel objects of Cove's with no record are strays and removed; a kept
 * slot whose rules are missing gets them back from its record. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "net/internal.h"
#include "net/rtnl.h"
#include "store/store.h"

bool slots_holder_alive(const struct store_slot *s)
{
	return (s->holder.pid > 0 && proc_identity_matches(&s->holder)) ||
	       (s->vmm.pid > 0 && proc_identity_matches(&s->vmm));
}

void slots_forget_flows(struct net_slots *ns, unsigned index)
{
	uint32_t host_end, ns_end;
	struct cove_err err = { 0 };
	unsigned n = 0;
	if (net_slot_addrs(&ns->layout.range, index, &host_end, &ns_end) < 0)
		return;
	if (ct_forget_addr(ns_end, &n, &err) < 0)
		log_warn("op=net-conntrack slot=%u msg=\"%s\"", index, err.msg);
	else if (n)
		log_debug("op=net-conntrack slot=%u forgotten=%u", index, n);
}

/* Removes everything of a slot: rules, tracked connections, links,
 * namespace. Idempotent. */
int slots_remove_all(struct net_slots *ns, unsigned index, struct cove_err *err)
{
	int r = fw_slot_remove(ns->fw, index, err);
	if (r < 0)
		return r;
	slots_forget_flows(ns, index);
	return slot_unmake(&ns->layout, index, err);
}

/* A sorted set of slot indices. */
struct index_set {
	unsigned *v;
	size_t n, cap;
};

static bool index_set_has(const struct index_set *set, unsigned index)
{
	size_t lo = 0, hi = set->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (set->v[mid] == index)
			return true;
		if (set->v[mid] < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int index_set_add(struct index_set *set, unsigned index)
{
	if (index_set_has(set, index))
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		unsigned *p = realloc(set->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		set->v = p;
		set->cap = cap;
	}
	size_t i = set->n++;
	for (; i > 0 && set->v[i - 1] > index; i--)
		set->v[i] = set->v[i - 1];
	set->v[i] = index;
	return 0;
}

struct recovery {
	struct net_slots *ns;
	bool drain_pool;
	struct net_recovery stats;
	struct index_set known; /* slots with a record kept, or already removed */
	struct index_set kept;  /* slots with a record kept, not being released */
	struct cove_err *err;
};

static int remember(struct recovery *rc, unsigned index)
{
	return index_set_add(&rc->known, index) < 0 ? cove_errf(rc->err, -ENOMEM, "recovery: out of memory") : 0;
}

static int recover_record(void *ctx, const struct store_slot *s)
{
	struct recovery *rc = ctx;
	struct net_slots *ns = rc->ns;
	bool keep = s->state == STORE_SLOT_READY ? !rc->drain_pool && slot_intact(&ns->layout, s->index)
						 : slots_holder_alive(s);
	if (keep) {
		rc->stats.adopted++;
		/* One being released gets no rules back (a recovery while coved
		 * runs: its guard's, or cove net gc). */
		if (s->state != STORE_SLOT_DESTROYING && index_set_add(&rc->kept, s->index) < 0)
			return cove_errf(rc->err, -ENOMEM, "recovery: out of memory");
		return remember(rc, s->index);
	}
	log_info("op=net-recover slot=%u state=%s sandbox=%s action=remove", s->index,
		 store_slot_state_name(s->state), s->sandbox[0] ? s->sandbox : "-");
	int r = slots_remove_all(ns, s->index, rc->err);
	if (r == 0)
		r = store_slot_delete(ns->store, s->index, rc->err);
	if (r < 0)
		return r;
	rc->stats.removed++;
	return 0;
}

/* Kernel objects of Cove's with no record: removed, once per slot even if
 * several of its parts were left. */
static int remove_strays(struct recovery *rc, const struct index_set *found, const char *what)
{
	for (size_t i = 0; i < found->n; i++) {
		unsigned index = found->v[i];
		if (index_set_has(&rc->known, index))
			continue;
		log_info("op=net-recover slot=%u stray=%s action=remove", index, what);
		int r = slots_remove_all(rc->ns, index, rc->err);
		if (r == 0)
			r = remember(rc, index);
		if (r < 0)
			return r;
		rc->stats.strays++;
	}
	return 0;
}

static int stray_namespaces(struct recovery *rc)
{
	DIR *d = opendir(rc->ns->netns_dir);
	if (!d)
		return errno == ENOENT ? 0 : cove_errno(rc->err, -errno, "open %s", rc->ns->netns_dir);
	struct index_set found = { 0 };
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		unsigned index;
		if (slot_parse_index("slot-", de->d_name, &index) == 0)
			r = index_set_add(&found, index);
	}
	closedir(d);
	r = r < 0 ? cove_errf(rc->err, r, "recovery: out of memory") : remove_strays(rc, &found, "namespace");
	free(found.v);
	return r;
}

struct link_scan {
	const char *name;
	struct index_set found;
};

static int link_seen(void *ctx, const char *name, const char *alias)
{
	struct link_scan *ls = ctx;
	char prefix[NET_NAME_MAX + 2], want[64];
	unsigned index;
	snprintf(prefix, sizeof(prefix), "%s-", ls->name);
	if (slot_parse_index(prefix, name, &index) < 0)
		return 0;
	/* Only links Cove made carry its alias; a stranger's is left alone. */
	snprintf(want, sizeof(want), "cove %s slot %u", ls->name, index);
	return strcmp(alias, want) == 0 ? index_set_add(&ls->found, index) : 0;
}

static int stray_links(struct recovery *rc)
{
	struct rtnl *host = NULL;
	int r = rtnl_open(&host, rc->err);
	if (r < 0)
		return r;
	struct link_scan ls = { rc->ns->name, { 0 } };
	/* Collected first: links are removed after the dump has been read. */
	r = rtnl_link_each(host, link_seen, &ls);
	rtnl_close(host);
	r = r < 0 ? cove_errno(rc->err, r, "list host links") : remove_strays(rc, &ls.found, "link");
	free(ls.found.v);
	return r;
}

struct rule_scan {
	struct index_set chains, entries, all;
};

static int rule_seen(void *ctx, unsigned index, bool is_chain)
{
	struct rule_scan *rs = ctx;
	int r = index_set_add(is_chain ? &rs->chains : &rs->entries, index);
	return r < 0 ? r : index_set_add(&rs->all, index);
}

/* A kept slot whose chain or map entry is gone (a firewall reload flushed
 * the ruleset, say) gets its policy back from its record. */
static int restore_rules(struct recovery *rc, unsigned index)
{
	char *text = NULL;
	struct net_policy_copy pc;
	int r = store_slot_get_policy(rc->ns->store, index, &text, rc->err);
	if (r == 0 && (r = net_policy_decode(text, &pc)) < 0)
		cove_errf(rc->err, r, "slot %u: unreadable policy record '%s'", index, text);
	free(text);
	if (r < 0)
		return r;
	log_info("op=net-recover slot=%u action=restore-rules", index);
	r = fw_slot_set(rc->ns->fw, index, &pc.policy, rc->err);
	net_policy_copy_free(&pc);
	if (r == 0)
		rc->stats.restored++;
	return r;
}

static int stray_rules(struct recovery *rc)
{
	struct rule_scan rs = { 0 };
	int r = fw_slot_each(rc->ns->fw, rule_seen, &rs, rc->err);
	if (r == 0)
		r = remove_strays(rc, &rs.all, "rules");
	for (size_t i = 0; r == 0 && i < rc->kept.n; i++) {
		unsigned index = rc->kept.v[i];
		if (!index_set_has(&rs.chains, index) || !index_set_has(&rs.entries, index))
			r = restore_rules(rc, index);
	}
	free(rs.chains.v);
	free(rs.entries.v);
	free(rs.all.v);
	return r;
}

/* Runs inside a store transaction. */
int slots_recover_locked(struct net_slots *ns, bool drain_pool, struct net_recovery *ret, struct cove_err *err)
{
	struct recovery rc = { .ns = ns, .drain_pool = drain_pool, .err = err };
	int r = store_slot_each(ns->store, recover_record, &rc, err);
	if (r == 0)
		r = stray_namespaces(&rc);
	if (r == 0)
		r = stray_links(&rc);
	if (r == 0)
		r = stray_rules(&rc);
	free(rc.known.v);
	free(rc.kept.v);
	if (r < 0)
		return cove_err_prefix(err, "network recovery");
	if (rc.stats.removed || rc.stats.strays || rc.stats.restored)
		log_info("op=net-recover adopted=%u removed=%u strays=%u restored=%u", rc.stats.adopted,
			 rc.stats.removed, rc.stats.strays, rc.stats.restored);
	if (ret)
		*ret = rc.stats;
	return 0;
}

int net_slots_recover(struct net_slots *ns, bool drain_pool, struct net_recovery *ret, struct cove_err *err)
{
	int r = store_begin(ns->store, err);
	if (r < 0)
		return r;
	r = slots_recover_locked(ns, drain_pool, ret, err);
	if (r < 0) {
		store_rollback(ns->store);
		return r;
	}
	return store_commit(ns->store, err);
}