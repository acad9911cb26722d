/* Unit tests for the names of snapshots and templates as E2B's API takes
 * them (src/template/ref.c, E2B's id.ParseName), and the snapshot routes'
 * requests parsed into plain values (src/api/request.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/request.h"
#include "template/template.h"

static void parses_to(const char *in, const char *alias, const char *tag)
{
	struct cove_err err = { 0 };
	struct template_ref ref;
	int r = template_ref_parse(in, &ref, &err);
	if (r != 0)
		fail_msg("'%s': %d %s", in, r, err.msg);
	if (strcmp(ref.alias, alias) != 0 || strcmp(ref.tag, tag) != 0)
		fail_msg("'%s': got '%s' '%s', want '%s' '%s'", in, ref.alias, ref.tag, alias, tag);
}

static void refused(const char *in, const char *want)
{
	struct cove_err err = { 0 };
	struct template_ref ref;
	int r = template_ref_parse(in, &ref, &err);
	if (r != -EINVAL || !strstr(err.msg, want))
		fail_msg("'%s': got %d '%s', want '%s'", in ? in : "(null)", r, err.msg, want);
}

static void test_ref(void **state)
{
	(void)state;
	parses_to("my-snap", "my-snap", "");
	parses_to("my_snap:v1", "my_snap", "v1");
	parses_to("  My-Snap:V1.2  ", "my-snap", "v1.2");
	parses_to("team/my-snap", "my-snap", "");      /* one tenant: the namespace is dropped */
	parses_to("team/my-snap:v2", "my-snap", "v2");
	parses_to("abc:default", "abc", "");           /* E2B's default tag is no tag */
	parses_to("abc:DEFAULT", "abc", "");
	parses_to("0123456789abcdefghij:default", "0123456789abcdefghij", "");
	refused(NULL, "it is empty");
	refused("", "it is empty");
	refused("   ", "it is empty");
	refused("a b", "the name must be");
	refused("a.b", "the name must be");
	refused("a/b/c", "the name must be");
	refused("/a", "the namespace must be");
	refused("t!/a", "the namespace must be");
	refused("a:", "the tag must be");
	refused("a:b:c", "the tag must be");
	refused("a:b/c", "the tag must be");
	refused(":v1", "the name must be");
	refused("a:123e4567-e89b-12d3-a456-426614174000", "a tag cannot be a UUID");
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	refused(longname, "longer than 128 characters");
	longname[TEMPLATE_REF_MAX] = '\0';
	parses_to(longname, longname, "");
}

static void test_body(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_snapshot_body b;
	assert_int_equal(api_snapshot_body_parse("", 0, &b, &err), 0);
	assert_false(b.named);
	assert_int_equal(api_snapshot_body_parse("{}", 2, &b, &err), 0);
	assert_false(b.named);
	const char *null_name = "{\"name\": null}";
	assert_int_equal(api_snapshot_body_parse(null_name, strlen(null_name), &b, &err), 0);
	assert_false(b.named);
	const char *named = "{\"name\": \"Team/Snap:V1\", \"other\": 1}";
	assert_int_equal(api_snapshot_body_parse(named, strlen(named), &b, &err), 0);
	assert_true(b.named);
	assert_string_equal(b.name.alias, "snap");
	assert_string_equal(b.name.tag, "v1");
	const char *bad[][2] = {
		{ "{\"name\": 5}", "name must be a string" },
		{ "{\"name\": \"\"}", "it is empty" },
		{ "{\"name\": \"no spaces\"}", "the name must be" },
		{ "[]", "not a JSON object" },
		{ "{\"name\": \"a\", \"name\": \"b\"}", "not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = api_snapshot_body_parse(bad[i][0], strlen(bad[i][0]), &b, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][1]))
			fail_msg("%s: got %d '%s', want '%s'", bad[i][0], r, err.msg, bad[i][1]);
	}
}

static const char *table_get(void *cls, const char *name)
{
	size_t n = strlen(name);
	for (const char *const *a = cls; *a; a++)
		if (strncmp(*a, name, n) == 0 && (*a)[n] == '=')
			return *a + n + 1;
	return NULL;
}

static int query(const char *const *args, struct api_snapshot_query *q, struct cove_err *err)
{
	struct api_query in = { table_get, (void *)args };
	return api_snapshot_query_parse(&in, q, err);
}

static void test_query(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_snapshot_query q;
	const char *none[] = { NULL };
	assert_int_equal(query(none, &q, &err), 0);
	assert_int_equal(q.limit, API_LIST_DEFAULT_LIMIT);
	assert_false(q.named);
	assert_string_equal(q.sandbox, "");
	assert_int_equal(q.before_seq, 0);
	const char *all[] = { "sandboxID=abc123", "name=snap:v1", "limit=1", "nextToken=42", NULL };
	assert_int_equal(query(all, &q, &err), 0);
	assert_string_equal(q.sandbox, "abc123");
	assert_true(q.named);
	assert_string_equal(q.name.alias, "snap");
	assert_string_equal(q.name.tag, "v1");
	assert_int_equal(q.limit, 1);
	assert_int_equal(q.before_seq, 42);
	const char *empty[] = { "name=", "nextToken=", "sandboxID=", NULL };
	assert_int_equal(query(empty, &q, &err), 0);
	assert_false(q.named);
	const char *bad[][2] = {
		{ "limit=0", "limit must be 1 to 100" },   { "limit=101", "limit must be 1 to 100" },
		{ "limit=x", "limit must be 1 to 100" },   { "nextToken=-1", "is not one this server gave" },
		{ "nextToken=abc", "is not one this server gave" }, { "name=a b", "the name must be" },
		{ "sandboxID=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sandboxID is longer" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { bad[i][0], NULL };
		int r = query(args, &q, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][1]))
			fail_msg("%s: got %d '%s', want '%s'", bad[i][0], r, err.msg, bad[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
