/* The host role's lifecycle (host.h): register, the keepalive thread that
 * also publishes the host record, self-fencing and registering again. The
 * catalog writes are host_writes.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/host_role.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/proc.h"

/* The host record as it stands (the figures callback's, plus id, addr, ts)
 * as JSON in *ret. */
static int host_record(struct cluster_host_role *role, char **ret, struct cove_err *err)
{
	struct cluster_host rec = { 0 };
	int r = role->figures(&rec, role->figures_data, err);
	if (r == 0) {
		snprintf(rec.id, sizeof(rec.id), "%s", role->id);
		snprintf(rec.addr, sizeof(rec.addr), "%s", role->addr);
		rec.ts_ms = wall_now_ms();
		r = cluster_host_encode(&rec, ret, err);
	}
	cluster_host_clear(&rec);
	return r < 0 ? cove_err_prefix(err, "host %s: host record", role->id) : 0;
}

/* 0 when the lease is gone (revoked now, or before). */
static int revoke_lease(struct cluster_host_role *role, int64_t lease)
{
	struct cove_err e = { 0 };
	int r = lease != 0 ? etcd_lease_revoke(role->etcd, lease, &e) : 0;
	if (r < 0 && r != -ENOENT) {
		log_warn("cluster host=%s op=revoke lease=%" PRIx64 " error=\"%s\"", role->id, (uint64_t)lease, e.msg);
		return r;
	}
	return 0;
}

/* Create-if-absent of hosts/<me> under lease; the epoch in *epoch. */
static int claim(struct cluster_host_role *role, int64_t lease, const char *value, int64_t *epoch, struct cove_err *err)
{
	size_t key_len = strlen(role->key);
	struct etcd_compare absent = { .target = ETCD_CMP_CREATE,
				       .relation = ETCD_EQUAL,
				       .key = role->key,
				       .key_len = key_len };
	struct etcd_request_op put = { .op = ETCD_OP_PUT,
				       .key = role->key,
				       .key_len = key_len,
				       .value = value,
				       .value_len = strlen(value),
				       .lease = lease };
	struct etcd_request_op get = { .op = ETCD_OP_RANGE, .key = role->key, .key_len = key_len };
	struct etcd_txn_request txn = { .compare = &absent,
					.ncompare = 1,
					.success = &put,
					.nsuccess = 1,
					.failure = &get,
					.nfailure = 1 };
	struct etcd_txn_result t;
	int r = etcd_txn(role->etcd, &txn, &t, err);
	if (r < 0)
		return cove_err_prefix(err, "host %s: register", role->id);
	if (t.succeeded) {
		*epoch = t.header.revision; /* the put's, so the key's create_revision */
	} else {
		int64_t holder = t.nresponses == 1 && t.responses[0].nkvs == 1 ? t.responses[0].kvs[0].lease : 0;
		r = cove_errf(err, -EEXIST,
			      "host %s: register: another coved claims host id %s (its key holds lease %" PRIx64 ")",
			      role->id, role->id, (uint64_t)holder);
	}
	etcd_txn_result_clear(&t);
	return r;
}

/* A new lease and hosts/<me> under it: a new epoch. The old lease (if
 * any) is revoked first, so our own stale key does not stand in the way. */
static int register_host(struct cluster_host_role *role, struct cove_err *err)
{
	pthread_mutex_lock(&role->lock);
	if (role->lease)
		role->old_lease = role->lease;
	role->lease = role->epoch = 0;
	pthread_mutex_unlock(&role->lock);
	if (revoke_lease(role, role->old_lease) < 0)
		return cove_errf(err, -EAGAIN, "host %s: register: cannot revoke its old lease %" PRIx64, role->id,
				 (uint64_t)role->old_lease);
	role->old_lease = 0;
	_cleanup_free_ char *value = NULL;
	int64_t lease = 0, epoch = 0, sent = now_ms();
	int r = host_record(role, &value, err);
	if (r == 0 && (r = etcd_lease_grant(role->etcd, role->ttl_ms / 1000, &lease, NULL, err)) < 0)
		cove_err_prefix(err, "host %s: register", role->id);
	if (r == 0 && (r = claim(role, lease, value, &epoch, err)) < 0)
		revoke_lease(role, lease);
	if (r < 0)
		return r;
	pthread_mutex_lock(&role->lock);
	role->lease = lease;
	role->epoch = epoch;
	role->last_ok_ms = sent;
	role->lost = false;
	role->unreachable = false;
	role->need_reconcile = true;
	snprintf(role->why, sizeof(role->why), "host %s is registering with the cluster", role->id);
	pthread_mutex_unlock(&role->lock);
	log_info("cluster host=%s op=register lease=%" PRIx64 " epoch=%" PRId64, role->id, (uint64_t)lease, epoch);
	return 0;
}

