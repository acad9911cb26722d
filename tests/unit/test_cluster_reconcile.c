/* The host role's reconcile plan (src/cluster/reconcile.c): pure, every case
 * of the design study's §4.3 step 4 on made-up catalog records and local
 * sandbox ids. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/host.h"
#include "common/cleanup.h"

#define EPOCH 40 /* the host's new epoch */

static struct cluster_reconcile_record record(const char *id, const char *host, int64_t epoch,
					      enum cluster_sandbox_state state)
{
	struct cluster_reconcile_record r = { .sb = { .epoch = epoch, .state = state }, .mod_revision = epoch + 1 };
	snprintf(r.sb.id, sizeof(r.sb.id), "%s", id);
	snprintf(r.sb.host, sizeof(r.sb.host), "%s", host);
	return r;
}

static void plan(const struct cluster_reconcile_record *records, size_t nrecords, const char *const *local,
		 size_t nlocal, struct cluster_reconcile_action **a, size_t *n)
{
	struct cove_err err = { 0 };
	if (cluster_reconcile_plan("h1", EPOCH, records, nrecords, local, nlocal, a, n, &err) != 0)
		fail_msg("%s", err.msg);
}

static void expect(const struct cluster_reconcile_action *a, enum cluster_reconcile_kind kind, const char *id,
		   bool delete_record)
{
	assert_int_equal(a->kind, kind);
	assert_string_equal(a->id, id);
	assert_int_equal(a->delete_record, delete_record);
}

/* Each case alone. */
static void test_cases(void **state)
{
	(void)state;
	struct cluster_reconcile_action *a;
	size_t n;
	const char *local[] = { "s1" };
	/* a local sandbox without a record: killed (the janitor dropped it) */
	plan(NULL, 0, local, 1, &a, &n);
	assert_int_equal(n, 1);
	expect(&a[0], CLUSTER_RECONCILE_KILL, "s1", false);
	assert_null(a[0].record);
	free(a);
	/* another host's: killed, its record left alone */
	struct cluster_reconcile_record r = record("s1", "h2", 7, CLUSTER_SANDBOX_RUNNING);
	plan(&r, 1, local, 1, &a, &n);
	assert_int_equal(n, 1);
	expect(&a[0], CLUSTER_RECONCILE_KILL, "s1", false);
	assert_ptr_equal(a[0].record, &r);
	free(a);
	/* ours, killing (a gateway's intent): killed, then its record deleted */
	r = record("s1", "h1", 7, CLUSTER_SANDBOX_KILLING);
	plan(&r, 1, local, 1, &a, &n);
	assert_int_equal(n, 1);
	expect(&a[0], CLUSTER_RECONCILE_KILL, "s1", true);
	free(a);
	/* ours without a local sandbox (it died with the host): record deleted */
	r = record("s1", "h1", 7, CLUSTER_SANDBOX_RUNNING);
	plan(&r, 1, NULL, 0, &a, &n);
	assert_int_equal(n, 1);
	expect(&a[0], CLUSTER_RECONCILE_DELETE, "s1", false);
	assert_ptr_equal(a[0].record, &r);
	free(a);
	/* ours and here: rewritten with the new epoch (paused ones too) */
	r = record("s1", "h1", 7, CLUSTER_SANDBOX_PAUSED);
	plan(&r, 1, local, 1, &a, &n);
	assert_int_equal(n, 1);
	expect(&a[0], CLUSTER_RECONCILE_REWRITE, "s1", false);
	free(a);
	/* ... and already of the new epoch: nothing */
	r = record("s1", "h1", EPOCH, CLUSTER_SANDBOX_RUNNING);
	plan(&r, 1, local, 1, &a, &n);
	assert_int_equal(n, 0);
	free(a);
	/* another host's record with nothing here: not ours to touch */
	r = record("s1", "h2", 7, CLUSTER_SANDBOX_RUNNING);
	plan(&r, 1, NULL, 0, &a, &n);
	assert_int_equal(n, 0);
	free(a);
	/* a record that did not decode: its local sandbox is left alone */
	r = record("s1", "", 0, CLUSTER_SANDBOX_RUNNING);
	r.bad = true;
	plan(&r, 1, local, 1, &a, &n);
	assert_int_equal(n, 0);
	free(a);
}

/* All at once, in no order: kills first, then the record actions, each in
 * id order; a local id given twice counts once. */
static void test_mixed(void **state)
{
	(void)state;
	struct cluster_reconcile_record records[] = {
		record("zz", "h1", 3, CLUSTER_SANDBOX_RUNNING),  /* ours, gone: delete */
		record("mm", "h1", 3, CLUSTER_SANDBOX_RUNNING),  /* ours, here: rewrite */
		record("kk", "h1", 3, CLUSTER_SANDBOX_KILLING),  /* ours, here, killing: kill + delete */
		record("jj", "h1", 3, CLUSTER_SANDBOX_KILLING),  /* ours, killing, gone: delete */
		record("oo", "h2", 3, CLUSTER_SANDBOX_RUNNING),  /* another's, here: kill */
		record("pp", "h2", 3, CLUSTER_SANDBOX_CREATING), /* another's, not here */
		record("cc", "h1", 3, CLUSTER_SANDBOX_CREATING), /* ours, here, creating: rewrite */
	};
	const char *local[] = { "oo", "mm", "nn", "kk", "cc", "nn" };
	struct cluster_reconcile_action *a;
	size_t n;
	plan(records, ARRAY_SIZE(records), local, ARRAY_SIZE(local), &a, &n);
	assert_int_equal(n, 7);
	expect(&a[0], CLUSTER_RECONCILE_KILL, "kk", true);
	expect(&a[1], CLUSTER_RECONCILE_KILL, "nn", false);
	expect(&a[2], CLUSTER_RECONCILE_KILL, "oo", false);
	expect(&a[3], CLUSTER_RECONCILE_REWRITE, "cc", false);
	expect(&a[4], CLUSTER_RECONCILE_DELETE, "jj", false);
	expect(&a[5], CLUSTER_RECONCILE_REWRITE, "mm", false);
	expect(&a[6], CLUSTER_RECONCILE_DELETE, "zz", false);
	assert_ptr_equal(a[5].record, &records[1]);
	assert_int_equal(a[5].record->mod_revision, 4);
	free(a);
	/* nothing at all */
	plan(NULL, 0, NULL, 0, &a, &n);
	assert_int_equal(n, 0);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_mixed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
