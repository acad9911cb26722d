/* Unit tests for src/store: the state database's slot records and settings,
 * on a real SQLite file in a scratch directory. */
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
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
	snprintf(dir, sizeof(dir), "/tmp/cove-store-test.XXXXXX");
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

static void put(struct store *s, unsigned index, enum store_slot_state st, const char *sandbox)
{
	struct store_slot rec = { .index = index, .state = st, .holder = { 1234, 5678 } };
	snprintf(rec.sandbox, sizeof(rec.sandbox), "%s", sandbox);
	struct cove_err err = { 0 };
	assert_int_equal(store_slot_put(s, &rec, &err), 0);
}

static int count_rows(void *ctx, const struct store_slot *slot)
{
	(void)slot;
	(*(int *)ctx)++;
	return 0;
}

static void test_slots(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	unsigned idx;
	assert_int_equal(store_slot_free_index(s, 10, &idx, &err), 0);
	assert_int_equal(idx, 0);
	put(s, 0, STORE_SLOT_USED, "sb-a");
	put(s, 1, STORE_SLOT_READY, "");
	put(s, 3, STORE_SLOT_READY, "");
	assert_int_equal(store_slot_free_index(s, 10, &idx, &err), 0);
	assert_int_equal(idx, 2);
	struct store_slot rec;
	assert_int_equal(store_slot_first_ready(s, &rec, &err), 0);
	assert_int_equal(rec.index, 1);
	assert_int_equal(store_slot_find_sandbox(s, "sb-a", &rec, &err), 0);
	assert_int_equal(rec.index, 0);
	assert_int_equal(rec.state, STORE_SLOT_USED);
	assert_int_equal(rec.holder.pid, 1234);
	assert_int_equal(rec.holder.start_time, 5678);
	assert_true(rec.updated_ms > 0);
	assert_int_equal(store_slot_find_sandbox(s, "sb-b", &rec, &err), -ENOENT);
	assert_int_equal(store_slot_find_sandbox(s, "", &rec, &err), -ENOENT);
	unsigned n;
	assert_int_equal(store_slot_count(s, STORE_SLOT_READY, &n, &err), 0);
	assert_int_equal(n, 2);
	int rows = 0;
	assert_int_equal(store_slot_each(s, count_rows, &rows, &err), 0);
	assert_int_equal(rows, 3);
	/* Full: 0, 1, 2 (now), 3 taken with a limit of 4. */
	put(s, 2, STORE_SLOT_CREATING, "sb-c");
	assert_int_equal(store_slot_free_index(s, 4, &idx, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "all 4 network slots"));
	assert_int_equal(store_slot_delete(s, 1, &err), 0);
	assert_int_equal(store_slot_free_index(s, 4, &idx, &err), 0);
	assert_int_equal(idx, 1);
	assert_int_equal(store_slot_get(s, 1, &rec, &err), -ENOENT);

	/* A policy stays with its row through later writes, and goes with it. */
	char *policy = NULL;
	assert_int_equal(store_slot_set_policy(s, 0, "{\"allowInternetAccess\":false}", &err), 0);
	put(s, 0, STORE_SLOT_USED, "sb-a");
	assert_int_equal(store_slot_get_policy(s, 0, &policy, &err), 0);
	assert_string_equal(policy, "{\"allowInternetAccess\":false}");
	free(policy);
	assert_int_equal(store_slot_set_policy(s, 1, "x", &err), -ENOENT);
	assert_int_equal(store_slot_delete(s, 0, &err), 0);
	put(s, 0, STORE_SLOT_CREATING, "sb-d");
	assert_int_equal(store_slot_get_policy(s, 0, &policy, &err), 0);
	assert_string_equal(policy, "");
	free(policy);
	store_close(s);

	/* Records survive the process: a new handle sees them. */
	s = open_store();
	assert_int_equal(store_slot_get(s, 2, &rec, &err), 0);
	assert_string_equal(rec.sandbox, "sb-c");
	assert_int_equal(rec.state, STORE_SLOT_CREATING);
	for (unsigned i = 0; i < 4; i++)
		store_slot_delete(s, i, &err);
	store_close(s);
}

