/* The janitor's election and its thread (janitor.h); what it removes and
 * how is janitor_remove.c's. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/proc.h"
#include "gateway/janitor_remove.h"

/* A host the holder sees gone: since when (monotonic), and whether its
 * dead mark is written. */
struct gone_host {
	char host[CLUSTER_HOST_ID_MAX + 1];
	int64_t first_ms;
	int64_t since_ms; /* wall clock, once declared dead; 0 before */
	bool marked;
};

struct janitor {
	struct etcd_client *etcd;
	struct catalog *catalog;
	char id[CLUSTER_HOST_ID_MAX + 1];
	int64_t ttl_ms, dead_after_ms;
	pthread_mutex_t lock; /* stop; cond wakes the thread */
	pthread_cond_t cond;
	bool stop;
	pthread_t thread;
	/* the thread's; lease and last_ok_ms also read by janitor_holder */
	_Atomic int64_t lease;      /* 0: not holding */
	_Atomic int64_t last_ok_ms; /* monotonic: when the last renewal that succeeded was sent */
	struct gone_host *gone;
	size_t ngone;
};

/* A renewal every TTL/3, but two at least within the fence's TTL - 1 s. */
static int64_t renew_period(const struct janitor *j)
{
	int64_t third = j->ttl_ms / 3, half_fence = (j->ttl_ms - 1000) / 2;
	return third < half_fence ? third : half_fence;
}

bool janitor_holder(struct janitor *j)
{
	return atomic_load(&j->lease) != 0 && now_ms() - atomic_load(&j->last_ok_ms) < j->ttl_ms - 1000;
}

/* Gives the election up: the lease revoked (best effort: its key goes at
 * once, else with the lease), and a new term counts dead-after afresh. */
static void resign(struct janitor *j, const char *why)
{
	int64_t lease = atomic_exchange(&j->lease, 0);
	if (lease == 0)
		return;
	log_msg(strcmp(why, "stopping") == 0 ? LOG_INFO : LOG_WARN, "janitor gateway=%s op=resign why=\"%s\"", j->id,
		why);
	struct cove_err e = { 0 };
	if (etcd_lease_revoke(j->etcd, lease, &e) < 0 && e.code != -ENOENT)
		log_debug("janitor gateway=%s op=revoke error=\"%s\"", j->id, e.msg);
	free(j->gone);
	j->gone = NULL;
	j->ngone = 0;
}

/* Create-if-absent of the key under lease: 1 elected, 0 someone holds it. */
static int claim(struct janitor *j, int64_t lease, struct cove_err *err)
{
	char value[sizeof(j->id) + 16];
	snprintf(value, sizeof(value), "{\"gateway\":\"%s\"}", j->id); /* the id needs no escaping */
	size_t key_len = strlen(CLUSTER_JANITOR_KEY);
	struct etcd_compare absent = { .target = ETCD_CMP_CREATE,
				       .relation = ETCD_EQUAL,
				       .key = CLUSTER_JANITOR_KEY,
				       .key_len = key_len };
	struct etcd_request_op put = { .op = ETCD_OP_PUT,
				       .key = CLUSTER_JANITOR_KEY,
				       .key_len = key_len,
				       .value = value,
				       .value_len = strlen(value),
				       .lease = lease };
	struct etcd_txn_request txn = { .compare = &absent, .ncompare = 1, .success = &put, .nsuccess = 1 };
	struct etcd_txn_result t;
	int r = etcd_txn(j->etcd, &txn, &t, err);
	if (r < 0)
		return r;
	r = t.succeeded;
	etcd_txn_result_clear(&t);
	return r;
}

static void campaign(struct janitor *j)
{
	struct cove_err e = { 0 };
	int64_t sent = now_ms(), lease = 0;
	int r = etcd_lease_grant(j->etcd, j->ttl_ms / 1000, &lease, NULL, &e);
	if (r == 0 && (r = claim(j, lease, &e)) == 1) {
		atomic_store(&j->last_ok_ms, sent); /* the grant started the TTL no earlier */
		atomic_store(&j->lease, lease);
		log_info("janitor gateway=%s op=elected lease=%" PRIx64, j->id, (uint64_t)lease);
		return;
	}
	if (r < 0)
		log_warn("janitor gateway=%s op=campaign error=\"%s\"", j->id, e.msg);
	if (lease != 0 && etcd_lease_revoke(j->etcd, lease, &e) < 0)
		log_debug("janitor gateway=%s op=revoke error=\"%s\"", j->id, e.msg);
}

