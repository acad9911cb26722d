/* The gateway's catalog cache (src/cluster/catalog.c) against a real etcd
 * member (etcd_server.h): listing at the start, the watch, paging, filters,
 * dead hosts, the miss read, garbled records and a re-list after
 * compaction. Also prints (does not assert) how long listing 1,000 records
 * in pages of 100 takes. Skipped when etcd is not installed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/catalog.h"
#include "etcd_server.h"

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

/* Each test starts from an empty catalog prefix. */
static int clean(void **state)
{
	(void)state;
	return etcd_server_clear_catalog(etcd);
}

static int64_t put_text(const char *key, const char *text)
{
	int64_t rev = 0;
	struct cove_err err = { 0 };
	if (etcd_put(etcd, key, strlen(key), text, strlen(text), 0, &rev, &err) < 0)
		fail_msg("put %s: %s", key, err.msg);
	return rev;
}

static int64_t put_host(const char *id, enum cluster_host_state state)
{
	struct cluster_host h = { .addr = "127.0.0.1:49982",
				  .state = state,
				  .version = "v",
				  .accel = "tcg",
				  .cpus = 2,
				  .snap_key = "k",
				  .mem_max_mib = 4096,
				  .max_sandboxes = 8,
				  .ts_ms = 1 };
	snprintf(h.id, sizeof(h.id), "%s", id);
	char key[128], *text = NULL;
	assert_int_equal(cluster_host_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(cluster_host_encode(&h, &text, NULL), 0);
	int64_t rev = put_text(key, text);
	free(text);
	return rev;
}

static void sandbox_record(struct cluster_sandbox *sb, const char *id, const char *host,
			   enum cluster_sandbox_state state, int64_t seq, const char *metadata)
{
	*sb = (struct cluster_sandbox){ .host = "",
					.epoch = 1,
					.state = state,
					.template_id = "base",
					.vcpus = 1,
					.mem_mib = 256,
					.seq = seq,
					.started_ms = 1,
					.metadata = (char *)metadata };
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	snprintf(sb->host, sizeof(sb->host), "%s", host);
}

static int64_t put_sandbox(const char *id, const char *host, enum cluster_sandbox_state state, int64_t seq,
			   const char *metadata)
{
	struct cluster_sandbox sb;
	sandbox_record(&sb, id, host, state, seq, metadata);
	char key[128], *text = NULL;
	assert_int_equal(cluster_sandbox_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(cluster_sandbox_encode(&sb, &text, NULL), 0);
	int64_t rev = put_text(key, text);
	free(text);
	return rev;
}

/* n running records of host h1, "sb000000" on, seq i / dup (dup > 1: ties
 * broken by id), in txns of 100 puts. */
static void put_many(size_t n, int64_t dup)
{
	struct etcd_request_op ops[100];
	char keys[100][64], *texts[100];
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		for (; k < 100 && i < n; k++, i++) {
			struct cluster_sandbox sb;
			char id[16];
			snprintf(id, sizeof(id), "sb%06zu", i);
			sandbox_record(&sb, id, "h1", CLUSTER_SANDBOX_RUNNING, (int64_t)i / dup, NULL);
			assert_int_equal(cluster_sandbox_key(id, keys[k], sizeof(keys[k]), NULL), 0);
			assert_int_equal(cluster_sandbox_encode(&sb, &texts[k], NULL), 0);
			ops[k] = (struct etcd_request_op){ .op = ETCD_OP_PUT,
							   .key = keys[k],
							   .key_len = strlen(keys[k]),
							   .value = texts[k],
							   .value_len = strlen(texts[k]) };
		}
		struct etcd_txn_request txn = { .success = ops, .nsuccess = k };
		struct etcd_txn_result t;
		struct cove_err err = { 0 };
		if (etcd_txn(etcd, &txn, &t, &err) < 0)
			fail_msg("txn: %s", err.msg);
		assert_true(t.succeeded);
		etcd_txn_result_clear(&t);
		for (size_t j = 0; j < k; j++)
			free(texts[j]);
	}
}

static struct catalog *start(void)
{
	struct catalog *cat = NULL;
	struct cove_err err = { 0 };
	if (catalog_start(etcd, &cat, &err) < 0)
		fail_msg("catalog_start: %s", err.msg);
	return cat;
}

/* What a list called back with. */
struct page {
	char ids[300][CLUSTER_SANDBOX_ID_MAX + 1];
	int64_t seqs[300];
	size_t n;
};

static int collect(const struct cluster_sandbox *sb, void *data)
{
	struct page *p = data;
	if (p->n < 300) {
		snprintf(p->ids[p->n], sizeof(p->ids[0]), "%s", sb->id);
		p->seqs[p->n] = sb->seq;
	}
	p->n++;
	return 0;
}

static size_t list(struct catalog *cat, const struct catalog_filter *f, struct page *p)
{
	char next[CATALOG_TOKEN_MAX];
	memset(p, 0, sizeof(*p));
	struct cove_err err = { 0 };
	int n = catalog_list(cat, f, 100, NULL, next, collect, p, &err);
	if (n < 0)
		fail_msg("list: %s", err.msg);
	assert_string_equal(next, "");
	return (size_t)n;
}

static int count_host(const struct cluster_host *h, void *data)
{
	size_t *n = data;
	n[0]++;
	n[1] += h->state == CLUSTER_HOST_DRAINING;
	return 0;
}

static void test_list_after_start(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	put_host("h2", CLUSTER_HOST_DRAINING);
	put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	put_sandbox("bbb", "h2", CLUSTER_SANDBOX_PAUSED, 2, "{\"team\":\"x\"}");
	put_sandbox("ccc", "h1", CLUSTER_SANDBOX_CREATING, 3, NULL);
	struct catalog *cat = start();
	struct catalog_stats st;
	catalog_stats(cat, &st);
	assert_int_equal(st.hosts, 2);
	assert_int_equal(st.sandboxes, 3);
	assert_int_equal(st.lists, 1);
	assert_int_equal(st.skipped, 0);
	size_t counts[2] = { 0, 0 };
	assert_int_equal(catalog_hosts(cat, count_host, counts), 0);
	assert_int_equal(counts[0], 2);
	assert_int_equal(counts[1], 1);
	struct cluster_host h;
	assert_int_equal(catalog_host(cat, "h2", &h, NULL), 0);
	assert_int_equal(h.state, CLUSTER_HOST_DRAINING);
	assert_string_equal(h.addr, "127.0.0.1:49982");
	cluster_host_clear(&h);
	struct cove_err err = { 0 };
	assert_int_equal(catalog_host(cat, "h3", &h, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "h3"));
	/* Newest first; the creating one is not listed. */
	struct page p;
	assert_int_equal(list(cat, NULL, &p), 2);
	assert_string_equal(p.ids[0], "bbb");
	assert_string_equal(p.ids[1], "aaa");
	struct cluster_sandbox sb;
	bool live = false;
	assert_int_equal(catalog_sandbox(cat, "bbb", &sb, &live, NULL), 0);
	assert_true(live);
	assert_int_equal(sb.state, CLUSTER_SANDBOX_PAUSED);
	assert_string_equal(sb.metadata, "{\"team\":\"x\"}");
	cluster_sandbox_clear(&sb);
	catalog_stats(cat, &st);
	assert_int_equal(st.miss_reads, 0);
	catalog_stop(cat);
}

static void test_watch_put_delete(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	struct catalog *cat = start();
	int64_t rev = put_sandbox("ddd", "h1", CLUSTER_SANDBOX_RUNNING, 5, NULL);
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	struct cluster_sandbox sb;
	assert_int_equal(catalog_sandbox(cat, "ddd", &sb, NULL, NULL), 0);
	assert_int_equal(sb.seq, 5);
	cluster_sandbox_clear(&sb);
	/* An update moves it in the list order. */
	rev = put_sandbox("ddd", "h1", CLUSTER_SANDBOX_PAUSED, 7, NULL);
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	struct page p;
	struct catalog_filter paused = { .paused = true };
	assert_int_equal(list(cat, &paused, &p), 1);
	assert_int_equal(p.seqs[0], 7);
	/* Deletes of the record and of its host. */
	int64_t deleted;
	assert_int_equal(etcd_delete(etcd, "/cove/v1/sb/ddd", 15, false, &deleted, NULL), 0);
	assert_int_equal(etcd_delete(etcd, "/cove/v1/hosts/h1", 17, false, &deleted, NULL), 0);
	rev = put_host("h9", CLUSTER_HOST_READY); /* a later revision to wait for */
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	assert_int_equal(list(cat, NULL, &p), 0);
	struct cluster_host h;
	assert_int_equal(catalog_host(cat, "h1", &h, NULL), -ENOENT);
	assert_int_equal(catalog_host(cat, "h9", &h, NULL), 0);
	cluster_host_clear(&h);
	assert_int_equal(catalog_wait_revision(cat, rev + 1000, 100), -ETIMEDOUT);
	catalog_stop(cat);
}

/* Every page of limit 100 from the newest, appended to all; sizes (up to
 * max) gets each page's size. Returns how many pages. */
static size_t walk_pages(struct catalog *cat, struct page *all, size_t *sizes, size_t max)
{
	char token[CATALOG_TOKEN_MAX] = "", next[CATALOG_TOKEN_MAX];
	static struct page p;
	size_t pages = 0;
	all->n = 0;
	do {
		p.n = 0;
		struct cove_err err = { 0 };
		int n = catalog_list(cat, NULL, 100, token, next, collect, &p, &err);
		if (n < 0)
			fail_msg("list: %s", err.msg);
		if (pages < max)
			sizes[pages] = (size_t)n;
		pages++;
		for (size_t i = 0; i < p.n && all->n < 300; i++, all->n++) {
			snprintf(all->ids[all->n], sizeof(all->ids[0]), "%s", p.ids[i]);
			all->seqs[all->n] = p.seqs[i];
		}
		snprintf(token, sizeof(token), "%s", next);
	} while (token[0] && pages <= max);
	return pages;
}

/* Pages of 100 across 250 records whose seqs come in pairs. */
static void test_paging(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	put_many(250, 2);
	struct catalog *cat = start();
	static struct page all, p;
	size_t sizes[4] = { 0 };
	assert_int_equal(walk_pages(cat, &all, sizes, 4), 3);
	assert_int_equal(sizes[0], 100);
	assert_int_equal(sizes[1], 100);
	assert_int_equal(sizes[2], 50);
	assert_int_equal(all.n, 250);
	/* seq descending, then id ascending: every id once */
	for (size_t i = 1; i < all.n; i++) {
		assert_true(all.seqs[i - 1] > all.seqs[i] ||
			    (all.seqs[i - 1] == all.seqs[i] && strcmp(all.ids[i - 1], all.ids[i]) < 0));
	}
	assert_string_equal(all.ids[0], "sb000248");
	assert_string_equal(all.ids[249], "sb000001");
	/* A forged token is refused. */
	struct cove_err err = { 0 };
	char next[CATALOG_TOKEN_MAX];
	assert_int_equal(catalog_list(cat, NULL, 100, "d123", next, collect, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "d123"));
	catalog_stop(cat);
}

static void test_filters(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, "{\"env\":\"prod\",\"team\":\"x\"}");
	put_sandbox("bbb", "h1", CLUSTER_SANDBOX_PAUSED, 2, "{\"env\":\"prod\"}");
	put_sandbox("ccc", "h1", CLUSTER_SANDBOX_RUNNING, 3, "{\"env\":\"dev\"}");
	put_sandbox("ddd", "h1", CLUSTER_SANDBOX_KILLING, 4, "{\"env\":\"prod\"}");
	struct catalog *cat = start();
	struct page p;
	struct catalog_filter f = { .running = true };
	assert_int_equal(list(cat, &f, &p), 2);
	assert_string_equal(p.ids[0], "ccc");
	f = (struct catalog_filter){ .paused = true };
	assert_int_equal(list(cat, &f, &p), 1);
	assert_string_equal(p.ids[0], "bbb");
	f = (struct catalog_filter){ .running = true, .paused = true };
	assert_int_equal(list(cat, &f, &p), 3);
	struct catalog_pair prod[] = { { "env", "prod" } }, both[] = { { "env", "prod" }, { "team", "x" } },
			    none[] = { { "env", "staging" } };
	f = (struct catalog_filter){ .metadata = prod, .nmetadata = 1 };
	assert_int_equal(list(cat, &f, &p), 2);
	assert_string_equal(p.ids[0], "bbb");
	assert_string_equal(p.ids[1], "aaa");
	f = (struct catalog_filter){ .metadata = both, .nmetadata = 2 };
	assert_int_equal(list(cat, &f, &p), 1);
	assert_string_equal(p.ids[0], "aaa");
	f = (struct catalog_filter){ .running = true, .metadata = prod, .nmetadata = 1 };
	assert_int_equal(list(cat, &f, &p), 1);
	f = (struct catalog_filter){ .metadata = none, .nmetadata = 1 };
	assert_int_equal(list(cat, &f, &p), 0);
	catalog_stop(cat);
}

