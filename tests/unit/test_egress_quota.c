/* Unit tests for src/egress/quota.c: the cap on the connections one
 * sandbox (slot) holds through the egress proxy. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "egress/internal.h"

static struct egress *quota_egress(unsigned cap)
{
	struct egress *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->c.max_per_sandbox = cap;
	pthread_mutex_init(&e->quota_lock, NULL);
	return e;
}

static void quota_egress_free(struct egress *e)
{
	pthread_mutex_destroy(&e->quota_lock);
	free(e->quota);
	free(e);
}

static void test_cap_per_slot(void **state)
{
	(void)state;
	struct egress *e = quota_egress(2);
	assert_true(quota_take(e, 3));
	assert_true(quota_take(e, 3));
	assert_false(quota_take(e, 3)); /* at its cap, refused */
	assert_false(quota_take(e, 3));
	assert_true(quota_take(e, 1000)); /* another sandbox is not */
	quota_give(e, 3);
	assert_true(quota_take(e, 3));
	assert_false(quota_take(e, 3));
	quota_give(e, 7); /* never taken: nothing */
	quota_give(e, 99999);
	assert_true(quota_take(e, 1000));
	assert_false(quota_take(e, 1000));
	quota_egress_free(e);
}

static void test_no_cap(void **state)
{
	(void)state;
	struct egress *e = quota_egress(0);
	for (int i = 0; i < 10000; i++)
		assert_true(quota_take(e, 5));
	quota_give(e, 5);
	quota_egress_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_per_slot),
		cmocka_unit_test(test_no_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