static void test_transactions(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	assert_int_equal(store_begin(s, &err), 0);
	put(s, 5, STORE_SLOT_USED, "sb-x");
	store_rollback(s);
	struct store_slot rec;
	assert_int_equal(store_slot_get(s, 5, &rec, &err), -ENOENT);
	assert_int_equal(store_begin(s, &err), 0);
	put(s, 5, STORE_SLOT_USED, "sb-x");
	assert_int_equal(store_commit(s, &err), 0);
	assert_int_equal(store_slot_get(s, 5, &rec, &err), 0);
	/* A second handle (as another process has) sees the row and may change it. */
	struct store *other = open_store();
	assert_int_equal(store_slot_get(other, 5, &rec, &err), 0);
	assert_int_equal(store_slot_delete(other, 5, &err), 0);
	store_close(other);
	assert_int_equal(store_slot_get(s, 5, &rec, &err), -ENOENT);
	store_close(s);
}

static void test_meta_and_schema(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	char v[64];
	assert_int_equal(store_meta_get(s, "net.cove.range", v, sizeof(v), &err), -ENOENT);
	assert_int_equal(store_meta_set(s, "net.cove.range", "10.200.0.0/16", &err), 0);
	assert_int_equal(store_meta_get(s, "net.cove.range", v, sizeof(v), &err), 0);
	assert_string_equal(v, "10.200.0.0/16");
	store_close(s);

	/* A database from a newer Cove is refused, not misread. */
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, STORE_FILE);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(dir, &s, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "schema version 99 is newer"));

	/* Not a database at all: one clear line. */
	FILE *f = fopen(path, "w");
	fputs("this is not sqlite, just text long enough to look like a header.......", f);
	fclose(f);
	unlink(strcat(strcpy(v, path), "-wal"));
	assert_true(store_open(dir, &s, &err) < 0);
	assert_non_null(strstr(err.msg, path));
	unlink(path);
}

static void test_unwritable_dir(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct cove_err err = { 0 };
	assert_true(store_open("/proc/cove-no-such-dir", &s, &err) < 0);
	assert_null(s);
	assert_non_null(strstr(err.msg, "/proc/cove-no-such-dir"));
}

static int collect(void *ctx, const struct store_sandbox *sb)
{
	struct store_sandbox *out = ctx;
	size_t i = 0;
	while (out[i].id[0])
		i++;
	if (i >= 3)
		return -1;
	out[i] = *sb;
	out[i].metadata = strdup(sb->metadata);
	out[i].policy = sb->policy ? strdup(sb->policy) : NULL;
	out[i].envs = sb->envs ? strdup(sb->envs) : NULL;
	return 0;
}

/* Sandbox rows round trip whole (what a restarted coved adopts from),
 * newest first, and a row is replaced, not added, when written again. */
