/* The janitor (src/gateway/janitor.c, janitor_remove.c) against a real etcd
 * member (etcd_server.h): the election between two janitors (a stopped
 * holder and one whose lease is revoked behind its back both hand over
 * within a TTL); a gone host's records removed after dead-after (paused kept,
 * the dead mark written) and expired ones before it; a host back before
 * dead-after keeping everything; the CREATE == 0 compare losing to a host
 * that registered at the last moment; the janitor's lease fence; forget,
 * with and without a catalog, across several txns. TTL 2 s, dead-after 3 s.
 * Skipped when etcd is not installed. */
#include <errno.h>
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

#include "cluster/catalog.h"
#include "common/log.h"
#include "common/proc.h"
#include "gateway/janitor.h"
#include "gateway/janitor_remove.h"
#include "catalog_fixture.h"
#include "etcd_server.h"

#define TTL_S 2
#define DEAD_AFTER_S 3

static struct etcd_server member;
static struct etcd_client *etcd;

static int setup(void **state)
{
	(void)state;
	return etcd_server_open(&member, &etcd);
}

static int teardown(void **state)
{
	(void)state;
	etcd_server_close(&member, &etcd);
	return 0;
}

static int clean(void **state)
{
	(void)state;
	return etcd_server_clear_catalog(etcd);
}

static void put_host(const char *id)
{
	fixture_put_host(etcd, id, CLUSTER_HOST_READY);
}

static void delete_key(const char *prefix, const char *id)
{
	char key[128];
	snprintf(key, sizeof(key), "%s%s", prefix, id);
	assert_int_equal(etcd_delete(etcd, key, strlen(key), false, NULL, NULL), 0);
}

static bool exists(const char *prefix, const char *id)
{
	return fixture_exists(etcd, prefix, id);
}

static bool sandbox_exists(const char *id)
{
	return exists(CLUSTER_SANDBOXES_PREFIX, id);
}

static void put_sandbox(const char *id, const char *host, enum cluster_sandbox_state state, int64_t end_ms,
			bool auto_pause)
{
	fixture_put_sandbox(etcd, id, host, state, end_ms, auto_pause);
}

static struct catalog *catalog(void)
{
	struct catalog *cat = NULL;
	struct cove_err err = { 0 };
	if (catalog_start(etcd, &cat, &err) < 0)
		fail_msg("catalog: %s", err.msg);
	return cat;
}

