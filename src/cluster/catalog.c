/* The gateway's catalog cache (see catalog.h): a list of both prefixes at
 * one revision, one watch of /cove/v1/ from the revision after it, and a
 * thread that lists and watches again when etcd cancels the watch, or when
 * its audit finds the cache and etcd apart (audit_differs). */
#include "cluster/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/catalog_index.h"
#include "common/log.h"

/* A pause between failed attempts to list and watch again. */
#define RELIST_RETRY_MS 500
/* How often the cache is compared with etcd (audit). */
#define AUDIT_MS 5000

/* A key whose value did not decode, at the revision it was seen: logged
 * once, skipped until it is rewritten or deleted. */
struct bad_record {
	char *key;
	int64_t mod_revision;
};

struct catalog {
	struct etcd_client *etcd;
	pthread_rwlock_t lock; /* ix, bad, read_ahead */
	struct catalog_index ix;
	struct bad_record *bad;
	size_t nbad;
	int64_t read_ahead; /* the newest revision a miss read put in the cache */
	pthread_mutex_t mu; /* the fields below; cond for each */
	pthread_cond_t cond;
	int64_t seen; /* the revision applied */
	bool watch_ended, stop;
	catalog_change_fn change_fn;
	void *change_data;
	struct etcd_watch *watch; /* the thread's (and catalog_start's before it runs) */
	pthread_t thread;
	atomic_uint_fast64_t lists, miss_reads, audit_relists;
};

static const char *bad_find(const struct bad_record *bad, size_t n, const char *key, size_t *pos)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(bad[i].key, key) == 0) {
			*pos = i;
			return bad[i].key;
		}
	return NULL;
}

/* Remembers key as bad, logging it unless it was logged at this revision. */
static void bad_note(struct bad_record **bad, size_t *n, const struct bad_record *old, size_t nold, const char *key,
		     int64_t rev, const struct cove_err *why)
{
	size_t pos;
	bool logged = bad_find(old, nold, key, &pos) && old[pos].mod_revision == rev;
	if (!logged)
		log_warn("op=catalog key=%s revision=%" PRId64 " error=\"%s\" skipped=1", key, rev, why->msg);
	if (bad_find(*bad, *n, key, &pos)) {
		(*bad)[pos].mod_revision = rev;
		return;
	}
	struct bad_record *p = realloc(*bad, (*n + 1) * sizeof(*p));
	char *copy = strdup(key);
	if (p)
		*bad = p;
	if (!p || !copy) {
		free(copy); /* not remembered: logged again next time */
		return;
	}
	p[(*n)++] = (struct bad_record){ copy, rev };
}

static void bad_forget(struct catalog *cat, const char *key)
{
	size_t pos;
	if (!bad_find(cat->bad, cat->nbad, key, &pos))
		return;
	free(cat->bad[pos].key);
	cat->bad[pos] = cat->bad[--cat->nbad];
}

static void bad_free(struct bad_record *bad, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(bad[i].key);
	free(bad);
}

enum kind { KIND_OTHER, KIND_HOST, KIND_SANDBOX };

static enum kind key_kind(const struct etcd_bytes *key)
{
	size_t h = strlen(CLUSTER_HOSTS_PREFIX), s = strlen(CLUSTER_SANDBOXES_PREFIX);
	if (key->len >= h && memcmp(key->data, CLUSTER_HOSTS_PREFIX, h) == 0)
		return KIND_HOST;
	if (key->len >= s && memcmp(key->data, CLUSTER_SANDBOXES_PREFIX, s) == 0)
		return KIND_SANDBOX;
	return KIND_OTHER;
}

/* Decodes a kv into ix: 0, -ENOMEM, or -EINVAL (why says why) for a record
 * that does not decode. */
