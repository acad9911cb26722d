/* Unit tests for envd's /files/compose request (src/proto/compose.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "proto/compose.h"

static int parse(const char *json, struct compose_request *out, struct cove_err *err)
{
	return compose_request_parse(json, strlen(json), out, err);
}

static void test_compose_full(void **state)
{
	(void)state;
	struct compose_request r;
	struct cove_err err = { 0 };
	assert_int_equal(parse("{\"source_paths\":[\"a.part\",\"/tmp/b.part\",\"~/c\"],\"destination\":\"out.bin\","
			       "\"username\":\"root\",\"unknown\":{\"x\":1}}",
			       &r, &err),
			 0);
	assert_int_equal(r.nsources, 3);
	assert_string_equal(r.sources[0], "a.part");
	assert_string_equal(r.sources[1], "/tmp/b.part");
	assert_string_equal(r.sources[2], "~/c");
	assert_null(r.sources[3]);
	assert_string_equal(r.destination, "out.bin");
	assert_string_equal(r.username, "root");
	compose_request_clear(&r);
	assert_null(r.sources);
	assert_null(r.destination);
}

static void test_compose_username_absent_null_or_empty(void **state)
{
	(void)state;
	const char *bodies[] = {
		"{\"source_paths\":[\"a\"],\"destination\":\"d\"}",
		"{\"source_paths\":[\"a\"],\"destination\":\"d\",\"username\":null}",
		"{\"source_paths\":[\"a\"],\"destination\":\"d\",\"username\":\"\"}",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct compose_request r;
		assert_int_equal(parse(bodies[i], &r, NULL), 0);
		assert_null(r.username);
		assert_int_equal(r.nsources, 1);
		compose_request_clear(&r);
	}
}

/* Each malformed body is refused with a message naming what is wrong, and
 * nothing is left allocated (the struct is cleared). */
static void test_compose_refused(void **state)
{
	(void)state;
	static const struct {
		const char *body, *says;
	} cases[] = {
		{ "", "invalid request body" },
		{ "nope", "invalid request body" },
		{ "[]", "not a JSON object" },
		{ "{}", "source_paths must not be empty" },
		{ "{\"source_paths\":[],\"destination\":\"d\"}", "source_paths must not be empty" },
		{ "{\"source_paths\":null,\"destination\":\"d\"}", "source_paths must not be empty" },
		{ "{\"source_paths\":\"a\",\"destination\":\"d\"}", "array of strings" },
		{ "{\"source_paths\":[\"a\",3],\"destination\":\"d\"}", "source_paths[1] must be a string" },
		{ "{\"source_paths\":[\"a\",\"\"],\"destination\":\"d\"}", "source_paths[1] is empty" },
		{ "{\"source_paths\":[\"a\\u0000b\"],\"destination\":\"d\"}", "NUL" },
		{ "{\"source_paths\":[\"a\"]}", "destination is required" },
		{ "{\"source_paths\":[\"a\"],\"destination\":\"\"}", "destination is required" },
		{ "{\"source_paths\":[\"a\"],\"destination\":null}", "destination is required" },
		{ "{\"source_paths\":[\"a\"],\"destination\":7}", "destination must be a string" },
		{ "{\"source_paths\":[\"a\"],\"destination\":\"d\",\"username\":1}", "username" },
		{ "{\"source_paths\":[\"a\"],\"destination\":\"d\",\"destination\":\"e\"}", "invalid request body" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct compose_request r;
		struct cove_err err = { 0 };
		int rc = parse(cases[i].body, &r, &err);
		if (rc != -EINVAL || !strstr(err.msg, cases[i].says))
			fail_msg("body %s: got %d '%s', wanted -EINVAL '%s'", cases[i].body, rc, err.msg, cases[i].says);
		assert_null(r.sources);
		assert_null(r.destination);
		assert_null(r.username);
	}
}

static void test_compose_bounds(void **state)
{
	(void)state;
	/* One path past the limit. */
	size_t n = COMPOSE_MAX_PATH + 1;
	char *body = malloc(n + 64);
	assert_non_null(body);
	int k = sprintf(body, "{\"source_paths\":[\"");
	memset(body + k, 'x', n);
	sprintf(body + k + n, "\"],\"destination\":\"d\"}");
	struct compose_request r;
	struct cove_err err = { 0 };
	assert_int_equal(parse(body, &r, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "longer than"));
	free(body);
	/* More sources than allowed. */
	size_t cap = 64 + (COMPOSE_MAX_SOURCES + 1) * 4;
	body = malloc(cap);
	assert_non_null(body);
	size_t at = (size_t)sprintf(body, "{\"source_paths\":[");
	for (size_t i = 0; i <= COMPOSE_MAX_SOURCES; i++)
		at += (size_t)sprintf(body + at, "%s\"a\"", i ? "," : "");
	sprintf(body + at, "],\"destination\":\"d\"}");
	assert_int_equal(parse(body, &r, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "more than"));
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compose_full),
		cmocka_unit_test(test_compose_username_absent_null_or_empty),
		cmocka_unit_test(test_compose_refused),
		cmocka_unit_test(test_compose_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
