/* Unit tests for src/http/clients.c: the table of client addresses, its
 * caps and lockouts, and what it forgets when full; time is stepped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/clients.h"

static void test_caps(void **state)
{
	(void)state;
	struct http_client_limits l = { .max_connections = 3, .max_per_client = 2 };
	struct http_clients *t;
	assert_int_equal(http_clients_new(&l, &t), 0);
	assert_true(http_clients_open(t, 1, 10));
	assert_true(http_clients_open(t, 1, 10));
	assert_false(http_clients_open(t, 1, 10)); /* per address */
	assert_true(http_clients_open(t, 2, 10));
	assert_false(http_clients_open(t, 3, 10)); /* in all */
	http_clients_close(t, 1);
	assert_true(http_clients_open(t, 3, 10));
	http_clients_close(t, 9); /* never opened: nothing */
	assert_false(http_clients_open(t, 4, 10));
	t = http_clients_free(t);
	assert_null(t);
}

static void test_lockout(void **state)
{
	(void)state;
	struct http_client_limits l = { .auth_failures = 3, .auth_lockout_s = 60 };
	struct http_clients *t;
	assert_int_equal(http_clients_new(&l, &t), 0);
	assert_false(http_clients_failed(t, 7, 1000));
	assert_false(http_clients_failed(t, 7, 2000));
	http_clients_succeeded(t, 7); /* forgets both */
	assert_false(http_clients_failed(t, 7, 3000));
	assert_false(http_clients_failed(t, 7, 4000));
	assert_int_equal(http_clients_locked(t, 7, 4000), 0);
	assert_true(http_clients_failed(t, 7, 5000));
	assert_int_equal(http_clients_locked(t, 7, 5000), 60);
	assert_int_equal(http_clients_locked(t, 7, 64500), 1);
	assert_int_equal(http_clients_locked(t, 7, 65000), 0);
	assert_int_equal(http_clients_locked(t, 8, 5000), 0);
	/* Failures further apart than the window do not add up. */
	assert_false(http_clients_failed(t, 9, 100000));
	assert_false(http_clients_failed(t, 9, 161000));
	assert_false(http_clients_failed(t, 9, 222000));
	assert_int_equal(http_clients_locked(t, 9, 222000), 0);
	http_clients_free(t);
}

/* A full table forgets addresses holding nothing, those not locked out
 * first; one holding connections is never forgotten. */
static void test_full_table(void **state)
{
	(void)state;
	struct http_client_limits l = { .auth_failures = 2, .auth_lockout_s = 600 };
	struct http_clients *t;
	assert_int_equal(http_clients_new(&l, &t), 0);
	assert_true(http_clients_open(t, 1, 1));
	assert_false(http_clients_failed(t, 2, 2));
	assert_true(http_clients_failed(t, 2, 3)); /* locked out */
	assert_false(http_clients_failed(t, 3, 4)); /* one failure, newer */
	for (uint32_t a = 100; a < 100 + HTTP_CLIENTS_MIN - 3; a++)
		assert_true(http_clients_open(t, a, 10 + a));
	/* Full: 3 goes first (not locked out), then 2; then nothing can. */
	assert_true(http_clients_open(t, 5000, 5000));
	assert_true(http_clients_locked(t, 2, 5000) > 0);
	assert_true(http_clients_open(t, 5001, 5001));
	assert_int_equal(http_clients_locked(t, 2, 5001), 0);
	assert_false(http_clients_open(t, 5002, 5002));
	assert_false(http_clients_failed(t, 5002, 5002)); /* not even counted */
	http_clients_close(t, 1);
	assert_true(http_clients_open(t, 5002, 6000));
	http_clients_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_lockout),
		cmocka_unit_test(test_full_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
