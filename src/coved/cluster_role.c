/* coved's cluster roles started and stopped (cluster.h), and the host
 * role's reconcile: the catalog brought in line with the manager's
 * sandboxes after each registration. */
#include "coved/cluster_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/env.h"
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/janitor.h"
#include "manager/manager.h"

struct local_ids {
	char (*ids)[CLUSTER_SANDBOX_ID_MAX + 1];
	const char **ptrs;
	size_t n, cap;
};

static int add_local(void *ctx, const struct manager_record *rec)
{
	struct local_ids *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *ids = realloc(l->ids, cap * sizeof(*l->ids));
		if (!ids)
			return -ENOMEM;
		l->ids = ids;
		l->cap = cap;
	}
	snprintf(l->ids[l->n++], CLUSTER_SANDBOX_ID_MAX + 1, "%s", rec->id);
	return 0;
}

/* Whether the cluster declared this host dead (a janitor removed its
 * records): then a local sandbox without a record was removed, not never
 * written. */
static int declared_dead(struct coved_cluster_run *run, bool *dead, struct cove_err *err)
{
	char key[sizeof(CLUSTER_DEAD_PREFIX) + CLUSTER_HOST_ID_MAX];
	snprintf(key, sizeof(key), "%s%s", CLUSTER_DEAD_PREFIX, run->c->host_id);
	struct etcd_result res;
	int r = etcd_range(run->etcd, key, strlen(key), false, &res, err);
	if (r < 0)
		return r;
	*dead = res.nkvs > 0;
	etcd_result_clear(&res);
	return 0;
}

/* A host that was never declared dead catalogs the sandboxes it has that
 * no record names (it joined the cluster with them, or their creating
 * write was lost) before reconcile would kill them; one declared dead had
 * them removed by a janitor: they go. */
static void adopt_unless_dead(struct coved_cluster_run *run, struct manager *m)
{
	bool dead = true;
	struct cove_err e = { 0 };
	if (declared_dead(run, &dead, &e) < 0)
		log_warn("cluster host=%s op=adopt msg=\"%s\"", run->c->host_id, e.msg);
	else if (!dead)
		cluster_adopt(run, m);
}

static int reconcile_with(struct coved_cluster_run *run, struct cluster_host_role *role, struct manager *m,
			  struct cove_err *err)
{
	adopt_unless_dead(run, m);
	struct local_ids l = { 0 };
	int r = manager_each_record(m, NULL, add_local, &l);
	const char **ptrs = r == 0 ? calloc(l.n ? l.n : 1, sizeof(*ptrs)) : NULL;
	if (r == 0 && !ptrs)
		r = -ENOMEM;
	for (size_t i = 0; ptrs && i < l.n; i++)
		ptrs[i] = l.ids[i];
	struct cluster_reconcile_kill *kills = NULL;
	size_t nkills = 0;
	if (r == 0)
		r = cluster_host_reconcile(role, ptrs, l.n, &kills, &nkills, err);
	else
		cove_errf(err, r, "reconcile: out of memory");
	for (size_t i = 0; r == 0 && i < nkills; i++) {
		struct cove_err e = { 0 };
		int k = manager_kill(m, kills[i].id, &e);
		log_warn("cluster host=%s sandbox=%s op=reconcile-kill msg=\"%s\"", run->c->host_id, kills[i].id,
			 k == 0 ? "the catalog no longer holds it (or holds it as another host's, or killing)" : e.msg);
	}
	free(kills);
	free(ptrs);
	free(l.ids);
	return r;
}

/* The lease of each registration, kept for the next coved on this state
 * (see revoke_previous). */