/* After a registration: the caller's reconcile, then dead/<me> goes; only
 * then is the role no longer fenced. */
static int settle(struct cluster_host_role *role, struct cove_err *err)
{
	int r = role->reconcile ? role->reconcile(role, role->reconcile_data, err) : 0;
	if (r < 0)
		return cove_err_prefix(err, "host %s: reconcile", role->id);
	struct etcd_request_op del = { .op = ETCD_OP_DELETE, .key = role->dead_key, .key_len = strlen(role->dead_key) };
	r = host_role_fenced_txn(role, &del, NULL, NULL, "clear its dead mark", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&role->lock);
	role->need_reconcile = false;
	pthread_mutex_unlock(&role->lock);
	return 0;
}

/* TTL/3 (3.3 s for the default 10 s), but at least two renewals within the
 * fence's TTL - 1 s (which only short test TTLs need). */
static int64_t keepalive_period(const struct cluster_host_role *role)
{
	int64_t third = role->ttl_ms / 3, half_fence = (role->ttl_ms - 1000) / 2;
	return third < half_fence ? third : half_fence;
}

/* Under the lock: no renewal for TTL - 1 s fences the role for good (it
 * registers again, whether or not the old lease survived). */
static bool silent_too_long(struct cluster_host_role *role)
{
	int64_t silent = now_ms() - role->last_ok_ms;
	if (role->lost || role->lease == 0 || silent < role->ttl_ms - 1000)
		return role->lost;
	role->lost = true;
	snprintf(role->why, sizeof(role->why), "host %s is cut off from the cluster: no keepalive for %" PRId64 " ms",
		 role->id, silent);
	log_warn("cluster host=%s op=fence why=\"%s\"", role->id, role->why);
	pthread_cond_broadcast(&role->cond);
	return true;
}

/* Renews the lease; fences the role when etcd says it is gone or when no
 * renewal has succeeded for TTL - 1 s. */
static void keepalive(struct cluster_host_role *role, int64_t lease)
{
	struct cove_err e = { 0 };
	int64_t sent = now_ms(), ttl = 0;
	int r = etcd_lease_keepalive(role->etcd, lease, &ttl, &e);
	if (r == -ENOENT) {
		host_role_lose(role, lease, "host %s is cut off from the cluster: its lease is gone", role->id);
		return;
	}
	if (r < 0)
		log_warn("cluster host=%s op=keepalive error=\"%s\"", role->id, e.msg);
	pthread_mutex_lock(&role->lock);
	/* Every member failed to answer (the client tries each): writes would
	 * too, so creates are refused now rather than after their own time-outs. */
	role->unreachable = r < 0;
	if (r < 0)
		snprintf(role->unreachable_why, sizeof(role->unreachable_why), "%s", e.msg);
	if (role->lease == lease && r == 0 && !role->lost)
		role->last_ok_ms = sent; /* etcd renewed it no earlier than that */
	else if (role->lease == lease)
		silent_too_long(role);
	pthread_mutex_unlock(&role->lock);
}

static void publish(struct cluster_host_role *role)
{
	struct cove_err e = { 0 };
	_cleanup_free_ char *value = NULL;
	pthread_mutex_lock(&role->lock);
	int64_t lease = role->lease;
	pthread_mutex_unlock(&role->lock);
	int r = host_record(role, &value, &e);
	if (r == 0) {
		struct etcd_request_op put = { .op = ETCD_OP_PUT,
					       .key = role->key,
					       .key_len = strlen(role->key),
					       .value = value,
					       .value_len = strlen(value),
					       .lease = lease };
		r = host_role_fenced_txn(role, &put, NULL, NULL, "publish", &e);
	}
	if (r < 0)
		log_warn("cluster host=%s op=publish error=\"%s\"", role->id, e.msg);
}