/* Running records of a host whose key is gone are not listed; paused ones are. */
static void test_dead_host(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	put_sandbox("bbb", "gone", CLUSTER_SANDBOX_RUNNING, 2, NULL);
	put_sandbox("ccc", "gone", CLUSTER_SANDBOX_PAUSED, 3, NULL);
	struct catalog *cat = start();
	struct page p;
	assert_int_equal(list(cat, NULL, &p), 2);
	assert_string_equal(p.ids[0], "ccc");
	assert_string_equal(p.ids[1], "aaa");
	/* By id it is still there, its host marked gone (the gateway answers 502). */
	struct cluster_sandbox sb;
	bool live = true;
	assert_int_equal(catalog_sandbox(cat, "bbb", &sb, &live, NULL), 0);
	assert_false(live);
	cluster_sandbox_clear(&sb);
	/* The host's key expiring hides its running ones too. */
	int64_t rev;
	assert_int_equal(etcd_delete(etcd, "/cove/v1/hosts/h1", 17, false, NULL, NULL), 0);
	rev = put_host("h2", CLUSTER_HOST_READY);
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	assert_int_equal(list(cat, NULL, &p), 1);
	assert_string_equal(p.ids[0], "ccc");
	catalog_stop(cat);
}

/* Holds the watch thread in the change callback while blocking is set. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool block, held;
};

static void on_change(int64_t revision, void *data)
{
	(void)revision;
	struct gate *g = data;
	pthread_mutex_lock(&g->lock);
	g->held = g->block;
	pthread_cond_broadcast(&g->cond);
	while (g->block)
		pthread_cond_wait(&g->cond, &g->lock);
	g->held = false;
	pthread_mutex_unlock(&g->lock);
}

/* Stops the watch thread: blocks, then writes a key it will see and waits until it is held. */
static void gate_close(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->block = true;
	pthread_mutex_unlock(&g->lock);
	put_text("/cove/v1/test/trigger", "1");
	pthread_mutex_lock(&g->lock);
	while (!g->held)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->block = false;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* A record the watch has not delivered yet is read from etcd, once. */
static void test_miss_reads_once(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	struct catalog *cat = start();
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	catalog_on_change(cat, on_change, &g);
	gate_close(&g);
	int64_t rev = put_sandbox("eee", "h1", CLUSTER_SANDBOX_RUNNING, 9, NULL);
	struct catalog_stats st;
	catalog_stats(cat, &st);
	assert_true(st.revision < rev); /* the watch has not applied it */
	struct cluster_sandbox sb;
	bool live = false;
	assert_int_equal(catalog_sandbox(cat, "eee", &sb, &live, NULL), 0);
	assert_true(live);
	assert_int_equal(sb.seq, 9);
	cluster_sandbox_clear(&sb);
	catalog_stats(cat, &st);
	assert_int_equal(st.miss_reads, 1);
	/* Cached now: no second read. */
	assert_int_equal(catalog_sandbox(cat, "eee", &sb, NULL, NULL), 0);
	cluster_sandbox_clear(&sb);
	catalog_stats(cat, &st);
	assert_int_equal(st.miss_reads, 1);
	gate_open(&g);
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	catalog_on_change(cat, NULL, NULL);
	assert_int_equal(catalog_sandbox(cat, "eee", &sb, NULL, NULL), 0);
	cluster_sandbox_clear(&sb);
	/* An id with no record: one read, -ENOENT; a bad id: no read. */
	struct cove_err err = { 0 };
	assert_int_equal(catalog_sandbox(cat, "nope", &sb, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
	assert_int_equal(catalog_sandbox(cat, "../x", &sb, NULL, &err), -EINVAL);
	catalog_stats(cat, &st);
	assert_int_equal(st.miss_reads, 2);
	catalog_stop(cat);
}

/* Records that do not decode are skipped, at the list and in the watch. */
static void test_garbled_skipped(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	put_text("/cove/v1/sb/bad1", "{not json");
	put_text("/cove/v1/sb/BAD", "{}");
	put_text("/cove/v1/hosts/h2", "{\"addr\":1}");
	struct catalog *cat = start();
	struct catalog_stats st;
	catalog_stats(cat, &st);
	assert_int_equal(st.hosts, 1);
	assert_int_equal(st.sandboxes, 1);
	assert_int_equal(st.skipped, 3);
	/* A good record turned garbage leaves the cache; the rest stays. */
	int64_t rev = put_text("/cove/v1/sb/aaa", "{\"host\":\"h1\",\"token\":\"x\"}");
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	catalog_stats(cat, &st);
	assert_int_equal(st.sandboxes, 0);
	assert_int_equal(st.skipped, 4);
	assert_int_equal(st.hosts, 1);
	/* Rewritten well, it is back; deleted garbage is forgotten. */
	put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	assert_int_equal(etcd_delete(etcd, "/cove/v1/sb/bad1", 16, false, NULL, NULL), 0);
	rev = put_sandbox("bbb", "h1", CLUSTER_SANDBOX_RUNNING, 2, NULL);
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	catalog_stats(cat, &st);
	assert_int_equal(st.sandboxes, 2);
	assert_int_equal(st.skipped, 2);
	struct page p;
	assert_int_equal(list(cat, NULL, &p), 2);
	catalog_stop(cat);
}

static double us_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e6 + (t.tv_nsec - t0->tv_nsec) / 1e3;
}

/* Prints how long 1,000 records take to list in pages of 100. */
static void test_measure_list(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	put_many(1000, 1);
	struct catalog *cat = start();
	static struct page all;
	char next[CATALOG_TOKEN_MAX];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(catalog_list(cat, NULL, 100, NULL, next, collect, &all, NULL), 100);
	double first_us = us_since(&t0);
	size_t sizes[10];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t pages = walk_pages(cat, &all, sizes, 10);
	double all_us = us_since(&t0);
	assert_int_equal(pages, 10);
	assert_int_equal(all.n, 300); /* the page struct keeps 300 */
	assert_int_equal(sizes[9], 100);
	printf("# list 1000 records, limit 100: first page %.1f us, all 10 pages %.1f us\n", first_us, all_us);
	catalog_stop(cat);
}

/* The watch falls behind a compaction (held, while its member restarts):
 * etcd cancels its resumption, and the catalog lists again. */
static void test_compaction_relists(void **state)
{
	(void)state;
	put_host("h1", CLUSTER_HOST_READY);
	struct catalog *cat = start();
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	catalog_on_change(cat, on_change, &g);
	gate_close(&g);
	etcd_server_kill(&member);
	assert_int_equal(etcd_server_spawn(&member), 0);
	assert_int_equal(etcd_server_wait_ready(&member), 0);
	put_sandbox("fff", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	int64_t rev = put_sandbox("ggg", "h1", CLUSTER_SANDBOX_RUNNING, 2, NULL);
	struct cove_err err = { 0 };
	if (etcd_compact(etcd, rev, &err) < 0)
		fail_msg("compact: %s", err.msg);
	catalog_on_change(cat, NULL, NULL);
	gate_open(&g);
	assert_int_equal(catalog_wait_revision(cat, rev, 10000), 0);
	struct catalog_stats st;
	catalog_stats(cat, &st);
	assert_int_equal(st.lists, 2);
	assert_int_equal(st.sandboxes, 2);
	/* And it watches again from there. */
	rev = put_sandbox("hhh", "h1", CLUSTER_SANDBOX_RUNNING, 3, NULL);
	assert_int_equal(catalog_wait_revision(cat, rev, 5000), 0);
	struct page p;
	assert_int_equal(list(cat, NULL, &p), 3);
	assert_string_equal(p.ids[0], "hhh");
	catalog_stop(cat);
}

static void restart_member(void)
{
	etcd_server_kill(&member);
	assert_int_equal(etcd_server_spawn(&member), 0);
	assert_int_equal(etcd_server_wait_ready(&member), 0);
}

static bool lists_id(struct catalog *cat, const char *id)
{
	struct page p;
	size_t n = list(cat, NULL, &p);
	for (size_t i = 0; i < n && i < 300; i++)
		if (strcmp(p.ids[i], id) == 0)
			return true;
	return false;
}

/* etcd restored from a backup older than what the cache holds: the watch
 * resumes at a revision the restored member reaches only later, so the
 * cache keeps a record etcd no longer has. The audit finds the counts
 * apart and the cache is read again. */
static void test_audit_relists(void **state)
{
	(void)state;
	char cmd[3 * sizeof(member.data_dir) + 64];
	put_host("h1", CLUSTER_HOST_READY);
	put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	struct catalog *cat = start();
	etcd_server_kill(&member);
	snprintf(cmd, sizeof(cmd), "cp -a %s/data %s/backup", member.data_dir, member.data_dir);
	assert_int_equal(system(cmd), 0);
	restart_member();
	int64_t ghost = put_sandbox("bbb", "h1", CLUSTER_SANDBOX_RUNNING, 2, NULL);
	assert_int_equal(catalog_wait_revision(cat, ghost, 10000), 0);
	assert_true(lists_id(cat, "bbb"));
	etcd_server_kill(&member);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/data && mv %s/backup %s/data", member.data_dir, member.data_dir,
		 member.data_dir);
	assert_int_equal(system(cmd), 0);
	restart_member();
	/* Rewrites of aaa past the revision the watch resumes at, and one more
	 * it then sees. (A new record in place of the lost one would balance
	 * the counts: the audit compares counts, so it misses such a pair.) */
	int64_t rev = 0;
	for (int i = 0; rev <= ghost + 1; i++)
		rev = put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
	assert_int_equal(catalog_wait_revision(cat, rev, 10000), 0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Writes go on meanwhile: the audit runs on time all the same. */
	while (lists_id(cat, "bbb") && etcd_server_ms_since(&t0) < 15000) {
		put_sandbox("aaa", "h1", CLUSTER_SANDBOX_RUNNING, 1, NULL);
		usleep(200 * 1000);
	}
	struct catalog_stats st;
	catalog_stats(cat, &st);
	assert_false(lists_id(cat, "bbb"));
	assert_true(lists_id(cat, "aaa"));
	assert_true(st.audit_relists >= 1);
	catalog_stop(cat);
}

static void test_token(void **state)
{
	(void)state;
	char buf[CATALOG_TOKEN_MAX], id[CLUSTER_SANDBOX_ID_MAX + 1];
	int64_t seq;
	catalog_token_encode(1764930000000123, "abcdefghij0123456789", buf);
	assert_true(strlen(buf) == 39);
	assert_int_equal(catalog_token_parse(buf, &seq, id, NULL), 0);
	assert_true(seq == 1764930000000123);
	assert_string_equal(id, "abcdefghij0123456789");
	catalog_token_encode(0, "a", buf);
	assert_int_equal(catalog_token_parse(buf, &seq, id, NULL), 0);
	assert_true(seq == 0);
	static const char *bad[] = { "",
				     "d123",
				     "AQAAAAAAAAAAYQ==",
				     "AQAAAAAAAAAAYR",
				     "AYAAAAAAAAABYQ",
				     "AgAAAAAAAAABYQ",
				     "AQAAAAAAAAABQQ",
				     "AQAAAAAAAAAB",
				     "AQAA+AAAAAAAYQ" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct cove_err err = { 0 };
		if (catalog_token_parse(bad[i], &seq, id, &err) != -EINVAL)
			fail_msg("token '%s' parsed", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest pure[] = { cmocka_unit_test(test_token) };
	int failed = cmocka_run_group_tests_name("catalog_token", pure, NULL, NULL);
	if (etcd_server_find(&member) < 0) {
		printf("# SKIP the etcd tests: the etcd program is not installed (Debian's etcd-server; make deps)\n");
		return failed;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_list_after_start, clean),
		cmocka_unit_test_setup(test_watch_put_delete, clean),
		cmocka_unit_test_setup(test_paging, clean),
		cmocka_unit_test_setup(test_filters, clean),
		cmocka_unit_test_setup(test_dead_host, clean),
		cmocka_unit_test_setup(test_miss_reads_once, clean),
		cmocka_unit_test_setup(test_garbled_skipped, clean),
		cmocka_unit_test_setup(test_measure_list, clean),
		cmocka_unit_test_setup(test_compaction_relists, clean), /* these last: they restart etcd */
		cmocka_unit_test_setup(test_audit_relists, clean),
	};
	return failed | cmocka_run_group_tests_name("catalog", tests, setup, teardown);
}
