/* The host role (src/cluster/host.c, host_writes.c) against a real etcd
 * (etcd_server.h): registering, a second claim of the same id refused,
 * fenced writes, self-fencing when the lease is revoked behind its back,
 * registering again with a new epoch, reconcile's catalog side, and stop.
 * Lease TTL 2 s, so the whole runs in a few seconds. Skipped when the etcd
 * program is not installed (Debian's etcd-server; make deps). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/host.h"
#include "common/cleanup.h"
#include "etcd_server.h"

static struct etcd_server etcd;
static struct etcd_client *client;

static int setup(void **state)
{
	(void)state;
	if (etcd_server_start(&etcd) < 0 || etcd_client_new(etcd.endpoint, 0, &client, NULL) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	client = etcd_client_free(client);
	etcd_server_stop(&etcd);
	return 0;
}

/* Each test starts from an empty catalog. */
static int empty_catalog(void **state)
{
	(void)state;
	return etcd_delete(client, "/cove/", 6, true, NULL, NULL);
}

static int figures(struct cluster_host *rec, void *data, struct cove_err *err)
{
	(void)data;
	(void)err;
	snprintf(rec->version, sizeof(rec->version), "test");
	snprintf(rec->accel, sizeof(rec->accel), "tcg");
	snprintf(rec->snap_key, sizeof(rec->snap_key), "k");
	rec->cpus = 2;
	rec->mem_max_mib = 1024;
	rec->max_sandboxes = 4;
	rec->max_boots = 2;
	return 0;
}

/* What the reconcile callback sees and does: it reconciles against local
 * and keeps the kills. */
struct host_side {
	pthread_mutex_t lock;
	int calls;
	const char *const *local;
	size_t nlocal;
	struct cluster_reconcile_kill *kills;
	size_t nkills;
};

