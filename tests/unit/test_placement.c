/* Unit tests for placement (src/cluster/placement.c): the hard filters
 * (template locality, snapshot key, memory and sandbox slots, draining,
 * exclusions), best-of-K preferring the lower score, the warm-pool bonus,
 * in-flight bookings counted and then released, the spread over equal
 * hosts, and determinism under a seed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/placement.h"

#define NHOSTS 5

struct fleet {
	struct cluster_host hosts[NHOSTS];
	struct cluster_template templates[NHOSTS][2];
	const struct cluster_host *ptrs[NHOSTS];
	size_t n;
};

/* n equal, idle, ready hosts h0..h(n-1), each with templates base (with its
 * snapshot) and tiny, 16 GiB, 8 CPUs, 64 sandbox slots, snap_key k1. */
static void fleet_init(struct fleet *f, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		struct cluster_host *h = &f->hosts[i];
		snprintf(h->id, sizeof(h->id), "h%zu", i);
		snprintf(h->addr, sizeof(h->addr), "10.0.0.%zu:49982", i + 1);
		snprintf(h->version, sizeof(h->version), "test");
		snprintf(h->accel, sizeof(h->accel), "kvm");
		snprintf(h->snap_key, sizeof(h->snap_key), "k1");
		h->cpus = 8;
		h->mem_max_mib = 16384;
		h->max_sandboxes = 64;
		h->max_boots = 2;
		h->ts_ms = 1000;
		f->templates[i][0] = (struct cluster_template){ .name = "base", .snap = true };
		f->templates[i][1] = (struct cluster_template){ .name = "tiny" };
		h->templates = f->templates[i];
		h->ntemplates = 2;
		f->ptrs[i] = h;
	}
}

static struct placement_input input(const struct fleet *f, const char *template_id, unsigned mem_mib)
{
	return (struct placement_input){
		.hosts = f->ptrs,
		.nhosts = f->n,
		.req = { .template_id = template_id, .vcpus = 1, .mem_mib = mem_mib },
	};
}

/* The host id chosen, or the reason's name when none. */
static const char *choose(const struct placement_input *in, struct placement_rng *rng, struct cove_err *err)
{
	struct placement_choice c;
	int r = placement_choose(in, rng, &c, err);
	if (r == -EAGAIN)
		return placement_reason_name(c.reason);
	if (r != 0)
		fail_msg("placement_choose: %d %s", r, err->msg);
	assert_int_equal(c.reason, PLACEMENT_OK);
	return in->hosts[c.index]->id;
}

/* Over many tries (different random draws) only `want` is chosen. */
static void always(const struct placement_input *in, const char *want)
{
	struct placement_rng rng;
	placement_rng_seed(&rng, 7);
	struct cove_err err = { 0 };
	for (int i = 0; i < 200; i++) {
		const char *got = choose(in, &rng, &err);
		if (strcmp(got, want) != 0)
			fail_msg("try %d: chose %s, want %s (%s)", i, got, want, err.msg);
	}
}

static void refused(const struct placement_input *in, enum placement_reason reason, const char *msg)
{
	struct placement_rng rng;
	placement_rng_seed(&rng, 1);
	struct cove_err err = { 0 };
	struct placement_choice c;
	assert_int_equal(placement_choose(in, &rng, &c, &err), -EAGAIN);
	if (c.reason != reason || !strstr(err.msg, msg))
		fail_msg("got %s '%s', want %s '%s'", placement_reason_name(c.reason), err.msg,
			 placement_reason_name(reason), msg);
}

static void test_template_locality(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 3);
	/* Only h1 has "tiny". */
	f.hosts[0].ntemplates = f.hosts[2].ntemplates = 1;
	struct placement_input in = input(&f, "tiny", 256);
	always(&in, "h1");
	/* Even when h1 is the busiest by far. */
	f.hosts[1].mem_committed_mib = 15000;
	always(&in, "h1");
	in = input(&f, "python", 256);
	refused(&in, PLACEMENT_NO_TEMPLATE, "no host has template 'python'");
}

