/* The janitor's removals (janitor.h): which records of a gone host go, the
 * fenced txns that remove them, and "forget". The election and the thread
 * are janitor.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/proc.h"
#include "gateway/janitor_remove.h"

#define SB_KEY_MAX (sizeof(CLUSTER_SANDBOXES_PREFIX) + CLUSTER_SANDBOX_ID_MAX)
#define HOST_KEY_MAX (sizeof(CLUSTER_HOSTS_PREFIX) + CLUSTER_HOST_ID_MAX)

void janitor_records_clear(struct janitor_records *rs)
{
	free(rs->v);
	*rs = (struct janitor_records){ 0 };
}

int janitor_records_add(struct janitor_records *rs, const struct cluster_sandbox *sb)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct janitor_record *v = realloc(rs->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	struct janitor_record *r = &rs->v[rs->n++];
	snprintf(r->id, sizeof(r->id), "%s", sb->id);
	snprintf(r->host, sizeof(r->host), "%s", sb->host);
	r->state = sb->state;
	r->end_ms = sb->end_ms;
	r->auto_pause = sb->auto_pause;
	return 0;
}

bool janitor_removable(const struct janitor_record *r, bool dead, int64_t now_wall_ms)
{
	bool expired = r->end_ms > 0 && r->end_ms <= now_wall_ms;
	if (r->state == CLUSTER_SANDBOX_PAUSED)
		return expired && !r->auto_pause;
	/* One that pauses at its deadline was paused there by its host, which
	 * could not say so: removing its record would have the host kill it
	 * on its return. */
	if (r->auto_pause && r->state != CLUSTER_SANDBOX_KILLING)
		return dead;
	return dead || expired;
}

/* The failed txn's failure branch read hosts/<h>: live, or the fence lost. */
static int failed(const struct janitor_removal *rm, const struct etcd_txn_result *t, struct cove_err *err)
{
	bool live = t->nresponses >= 1 && t->responses[0].nkvs > 0;
	if (live)
		return cove_errf(err, -EBUSY, "host %s is live (it registered again): its records stay", rm->host);
	return cove_errf(err, -ESTALE, "janitor: host %s: the janitor's lease is gone: removing nothing", rm->host);
}

/* Logs the records the txn's deletes did remove (a record the catalog still
 * showed but etcd no longer held is not logged twice). */
static void log_removed(const struct janitor_removal *rm, const struct etcd_txn_result *t, size_t first,
			const struct janitor_record *const *batch, size_t n)
{
	for (size_t i = 0; i < n && first + i < t->nresponses; i++)
		if (t->responses[first + i].count > 0)
			log_info("janitor op=remove host=%s sandbox=%s state=%s why=%s", rm->host, batch[i]->id,
				 cluster_sandbox_state_name(batch[i]->state), rm->dead ? "dead" : "expired");
}

/* One txn: the compares, the dead mark (rm->dead) and up to
 * JANITOR_TXN_OPS - 1 deletes. */
static int remove_batch(const struct janitor_removal *rm, const struct janitor_record *const *batch, size_t n,
			struct cove_err *err)
{
	char host_key[HOST_KEY_MAX], dead_key[HOST_KEY_MAX], dead_value[48], keys[JANITOR_TXN_OPS][SB_KEY_MAX];
	snprintf(host_key, sizeof(host_key), "%s%s", CLUSTER_HOSTS_PREFIX, rm->host);
	snprintf(dead_key, sizeof(dead_key), "%s%s", CLUSTER_DEAD_PREFIX, rm->host);
	snprintf(dead_value, sizeof(dead_value), "{\"since\":%" PRId64 "}", rm->since_ms);
	struct etcd_compare cmp[2] = {
		{ .target = ETCD_CMP_CREATE, .relation = ETCD_EQUAL, .key = host_key, .key_len = strlen(host_key) },
		{ .target = ETCD_CMP_LEASE,
		  .relation = ETCD_EQUAL,
		  .key = CLUSTER_JANITOR_KEY,
		  .key_len = strlen(CLUSTER_JANITOR_KEY),
		  .number = rm->fence_lease },
	};
	struct etcd_request_op ops[JANITOR_TXN_OPS], read_host = { .op = ETCD_OP_RANGE,
								    .key = host_key,
								    .key_len = strlen(host_key) };
	size_t nops = 0;
	if (rm->mark)
		ops[nops++] = (struct etcd_request_op){ .op = ETCD_OP_PUT,
							.key = dead_key,
							.key_len = strlen(dead_key),
							.value = dead_value,
							.value_len = strlen(dead_value) };
	size_t first = nops;
	for (size_t i = 0; i < n; i++, nops++) {
		snprintf(keys[i], sizeof(keys[i]), "%s%s", CLUSTER_SANDBOXES_PREFIX, batch[i]->id);
		ops[nops] = (struct etcd_request_op){ .op = ETCD_OP_DELETE, .key = keys[i], .key_len = strlen(keys[i]) };
	}
	struct etcd_txn_request txn = { .compare = cmp,
					.ncompare = rm->fence_lease ? 2 : 1,
					.success = ops,
					.nsuccess = nops,
					.failure = &read_host,
					.nfailure = 1 };
	struct etcd_txn_result t;
	int r = etcd_txn(rm->etcd, &txn, &t, err);
	if (r < 0)
		return cove_err_prefix(err, "janitor: host %s: remove its records", rm->host);
	if (t.succeeded)
		log_removed(rm, &t, first, batch, n);
	else
		r = failed(rm, &t, err);
	etcd_txn_result_clear(&t);
	return r;
}