static int put_kv(struct catalog_index *ix, const struct etcd_kv *kv, struct cove_err *why)
{
	const char *key = (const char *)kv->key.data, *text = (const char *)kv->value.data;
	if (kv->value.len > CLUSTER_RECORD_MAX)
		return cove_errf(why, -EINVAL, "a record of %zu bytes", kv->value.len);
	int r;
	if (key_kind(&kv->key) == KIND_HOST) {
		struct cluster_host h;
		char id[CLUSTER_HOST_ID_MAX + 1];
		if ((r = cluster_key_host_id(key, kv->key.len, id, why)) < 0 ||
		    (r = cluster_host_decode(id, text ? text : "", kv->value.len, &h, why)) < 0)
			return r;
		r = catalog_index_put_host(ix, &h, kv->mod_revision);
		cluster_host_clear(&h);
		return r;
	}
	struct cluster_sandbox sb;
	char id[CLUSTER_SANDBOX_ID_MAX + 1];
	if ((r = cluster_key_sandbox_id(key, kv->key.len, id, why)) < 0 ||
	    (r = cluster_sandbox_decode(id, text ? text : "", kv->value.len, &sb, why)) < 0)
		return r;
	r = catalog_index_put_sandbox(ix, &sb, kv->mod_revision);
	cluster_sandbox_clear(&sb);
	return r;
}

/* A key's record gone (deleted, or rewritten as something that does not decode). */
static void drop_kv(struct catalog_index *ix, const struct etcd_bytes *key, int64_t revision)
{
	char hid[CLUSTER_HOST_ID_MAX + 1], sid[CLUSTER_SANDBOX_ID_MAX + 1];
	if (key_kind(key) == KIND_HOST && cluster_key_host_id((const char *)key->data, key->len, hid, NULL) == 0)
		catalog_index_delete_host(ix, hid, revision);
	else if (key_kind(key) == KIND_SANDBOX &&
		 cluster_key_sandbox_id((const char *)key->data, key->len, sid, NULL) == 0)
		catalog_index_delete_sandbox(ix, sid, revision);
}

/* One prefix's records at revision (0: the latest; *revision gets it). */
static int list_prefix(struct catalog *cat, const char *prefix, int64_t *revision, struct catalog_index *ix,
		       struct bad_record **bad, size_t *nbad, struct cove_err *err)
{
	struct etcd_request_op op = { .op = ETCD_OP_RANGE,
				      .key = prefix,
				      .key_len = strlen(prefix),
				      .prefix = true,
				      .revision = *revision };
	struct etcd_result res;
	int r = etcd_do(cat->etcd, &op, &res, err);
	if (r < 0)
		return cove_err_prefix(err, "catalog: list %s", prefix);
	*revision = res.header.revision;
	for (size_t i = 0; i < res.nkvs && r == 0; i++) {
		struct cove_err why = { 0 };
		r = put_kv(ix, &res.kvs[i], &why);
		if (r == -EINVAL) {
			bad_note(bad, nbad, cat->bad, cat->nbad, (const char *)res.kvs[i].key.data,
				 res.kvs[i].mod_revision, &why);
			r = 0;
		}
	}
	etcd_result_clear(&res);
	return r < 0 ? cove_errno(err, r, "catalog: list %s", prefix) : 0;
}

static void set_seen(struct catalog *cat, int64_t revision)
{
	pthread_mutex_lock(&cat->mu);
	if (revision > cat->seen)
		cat->seen = revision;
	catalog_change_fn fn = cat->change_fn;
	void *data = cat->change_data;
	pthread_cond_broadcast(&cat->cond);
	pthread_mutex_unlock(&cat->mu);
	if (fn)
		fn(revision, data);
}

/* Both prefixes at one revision, in place of what the cache held. */
static int list_all(struct catalog *cat, int64_t *revision, struct cove_err *err)
{
	struct catalog_index ix = { 0 };
	struct bad_record *bad = NULL;
	size_t nbad = 0;
	int64_t rev = 0;
	int r = list_prefix(cat, CLUSTER_HOSTS_PREFIX, &rev, &ix, &bad, &nbad, err);
	if (r == 0)
		r = list_prefix(cat, CLUSTER_SANDBOXES_PREFIX, &rev, &ix, &bad, &nbad, err);
	if (r < 0) {
		catalog_index_clear(&ix);
		bad_free(bad, nbad);
		return r;
	}
	ix.revision = rev;
	pthread_rwlock_wrlock(&cat->lock);
	catalog_index_clear(&cat->ix);
	cat->ix = ix;
	bad_free(cat->bad, cat->nbad);
	cat->bad = bad;
	cat->nbad = nbad;
	pthread_rwlock_unlock(&cat->lock);
	atomic_fetch_add(&cat->lists, 1);
	*revision = rev;
	set_seen(cat, rev);
	return 0;
}

