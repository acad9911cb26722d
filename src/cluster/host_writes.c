/* The host role's catalog writes (host.h): every one a txn that compares
 * hosts/<me> LEASE == the role's lease, so it cannot land once the lease is
 * gone (the design study's §4.3 step 2); and the etcd side of reconcile. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/host_role.h"
#include "common/cleanup.h"
#include "common/log.h"

void host_role_lose(struct cluster_host_role *role, int64_t lease, const char *fmt, ...)
{
	pthread_mutex_lock(&role->lock);
	if (role->lease == lease && !role->lost) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(role->why, sizeof(role->why), fmt, ap);
		va_end(ap);
		role->lost = true;
		log_warn("cluster host=%s op=fence why=\"%s\"", role->id, role->why);
		pthread_cond_broadcast(&role->cond);
	}
	pthread_mutex_unlock(&role->lock);
}

/* After a failed compare: the failure branch read hosts/<me>; was it the lease? */
static int failed_compare(struct cluster_host_role *role, int64_t lease, const struct etcd_txn_result *t,
			  const char *what, struct cove_err *err)
{
	const struct etcd_result *host = t->nresponses == 1 ? &t->responses[0] : NULL;
	if (host && host->nkvs == 1 && host->kvs[0].lease == lease)
		return cove_errf(err, -ESTALE, "host %s: %s: record changed", role->id, what);
	host_role_lose(role, lease, "host %s is cut off from the cluster: its lease is gone", role->id);
	return cove_errf(err, -ESTALE, "host %s: %s: host is fenced: its lease is gone", role->id, what);
}

int host_role_fenced_txn(struct cluster_host_role *role, const struct etcd_request_op *op,
			 const struct etcd_compare *extra, int64_t *ret_rev, const char *what, struct cove_err *err)
{
	pthread_mutex_lock(&role->lock);
	int64_t lease = role->lease;
	pthread_mutex_unlock(&role->lock);
	if (lease == 0)
		return cove_errf(err, -ESTALE, "host %s: %s: host is fenced: not registered", role->id, what);
	struct etcd_compare cmp[2] = { { .target = ETCD_CMP_LEASE,
					 .relation = ETCD_EQUAL,
					 .key = role->key,
					 .key_len = strlen(role->key),
					 .number = lease } };
	if (extra)
		cmp[1] = *extra;
	struct etcd_request_op read_host = { .op = ETCD_OP_RANGE, .key = role->key, .key_len = strlen(role->key) };
	struct etcd_txn_request txn = { .compare = cmp,
					.ncompare = extra ? 2 : 1,
					.success = op,
					.nsuccess = op ? 1 : 0,
					.failure = &read_host,
					.nfailure = 1 };
	struct etcd_txn_result t;
	int r = etcd_txn(role->etcd, &txn, &t, err);
	if (r < 0)
		return cove_err_prefix(err, "host %s: %s", role->id, what);
	if (!t.succeeded)
		r = failed_compare(role, lease, &t, what, err);
	else if (ret_rev)
		*ret_rev = t.header.revision;
	etcd_txn_result_clear(&t);
	return r;
}

int cluster_host_put_sandbox(struct cluster_host_role *role, const struct cluster_sandbox *sb, int64_t expect_mod,
			     int64_t *ret_mod, struct cove_err *err)
{
	char key[sizeof(CLUSTER_SANDBOXES_PREFIX) + CLUSTER_SANDBOX_ID_MAX], what[96];
	snprintf(what, sizeof(what), "put sandbox %.63s", sb->id);
	struct cluster_sandbox mine = *sb; /* shallow: metadata stays sb's */
	snprintf(mine.host, sizeof(mine.host), "%s", role->id);
	pthread_mutex_lock(&role->lock);
	mine.epoch = role->epoch;
	pthread_mutex_unlock(&role->lock);
	_cleanup_free_ char *value = NULL;
	int r = cluster_sandbox_key(sb->id, key, sizeof(key), err);
	if (r == 0)
		r = cluster_sandbox_encode(&mine, &value, err);
	if (r < 0)
		return cove_err_prefix(err, "host %s: %s", role->id, what);
	struct etcd_compare record = { .target = expect_mod > 0 ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
				       .relation = ETCD_EQUAL,
				       .key = key,
				       .key_len = strlen(key),
				       .number = expect_mod > 0 ? expect_mod : 0 };
	struct etcd_request_op put = { .op = ETCD_OP_PUT,
				       .key = key,
				       .key_len = strlen(key),
				       .value = value,
				       .value_len = strlen(value) };
	return host_role_fenced_txn(role, &put, expect_mod >= 0 ? &record : NULL, ret_mod, what, err);
}

/* expect_mod > 0: only while the record is at that mod_revision. */
static int delete_sandbox(struct cluster_host_role *role, const char *id, int64_t expect_mod, struct cove_err *err)
{
	char key[sizeof(CLUSTER_SANDBOXES_PREFIX) + CLUSTER_SANDBOX_ID_MAX], what[96];
	snprintf(what, sizeof(what), "delete sandbox %.63s", id);
	int r = cluster_sandbox_key(id, key, sizeof(key), err);
	if (r < 0)
		return cove_err_prefix(err, "host %s: %s", role->id, what);
	struct etcd_compare record = { .target = ETCD_CMP_MOD,
				       .relation = ETCD_EQUAL,
				       .key = key,
				       .key_len = strlen(key),
				       .number = expect_mod };
	struct etcd_request_op del = { .op = ETCD_OP_DELETE, .key = key, .key_len = strlen(key) };
	return host_role_fenced_txn(role, &del, expect_mod > 0 ? &record : NULL, NULL, what, err);
}