/* What the thread does next, decided under the lock. */
struct round {
	bool register_again, settle, keepalive, publish;
	int64_t lease;
};

static int64_t next_round(struct cluster_host_role *role, int64_t last_ka, int64_t last_pub, struct round *o)
{
	int64_t now = now_ms(), period = keepalive_period(role);
	*o = (struct round){ .lease = role->lease };
	if (silent_too_long(role) || role->lease == 0) {
		o->register_again = last_ka + period <= now;
		return last_ka + period;
	}
	/* registered: renew (reconciled or not), and settle until it succeeds */
	int64_t pub_at = last_pub + (role->changed ? CLUSTER_HOST_CHANGED_MIN_MS : CLUSTER_HOST_PUBLISH_MS);
	o->keepalive = last_ka + period <= now;
	o->settle = o->keepalive && role->need_reconcile;
	o->publish = pub_at <= now;
	return last_ka + period < pub_at ? last_ka + period : pub_at;
}

static void wait_until(struct cluster_host_role *role, int64_t at_ms)
{
	struct timespec until = { .tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000 };
	pthread_cond_timedwait(&role->cond, &role->lock, &until);
}

/* A reconcile after the keepalive, so a slow one does not starve the lease. */
static void run_round(struct cluster_host_role *role, const struct round *o)
{
	struct cove_err e = { 0 };
	bool settle_now = o->settle;
	if (o->register_again) {
		settle_now = register_host(role, &e) == 0;
		if (!settle_now)
			log_warn("cluster host=%s op=register error=\"%s\"", role->id, e.msg);
	}
	if (o->keepalive)
		keepalive(role, o->lease);
	if (settle_now && settle(role, &e) < 0)
		log_warn("cluster host=%s op=reconcile error=\"%s\"", role->id, e.msg);
	else if (settle_now)
		log_info("cluster host=%s op=unfence epoch=%" PRId64, role->id, cluster_host_epoch(role));
	if (o->publish)
		publish(role);
}

static void *run(void *data)
{
	struct cluster_host_role *role = data;
	int64_t last_ka = now_ms(), last_pub = last_ka;
	pthread_mutex_lock(&role->lock);
	while (!role->stop) {
		struct round o;
		int64_t at = next_round(role, last_ka, last_pub, &o);
		if (!o.register_again && !o.settle && !o.keepalive && !o.publish) {
			wait_until(role, at);
			continue;
		}
		if (o.publish)
			role->changed = false;
		pthread_mutex_unlock(&role->lock);
		run_round(role, &o);
		int64_t now = now_ms();
		if (o.register_again || o.settle || o.keepalive)
			last_ka = now;
		if (o.publish || o.register_again)
			last_pub = now;
		pthread_mutex_lock(&role->lock);
	}
	pthread_mutex_unlock(&role->lock);
	return NULL;
}

static int check_config(const struct cluster_host_config *c, struct cove_err *err)
{
	int r = cluster_host_id_check(c->host_id, err);
	if (r < 0)
		return cove_err_prefix(err, "cluster host");
	if (!c->etcd || !c->figures)
		return cove_errf(err, -EINVAL, "host %s: no etcd client or figures callback", c->host_id);
	if (!c->advertise || !c->advertise[0] || strlen(c->advertise) > CLUSTER_ADDR_MAX)
		return cove_errf(err, -EINVAL, "host %s: advertise address '%s' is empty or too long", c->host_id,
				 c->advertise ? c->advertise : "");
	if (c->lease_ttl_s != 0 && (c->lease_ttl_s < 2 || c->lease_ttl_s > 3600))
		return cove_errf(err, -EINVAL, "host %s: lease TTL %" PRId64 " s is not within 2..3600", c->host_id,
				 c->lease_ttl_s);
	return 0;
}