static void apply_event(struct catalog *cat, const struct etcd_event *ev)
{
	const struct etcd_kv *kv = &ev->kv;
	if (key_kind(&kv->key) == KIND_OTHER)
		return;
	const char *key = (const char *)kv->key.data;
	if (ev->type == ETCD_EVENT_DELETE) {
		drop_kv(&cat->ix, &kv->key, kv->mod_revision);
		bad_forget(cat, key);
		return;
	}
	struct cove_err why = { 0 };
	int r = put_kv(&cat->ix, kv, &why);
	if (r == 0) {
		bad_forget(cat, key);
	} else {
		/* Its last good record is not what the key holds now. */
		drop_kv(&cat->ix, &kv->key, kv->mod_revision);
		if (r == -ENOMEM)
			cove_errno(&why, r, "keep the record");
		bad_note(&cat->bad, &cat->nbad, cat->bad, cat->nbad, key, kv->mod_revision, &why);
	}
}

/* The watch's messages: events applied, a cancellation handed to the thread. */
static int on_watch(const struct etcd_watch_msg *msg, void *data)
{
	struct catalog *cat = data;
	if (msg->canceled) {
		log_info("op=catalog watch=canceled compact_revision=%" PRId64 " reason=\"%s\" relist=1",
			 msg->compact_revision, msg->cancel_reason);
		pthread_mutex_lock(&cat->mu);
		cat->watch_ended = true;
		pthread_cond_broadcast(&cat->cond);
		pthread_mutex_unlock(&cat->mu);
		return 1;
	}
	if (msg->nevents == 0)
		return 0;
	int64_t rev = msg->events[msg->nevents - 1].kv.mod_revision;
	pthread_rwlock_wrlock(&cat->lock);
	for (size_t i = 0; i < msg->nevents; i++)
		apply_event(cat, &msg->events[i]);
	if (rev > cat->ix.revision)
		cat->ix.revision = rev;
	pthread_rwlock_unlock(&cat->lock);
	set_seen(cat, rev);
	return 0;
}

/* Lists, then watches from the revision after the list. */
static int list_and_watch(struct catalog *cat, struct cove_err *err)
{
	int64_t rev;
	int r = list_all(cat, &rev, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&cat->mu);
	cat->watch_ended = false;
	pthread_mutex_unlock(&cat->mu);
	struct etcd_watch_request req = { .key = CLUSTER_KEY_PREFIX,
					  .key_len = strlen(CLUSTER_KEY_PREFIX),
					  .prefix = true,
					  .start_revision = rev + 1 };
	r = etcd_watch_start(cat->etcd, &req, on_watch, cat, &cat->watch, err);
	return r < 0 ? cove_err_prefix(err, "catalog: watch %s", CLUSTER_KEY_PREFIX) : 0;
}