static void test_snapshot_key(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 3);
	snprintf(f.hosts[2].snap_key, sizeof(f.hosts[2].snap_key), "k2");
	struct placement_input in = input(&f, "base", 256);
	in.req.snap_key = "k2";
	always(&in, "h2");
	in.req.snap_key = "k3";
	refused(&in, PLACEMENT_NO_SNAPSHOT, "compatible snapshot key (k3)");
	/* No key asked for: any host. */
	in.req.snap_key = "";
	struct placement_rng rng;
	placement_rng_seed(&rng, 3);
	struct cove_err err = { 0 };
	bool seen[3] = { 0 };
	for (int i = 0; i < 100; i++)
		seen[choose(&in, &rng, &err)[1] - '0'] = true;
	assert_true(seen[0] && seen[1] && seen[2]);
}

static void test_limits(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 3);
	struct placement_input in = input(&f, "base", 1024);
	/* h0: one MiB short; h1: no sandbox slot left; h2: exactly room. */
	f.hosts[0].mem_committed_mib = 16384 - 1023;
	f.hosts[1].sandboxes = 64;
	f.hosts[2].mem_committed_mib = 16384 - 1024;
	f.hosts[2].sandboxes = 63;
	always(&in, "h2");
	f.hosts[2].mem_committed_mib++;
	refused(&in, PLACEMENT_NO_ROOM, "no host with template 'base' has room for 1024 MiB and 1 vCPUs");
	/* Room elsewhere does not help a host without the template. */
	f.hosts[1].sandboxes = 0;
	f.hosts[1].ntemplates = 0;
	refused(&in, PLACEMENT_NO_ROOM, "room");
}

static void test_draining_and_exclusions(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 3);
	struct placement_input in = input(&f, "base", 256);
	f.hosts[0].state = CLUSTER_HOST_DRAINING;
	const char *const excluded[] = { "h2" };
	in.excluded = excluded;
	in.nexcluded = 1;
	always(&in, "h1");
	f.hosts[1].state = CLUSTER_HOST_DRAINING;
	refused(&in, PLACEMENT_UNAVAILABLE, "all 3 hosts are draining or failed this create");
	in.nhosts = 0;
	refused(&in, PLACEMENT_NO_HOSTS, "no host is live");
}

static void test_best_of_k(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 5);
	/* Memory use h0 < h1 < ... < h4. With K = 3 of 5, the two busiest
	 * can never win (two others are always among the three sampled with
	 * them, and one of those is less busy); the least busy wins whenever
	 * it is sampled. */
	for (size_t i = 0; i < 5; i++)
		f.hosts[i].mem_committed_mib = 1000 * (unsigned)i;
	struct placement_input in = input(&f, "base", 256);
	struct placement_rng rng;
	placement_rng_seed(&rng, 11);
	struct cove_err err = { 0 };
	int counts[5] = { 0 };
	for (int i = 0; i < 500; i++)
		counts[choose(&in, &rng, &err)[1] - '0']++;
	assert_int_equal(counts[3], 0);
	assert_int_equal(counts[4], 0);
	/* h0 is sampled in 3 of 5 draws: about 300 of 500. */
	assert_in_range(counts[0], 250, 350);
	assert_true(counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > 0);
	/* With K = 1, any of them. */
	struct placement_policy p;
	placement_policy_default(&p);
	p.k = 1;
	in.policy = &p;
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < 500; i++)
		counts[choose(&in, &rng, &err)[1] - '0']++;
	assert_true(counts[4] > 0);
}

static void test_score(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 1);
	struct cluster_host *h = &f.hosts[0];
	struct placement_policy p;
	placement_policy_default(&p);
	struct placement_request req = { .template_id = "tiny", .vcpus = 2, .mem_mib = 1024 };
	struct placement_load load = { .vcpus = 2, .mem_mib = 1024, .count = 1 };
	h->mem_committed_mib = 2048;
	h->vcpus_alloc = 4;
	h->cpu_busy_pct = 50;
	/* mem (2048 + 1024 + 1024) / 16384 = 0.25; cpu (4 + 2 + 2 + 0.25) / 32 = 0.2578125 */
	assert_float_equal(placement_score(h, &req, &load, &p), 0.2578125, 1e-9);
	/* base has its snapshot there: -0.05; a warm one too: -0.10 more. */
	req.template_id = "base";
	assert_float_equal(placement_score(h, &req, &load, &p), 0.2078125, 1e-9);
	f.templates[0][0].warm = 1;
	assert_float_equal(placement_score(h, &req, &load, &p), 0.1078125, 1e-9);
	/* One of two boot slots busy: +0.025. */
	h->boots_inflight = 1;
	assert_float_equal(placement_score(h, &req, &load, &p), 0.1328125, 1e-9);
}