/* Renews the lease; resigns when etcd says it is gone or no renewal has
 * succeeded for TTL - 1 s (from keepalive results only, as host.h's fence). */
static void renew(struct janitor *j)
{
	struct cove_err e = { 0 };
	int64_t sent = now_ms();
	int r = etcd_lease_keepalive(j->etcd, atomic_load(&j->lease), NULL, &e);
	if (r == 0) {
		atomic_store(&j->last_ok_ms, sent);
		return;
	}
	if (r == -ENOENT) {
		resign(j, "its lease is gone");
		return;
	}
	log_warn("janitor gateway=%s op=keepalive error=\"%s\"", j->id, e.msg);
	int64_t silent = now_ms() - atomic_load(&j->last_ok_ms);
	if (silent >= j->ttl_ms - 1000) {
		char why[64];
		snprintf(why, sizeof(why), "no keepalive for %" PRId64 " ms", silent);
		resign(j, why);
	}
}

static int add_if_gone(const struct cluster_sandbox *sb, bool host_live, void *data)
{
	return host_live ? 0 : janitor_records_add(data, sb);
}

static bool has_host(const struct janitor_records *rs, const char *host)
{
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i].host, host) == 0)
			return true;
	return false;
}

static struct gone_host *find_gone(struct janitor *j, const char *host)
{
	for (size_t i = 0; i < j->ngone; i++)
		if (strcmp(j->gone[i].host, host) == 0)
			return &j->gone[i];
	return NULL;
}

/* The gone hosts now: those with records and no key. A host seen again (or
 * whose records all went) is dropped; one newly gone is timed from now. */
static int track_gone(struct janitor *j, const struct janitor_records *rs, int64_t now)
{
	size_t kept = 0;
	for (size_t i = 0; i < j->ngone; i++)
		if (has_host(rs, j->gone[i].host))
			j->gone[kept++] = j->gone[i];
		else
			log_info("janitor op=back host=%s why=\"live again, or no records left\"", j->gone[i].host);
	j->ngone = kept;
	for (size_t i = 0; i < rs->n; i++) {
		if (find_gone(j, rs->v[i].host))
			continue;
		struct gone_host *g = realloc(j->gone, (j->ngone + 1) * sizeof(*g));
		if (!g)
			return -ENOMEM;
		j->gone = g;
		j->gone[j->ngone++] = (struct gone_host){ .first_ms = now };
		snprintf(j->gone[j->ngone - 1].host, sizeof(g->host), "%s", rs->v[i].host);
		log_info("janitor op=gone host=%s dead_after_ms=%" PRId64, rs->v[i].host, j->dead_after_ms);
	}
	return 0;
}

/* One gone host's removals: the expired ones, and after dead-after the rest. */
static void sweep_host(struct janitor *j, struct gone_host *g, const struct janitor_records *rs, int64_t now)
{
	bool dead = now - g->first_ms >= j->dead_after_ms;
	if (dead && g->since_ms == 0) {
		g->since_ms = wall_now_ms();
		log_info("janitor op=dead host=%s gone_ms=%" PRId64, g->host, now - g->first_ms);
	}
	struct janitor_removal rm = { .etcd = j->etcd,
				      .host = g->host,
				      .dead = dead,
				      .mark = dead && !g->marked,
				      .since_ms = g->since_ms,
				      .fence_lease = atomic_load(&j->lease) };
	struct cove_err e = { 0 };
	int r = janitor_remove(&rm, rs, NULL, &e);
	if (r == 0) {
		g->marked = g->marked || rm.mark;
	} else if (r == -ESTALE) {
		resign(j, e.msg);
	} else if (r == -EBUSY) { /* back before the catalog showed it: time it afresh if it goes again */
		log_info("janitor op=back host=%s", g->host);
		g->first_ms = now;
		g->since_ms = 0;
		g->marked = false;
	} else {
		log_warn("janitor gateway=%s op=remove host=%s error=\"%s\"", j->id, g->host, e.msg);
	}
}

