/* Unit tests for src/store/snapshots.c: snapshot records and which sandbox
 * uses which, on a real SQLite file in a scratch directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "store/store.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-store-snap-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fs_remove_tree(dir, NULL);
	return 0;
}

static struct store *open_store(void)
{
	struct store *s = NULL;
	struct cove_err err = { 0 };
	if (store_open(dir, &s, &err) < 0)
		fail_msg("store_open: %s", err.msg);
	return s;
}

struct got {
	struct store_snapshot rows[8];
	size_t n;
};

static int collect(void *ctx, const struct store_snapshot *snap)
{
	struct got *g = ctx;
	if (g->n < 8)
		g->rows[g->n++] = *snap;
	return 0;
}

static struct store_snapshot snap(const char *id, const char *alias, const char *tag, enum store_snapshot_state st,
				  int64_t seq)
{
	struct store_snapshot s = { .state = st, .vcpus = 2, .mem_mib = 512, .created_ms = 1000 + seq, .seq = seq };
	snprintf(s.id, sizeof(s.id), "%s", id);
	snprintf(s.alias, sizeof(s.alias), "%s", alias);
	snprintf(s.tag, sizeof(s.tag), "%s", tag);
	snprintf(s.sandbox, sizeof(s.sandbox), "sb-%s", id);
	snprintf(s.template_id, sizeof(s.template_id), "base");
	snprintf(s.token, sizeof(s.token), "tok-%s", id);
	return s;
}

/* Rows round trip whole, newest first; a write replaces; a delete goes;
 * and they outlast the store being closed and opened again. */
static void test_records(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	struct store_snapshot a = snap("aaa", "", "", STORE_SNAPSHOT_MAKING, 1), b = snap("bbb", "web", "v1", STORE_SNAPSHOT_READY, 2);
	assert_int_equal(store_snapshot_put(s, &a, &err), 0);
	assert_int_equal(store_snapshot_put(s, &b, &err), 0);
	a.state = STORE_SNAPSHOT_READY;
	assert_int_equal(store_snapshot_put(s, &a, &err), 0);
	store_close(s);
	s = open_store();
	struct got g = { 0 };
	assert_int_equal(store_snapshot_each(s, collect, &g, &err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.rows[0].id, "bbb");
	assert_string_equal(g.rows[0].alias, "web");
	assert_string_equal(g.rows[0].tag, "v1");
	assert_string_equal(g.rows[0].sandbox, "sb-bbb");
	assert_string_equal(g.rows[0].template_id, "base");
	assert_string_equal(g.rows[0].token, "tok-bbb");
	assert_int_equal(g.rows[0].vcpus, 2);
	assert_int_equal(g.rows[0].mem_mib, 512);
	assert_int_equal(g.rows[0].created_ms, 1002);
	assert_int_equal(g.rows[1].state, STORE_SNAPSHOT_READY);
	assert_int_equal(store_snapshot_delete(s, "bbb", &err), 0);
	g.n = 0;
	assert_int_equal(store_snapshot_each(s, collect, &g, &err), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.rows[0].id, "aaa");
	assert_string_equal(store_snapshot_state_name(STORE_SNAPSHOT_DELETED), "deleted");
	store_close(s);
}

/* One ready snapshot per name (alias and tag): another is -EEXIST, until
 * the first is deleted; being made or deleted, or without a name, any
 * number. */
static void test_names(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	struct store_snapshot a = snap("n1", "app", "", STORE_SNAPSHOT_READY, 10),
			      b = snap("n2", "app", "", STORE_SNAPSHOT_MAKING, 11),
			      c = snap("n3", "app", "v2", STORE_SNAPSHOT_READY, 12),
			      d = snap("n4", "", "", STORE_SNAPSHOT_READY, 13), e = snap("n5", "", "", STORE_SNAPSHOT_READY, 14);
	assert_int_equal(store_snapshot_put(s, &a, &err), 0);
	assert_int_equal(store_snapshot_put(s, &b, &err), 0);
	assert_int_equal(store_snapshot_put(s, &c, &err), 0);
	assert_int_equal(store_snapshot_put(s, &d, &err), 0);
	assert_int_equal(store_snapshot_put(s, &e, &err), 0);
	b.state = STORE_SNAPSHOT_READY;
	assert_int_equal(store_snapshot_put(s, &b, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "app:default"));
	/* The name moves: the old one deleted and the new one ready, together. */
	assert_int_equal(store_begin(s, &err), 0);
	a.state = STORE_SNAPSHOT_DELETED;
	assert_int_equal(store_snapshot_put(s, &a, &err), 0);
	assert_int_equal(store_snapshot_put(s, &b, &err), 0);
	assert_int_equal(store_commit(s, &err), 0);
	struct got g = { 0 };
	assert_int_equal(store_snapshot_each(s, collect, &g, &err), 0);
	int seen = 0;
	for (size_t i = 0; i < g.n; i++) {
		if (strcmp(g.rows[i].id, "n1") == 0)
			seen++, assert_int_equal(g.rows[i].state, STORE_SNAPSHOT_DELETED);
		if (strcmp(g.rows[i].id, "n2") == 0)
			seen++, assert_int_equal(g.rows[i].state, STORE_SNAPSHOT_READY);
	}
	assert_int_equal(seen, 2);
	store_close(s);
}

/* Which sandbox uses which snapshot; uses of sandboxes without a record
 * are pruned. */
static void test_uses(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	char got[32];
	assert_int_equal(store_snapshot_use_get(s, "sb1", got, sizeof(got), &err), -ENOENT);
	assert_int_equal(store_snapshot_use_put(s, "sb1", "snapA", &err), 0);
	assert_int_equal(store_snapshot_use_put(s, "sb2", "snapA", &err), 0);
	assert_int_equal(store_snapshot_use_put(s, "sb2", "snapB", &err), 0);
	assert_int_equal(store_snapshot_use_get(s, "sb2", got, sizeof(got), &err), 0);
	assert_string_equal(got, "snapB");
	struct store_sandbox rec = { .id = "sb1", .template_id = "x:default", .state = STORE_SANDBOX_RUNNING, .seq = 1 };
	assert_int_equal(store_sandbox_put(s, &rec, &err), 0);
	assert_int_equal(store_snapshot_use_prune(s, &err), 0);
	assert_int_equal(store_snapshot_use_get(s, "sb1", got, sizeof(got), &err), 0);
	assert_string_equal(got, "snapA");
	assert_int_equal(store_snapshot_use_get(s, "sb2", got, sizeof(got), &err), -ENOENT);
	assert_int_equal(store_snapshot_use_delete(s, "sb1", &err), 0);
	assert_int_equal(store_snapshot_use_get(s, "sb1", got, sizeof(got), &err), -ENOENT);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_uses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
