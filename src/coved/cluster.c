/* coved's cluster roles at run time (cluster.h): the etcd client, the host
 * role with the manager's catalog hooks, and the gateway.
 *
 * The host's sandbox records: a create's (or fork child's) creating record
 * is written create-if-absent, fenced, before anything boots; when it
 * cannot be (etcd does not answer, the host is fenced) the create fails
 * with 503. Every later write (running, paused, a deadline, the delete at
 * the end) is fenced too, but a failed one does not stop the sandbox's
 * life on this host (deadlines stay local, and a fenced host's sandboxes
 * run on): its id is kept in a pending set and written again, as the
 * manager then holds it, with each host record the role publishes and
 * after each registration. */
#include "coved/cluster_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "manager/manager.h"

/* Under run->lock. */
static void pending_add(struct coved_cluster_run *run, const char *id)
{
	for (size_t i = 0; i < run->npending; i++)
		if (strcmp(run->pending[i], id) == 0)
			return;
	if (run->npending == CLUSTER_PENDING_MAX) {
		log_warn("cluster host=%s sandbox=%s op=catalog msg=\"%d records wait to be written: this one waits for "
			 "the next reconcile\"", run->c->host_id, id, CLUSTER_PENDING_MAX);
		return;
	}
	snprintf(run->pending[run->npending++], CLUSTER_SANDBOX_ID_MAX + 1, "%s", id);
}

/* Under run->lock; true when it was there. */
static bool pending_del(struct coved_cluster_run *run, const char *id)
{
	for (size_t i = 0; i < run->npending; i++)
		if (strcmp(run->pending[i], id) == 0) {
			memmove(run->pending[i], run->pending[i + 1], (run->npending - i - 1) * sizeof(run->pending[0]));
			run->npending--;
			return true;
		}
	return false;
}

struct manager *run_manager(struct coved_cluster_run *run)
{
	pthread_mutex_lock(&run->lock);
	struct manager *m = run->m;
	run->m_users += m != NULL;
	pthread_mutex_unlock(&run->lock);
	return m;
}

void run_manager_done(struct coved_cluster_run *run)
{
	pthread_mutex_lock(&run->lock);
	if (--run->m_users == 0)
		pthread_cond_broadcast(&run->wake);
	pthread_mutex_unlock(&run->lock);
}

static struct cluster_host_role *run_role(struct coved_cluster_run *run)
{
	pthread_mutex_lock(&run->lock);
	struct cluster_host_role *role = run->role;
	pthread_mutex_unlock(&run->lock);
	return role;
}

static int admit(void *ctx, const char *op, struct cove_err *err)
{
	struct coved_cluster_run *run = ctx;
	char why[384] = "";
	pthread_mutex_lock(&run->lock);
	struct cluster_host_role *role = run->role;
	if (!role)
		snprintf(why, sizeof(why), "host %s is not registered with the cluster yet (%s)", run->c->host_id,
			 run->last_error[0] ? run->last_error : "registering");
	pthread_mutex_unlock(&run->lock);
	if (role && cluster_host_admits(role, why, sizeof(why)))
		return 0;
	return cove_errf(err, -ENOTCONN, "cannot %s a sandbox: %s", op, why);
}

/* The manager's record as the catalog's (metadata as compact JSON with
 * sorted keys, as records.h keeps it). */
static int catalog_record(const struct manager_record *rec, struct cluster_sandbox *sb, struct cove_err *err)
{
	*sb = (struct cluster_sandbox){ .vcpus = rec->vcpus, .mem_mib = rec->mem_mib, .seq = rec->seq,
					.started_ms = rec->started_ms, .end_ms = rec->end_ms,
					.auto_pause = rec->auto_pause };
	sb->state = rec->state == STORE_SANDBOX_CREATING ? CLUSTER_SANDBOX_CREATING
		  : rec->state == STORE_SANDBOX_PAUSED	 ? CLUSTER_SANDBOX_PAUSED
							 : CLUSTER_SANDBOX_RUNNING;
	snprintf(sb->id, sizeof(sb->id), "%s", rec->id);
	snprintf(sb->template_id, sizeof(sb->template_id), "%s", rec->template_id);
	if (!rec->metadata)
		return 0;
	json_error_t je;
	json_t *j = json_loads(rec->metadata, 0, &je);
	if (j && json_object_size(j))
		sb->metadata = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	bool bad = !j || (json_object_size(j) && !sb->metadata);
	json_decref(j);
	return bad ? cove_errf(err, -EINVAL, "sandbox %s: its metadata is no JSON object", rec->id) : 0;
}