static struct janitor *janitor(struct catalog *cat, const char *id)
{
	struct janitor_config c = { .etcd = etcd,
				    .catalog = cat,
				    .gateway_id = id,
				    .lease_ttl_s = TTL_S,
				    .dead_after_s = DEAD_AFTER_S };
	struct janitor *j = NULL;
	struct cove_err err = { 0 };
	if (janitor_start(&c, &j, &err) < 0)
		fail_msg("janitor %s: %s", id, err.msg);
	return j;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

/* Waits up to ms for exactly one of a, b to hold: it, or NULL. */
static struct janitor *wait_holder(struct janitor *a, struct janitor *b, long ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (etcd_server_ms_since(&t0) < ms) {
		bool ha = a && janitor_holder(a), hb = b && janitor_holder(b);
		if (ha && hb)
			fail_msg("both janitors hold the election");
		if (ha || hb)
			return ha ? a : b;
		sleep_ms(50);
	}
	return NULL;
}

/* The lease that holds the janitor key now (0: none). */
static int64_t janitor_lease(void)
{
	struct etcd_result res;
	assert_int_equal(etcd_range(etcd, CLUSTER_JANITOR_KEY, strlen(CLUSTER_JANITOR_KEY), false, &res, NULL), 0);
	int64_t lease = res.nkvs ? res.kvs[0].lease : 0;
	etcd_result_clear(&res);
	return lease;
}

static void test_election(void **state)
{
	(void)state;
	struct catalog *cat = catalog();
	struct janitor *a = janitor(cat, "gw1"), *b = janitor(cat, "gw2");
	struct janitor *holder = wait_holder(a, b, 3000);
	assert_non_null(holder);
	/* its lease revoked behind its back: it stops at once, the other takes over */
	struct cove_err err = { 0 };
	assert_int_equal(etcd_lease_revoke(etcd, janitor_lease(), &err), 0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct janitor *other = holder == a ? b : a;
	while (janitor_holder(holder) && etcd_server_ms_since(&t0) < TTL_S * 1000)
		sleep_ms(20);
	assert_false(janitor_holder(holder));
	holder = wait_holder(a, b, TTL_S * 1000 + 500);
	assert_non_null(holder);
	/* the holder stopped: the other (which may be the revoked one) takes over within a TTL */
	other = holder == a ? b : a;
	if (holder == a)
		a = janitor_stop(a);
	else
		b = janitor_stop(b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_ptr_equal(wait_holder(other, NULL, TTL_S * 1000), other);
	printf("# takeover after a stop: %ld ms\n", etcd_server_ms_since(&t0));
	janitor_stop(a);
	janitor_stop(b);
	catalog_stop(cat);
}

/* Waits up to ms for the record to go (true) or stay (false at the end). */
static bool wait_gone(const char *id, long ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sandbox_exists(id)) {
		if (etcd_server_ms_since(&t0) >= ms)
			return false;
		sleep_ms(100);
	}
	return true;
}

static int64_t wall_ms(void)
{
	return wall_now_ms();
}

static void test_dead_after(void **state)
{
	(void)state;
	put_host("h1");
	put_sandbox("run1", "h1", CLUSTER_SANDBOX_RUNNING, 0, false);
	put_sandbox("new1", "h1", CLUSTER_SANDBOX_CREATING, 0, false);
	put_sandbox("kil1", "h1", CLUSTER_SANDBOX_KILLING, 0, false);
	put_sandbox("pau1", "h1", CLUSTER_SANDBOX_PAUSED, 0, false);
	put_sandbox("exp1", "h1", CLUSTER_SANDBOX_RUNNING, wall_ms() - 1000, false);
	put_sandbox("exp2", "h1", CLUSTER_SANDBOX_PAUSED, wall_ms() - 1000, false);
	put_sandbox("exp3", "h1", CLUSTER_SANDBOX_PAUSED, wall_ms() - 1000, true);
	put_sandbox("run2", "h2", CLUSTER_SANDBOX_RUNNING, 0, false);
	put_host("h2");
	struct catalog *cat = catalog();
	struct janitor *j = janitor(cat, "gw1");
	assert_non_null(wait_holder(j, NULL, 3000));
	sleep_ms(1500);
	assert_true(sandbox_exists("exp1")); /* a live host's deadlines are its own */
	delete_key(CLUSTER_HOSTS_PREFIX, "h1");
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* expired ones go before dead-after; paused with auto_pause stays */
	assert_true(wait_gone("exp1", 2500));
	assert_true(wait_gone("exp2", 500));
	assert_true(sandbox_exists("exp3"));
	assert_true(sandbox_exists("run1"));
	assert_false(exists(CLUSTER_DEAD_PREFIX, "h1"));
	/* dead-after counts from the first sweep that saw it gone (a tick, 1 s, at
	 * most), and the removal waits for the next tick: about 3-5 s; slack for a
	 * loaded machine */
	assert_true(wait_gone("run1", DEAD_AFTER_S * 1000 + 4000));
	long took = etcd_server_ms_since(&t0);
	printf("# removed after %ld ms (dead-after %d s)\n", took, DEAD_AFTER_S);
	assert_true(took >= DEAD_AFTER_S * 1000 - 100);
	assert_true(wait_gone("new1", 500));
	assert_true(wait_gone("kil1", 500));
	assert_true(exists(CLUSTER_DEAD_PREFIX, "h1"));
	assert_true(sandbox_exists("pau1"));
	assert_true(sandbox_exists("exp3"));
	assert_true(sandbox_exists("run2"));
	janitor_stop(j);
	catalog_stop(cat);
}

static void test_host_returns(void **state)
{
	(void)state;
	put_host("h1");
	put_sandbox("run1", "h1", CLUSTER_SANDBOX_RUNNING, 0, false);
	put_sandbox("pau1", "h1", CLUSTER_SANDBOX_PAUSED, 0, false);
	struct catalog *cat = catalog();
	struct janitor *j = janitor(cat, "gw1");
	assert_non_null(wait_holder(j, NULL, 3000));
	delete_key(CLUSTER_HOSTS_PREFIX, "h1");
	sleep_ms(DEAD_AFTER_S * 1000 - 1200);
	put_host("h1");
	sleep_ms(DEAD_AFTER_S * 1000 + 1500);
	assert_true(sandbox_exists("run1"));
	assert_true(sandbox_exists("pau1"));
	assert_false(exists(CLUSTER_DEAD_PREFIX, "h1"));
	janitor_stop(j);
	catalog_stop(cat);
}

/* The removal as the holder would run it on a stale view: the host's key
 * came back, so the txn fails whole; a fence lease that is gone fails too. */
static void test_compare_loses(void **state)
{
	(void)state;
	put_sandbox("run1", "h1", CLUSTER_SANDBOX_RUNNING, 0, false);
	struct janitor_records rs = { 0 };
	struct cluster_sandbox sb = { .id = "run1", .host = "h1", .state = CLUSTER_SANDBOX_RUNNING };
	assert_int_equal(janitor_records_add(&rs, &sb), 0);
	put_host("h1"); /* registered again at the last moment */
	struct janitor_removal rm = { .etcd = etcd, .host = "h1", .dead = true, .mark = true, .since_ms = 1 };
	struct cove_err err = { 0 };
	assert_int_equal(janitor_remove(&rm, &rs, NULL, &err), -EBUSY);
	assert_true(sandbox_exists("run1"));
	assert_false(exists(CLUSTER_DEAD_PREFIX, "h1"));
	delete_key(CLUSTER_HOSTS_PREFIX, "h1");
	rm.fence_lease = 0x1234; /* no janitor key holds it */
	assert_int_equal(janitor_remove(&rm, &rs, NULL, &err), -ESTALE);
	assert_true(sandbox_exists("run1"));
	rm.fence_lease = 0;
	size_t removed = 0;
	assert_int_equal(janitor_remove(&rm, &rs, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_false(sandbox_exists("run1"));
	assert_true(exists(CLUSTER_DEAD_PREFIX, "h1"));
	janitor_records_clear(&rs);
}

/* n running records of host, m00000 on. */
static void put_many(const char *host, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char id[16];
		snprintf(id, sizeof(id), "m%05zu", i);
		put_sandbox(id, host, CLUSTER_SANDBOX_RUNNING, 0, false);
	}
}

static size_t count_prefix(const char *prefix)
{
	struct etcd_result res;
	assert_int_equal(etcd_range(etcd, prefix, strlen(prefix), true, &res, NULL), 0);
	size_t n = res.nkvs;
	etcd_result_clear(&res);
	return n;
}

static void test_forget(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	put_host("h1");
	put_sandbox("run1", "h1", CLUSTER_SANDBOX_RUNNING, 0, false);
	assert_int_equal(janitor_forget(etcd, NULL, "h1", &err), -EBUSY);
	assert_true(sandbox_exists("run1"));
	assert_int_equal(janitor_forget(etcd, NULL, "nosuch", &err), -ENOENT);
	assert_int_equal(janitor_forget(etcd, NULL, "-bad", &err), -EINVAL);
	/* h2: gone, 300 running (three txns) and one paused; without a catalog */
	put_many("h2", 300);
	put_sandbox("pau2", "h2", CLUSTER_SANDBOX_PAUSED, 0, false);
	assert_int_equal(janitor_forget(etcd, NULL, "h2", &err), 0);
	assert_int_equal(count_prefix(CLUSTER_SANDBOXES_PREFIX), 2); /* run1, pau2 */
	assert_true(sandbox_exists("pau2"));
	assert_true(exists(CLUSTER_DEAD_PREFIX, "h2"));
	assert_int_equal(janitor_forget(etcd, NULL, "h2", &err), 0); /* again: nothing left to go */
	/* h3: through the catalog */
	put_sandbox("run3", "h3", CLUSTER_SANDBOX_RUNNING, 0, false);
	struct catalog *cat = catalog();
	assert_int_equal(janitor_forget(etcd, cat, "h3", &err), 0);
	assert_false(sandbox_exists("run3"));
	assert_true(exists(CLUSTER_DEAD_PREFIX, "h3"));
	assert_int_equal(janitor_forget(etcd, cat, "h1", &err), -EBUSY);
	catalog_stop(cat);
}

/* Which records of a gone host may go before dead-after (expired) and after
 * it (dead): one that pauses at its deadline was paused by its host, which
 * keeps it. */
static void test_removable(void **state)
{
	(void)state;
	struct janitor_record r = { .state = CLUSTER_SANDBOX_RUNNING, .end_ms = 1000 };
	assert_true(janitor_removable(&r, false, 2000));
	assert_false(janitor_removable(&r, false, 500));
	assert_true(janitor_removable(&r, true, 500));
	r.auto_pause = true;
	assert_false(janitor_removable(&r, false, 2000));
	assert_true(janitor_removable(&r, true, 2000));
	r.state = CLUSTER_SANDBOX_PAUSED;
	assert_false(janitor_removable(&r, true, 2000));
	r.auto_pause = false;
	assert_true(janitor_removable(&r, false, 2000));
}

static void test_config(void **state)
{
	(void)state;
	struct janitor *j = NULL;
	struct cove_err err = { 0 };
	struct janitor_config c = { .etcd = etcd, .gateway_id = "gw1", .lease_ttl_s = 2, .dead_after_s = 3 };
	assert_int_equal(janitor_start(&c, &j, &err), -EINVAL); /* no catalog */
	assert_null(j);
}

int main(void)
{
	log_level_from_env(); /* COVE_LOG=info shows each removal */
	if (etcd_server_find(&member) < 0) {
		printf("# SKIP the janitor tests: the etcd program is not installed (Debian's etcd-server; make deps)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_removable),
		cmocka_unit_test_setup(test_election, clean),
		cmocka_unit_test_setup(test_dead_after, clean),
		cmocka_unit_test_setup(test_host_returns, clean),
		cmocka_unit_test_setup(test_compare_loses, clean),
		cmocka_unit_test_setup(test_forget, clean),
	};
	return cmocka_run_group_tests_name("janitor", tests, setup, teardown);
}