static void test_sandboxes(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	struct store_sandbox a = { .id = "aaa", .template_id = "tiny", .state = STORE_SANDBOX_RUNNING,
				   .metadata = (char *)"{\"k\":\"v\"}", .token = "t0k", .vcpus = 2, .mem_mib = 512,
				   .started_ms = 1000, .end_ms = 301000, .vmm = { 1234, 5678 }, .seq = 1 };
	struct store_sandbox b = a;
	snprintf(b.id, sizeof(b.id), "bbb");
	b.seq = 2;
	b.state = STORE_SANDBOX_PAUSED;
	b.left_ms = 42000;
	b.auto_pause = true;
	b.policy = (char *)"{\"allowInternetAccess\":false}";
	b.auto_pause_fs_only = true;
	b.auto_resume = true;
	b.timeout_s = 3;
	b.envs = (char *)"[\"A=1\"]";
	snprintf(b.traffic_token, sizeof(b.traffic_token), "%064d", 7);
	snprintf(b.mask_host, sizeof(b.mask_host), "${PORT}-x.example");
	snprintf(b.https_ports, sizeof(b.https_ports), "8443,3000");
	assert_int_equal(store_sandbox_put(s, &a, &err), 0);
	assert_int_equal(store_sandbox_put(s, &b, &err), 0);
	b.left_ms = 41000;
	assert_int_equal(store_sandbox_put(s, &b, &err), 0);
	struct store_sandbox got[4] = { 0 };
	assert_int_equal(store_sandbox_each(s, collect, got, &err), 0);
	assert_string_equal(got[0].id, "bbb");
	assert_string_equal(got[1].id, "aaa");
	assert_int_equal(got[2].id[0], 0);
	assert_int_equal(got[0].state, STORE_SANDBOX_PAUSED);
	assert_int_equal(got[0].left_ms, 41000);
	assert_true(got[0].auto_pause);
	assert_true(got[0].auto_pause_fs_only);
	assert_true(got[0].auto_resume);
	assert_int_equal(got[0].timeout_s, 3);
	assert_string_equal(got[0].envs, "[\"A=1\"]");
	assert_int_equal(strlen(got[0].traffic_token), 64);
	assert_string_equal(got[0].mask_host, "${PORT}-x.example");
	assert_string_equal(got[0].https_ports, "8443,3000");
	/* Written without them: the defaults, no environment, public. */
	assert_string_equal(got[1].traffic_token, "");
	assert_string_equal(got[1].mask_host, "");
	assert_string_equal(got[1].https_ports, "");
	assert_false(got[1].auto_pause_fs_only);
	assert_false(got[1].auto_resume);
	assert_int_equal(got[1].timeout_s, 0);
	assert_null(got[1].envs);
	assert_string_equal(got[1].metadata, "{\"k\":\"v\"}");
	assert_string_equal(got[1].token, "t0k");
	assert_int_equal(got[1].vmm.pid, 1234);
	assert_int_equal(got[1].vmm.start_time, 5678);
	assert_int_equal(got[1].end_ms, 301000);
	assert_int_equal(got[1].vcpus, 2);
	/* The policy: as written, and NULL (not recorded) stays NULL, not "". */
	assert_string_equal(got[0].policy, "{\"allowInternetAccess\":false}");
	assert_null(got[1].policy);
	for (int i = 0; i < 2; i++)
		store_sandbox_clear(&got[i]);
	assert_int_equal(store_sandbox_delete(s, "aaa", &err), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(store_sandbox_each(s, collect, got, &err), 0);
	assert_string_equal(got[0].id, "bbb");
	assert_int_equal(got[1].id[0], 0);
	store_sandbox_clear(&got[0]);
	store_close(s);
}

/* A database of schema 4 (before sandboxes kept their policy and lifecycle)
 * is brought forward: its rows stay, with the policy not known (NULL) and
 * the lifecycle E2B's default (no auto-pause, no auto-resume). */
static int count_build(void *ctx, const struct store_build *b)
{
	(void)b;
	(*(int *)ctx)++;
	return 0;
}

static int count_tag(void *ctx, const struct store_tag *t)
{
	(void)t;
	(*(int *)ctx)++;
	return 0;
}

static void test_builds_and_tags(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	struct store_build b = { .id = "b-1", .template_id = "web", .tags = "v1,default", .state = STORE_BUILD_WAITING,
				 .vcpus = 2, .mem_mib = 1024, .created_ms = 5, .seq = 1 };
	assert_int_equal(store_build_put(s, &b, &err), 0);
	assert_int_equal(store_build_spec_set(s, "b-1", "{\"steps\":[]}", &err), 0);
	b.state = STORE_BUILD_FAILED;
	snprintf(b.reason, sizeof(b.reason), "step 2 failed");
	snprintf(b.reason_step, sizeof(b.reason_step), "2");
	assert_int_equal(store_build_put(s, &b, &err), 0);
	struct store_build got;
	assert_int_equal(store_build_get(s, "b-1", &got, &err), 0);
	assert_int_equal(got.state, STORE_BUILD_FAILED);
	assert_string_equal(got.reason_step, "2");
	assert_string_equal(got.tags, "v1,default");
	assert_int_equal(got.mem_mib, 1024);
	char *spec = NULL;
	assert_int_equal(store_build_spec_get(s, "b-1", &spec, &err), 0);
	assert_string_equal(spec, "{\"steps\":[]}");
	free(spec);
	assert_int_equal(store_build_get(s, "nope", &got, &err), -ENOENT);
	int n = 0;
	assert_int_equal(store_build_each(s, "web", count_build, &n, &err), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(store_build_each(s, "other", count_build, &n, &err), 0);
	assert_int_equal(n, 0);

	struct store_tag t = { .template_id = "web", .tag = "v1", .build = "b-1", .created_ms = 9 };
	assert_int_equal(store_tag_put(s, &t, &err), 0);
	snprintf(t.build, sizeof(t.build), "b-2");
	assert_int_equal(store_tag_put(s, &t, &err), 0); /* moved, not doubled */
	struct store_tag tg;
	assert_int_equal(store_tag_get(s, "web", "v1", &tg, &err), 0);
	assert_string_equal(tg.build, "b-2");
	n = 0;
	assert_int_equal(store_tag_each(s, "web", count_tag, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_tag_delete(s, "web", "v1", &err), 0);
	assert_int_equal(store_tag_get(s, "web", "v1", &tg, &err), -ENOENT);
	assert_int_equal(store_build_delete(s, "b-1", &err), 0);
	assert_int_equal(store_build_get(s, "b-1", &got, &err), -ENOENT);
	store_close(s);
}

static void test_migrate_policy(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct cove_err err = { 0 };
	struct store_sandbox a = { .id = "old", .template_id = "tiny", .state = STORE_SANDBOX_RUNNING,
				   .metadata = (char *)"{}", .policy = (char *)"", .seq = 7 };
	assert_int_equal(store_sandbox_put(s, &a, &err), 0);
	store_close(s);
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, STORE_FILE);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE sandboxes DROP COLUMN policy;"
					  "ALTER TABLE sandboxes DROP COLUMN auto_pause_fs_only;"
					  "ALTER TABLE sandboxes DROP COLUMN auto_resume;"
					  "ALTER TABLE sandboxes DROP COLUMN timeout_s;"
					  "ALTER TABLE sandboxes DROP COLUMN envs;"
					  "ALTER TABLE sandboxes DROP COLUMN traffic_token;"
					  "ALTER TABLE sandboxes DROP COLUMN mask_host;"
					  "ALTER TABLE sandboxes DROP COLUMN https_ports;"
					  "ALTER TABLE sandboxes DROP COLUMN volumes;"
					  "DROP TABLE snapshots; DROP TABLE sandbox_snapshots;"
					  "DROP TABLE builds; DROP TABLE template_tags; DROP TABLE secrets; DROP TABLE volumes;"
					  "PRAGMA user_version = 4", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = open_store();
	struct store_sandbox got[4] = { 0 };
	assert_int_equal(store_sandbox_each(s, collect, got, &err), 0);
	/* Newest first: "old" (seq 7) before what earlier tests left. */
	assert_string_equal(got[0].id, "old");
	assert_int_equal(got[0].seq, 7);
	assert_null(got[0].policy);
	assert_false(got[0].auto_resume);
	assert_int_equal(got[0].timeout_s, 0);
	assert_null(got[0].envs);
	assert_string_equal(got[0].traffic_token, ""); /* an older sandbox is public, as it was */
	assert_string_equal(got[0].mask_host, "");
	assert_string_equal(got[0].https_ports, ""); /* and reached by plain HTTP on every port */
	for (int i = 0; got[i].id[0]; i++)
		store_sandbox_clear(&got[i]);
	assert_int_equal(store_sandbox_delete(s, "old", &err), 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_meta_and_schema),
		cmocka_unit_test(test_unwritable_dir),
		cmocka_unit_test(test_sandboxes),
		cmocka_unit_test(test_builds_and_tags),
		cmocka_unit_test(test_migrate_policy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