static int reconcile(struct cluster_host_role *role, void *data, struct cove_err *err)
{
	struct host_side *h = data;
	pthread_mutex_lock(&h->lock);
	free(h->kills);
	h->kills = NULL;
	int r = cluster_host_reconcile(role, h->local, h->nlocal, &h->kills, &h->nkills, err);
	h->calls++;
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int calls(struct host_side *h)
{
	pthread_mutex_lock(&h->lock);
	int n = h->calls;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static struct cluster_host_config config(const char *id, struct host_side *h)
{
	return (struct cluster_host_config){ .etcd = client,
					     .host_id = id,
					     .advertise = "127.0.0.1:49982",
					     .lease_ttl_s = 2,
					     .figures = figures,
					     .reconcile = h ? reconcile : NULL,
					     .reconcile_data = h };
}

static struct cluster_host_role *start(const char *id, struct host_side *h)
{
	struct cluster_host_config c = config(id, h);
	struct cluster_host_role *role = NULL;
	struct cove_err err = { 0 };
	if (cluster_host_start(&c, &role, &err) != 0)
		fail_msg("%s", err.msg);
	return role;
}

/* The key's kv (0 when absent: *kv zeroed). */
static int get(const char *key, struct etcd_kv *kv)
{
	struct etcd_result r;
	assert_int_equal(etcd_range(client, key, strlen(key), false, &r, NULL), 0);
	memset(kv, 0, sizeof(*kv));
	int n = (int)r.nkvs;
	if (n == 1) {
		*kv = r.kvs[0];
		memset(&r.kvs[0], 0, sizeof(r.kvs[0]));
	}
	etcd_result_clear(&r);
	return n;
}

static void put_record(const char *id, const char *host, int64_t epoch, enum cluster_sandbox_state s)
{
	struct cluster_sandbox sb = { .epoch = epoch, .state = s, .template_id = "base", .vcpus = 1, .mem_mib = 256 };
	snprintf(sb.id, sizeof(sb.id), "%s", id);
	snprintf(sb.host, sizeof(sb.host), "%s", host);
	_cleanup_free_ char *text = NULL;
	char key[128];
	assert_int_equal(cluster_sandbox_encode(&sb, &text, NULL), 0);
	assert_int_equal(cluster_sandbox_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(etcd_put(client, key, strlen(key), text, strlen(text), 0, NULL, NULL), 0);
}

/* Sandbox id's record (false when there is none). */
static bool read_record(const char *id, struct cluster_sandbox *sb, int64_t *mod)
{
	char key[128];
	struct etcd_kv kv;
	assert_int_equal(cluster_sandbox_key(id, key, sizeof(key), NULL), 0);
	if (get(key, &kv) == 0)
		return false;
	struct cove_err err = { 0 };
	if (cluster_sandbox_decode(id, (char *)kv.value.data, kv.value.len, sb, &err) != 0)
		fail_msg("%s", err.msg);
	if (mod)
		*mod = kv.mod_revision;
	etcd_kv_clear(&kv);
	return true;
}

/* Polls cond (every 20 ms) for up to ms; its last value. */
#define WAIT_FOR(cond, ms) \
	({ \
		struct timespec t0_; \
		clock_gettime(CLOCK_MONOTONIC, &t0_); \
		bool ok_; \
		while (!(ok_ = (cond)) && etcd_server_ms_since(&t0_) < (ms)) \
			usleep(20 * 1000); \
		ok_; \
	})

static void test_register_and_stop(void **state)
{
	(void)state;
	struct cluster_host_role *role = start("h1", NULL);
	assert_false(cluster_host_fenced(role, NULL, 0));
	struct etcd_kv kv;
	assert_int_equal(get("/cove/v1/hosts/h1", &kv), 1);
	assert_int_equal(kv.create_revision, cluster_host_epoch(role));
	assert_true(kv.lease != 0);
	struct cluster_host rec;
	struct cove_err err = { 0 };
	if (cluster_host_decode("h1", (char *)kv.value.data, kv.value.len, &rec, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(rec.addr, "127.0.0.1:49982");
	assert_int_equal(rec.mem_max_mib, 1024);
	cluster_host_clear(&rec);
	int64_t lease = kv.lease, mod = kv.mod_revision;
	etcd_kv_clear(&kv);
	/* Past the TTL the key is still there: the thread renews the lease; told
	 * the figures changed, it publishes again within about a second. */
	cluster_host_changed(role);
	usleep(2500 * 1000);
	assert_int_equal(get("/cove/v1/hosts/h1", &kv), 1);
	assert_true(kv.lease == lease);
	assert_true(kv.mod_revision > mod);
	etcd_kv_clear(&kv);
	assert_true(WAIT_FOR(!cluster_host_fenced(role, NULL, 0), 2000));
	/* Stop revokes the lease: the key goes at once. */
	cluster_host_stop(role);
	assert_int_equal(get("/cove/v1/hosts/h1", &kv), 0);
}

static void test_same_id_refused(void **state)
{
	(void)state;
	struct cluster_host_role *role = start("h1", NULL), *second = NULL;
	struct cluster_host_config c = config("h1", NULL);
	struct cove_err err = { 0 };
	assert_int_equal(cluster_host_start(&c, &second, &err), -EEXIST);
	assert_null(second);
	assert_non_null(strstr(err.msg, "another coved claims host id h1"));
	/* The first is untouched, and another id is fine. */
	assert_false(cluster_host_fenced(role, NULL, 0));
	second = start("h2", NULL);
	cluster_host_stop(second);
	cluster_host_stop(role);
	/* Bad configurations name what is wrong. */
	c.host_id = "-bad";
	assert_int_equal(cluster_host_start(&c, &second, &err), -EINVAL);
	c = config("h1", NULL);
	c.lease_ttl_s = 1;
	assert_int_equal(cluster_host_start(&c, &second, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "lease TTL"));
}

static void test_fenced_writes(void **state)
{
	(void)state;
	struct host_side h = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct cluster_host_role *role = start("h1", &h);
	assert_int_equal(calls(&h), 1);
	int64_t epoch = cluster_host_epoch(role), mod = 0, mod2 = 0;
	struct cove_err err = { 0 };
	struct cluster_sandbox sb = { .id = "sb1",
				      .host = "whoever",
				      .state = CLUSTER_SANDBOX_CREATING,
				      .template_id = "base",
				      .vcpus = 1,
				      .mem_mib = 256 };
	/* Created once; the record says this host and epoch whatever sb said. */
	assert_int_equal(cluster_host_put_sandbox(role, &sb, 0, &mod, &err), 0);
	assert_int_equal(cluster_host_put_sandbox(role, &sb, 0, NULL, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "record changed"));
	assert_non_null(strstr(err.msg, "host h1: put sandbox sb1"));
	struct cluster_sandbox got;
	assert_true(read_record("sb1", &got, &mod2));
	assert_int_equal(mod2, mod);
	assert_string_equal(got.host, "h1");
	assert_int_equal(got.epoch, epoch);
	cluster_sandbox_clear(&got);
	/* Updated only from the revision last seen. */
	sb.state = CLUSTER_SANDBOX_RUNNING;
	assert_int_equal(cluster_host_put_sandbox(role, &sb, mod, &mod2, &err), 0);
	assert_true(mod2 > mod);
	assert_int_equal(cluster_host_put_sandbox(role, &sb, mod, NULL, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "record changed"));
	assert_int_equal(cluster_host_delete_sandbox(role, "sb1", &err), 0);
	assert_false(read_record("sb1", &got, NULL));
	assert_int_equal(cluster_host_put_sandbox(role, &sb, 0, &mod, &err), 0);
	/* The janitor declared it dead meanwhile; its lease is revoked behind
	 * its back. It notices within the TTL, says why, and its writes fail. */
	assert_int_equal(etcd_put(client, "/cove/v1/dead/h1", 16, "{}", 2, 0, NULL, NULL), 0);
	struct etcd_kv kv;
	assert_int_equal(get("/cove/v1/hosts/h1", &kv), 1);
	assert_int_equal(etcd_lease_revoke(client, kv.lease, NULL), 0);
	etcd_kv_clear(&kv);
	char why[256] = "";
	assert_true(WAIT_FOR(cluster_host_fenced(role, why, sizeof(why)), 2000));
	assert_non_null(strstr(why, "h1"));
	assert_non_null(strstr(why, "cut off from the cluster"));
	sb.state = CLUSTER_SANDBOX_PAUSED;
	int r = cluster_host_put_sandbox(role, &sb, mod, NULL, &err);
	if (r == -ESTALE) /* else it registered again already */
		assert_true(strstr(err.msg, "host is fenced") != NULL);
	/* It registers again with a new epoch, reconciles (its record of sb1
	 * has no local sandbox behind it: deleted) and clears its dead mark. */
	assert_true(WAIT_FOR(!cluster_host_fenced(role, why, sizeof(why)), 3000));
	assert_true(cluster_host_epoch(role) > epoch);
	assert_int_equal(calls(&h), 2);
	assert_false(read_record("sb1", &got, NULL));
	assert_int_equal(get("/cove/v1/dead/h1", &kv), 0);
	assert_int_equal(get("/cove/v1/hosts/h1", &kv), 1);
	assert_int_equal(kv.create_revision, cluster_host_epoch(role));
	etcd_kv_clear(&kv);
	/* Its writes hold again, under the new epoch. */
	assert_int_equal(cluster_host_put_sandbox(role, &sb, 0, NULL, &err), 0);
	assert_true(read_record("sb1", &got, NULL));
	assert_int_equal(got.epoch, cluster_host_epoch(role));
	cluster_sandbox_clear(&got);
	cluster_host_stop(role);
	free(h.kills);
}

/* A role that never learns its lease went (a write finds out): -ESTALE
 * naming the lease, and the role is fenced from then on. */
static void test_write_finds_lease_gone(void **state)
{
	(void)state;
	struct cluster_host_role *role = start("h1", NULL);
	struct etcd_kv kv;
	assert_int_equal(get("/cove/v1/hosts/h1", &kv), 1);
	assert_int_equal(etcd_lease_revoke(client, kv.lease, NULL), 0);
	etcd_kv_clear(&kv);
	struct cove_err err = { 0 };
	struct cluster_sandbox sb = { .id = "sb2",
				      .state = CLUSTER_SANDBOX_CREATING,
				      .template_id = "base",
				      .vcpus = 1,
				      .mem_mib = 256 };
	int r = cluster_host_put_sandbox(role, &sb, 0, NULL, &err);
	if (r == -ESTALE) {
		assert_non_null(strstr(err.msg, "host is fenced: its lease is gone"));
		assert_false(read_record("sb2", &sb, NULL));
	} else { /* the thread was quicker: registered again already */
		assert_int_equal(r, 0);
	}
	cluster_host_stop(role);
}

/* Reconcile at start: a catalog left from before (older epochs, another
 * host) against what runs here. */
static void test_reconcile(void **state)
{
	(void)state;
	put_record("aaa", "h1", 1, CLUSTER_SANDBOX_RUNNING);  /* ours, here: rewritten */
	put_record("bbb", "h1", 1, CLUSTER_SANDBOX_RUNNING);  /* ours, gone: deleted */
	put_record("ccc", "h2", 1, CLUSTER_SANDBOX_RUNNING);  /* another's, here: killed */
	put_record("eee", "h1", 1, CLUSTER_SANDBOX_KILLING);  /* ours, killing, here: killed */
	put_record("fff", "h2", 1, CLUSTER_SANDBOX_PAUSED);   /* another's: untouched */
	const char *local[] = { "aaa", "ccc", "ddd", "eee" }; /* ddd: no record, killed */
	struct host_side h = { .lock = PTHREAD_MUTEX_INITIALIZER, .local = local, .nlocal = 4 };
	struct cluster_host_role *role = start("h1", &h);
	assert_int_equal(calls(&h), 1);
	assert_int_equal(h.nkills, 3);
	assert_string_equal(h.kills[0].id, "ccc");
	assert_false(h.kills[0].delete_record);
	assert_string_equal(h.kills[1].id, "ddd");
	assert_string_equal(h.kills[2].id, "eee");
	assert_true(h.kills[2].delete_record);
	struct cluster_sandbox sb;
	assert_true(read_record("aaa", &sb, NULL));
	assert_int_equal(sb.epoch, cluster_host_epoch(role));
	assert_int_equal(sb.state, CLUSTER_SANDBOX_RUNNING);
	cluster_sandbox_clear(&sb);
	assert_false(read_record("bbb", &sb, NULL));
	assert_true(read_record("ccc", &sb, NULL));
	assert_string_equal(sb.host, "h2");
	cluster_sandbox_clear(&sb);
	assert_true(read_record("eee", &sb, NULL)); /* deleted by the caller after its kill */
	cluster_sandbox_clear(&sb);
	struct cove_err err = { 0 };
	assert_int_equal(cluster_host_delete_sandbox(role, "eee", &err), 0);
	assert_false(read_record("eee", &sb, NULL));
	assert_true(read_record("fff", &sb, NULL));
	cluster_sandbox_clear(&sb);
	/* A record that does not decode: its local sandbox is not killed. */
	assert_int_equal(etcd_put(client, "/cove/v1/sb/ggg", 15, "{", 1, 0, NULL, NULL), 0);
	const char *local2[] = { "aaa", "ggg" };
	struct cluster_reconcile_kill *kills = NULL;
	size_t nkills = 99;
	assert_int_equal(cluster_host_reconcile(role, local2, 2, &kills, &nkills, &err), 0);
	assert_int_equal(nkills, 0);
	free(kills);
	cluster_host_stop(role);
	free(h.kills);
}

/* etcd goes away: with no keepalive for TTL - 1 s the role fences itself
 * (it cannot tell a dead etcd from a partition); when etcd is back it
 * registers again with a new epoch. */
static void test_self_fence_without_etcd(void **state)
{
	(void)state;
	struct host_side h = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct cluster_host_role *role = start("h1", &h);
	int64_t epoch = cluster_host_epoch(role);
	etcd_server_kill(&etcd);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char why[256] = "";
	/* Creates are refused from the first keepalive that reached no member,
	 * before the fence (TTL - 1 s from the last success). */
	assert_true(WAIT_FOR(!cluster_host_admits(role, why, sizeof(why)), 2000));
	assert_true(strstr(why, "cannot reach the cluster's etcd") || strstr(why, "no keepalive for"));
	assert_true(WAIT_FOR(cluster_host_fenced(role, why, sizeof(why)), 2000));
	assert_true(etcd_server_ms_since(&t0) < 2000);
	assert_non_null(strstr(why, "no keepalive for"));
	struct cove_err err = { 0 };
	struct cluster_sandbox sb = { .id = "sb3",
				      .state = CLUSTER_SANDBOX_CREATING,
				      .template_id = "base",
				      .vcpus = 1,
				      .mem_mib = 256 };
	assert_true(cluster_host_put_sandbox(role, &sb, 0, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "host h1: put sandbox sb3"));
	assert_int_equal(etcd_server_spawn(&etcd), 0);
	assert_int_equal(etcd_server_wait_ready(&etcd), 0);
	assert_true(WAIT_FOR(!cluster_host_fenced(role, why, sizeof(why)), 5000));
	assert_true(cluster_host_admits(role, why, sizeof(why)));
	assert_true(cluster_host_epoch(role) > epoch);
	assert_int_equal(calls(&h), 2);
	assert_int_equal(cluster_host_put_sandbox(role, &sb, 0, NULL, &err), 0);
	cluster_host_stop(role);
	free(h.kills);
}

int main(void)
{
	if (etcd_server_find(&etcd) < 0) {
		printf("1..0 # SKIP the etcd program is not installed (Debian's etcd-server; make deps)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_register_and_stop, empty_catalog),
		cmocka_unit_test_setup(test_same_id_refused, empty_catalog),
		cmocka_unit_test_setup(test_fenced_writes, empty_catalog),
		cmocka_unit_test_setup(test_write_finds_lease_gone, empty_catalog),
		cmocka_unit_test_setup(test_reconcile, empty_catalog),
		cmocka_unit_test_setup(test_self_fence_without_etcd, empty_catalog), /* last: restarts etcd */
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