static void test_warm_bonus(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 3);
	/* h2 has a warm sandbox of base and is a little busier (0.06 of its
	 * memory): the 0.10 bonus still wins it every create. */
	f.templates[2][0].warm = 1;
	f.hosts[2].mem_committed_mib = 1000;
	struct placement_input in = input(&f, "base", 256);
	always(&in, "h2");
	/* Busier than the bonus is worth: never. */
	f.hosts[2].mem_committed_mib = 3000;
	struct placement_rng rng;
	placement_rng_seed(&rng, 5);
	struct cove_err err = { 0 };
	for (int i = 0; i < 100; i++)
		assert_string_not_equal(choose(&in, &rng, &err), "h2");
	/* The bonus is per template: tiny has no warm pool on h2. */
	f.hosts[2].mem_committed_mib = 1000;
	in.req.template_id = "tiny";
	for (int i = 0; i < 100; i++)
		assert_string_not_equal(choose(&in, &rng, &err), "h2");
}

static void test_inflight(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 2);
	struct placement_inflight t;
	placement_inflight_init(&t, 30000);
	struct cove_err err = { 0 };
	uint64_t a, b, c;
	/* Two creates of 8 GiB placed on h0 fill it as far as this gateway
	 * knows, though its record still says idle. */
	assert_int_equal(placement_book(&t, "h0", 2, 8192, 2000, &a, &err), 0);
	assert_int_equal(placement_book(&t, "h0", 2, 8192, 2000, &b, &err), 0);
	struct placement_load l = placement_inflight_load(&t, "h0");
	assert_int_equal(l.mem_mib, 16384);
	assert_int_equal(l.vcpus, 4);
	assert_int_equal(l.count, 2);
	assert_int_equal(placement_inflight_load(&t, "h1").count, 0);
	struct placement_input in = input(&f, "base", 256);
	in.inflight = &t;
	always(&in, "h1");
	/* A record of h0 arrives before the host answered: it may not count
	 * them yet, so nothing is released. */
	assert_int_equal(placement_host_seen(&t, "h0", 5000), 0);
	/* The host answers at 3000; a record of 2500 (older than the answer)
	 * does not release, one of 3500 does (and its numbers now show it). */
	placement_answered(&t, a, 3000);
	assert_int_equal(placement_host_seen(&t, "h1", 9000), 0);
	assert_int_equal(placement_host_seen(&t, "h0", 2500), 0);
	assert_int_equal(placement_host_seen(&t, "h0", 3500), 1);
	assert_int_equal(placement_inflight_load(&t, "h0").count, 1);
	/* b failed: cancelled, h0 is free again. */
	placement_cancel(&t, b);
	placement_cancel(&t, b);
	assert_int_equal(placement_inflight_load(&t, "h0").count, 0);
	/* A booking never answered goes after the ttl. */
	assert_int_equal(placement_book(&t, "h1", 1, 256, 10000, &c, &err), 0);
	assert_int_equal(placement_expire(&t, 40000), 0);
	assert_int_equal(placement_expire(&t, 40001), 1);
	assert_int_equal(t.n, 0);
	/* In-flight creates count against the sandbox slots too. */
	f.hosts[0].max_sandboxes = 1;
	assert_int_equal(placement_book(&t, "h0", 1, 256, 50000, &c, &err), 0);
	always(&in, "h1");
	assert_int_equal(placement_book(&t, "bad/id", 1, 256, 50000, &c, &err), -EINVAL);
	placement_inflight_clear(&t);
}

/* 300 creates through one gateway over 3 equal hosts. Each is booked and
 * answered; every 10 creates the hosts publish records that count what
 * they were sent, releasing the bookings. */