/* Under write_lock. */
static int write_record(struct cluster_host_role *role, const struct manager_record *rec, struct cove_err *err)
{
	struct cluster_sandbox sb;
	int r = catalog_record(rec, &sb, err);
	if (r == 0)
		r = cluster_host_put_sandbox(role, &sb, rec->state == STORE_SANDBOX_CREATING ? 0 : -1, NULL, err);
	cluster_sandbox_clear(&sb);
	return r;
}

static int put(void *ctx, const struct manager_record *rec, struct cove_err *err)
{
	struct coved_cluster_run *run = ctx;
	struct cove_err e = { 0 };
	pthread_mutex_lock(&run->write_lock);
	struct cluster_host_role *role = run_role(run);
	int r = role ? write_record(role, rec, &e)
		     : cove_errf(&e, -ENOTCONN, "host %s is not registered with the cluster", run->c->host_id);
	pthread_mutex_lock(&run->lock);
	if (r == 0)
		pending_del(run, rec->id);
	else if (rec->state != STORE_SANDBOX_CREATING)
		pending_add(run, rec->id);
	pthread_mutex_unlock(&run->lock);
	pthread_mutex_unlock(&run->write_lock);
	if (role) /* its load changed: the host record follows within a second */
		cluster_host_changed(role);
	if (r == 0)
		return 0;
	if (rec->state == STORE_SANDBOX_CREATING)
		return cove_errf(err, r == -ENOMEM || r == -EINVAL ? r : -ENOTCONN, "cannot catalog sandbox %s: %s",
				 rec->id, e.msg);
	log_warn("cluster host=%s sandbox=%s op=catalog state=%s msg=\"written later: %s\"", run->c->host_id, rec->id,
		 store_sandbox_state_name(rec->state), e.msg);
	return 0;
}

static void remove_record(void *ctx, const char *id)
{
	struct coved_cluster_run *run = ctx;
	struct cove_err e = { 0 };
	pthread_mutex_lock(&run->write_lock);
	struct cluster_host_role *role = run_role(run);
	int r = role ? cluster_host_delete_sandbox(role, id, &e) : cove_errf(&e, -ENOTCONN, "not registered");
	pthread_mutex_lock(&run->lock);
	if (r == 0)
		pending_del(run, id);
	else
		pending_add(run, id);
	pthread_mutex_unlock(&run->lock);
	pthread_mutex_unlock(&run->write_lock);
	if (role)
		cluster_host_changed(role);
	if (r < 0)
		log_warn("cluster host=%s sandbox=%s op=catalog-delete msg=\"deleted later: %s\"", run->c->host_id, id,
			 e.msg);
}

/* One pending id: the manager's record as it is now, or the delete. */
struct flush_one {
	struct manager_record rec;
	char id[CLUSTER_SANDBOX_ID_MAX + 1], template_id[64];
	char *metadata;
};

static int copy_record(void *ctx, const struct manager_record *rec)
{
	struct flush_one *f = ctx;
	f->rec = *rec;
	snprintf(f->id, sizeof(f->id), "%s", rec->id);
	snprintf(f->template_id, sizeof(f->template_id), "%s", rec->template_id);
	f->metadata = rec->metadata ? strdup(rec->metadata) : NULL;
	f->rec.id = f->id;
	f->rec.template_id = f->template_id;
	f->rec.metadata = f->metadata;
	return rec->metadata && !f->metadata ? -ENOMEM : 0;
}