static void deadline_after(struct timespec *t, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* The number of keys under prefix at revision rev (a range of one key:
 * etcd counts them all). */
static int count_at(struct catalog *cat, const char *prefix, int64_t rev, int64_t *count, struct cove_err *err)
{
	struct etcd_request_op op = {
		.op = ETCD_OP_RANGE, .key = prefix, .key_len = strlen(prefix), .prefix = true, .limit = 1, .revision = rev
	};
	struct etcd_result res;
	int r = etcd_do(cat->etcd, &op, &res, err);
	if (r < 0)
		return r;
	*count = res.count;
	etcd_result_clear(&res);
	return 0;
}

/* The cache against etcd at the revision the cache has reached: as many
 * records under each prefix (those that do not decode counted, as etcd
 * counts them). The watch is meant never to lose an event, yet once a
 * gateway went on listing a sandbox whose record was gone (after a quorum
 * loss, in CI), and etcd restored from a backup leaves the cache ahead of
 * it: this bounds such a loss to AUDIT_MS and says so. Counts only: two
 * losses that balance (a put and a delete lost) go unseen. True when they
 * differ. etcd out of reach, or the revision compacted, is no difference:
 * the watch reports those itself. */
static bool audit_differs(struct catalog *cat)
{
	pthread_rwlock_rdlock(&cat->lock);
	int64_t rev = cat->ix.revision;
	/* A miss read put a record newer than rev in: compared later. */
	bool ahead = cat->read_ahead > rev;
	size_t hosts = cat->ix.nhosts, sandboxes = cat->ix.n;
	for (size_t i = 0; i < cat->nbad; i++) {
		struct etcd_bytes key = { (uint8_t *)cat->bad[i].key, strlen(cat->bad[i].key) };
		hosts += key_kind(&key) == KIND_HOST;
		sandboxes += key_kind(&key) == KIND_SANDBOX;
	}
	pthread_rwlock_unlock(&cat->lock);
	int64_t h, sb;
	struct cove_err err = { 0 };
	if (rev <= 0 || ahead || count_at(cat, CLUSTER_HOSTS_PREFIX, rev, &h, &err) < 0 ||
	    count_at(cat, CLUSTER_SANDBOXES_PREFIX, rev, &sb, &err) < 0)
		return false;
	if (h == (int64_t)hosts && sb == (int64_t)sandboxes)
		return false;
	log_warn("op=catalog audit=differs revision=%" PRId64 " hosts=%zu etcd_hosts=%" PRId64 " sandboxes=%zu "
		 "etcd_sandboxes=%" PRId64 " relist=1",
		 rev, hosts, h, sandboxes, sb);
	atomic_fetch_add(&cat->audit_relists, 1);
	return true;
}

/* Waits until etcd cancels the watch, the audit finds the cache apart
 * from etcd, or the catalog stops. */
static void wait_watch_end(struct catalog *cat)
{
	struct timespec until;
	deadline_after(&until, AUDIT_MS);
	pthread_mutex_lock(&cat->mu);
	/* The condition is also signalled per event: the deadline holds. */
	while (!cat->stop && !cat->watch_ended) {
		if (pthread_cond_timedwait(&cat->cond, &cat->mu, &until) != ETIMEDOUT || cat->stop || cat->watch_ended)
			continue;
		pthread_mutex_unlock(&cat->mu);
		bool differs = audit_differs(cat);
		deadline_after(&until, AUDIT_MS);
		pthread_mutex_lock(&cat->mu);
		if (differs)
			cat->watch_ended = true;
	}
	pthread_mutex_unlock(&cat->mu);
}

/* Waits ms unless the catalog stops first. */
static void pause_ms(struct catalog *cat, long ms)
{
	struct timespec until;
	deadline_after(&until, ms);
	pthread_mutex_lock(&cat->mu);
	while (!cat->stop && pthread_cond_timedwait(&cat->cond, &cat->mu, &until) == 0)
		;
	pthread_mutex_unlock(&cat->mu);
}

static bool stopping(struct catalog *cat)
{
	pthread_mutex_lock(&cat->mu);
	bool stop = cat->stop;
	pthread_mutex_unlock(&cat->mu);
	return stop;
}

/* Lists and watches again each time etcd cancels the watch. */
static void *catalog_thread(void *data)
{
	struct catalog *cat = data;
	while (!stopping(cat)) {
		wait_watch_end(cat);
		cat->watch = etcd_watch_stop(cat->watch);
		while (!stopping(cat)) {
			struct cove_err err = { 0 };
			if (list_and_watch(cat, &err) == 0)
				break;
			log_warn("op=catalog relist=failed error=\"%s\"", err.msg);
			pause_ms(cat, RELIST_RETRY_MS);
		}
	}
	cat->watch = etcd_watch_stop(cat->watch);
	return NULL;
}

void catalog_resync(struct catalog *cat)
{
	pthread_mutex_lock(&cat->mu);
	if (!cat->watch_ended)
		log_info("op=catalog relist=1 reason=\"asked to read the catalog whole again\"");
	cat->watch_ended = true;
	pthread_cond_broadcast(&cat->cond);
	pthread_mutex_unlock(&cat->mu);
}

struct catalog *catalog_stop(struct catalog *cat)
{
	if (!cat)
		return NULL;
	pthread_mutex_lock(&cat->mu);
	cat->stop = true;
	pthread_cond_broadcast(&cat->cond);
	pthread_mutex_unlock(&cat->mu);
	if (cat->thread)
		pthread_join(cat->thread, NULL);
	cat->watch = etcd_watch_stop(cat->watch);
	catalog_index_clear(&cat->ix);
	bad_free(cat->bad, cat->nbad);
	pthread_rwlock_destroy(&cat->lock);
	pthread_cond_destroy(&cat->cond);
	pthread_mutex_destroy(&cat->mu);
	free(cat);
	return NULL;
}

int catalog_start(struct etcd_client *etcd, struct catalog **ret, struct cove_err *err)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	if (!cat)
		return cove_errf(err, -ENOMEM, "catalog: out of memory");
	cat->etcd = etcd;
	pthread_rwlock_init(&cat->lock, NULL);
	pthread_mutex_init(&cat->mu, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&cat->cond, &attr);
	pthread_condattr_destroy(&attr);
	int r = list_and_watch(cat, err);
	if (r == 0 && (r = -pthread_create(&cat->thread, NULL, catalog_thread, cat)) < 0) {
		cat->thread = 0;
		cove_errno(err, r, "catalog: start its thread");
	}
	if (r < 0) {
		catalog_stop(cat);
		return r;
	}
	*ret = cat;
	return 0;
}