int cluster_host_delete_sandbox(struct cluster_host_role *role, const char *id, struct cove_err *err)
{
	return delete_sandbox(role, id, 0, err);
}

static void records_free(struct cluster_reconcile_record *records, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cluster_sandbox_clear(&records[i].sb);
	free(records);
}

/* The catalog's sandbox records as the plan takes them; a record that does
 * not decode is kept as bad (its id from the key), one whose key holds no
 * valid id is skipped. */
static int read_records(struct cluster_host_role *role, struct cluster_reconcile_record **ret, size_t *n,
			struct cove_err *err)
{
	struct etcd_result res;
	int r = etcd_range(role->etcd, CLUSTER_SANDBOXES_PREFIX, strlen(CLUSTER_SANDBOXES_PREFIX), true, &res, err);
	if (r < 0)
		return cove_err_prefix(err, "host %s: reconcile: read the catalog", role->id);
	struct cluster_reconcile_record *records = calloc(res.nkvs ? res.nkvs : 1, sizeof(*records));
	if (!records) {
		etcd_result_clear(&res);
		return cove_errf(err, -ENOMEM, "host %s: reconcile: out of memory for %zu records", role->id, res.nkvs);
	}
	size_t k = 0;
	for (size_t i = 0; i < res.nkvs; i++) {
		const struct etcd_kv *kv = &res.kvs[i];
		struct cluster_reconcile_record *rec = &records[k];
		struct cove_err e = { 0 };
		if (cluster_key_sandbox_id((const char *)kv->key.data, kv->key.len, rec->sb.id, &e) < 0) {
			log_warn("cluster host=%s op=reconcile error=\"%s\"", role->id, e.msg);
			continue;
		}
		char id[sizeof(rec->sb.id)];
		memcpy(id, rec->sb.id, sizeof(id));
		if (cluster_sandbox_decode(id, (const char *)kv->value.data, kv->value.len, &rec->sb, &e) < 0) {
			log_warn("cluster host=%s op=reconcile sandbox=%s error=\"%s\"", role->id, id, e.msg);
			rec->bad = true;
		}
		rec->mod_revision = kv->mod_revision;
		k++;
	}
	etcd_result_clear(&res);
	*ret = records;
	*n = k;
	return 0;
}

/* One delete or rewrite; a record changed meanwhile is left for the next
 * reconcile (only a fenced host stops the whole). */
static int apply(struct cluster_host_role *role, int64_t epoch, const struct cluster_reconcile_action *a,
		 struct cove_err *err)
{
	struct cove_err e = { 0 };
	int r;
	if (a->kind == CLUSTER_RECONCILE_DELETE) {
		r = delete_sandbox(role, a->id, a->record->mod_revision, &e);
	} else {
		struct cluster_sandbox sb = a->record->sb;
		sb.epoch = epoch;
		r = cluster_host_put_sandbox(role, &sb, a->record->mod_revision, NULL, &e);
	}
	if (r == -ESTALE && strstr(e.msg, "record changed")) {
		log_info("cluster host=%s op=reconcile sandbox=%s skipped=\"%s\"", role->id, a->id, e.msg);
		return 0;
	}
	if (r < 0) {
		*err = e;
		return r;
	}
	log_info("cluster host=%s op=reconcile sandbox=%s action=%s epoch=%" PRId64, role->id, a->id,
		 a->kind == CLUSTER_RECONCILE_DELETE ? "delete" : "rewrite", epoch);
	return 0;
}

/* The plan's kills into what the caller is handed. */
static int take_kills(const struct cluster_reconcile_action *a, size_t n, struct cluster_reconcile_kill **kills,
		      size_t *nkills)
{
	size_t k = 0;
	struct cluster_reconcile_kill *out = calloc(n ? n : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (a[i].kind != CLUSTER_RECONCILE_KILL)
			continue;
		memcpy(out[k].id, a[i].id, sizeof(out[k].id));
		out[k++].delete_record = a[i].delete_record;
	}
	*kills = out;
	*nkills = k;
	return 0;
}

int cluster_host_reconcile(struct cluster_host_role *role, const char *const *local, size_t nlocal,
			   struct cluster_reconcile_kill **kills, size_t *nkills, struct cove_err *err)
{
	pthread_mutex_lock(&role->lock);
	int64_t epoch = role->epoch;
	pthread_mutex_unlock(&role->lock);
	if (epoch == 0)
		return cove_errf(err, -ESTALE, "host %s: reconcile: host is fenced: not registered", role->id);
	struct cluster_reconcile_record *records = NULL;
	size_t nrecords = 0, n = 0;
	struct cluster_reconcile_action *plan = NULL;
	int r = read_records(role, &records, &nrecords, err);
	if (r == 0)
		r = cluster_reconcile_plan(role->id, epoch, records, nrecords, local, nlocal, &plan, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (plan[i].kind != CLUSTER_RECONCILE_KILL)
			r = apply(role, epoch, &plan[i], err);
	if (r == 0 && take_kills(plan, n, kills, nkills) < 0)
		r = cove_errf(err, -ENOMEM, "host %s: reconcile: out of memory", role->id);
	free(plan);
	records_free(records, nrecords);
	return r;
}