static void test_spread(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 3);
	for (size_t i = 0; i < 3; i++) {
		f.hosts[i].mem_max_mib = 65536;
		f.hosts[i].max_sandboxes = 200;
	}
	struct placement_inflight t;
	placement_inflight_init(&t, 0);
	struct placement_input in = input(&f, "base", 512);
	in.inflight = &t;
	struct placement_rng rng;
	placement_rng_seed(&rng, 2026);
	struct cove_err err = { 0 };
	int counts[3] = { 0 };
	int64_t now = 1000;
	for (int i = 0; i < 300; i++) {
		struct placement_choice c;
		assert_int_equal(placement_choose(&in, &rng, &c, &err), 0);
		counts[c.index]++;
		uint64_t id;
		assert_int_equal(placement_book(&t, f.hosts[c.index].id, 1, 512, ++now, &id, &err), 0);
		placement_answered(&t, id, ++now);
		if (i % 10 != 9)
			continue;
		for (size_t h = 0; h < 3; h++) {
			f.hosts[h].mem_committed_mib = 512 * (unsigned)counts[h];
			f.hosts[h].vcpus_alloc = f.hosts[h].sandboxes = (unsigned)counts[h];
			f.hosts[h].ts_ms = ++now;
			placement_host_seen(&t, f.hosts[h].id, f.hosts[h].ts_ms);
		}
		assert_int_equal(t.n, 0);
	}
	for (int h = 0; h < 3; h++)
		assert_in_range(counts[h], 85, 115);
	placement_inflight_clear(&t);
}

/* The hosts chosen for 100 creates (booked, never released) under seed. */
static void sequence(uint64_t seed, char out[101])
{
	struct fleet f;
	fleet_init(&f, 5);
	for (size_t i = 0; i < 5; i++)
		f.hosts[i].mem_committed_mib = 300 * (unsigned)i;
	struct placement_inflight t;
	placement_inflight_init(&t, 0);
	struct placement_input in = input(&f, "base", 128);
	in.inflight = &t;
	struct placement_rng rng;
	placement_rng_seed(&rng, seed);
	struct cove_err err = { 0 };
	for (int i = 0; i < 100; i++) {
		struct placement_choice c;
		uint64_t id;
		assert_int_equal(placement_choose(&in, &rng, &c, &err), 0);
		out[i] = (char)('0' + c.index);
		assert_int_equal(placement_book(&t, f.hosts[c.index].id, 1, 128, i, &id, &err), 0);
	}
	out[100] = '\0';
	placement_inflight_clear(&t);
}

static void test_determinism(void **state)
{
	(void)state;
	char a[101], b[101], c[101];
	sequence(42, a);
	sequence(42, b);
	sequence(43, c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* The seed as COVE_PLACEMENT_SEED gives it. */
	struct placement_rng r1, r2;
	struct cove_err err = { 0 };
	assert_int_equal(placement_rng_init(&r1, "42", &err), 0);
	placement_rng_seed(&r2, 42);
	assert_memory_equal(r1.x, r2.x, sizeof(r1.x));
	assert_int_equal(placement_rng_init(&r1, "4x2", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'4x2'"));
	assert_int_equal(placement_rng_init(&r1, "-1", &err), -EINVAL);
	assert_int_equal(placement_rng_init(&r1, NULL, &err), 0);
}

static void test_bad_request(void **state)
{
	(void)state;
	struct fleet f;
	fleet_init(&f, 1);
	struct placement_input in = input(&f, NULL, 256);
	struct placement_rng rng;
	placement_rng_seed(&rng, 1);
	struct placement_choice c;
	struct cove_err err = { 0 };
	assert_int_equal(placement_choose(&in, &rng, &c, &err), -EINVAL);
	in = input(&f, "base", 0);
	assert_int_equal(placement_choose(&in, &rng, &c, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_locality),
		cmocka_unit_test(test_snapshot_key),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_draining_and_exclusions),
		cmocka_unit_test(test_best_of_k),
		cmocka_unit_test(test_score),
		cmocka_unit_test(test_warm_bonus),
		cmocka_unit_test(test_inflight),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_bad_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