int janitor_remove(const struct janitor_removal *rm, const struct janitor_records *rs, size_t *removed,
		   struct cove_err *err)
{
	const size_t per_txn = rm->mark ? JANITOR_TXN_OPS - 1 : JANITOR_TXN_OPS;
	const struct janitor_record *batch[JANITOR_TXN_OPS];
	int64_t now = wall_now_ms();
	size_t n = 0, total = 0;
	bool sent = false;
	for (size_t i = 0; i <= rs->n; i++) {
		bool last = i == rs->n;
		if (!last && strcmp(rs->v[i].host, rm->host) == 0 && janitor_removable(&rs->v[i], rm->dead, now))
			batch[n++] = &rs->v[i];
		/* a dead mark goes even when nothing else does */
		if (n < per_txn && !(last && (n > 0 || (rm->mark && !sent))))
			continue;
		int r = remove_batch(rm, batch, n, err);
		if (r < 0)
			return r;
		total += n;
		n = 0;
		sent = true;
	}
	if (removed)
		*removed = total;
	return 0;
}

/* The records of host in etcd (one range of the prefix), for a forget
 * without a catalog. Records that do not decode are skipped. */
static int records_from_etcd(struct etcd_client *etcd, const char *host, struct janitor_records *rs,
			     struct cove_err *err)
{
	struct etcd_result res;
	int r = etcd_range(etcd, CLUSTER_SANDBOXES_PREFIX, strlen(CLUSTER_SANDBOXES_PREFIX), true, &res, err);
	if (r < 0)
		return cove_err_prefix(err, "forget host %s: read the sandbox records", host);
	for (size_t i = 0; i < res.nkvs && r == 0; i++) {
		const struct etcd_kv *kv = &res.kvs[i];
		char id[CLUSTER_SANDBOX_ID_MAX + 1];
		struct cluster_sandbox sb;
		if (cluster_key_sandbox_id((const char *)kv->key.data, kv->key.len, id, NULL) < 0 ||
		    cluster_sandbox_decode(id, (const char *)kv->value.data, kv->value.len, &sb, NULL) < 0)
			continue;
		if (strcmp(sb.host, host) == 0 && janitor_records_add(rs, &sb) < 0)
			r = cove_errf(err, -ENOMEM, "forget host %s: out of memory", host);
		cluster_sandbox_clear(&sb);
	}
	etcd_result_clear(&res);
	return r;
}

struct host_filter {
	const char *host;
	struct janitor_records *rs;
};

static int add_if_host(const struct cluster_sandbox *sb, bool host_live, void *data)
{
	(void)host_live;
	struct host_filter *f = data;
	return strcmp(sb->host, f->host) == 0 ? janitor_records_add(f->rs, sb) : 0;
}

/* Does key exist? 1, 0, or etcd's error. */
static int key_exists(struct etcd_client *etcd, const char *key, struct cove_err *err)
{
	struct etcd_result res;
	int r = etcd_range(etcd, key, strlen(key), false, &res, err);
	if (r < 0)
		return r;
	r = res.nkvs > 0;
	etcd_result_clear(&res);
	return r;
}

/* With no record of host: -EBUSY when it is live, 0 when it is dead already,
 * else -ENOENT. */
static int forget_nothing(struct etcd_client *etcd, const char *host, struct cove_err *err)
{
	char key[HOST_KEY_MAX];
	snprintf(key, sizeof(key), "%s%s", CLUSTER_HOSTS_PREFIX, host);
	int r = key_exists(etcd, key, err);
	if (r == 1)
		return cove_errf(err, -EBUSY, "host %s is live: drain it, or stop its coved, before forgetting it",
				 host);
	snprintf(key, sizeof(key), "%s%s", CLUSTER_DEAD_PREFIX, host);
	if (r == 0)
		r = key_exists(etcd, key, err);
	if (r < 0)
		return cove_err_prefix(err, "forget host %s", host);
	return r == 1 ? 0 : cove_errf(err, -ENOENT, "host %s: the cluster knows no such host", host);
}

int janitor_forget(struct etcd_client *etcd, struct catalog *catalog, const char *host_id, struct cove_err *err)
{
	int r = cluster_host_id_check(host_id, err);
	if (r < 0)
		return cove_err_prefix(err, "forget host");
	struct janitor_records rs = { 0 };
	struct host_filter f = { host_id, &rs };
	if (catalog)
		r = catalog_sandboxes(catalog, add_if_host, &f) < 0 ? cove_errf(err, -ENOMEM, "forget: out of memory")
								      : 0;
	else
		r = records_from_etcd(etcd, host_id, &rs, err);
	if (r == 0 && rs.n == 0)
		r = forget_nothing(etcd, host_id, err);
	else if (r == 0) {
		struct janitor_removal rm = { .etcd = etcd, .host = host_id, .since_ms = wall_now_ms(), .dead = true,
					      .mark = true };
		r = janitor_remove(&rm, &rs, NULL, err);
		if (r == 0)
			log_info("janitor op=forget host=%s", host_id);
	}
	janitor_records_clear(&rs);
	return r;
}