void catalog_on_change(struct catalog *cat, catalog_change_fn fn, void *data)
{
	pthread_mutex_lock(&cat->mu);
	cat->change_fn = fn;
	cat->change_data = data;
	pthread_mutex_unlock(&cat->mu);
}

int catalog_wait_revision(struct catalog *cat, int64_t rev, long timeout_ms)
{
	struct timespec until;
	deadline_after(&until, timeout_ms);
	pthread_mutex_lock(&cat->mu);
	int r = 0;
	while (cat->seen < rev && r == 0)
		r = pthread_cond_timedwait(&cat->cond, &cat->mu, &until);
	bool reached = cat->seen >= rev;
	pthread_mutex_unlock(&cat->mu);
	return reached ? 0 : -ETIMEDOUT;
}

void catalog_stats(struct catalog *cat, struct catalog_stats *out)
{
	pthread_rwlock_rdlock(&cat->lock);
	*out = (struct catalog_stats){ .revision = cat->ix.revision,
				       .hosts = cat->ix.nhosts,
				       .sandboxes = cat->ix.n,
				       .skipped = cat->nbad,
				       .lists = atomic_load(&cat->lists),
				       .audit_relists = atomic_load(&cat->audit_relists),
				       .miss_reads = atomic_load(&cat->miss_reads) };
	pthread_rwlock_unlock(&cat->lock);
}

int catalog_host(struct catalog *cat, const char *id, struct cluster_host *out, struct cove_err *err)
{
	pthread_rwlock_rdlock(&cat->lock);
	const struct catalog_host_entry *e = catalog_index_host(&cat->ix, id);
	int r = e ? catalog_host_copy(&e->h, out) : -ENOENT;
	pthread_rwlock_unlock(&cat->lock);
	if (r == -ENOENT)
		return cove_errf(err, r, "host %.64s: not in the cluster (no live record)", id);
	return r < 0 ? cove_errno(err, r, "host %.64s: copy its record", id) : 0;
}

int catalog_hosts(struct catalog *cat, catalog_host_fn fn, void *data)
{
	int r = 0;
	pthread_rwlock_rdlock(&cat->lock);
	for (size_t i = 0; i < cat->ix.nhosts && r == 0; i++)
		r = fn(&cat->ix.hosts[i]->h, data);
	pthread_rwlock_unlock(&cat->lock);
	return r;
}

int catalog_sandboxes(struct catalog *cat, catalog_record_fn fn, void *data)
{
	int r = 0;
	pthread_rwlock_rdlock(&cat->lock);
	for (size_t i = 0; i < cat->ix.n && r == 0; i++) {
		const struct cluster_sandbox *sb = &cat->ix.by_id[i]->sb;
		r = fn(sb, catalog_index_host(&cat->ix, sb->host) != NULL, data);
	}
	pthread_rwlock_unlock(&cat->lock);
	return r;
}

/* The cached record of id into out: 0, -ENOENT when not cached, -ENOMEM. Under the lock. */
static int cached_sandbox(struct catalog *cat, const char *id, struct cluster_sandbox *out, bool *host_live)
{
	const struct catalog_sandbox_entry *e = catalog_index_sandbox(&cat->ix, id);
	if (!e)
		return -ENOENT;
	if (host_live)
		*host_live = catalog_index_host(&cat->ix, e->sb.host) != NULL;
	return catalog_sandbox_copy(&e->sb, out);
}

/* A miss: one linearizable range of the key, cached unless the watch has
 * gone past the revision it read (the cache then knows better). */