static void sweep(struct janitor *j)
{
	struct janitor_records rs = { 0 };
	int64_t now = now_ms();
	if (catalog_sandboxes(j->catalog, add_if_gone, &rs) < 0 || track_gone(j, &rs, now) < 0)
		log_warn("janitor gateway=%s op=sweep error=\"out of memory\"", j->id);
	else
		for (size_t i = 0; i < j->ngone && janitor_holder(j); i++)
			sweep_host(j, &j->gone[i], &rs, now);
	janitor_records_clear(&rs);
}

static void wait_until(struct janitor *j, int64_t at_ms)
{
	struct timespec until = { .tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000 };
	pthread_mutex_lock(&j->lock);
	if (!j->stop)
		pthread_cond_timedwait(&j->cond, &j->lock, &until);
	pthread_mutex_unlock(&j->lock);
}

static bool stopping(struct janitor *j)
{
	pthread_mutex_lock(&j->lock);
	bool stop = j->stop;
	pthread_mutex_unlock(&j->lock);
	return stop;
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Not holding: campaign every TTL/2. Holding: renew, and sweep every tick
 * while the renewals hold. */
static void *run(void *data)
{
	struct janitor *j = data;
	int64_t next_campaign = 0, next_renew = 0, next_sweep = 0;
	while (!stopping(j)) {
		int64_t now = now_ms();
		if (atomic_load(&j->lease) == 0 && now >= next_campaign) {
			campaign(j);
			next_campaign = now + j->ttl_ms / 2;
			next_renew = next_sweep = now_ms() + renew_period(j);
		}
		if (atomic_load(&j->lease) != 0 && now >= next_renew) {
			renew(j);
			next_renew = now + renew_period(j);
		}
		if (janitor_holder(j) && now >= next_sweep) {
			sweep(j);
			next_sweep = now + JANITOR_TICK_MS;
		}
		int64_t at = atomic_load(&j->lease) ? earliest(next_renew, next_sweep) : next_campaign;
		wait_until(j, at);
	}
	return NULL;
}

static int check_config(const struct janitor_config *c, struct cove_err *err)
{
	if (!c->etcd || !c->catalog || !c->gateway_id)
		return cove_errf(err, -EINVAL, "janitor: no etcd client, catalog or gateway id");
	if (cluster_host_id_check(c->gateway_id, err) < 0)
		return cove_err_prefix(err, "janitor: gateway id");
	if (c->lease_ttl_s < 2 || c->lease_ttl_s > 3600)
		return cove_errf(err, -EINVAL, "janitor: lease TTL %u s is not within 2..3600", c->lease_ttl_s);
	if (c->dead_after_s == 0)
		return cove_errf(err, -EINVAL, "janitor: dead-after must be 1 s or more");
	return 0;
}

int janitor_start(const struct janitor_config *c, struct janitor **ret, struct cove_err *err)
{
	int r = check_config(c, err);
	if (r < 0)
		return r;
	struct janitor *j = calloc(1, sizeof(*j));
	if (!j)
		return cove_errf(err, -ENOMEM, "janitor: out of memory");
	j->etcd = c->etcd;
	j->catalog = c->catalog;
	snprintf(j->id, sizeof(j->id), "%s", c->gateway_id);
	j->ttl_ms = (int64_t)c->lease_ttl_s * 1000;
	j->dead_after_ms = (int64_t)c->dead_after_s * 1000;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&j->lock, NULL);
	r = -pthread_create(&j->thread, NULL, run, j);
	if (r < 0) {
		pthread_cond_destroy(&j->cond);
		pthread_mutex_destroy(&j->lock);
		free(j);
		return cove_errno(err, r, "janitor: start its thread");
	}
	*ret = j;
	return 0;
}

struct janitor *janitor_stop(struct janitor *j)
{
	if (!j)
		return NULL;
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	resign(j, "stopping");
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j->gone);
	free(j);
	return NULL;
}