/* True when its record was written (or deleted). */
static bool flush_one(struct coved_cluster_run *run, struct manager *m, const char *id)
{
	struct flush_one f = { 0 };
	snprintf(f.id, sizeof(f.id), "%s", id);
	int got = manager_each_record(m, id, copy_record, &f);
	struct cove_err e = { 0 };
	pthread_mutex_lock(&run->write_lock);
	pthread_mutex_lock(&run->lock);
	/* Written meanwhile by the manager's own hook: nothing to do. */
	bool still = false;
	for (size_t i = 0; i < run->npending && !still; i++)
		still = strcmp(run->pending[i], id) == 0;
	struct cluster_host_role *role = run->role;
	pthread_mutex_unlock(&run->lock);
	int r = -EAGAIN;
	if (still && role && got == -ENOENT)
		r = cluster_host_delete_sandbox(role, id, &e);
	else if (still && role && got == 0 && f.rec.state != STORE_SANDBOX_CREATING)
		r = write_record(role, &f.rec, &e);
	if (r == 0) {
		pthread_mutex_lock(&run->lock);
		pending_del(run, id);
		pthread_mutex_unlock(&run->lock);
		log_info("cluster host=%s sandbox=%s op=catalog msg=\"written after all\"", run->c->host_id, id);
	}
	pthread_mutex_unlock(&run->write_lock);
	free(f.metadata);
	return r == 0;
}

void cluster_flush_pending(struct coved_cluster_run *run, size_t max)
{
	char ids[16][CLUSTER_SANDBOX_ID_MAX + 1];
	struct manager *m = run_manager(run);
	while (m && max) {
		pthread_mutex_lock(&run->lock);
		size_t n = run->npending < max ? run->npending : max;
		n = n < 16 ? n : 16;
		memcpy(ids, run->pending, n * sizeof(ids[0]));
		pthread_mutex_unlock(&run->lock);
		size_t went = 0;
		for (size_t i = 0; i < n; i++)
			went += flush_one(run, m, ids[i]);
		if (went == 0) /* none waits, etcd still refuses, or the manager is writing them */
			break;
		max -= n;
	}
	if (m)
		run_manager_done(run);
}

struct record_copies {
	struct flush_one *v;
	size_t n, cap;
};

static int add_copy(void *ctx, const struct manager_record *rec)
{
	struct record_copies *l = ctx;
	if (rec->state == STORE_SANDBOX_CREATING)
		return 0; /* its creator writes it */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct flush_one *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return copy_record(&l->v[l->n++], rec);
}

void cluster_adopt(struct coved_cluster_run *run, struct manager *m)
{
	struct record_copies l = { 0 };
	int r = manager_each_record(m, NULL, add_copy, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		struct cove_err e = { 0 };
		struct cluster_sandbox sb;
		pthread_mutex_lock(&run->write_lock);
		struct cluster_host_role *role = run_role(run);
		int w = !role ? -ENOTCONN : catalog_record(&l.v[i].rec, &sb, &e);
		if (w == 0) {
			w = cluster_host_put_sandbox(role, &sb, 0, NULL, &e);
			cluster_sandbox_clear(&sb);
		}
		pthread_mutex_unlock(&run->write_lock);
		if (w == 0)
			log_info("cluster host=%s sandbox=%s op=adopt msg=\"cataloged a sandbox no record named\"",
				 run->c->host_id, l.v[i].id);
		else if (w != -ESTALE || !strstr(e.msg, "record changed"))
			log_warn("cluster host=%s sandbox=%s op=adopt msg=\"%s\"", run->c->host_id, l.v[i].id, e.msg);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].metadata);
	free(l.v);
}

void cluster_catalog_hooks(struct coved_cluster_run *run, struct manager_catalog *hooks)
{
	*hooks = (struct manager_catalog){ .admit = admit, .put = put, .remove = remove_record, .ctx = run };
}

int coved_cluster_drain(struct coved_cluster *c, bool on, struct cove_err *err)
{
	struct coved_cluster_run *run = c->run;
	if (!run || !(c->roles & COVED_ROLE_HOST))
		return cove_errf(err, -ENOENT, "this coved is no cluster host");
	pthread_mutex_lock(&run->lock);
	bool was = run->draining;
	run->draining = on;
	struct cluster_host_role *role = run->role;
	pthread_mutex_unlock(&run->lock);
	if (role)
		cluster_host_changed(role);
	if (was != on)
		log_info("cluster host=%s op=%s", c->host_id, on ? "drain" : "undrain");
	return 0;
}