static void lease_save(struct coved_cluster_run *run, int64_t lease)
{
	char tmp[sizeof(run->lease_file) + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", run->lease_file);
	FILE *f = fopen(tmp, "we");
	bool ok = f && fprintf(f, "%" PRId64 "\n", lease) > 0;
	ok = f && fclose(f) == 0 && ok;
	if (!ok || rename(tmp, run->lease_file) < 0)
		log_warn("cluster host=%s op=save-lease path=%s msg=\"%s\"", run->c->host_id, run->lease_file,
			 strerror(errno));
}

/* A coved restarted on this state (after a crash, within the lease's TTL)
 * finds its own key still held by the lease it had: that lease is revoked,
 * taking the stale key with it. Another coved's key (another lease) stays,
 * and refuses the id. */
static void revoke_previous(struct coved_cluster_run *run)
{
	FILE *f = fopen(run->lease_file, "re");
	long long lease = 0;
	if (!f)
		return;
	int n = fscanf(f, "%lld", &lease);
	fclose(f);
	struct cove_err e = { 0 };
	if (n == 1 && lease > 0 && etcd_lease_revoke(run->etcd, lease, &e) == 0)
		log_info("cluster host=%s op=revoke-previous lease=%llx", run->c->host_id, lease);
}

static int reconcile(struct cluster_host_role *role, void *data, struct cove_err *err)
{
	struct coved_cluster_run *run = data;
	lease_save(run, cluster_host_lease(role));
	/* The first reconcile runs inside cluster_host_start, before it hands
	 * the role back: the manager's hooks (the kills' deletes) need it now. */
	pthread_mutex_lock(&run->lock);
	if (!run->role)
		run->role = role;
	pthread_mutex_unlock(&run->lock);
	struct manager *m = run_manager(run);
	if (!m)
		return cove_errf(err, -ESHUTDOWN, "coved is shutting down");
	int r = reconcile_with(run, role, m, err);
	run_manager_done(run);
	/* A registration after the first follows a fence: this coved was cut
	 * off, and its gateway's cache may have missed what changed (seen:
	 * records a janitor removed meanwhile still listed). */
	if (r == 0 && run->registrations++ > 0 && run->gateway)
		catalog_resync(gateway_catalog(run->gateway));
	if (r == 0)
		cluster_flush_pending(run, CLUSTER_PENDING_MAX);
	return r;
}

static struct coved_cluster_run *run_free(struct coved_cluster_run *run)
{
	if (!run)
		return NULL;
	etcd_client_free(run->etcd);
	free(run->pending);
	pthread_mutex_destroy(&run->lock);
	pthread_mutex_destroy(&run->write_lock);
	pthread_cond_destroy(&run->wake);
	free(run);
	return NULL;
}

int coved_cluster_prepare(struct coved_cluster *c, const char *state_dir, struct manager_config *mc,
			  struct cove_err *err)
{
	if (!coved_cluster_on(c))
		return 0;
	struct coved_cluster_run *run = calloc(1, sizeof(*run));
	if (!run || !(run->pending = calloc(CLUSTER_PENDING_MAX, sizeof(*run->pending)))) {
		free(run);
		return cove_errf(err, -ENOMEM, "cluster: out of memory");
	}
	pthread_mutex_init(&run->lock, NULL);
	pthread_mutex_init(&run->write_lock, NULL);
	pthread_cond_init(&run->wake, NULL);
	run->c = c;
	snprintf(run->lease_file, sizeof(run->lease_file), "%s/cluster-lease", state_dir);
	const char *why;
	run->accel = vmm_accel_resolve(mc->accel, &why);
	cluster_snap_key(run->accel, mc->vmm_driver, run->snap_key);
	int r = etcd_client_new(c->etcd, 0, &run->etcd, err);
	if (r < 0) {
		run_free(run);
		return cove_err_prefix(err, "cluster-etcd");
	}
	if (c->roles & COVED_ROLE_HOST)
		cluster_catalog_hooks(run, &mc->catalog);
	c->run = run;
	return 0;
}

static int host_start(struct coved_cluster_run *run, struct cluster_host_role **role, struct cove_err *err)
{
	struct cluster_host_config hc = { .etcd = run->etcd,
					  .host_id = run->c->host_id,
					  .advertise = run->c->advertise,
					  .lease_ttl_s = run->c->lease_ttl_s,
					  .figures = cluster_figures,
					  .figures_data = run,
					  .reconcile = reconcile,
					  .reconcile_data = run };
	return cluster_host_start(&hc, role, err);
}

/* Until the first registration goes through (etcd unreachable at start):
 * again every second. */
static void *registrar(void *data)
{
	struct coved_cluster_run *run = data;
	pthread_mutex_lock(&run->lock);
	while (!run->stop && !run->role) {
		struct timespec at;
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += 1;
		pthread_cond_timedwait(&run->wake, &run->lock, &at);
		if (run->stop)
			break;
		pthread_mutex_unlock(&run->lock);
		struct cluster_host_role *role = NULL;
		struct cove_err e = { 0 };
		int r = host_start(run, &role, &e);
		pthread_mutex_lock(&run->lock);
		run->role = r == 0 ? role : NULL; /* a failed start may have shown it to reconcile */
		if (r < 0)
			snprintf(run->last_error, sizeof(run->last_error), "%s", e.msg);
		if (r == -EEXIST)
			log_error("cluster host=%s op=register msg=\"%s\"", run->c->host_id, e.msg);
	}
	pthread_mutex_unlock(&run->lock);
	return NULL;
}

int coved_cluster_start(struct coved_cluster *c, struct manager *m, struct api_server_config *ac,
			struct cove_err *err)
{
	struct coved_cluster_run *run = c->run;
	if (!run)
		return 0;
	pthread_mutex_lock(&run->lock);
	run->m = m;
	pthread_mutex_unlock(&run->lock);
	snprintf(run->api_key, sizeof(run->api_key), "%s", ac->api_key);
	if (c->roles & COVED_ROLE_GATEWAY) {
		struct gateway_config gc = { .etcd = run->etcd,
					     .self_id = (c->roles & COVED_ROLE_HOST) ? c->host_id : NULL,
					     .api_key = ac->api_key,
					     .placement_seed = env_get(ENV_PLACEMENT_SEED),
					     .domain = ac->domain,
					     .probe_endpoints = c->etcd };
		int r = gateway_start(&gc, &run->gateway, err);
		if (r < 0)
			return r;
		struct janitor_config jc = { .etcd = run->etcd,
					     .catalog = gateway_catalog(run->gateway),
					     .gateway_id = c->host_id,
					     .lease_ttl_s = c->lease_ttl_s,
					     .dead_after_s = c->dead_after_s };
		if ((r = janitor_start(&jc, &run->janitor, err)) < 0)
			return r;
	}
	cluster_api_config(run, ac);
	return 0;
}

int coved_cluster_register(struct coved_cluster *c, const char *address, unsigned port, struct cove_err *err)
{
	struct coved_cluster_run *run = c->run;
	if (!run || !(c->roles & COVED_ROLE_HOST))
		return 0;
	if (!c->advertise[0])
		snprintf(c->advertise, sizeof(c->advertise), "%s:%u", address, port);
	revoke_previous(run);
	struct cluster_host_role *role = NULL;
	int r = host_start(run, &role, err);
	if (r == -EEXIST || r == -EINVAL) {
		pthread_mutex_lock(&run->lock);
		run->role = NULL;
		pthread_mutex_unlock(&run->lock);
		return r; /* another coved is this host, or the settings are wrong: do not start */
	}
	pthread_mutex_lock(&run->lock);
	run->role = r == 0 ? role : NULL;
	if (r < 0) {
		snprintf(run->last_error, sizeof(run->last_error), "%s", err->msg);
		log_warn("cluster host=%s op=register msg=\"%s; trying again every second, refusing creates meanwhile\"",
			 c->host_id, err->msg);
	}
	pthread_mutex_unlock(&run->lock);
	if (r < 0) {
		r = -pthread_create(&run->registrar, NULL, registrar, run);
		if (r < 0)
			return cove_errno(err, r, "cluster: start registering");
		run->registrar_running = true;
	}
	log_info("cluster host=%s op=start roles=%s%s%s advertise=%s etcd=%s", c->host_id,
		 c->roles & COVED_ROLE_HOST ? "host" : "", c->roles == (COVED_ROLE_HOST | COVED_ROLE_GATEWAY) ? "," : "",
		 c->roles & COVED_ROLE_GATEWAY ? "gateway" : "", c->advertise, c->etcd);
	return 0;
}

void coved_cluster_detach(struct coved_cluster *c)
{
	struct coved_cluster_run *run = c->run;
	if (!run)
		return;
	pthread_mutex_lock(&run->lock);
	run->stop = true;
	pthread_cond_broadcast(&run->wake);
	pthread_mutex_unlock(&run->lock);
	if (run->registrar_running)
		pthread_join(run->registrar, NULL);
	run->registrar_running = false;
	run->janitor = janitor_stop(run->janitor);
	run->gateway = gateway_stop(run->gateway);
	pthread_mutex_lock(&run->lock);
	run->m = NULL;
	while (run->m_users)
		pthread_cond_wait(&run->wake, &run->lock);
	pthread_mutex_unlock(&run->lock);
}

void coved_cluster_stop(struct coved_cluster *c)
{
	struct coved_cluster_run *run = c->run;
	if (!run)
		return;
	coved_cluster_detach(c);
	pthread_mutex_lock(&run->lock);
	struct cluster_host_role *role = run->role;
	run->role = NULL;
	pthread_mutex_unlock(&run->lock);
	cluster_host_stop(role);
	c->run = run_free(run);
}