static struct cluster_host_role *role_new(const struct cluster_host_config *c)
{
	struct cluster_host_role *role = calloc(1, sizeof(*role));
	if (!role)
		return NULL;
	role->etcd = c->etcd;
	snprintf(role->id, sizeof(role->id), "%s", c->host_id);
	snprintf(role->addr, sizeof(role->addr), "%s", c->advertise);
	snprintf(role->key, sizeof(role->key), "%s%s", CLUSTER_HOSTS_PREFIX, c->host_id);
	snprintf(role->dead_key, sizeof(role->dead_key), "%s%s", CLUSTER_DEAD_PREFIX, c->host_id);
	role->ttl_ms = (c->lease_ttl_s ? c->lease_ttl_s : CLUSTER_HOST_DEFAULT_TTL_S) * 1000;
	role->figures = c->figures;
	role->figures_data = c->figures_data;
	role->reconcile = c->reconcile;
	role->reconcile_data = c->reconcile_data;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&role->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&role->lock, NULL);
	return role;
}

static void role_free(struct cluster_host_role *role)
{
	pthread_cond_destroy(&role->cond);
	pthread_mutex_destroy(&role->lock);
	free(role);
}

int cluster_host_start(const struct cluster_host_config *c, struct cluster_host_role **ret, struct cove_err *err)
{
	int r = check_config(c, err);
	if (r < 0)
		return r;
	struct cluster_host_role *role = role_new(c);
	if (!role)
		return cove_errf(err, -ENOMEM, "host %s: out of memory", c->host_id);
	r = register_host(role, err);
	if (r < 0) {
		role_free(role);
		return r;
	}
	struct cove_err e = { 0 };
	if (settle(role, &e) < 0) /* the thread tries again; fenced till then */
		log_warn("cluster host=%s op=reconcile error=\"%s\"", role->id, e.msg);
	r = -pthread_create(&role->thread, NULL, run, role);
	if (r < 0) {
		revoke_lease(role, role->lease);
		role_free(role);
		return cove_errno(err, r, "host %s: start the keepalive thread", c->host_id);
	}
	role->thread_started = true;
	*ret = role;
	return 0;
}

struct cluster_host_role *cluster_host_stop(struct cluster_host_role *role)
{
	if (!role)
		return NULL;
	pthread_mutex_lock(&role->lock);
	role->stop = true;
	pthread_cond_broadcast(&role->cond);
	pthread_mutex_unlock(&role->lock);
	if (role->thread_started)
		pthread_join(role->thread, NULL);
	revoke_lease(role, role->old_lease);
	revoke_lease(role, role->lease);
	log_info("cluster host=%s op=stop", role->id);
	role_free(role);
	return NULL;
}

bool cluster_host_fenced(struct cluster_host_role *role, char *why, size_t len)
{
	pthread_mutex_lock(&role->lock);
	bool fenced = silent_too_long(role) || role->lease == 0 || role->need_reconcile;
	if (fenced && why)
		snprintf(why, len, "%s", role->why[0] ? role->why : "host is not registered with the cluster");
	pthread_mutex_unlock(&role->lock);
	return fenced;
}

bool cluster_host_admits(struct cluster_host_role *role, char *why, size_t len)
{
	if (cluster_host_fenced(role, why, len))
		return false;
	pthread_mutex_lock(&role->lock);
	bool unreachable = role->unreachable;
	if (unreachable && why)
		snprintf(why, len, "host %s cannot reach the cluster's etcd: its last keepalive failed (%s)", role->id,
			 role->unreachable_why);
	pthread_mutex_unlock(&role->lock);
	return !unreachable;
}

int64_t cluster_host_epoch(struct cluster_host_role *role)
{
	pthread_mutex_lock(&role->lock);
	int64_t epoch = role->epoch;
	pthread_mutex_unlock(&role->lock);
	return epoch;
}

int64_t cluster_host_lease(struct cluster_host_role *role)
{
	pthread_mutex_lock(&role->lock);
	int64_t lease = role->lease;
	pthread_mutex_unlock(&role->lock);
	return lease;
}

const char *cluster_host_role_id(const struct cluster_host_role *role)
{
	return role->id;
}

void cluster_host_changed(struct cluster_host_role *role)
{
	pthread_mutex_lock(&role->lock);
	role->changed = true;
	pthread_cond_broadcast(&role->cond);
	pthread_mutex_unlock(&role->lock);
}