static int read_sandbox(struct catalog *cat, const char *id, struct cluster_sandbox *out, bool *host_live,
			struct cove_err *err)
{
	char key[sizeof(CLUSTER_SANDBOXES_PREFIX) + CLUSTER_SANDBOX_ID_MAX];
	int r = cluster_sandbox_key(id, key, sizeof(key), err);
	if (r < 0)
		return r;
	atomic_fetch_add(&cat->miss_reads, 1);
	struct etcd_result res;
	if ((r = etcd_range(cat->etcd, key, strlen(key), false, &res, err)) < 0)
		return cove_err_prefix(err, "sandbox %s", id);
	struct catalog_index one = { 0 };
	if (res.nkvs == 1 && (r = put_kv(&one, &res.kvs[0], err)) < 0) {
		cove_err_prefix(err, "sandbox %s: its record", id);
	} else if (res.nkvs == 1) {
		pthread_rwlock_wrlock(&cat->lock);
		struct catalog_sandbox_entry *e = one.by_id[0];
		if (res.header.revision > cat->ix.revision) {
			catalog_index_put_sandbox(&cat->ix, &e->sb, res.kvs[0].mod_revision); /* a cache: may fail */
			if (res.header.revision > cat->read_ahead)
				cat->read_ahead = res.header.revision;
		}
		r = cached_sandbox(cat, id, out, host_live);
		if (r == -ENOENT) /* not cached (out of memory, or deleted since) */
			r = catalog_sandbox_copy(&e->sb, out);
		pthread_rwlock_unlock(&cat->lock);
	} else {
		r = cove_errf(err, -ENOENT, "sandbox %s: no record", id);
	}
	etcd_result_clear(&res);
	catalog_index_clear(&one);
	return r;
}

int catalog_sandbox(struct catalog *cat, const char *id, struct cluster_sandbox *out, bool *host_live,
		    struct cove_err *err)
{
	int r = cluster_sandbox_id_check(id, err);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&cat->lock);
	r = cached_sandbox(cat, id, out, host_live);
	pthread_rwlock_unlock(&cat->lock);
	if (r == -ENOENT)
		return read_sandbox(cat, id, out, host_live, err);
	return r < 0 ? cove_errno(err, r, "sandbox %s: copy its record", id) : 0;
}

static bool listed(const struct catalog *cat, const struct catalog_filter *f, const struct catalog_sandbox_entry *e)
{
	bool any = !f->running && !f->paused;
	switch (e->sb.state) {
	case CLUSTER_SANDBOX_RUNNING:
		/* a gone host's running sandboxes are gone with it */
		if (!(any || f->running) || !catalog_index_host(&cat->ix, e->sb.host))
			return false;
		break;
	case CLUSTER_SANDBOX_PAUSED:
		if (!(any || f->paused))
			return false;
		break;
	default: return false;
	}
	for (size_t i = 0; i < f->nmetadata; i++) {
		const char *v = json_string_value(json_object_get(e->metadata, f->metadata[i].key));
		if (!v || strcmp(v, f->metadata[i].value) != 0)
			return false;
	}
	return true;
}

int catalog_list(struct catalog *cat, const struct catalog_filter *filter, size_t limit, const char *token,
		 char next[CATALOG_TOKEN_MAX], catalog_sandbox_fn fn, void *data, struct cove_err *err)
{
	int64_t seq = INT64_MAX;
	char id[CLUSTER_SANDBOX_ID_MAX + 1] = "";
	static const struct catalog_filter none = { 0 };
	next[0] = '\0';
	if (limit == 0)
		return cove_errf(err, -EINVAL, "catalog: a list of 0 records");
	if (!filter)
		filter = &none;
	int r;
	if (token && *token && (r = catalog_token_parse(token, &seq, id, err)) < 0)
		return r;
	size_t seen = 0;
	const struct cluster_sandbox *last = NULL;
	pthread_rwlock_rdlock(&cat->lock);
	size_t i = token && *token ? catalog_index_after(&cat->ix, seq, id) : 0;
	for (r = 0; i < cat->ix.n && r == 0; i++) {
		const struct catalog_sandbox_entry *e = cat->ix.by_order[i];
		if (!listed(cat, filter, e))
			continue;
		if (seen == limit) {
			catalog_token_encode(last->seq, last->id, next);
			break;
		}
		r = fn(&e->sb, data);
		last = &e->sb;
		seen++;
	}
	pthread_rwlock_unlock(&cat->lock);
	return (int)seen;
}
