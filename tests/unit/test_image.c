/* Unit tests for src/image's parsers: an image's config (Env, WorkingDir,
 * User), an OCI layout's index, a manifest and skopeo inspect's output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "image/image.h"

#define D1 "sha256:34ddd8ccc85d8336e2976c17790cf19ce4d6c2be62220109c669b3c0084f1e2d"
#define D2 "sha256:446151dd74e98b23de846ca504d25fc5a8227dc0b486a77c87e51ba8f6f8a351"

static int config(const char *json, struct image_config *c, struct cove_err *err)
{
	return image_config_parse(json, strlen(json), c, err);
}

static void test_config(void **state)
{
	(void)state;
	struct image_config c;
	struct cove_err err = { 0 };
	assert_int_equal(config("{\"architecture\":\"amd64\",\"config\":{\"User\":\"tester\",\"WorkingDir\":\"/work\","
				"\"Env\":[\"PATH=/usr/bin:/bin\",\"GREETING=hello world\",\"EMPTY=\"]}}",
				&c, &err),
			 0);
	assert_string_equal(c.user, "tester");
	assert_string_equal(c.workdir, "/work");
	assert_int_equal(c.nenv, 3);
	assert_string_equal(c.env[1], "GREETING=hello world");
	assert_string_equal(c.env[2], "EMPTY=");
	image_config_clear(&c);

	/* Nothing set, or nulls: all empty. A relative WorkingDir is from /. */
	assert_int_equal(config("{}", &c, &err), 0);
	assert_int_equal(c.nenv, 0);
	assert_string_equal(c.user, "");
	assert_int_equal(config("{\"config\":{\"Env\":null,\"WorkingDir\":\"app\",\"User\":\"1000:1000\"}}", &c, &err),
			 0);
	assert_string_equal(c.workdir, "/app");
	assert_string_equal(c.user, "1000:1000");
	image_config_clear(&c);
}

static void expect_config_error(const char *json, const char *msg)
{
	struct image_config c;
	struct cove_err err = { 0 };
	assert_true(config(json, &c, &err) < 0);
	if (!strstr(err.msg, msg))
		fail_msg("'%s': got '%s', expected '%s'", json, err.msg, msg);
	assert_int_equal(c.nenv, 0);
	assert_null(c.env);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_error("[]", "not a JSON object");
	expect_config_error("{\"config\":", "not JSON");
	expect_config_error("{\"config\":{\"Env\":\"A=1\"}}", "Env is not a list");
	expect_config_error("{\"config\":{\"Env\":[\"A=1\",\"NOVALUE\"]}}", "Env entry 1 is not KEY=VALUE");
	expect_config_error("{\"config\":{\"Env\":[\"=x\"]}}", "Env entry 0");
	/* A newline would be a second line of template.conf. */
	expect_config_error("{\"config\":{\"Env\":[\"A=1\\nenv=B=2\"]}}", "Env entry 0");
	expect_config_error("{\"config\":{\"Env\":[\"A=1\\u0000x\"]}}", "not JSON"); /* jansson refuses NUL */
	expect_config_error("{\"config\":{\"User\":\"a\\nb\"}}", "User is not");
	expect_config_error("{\"config\":{\"WorkingDir\":7}}", "WorkingDir is not");
	expect_config_error("{\"config\":{\"User\":\"a\"},\"config\":{}}", "not JSON"); /* duplicate key */
	char big[IMAGE_ENV_MAX * 8 + 64];
	size_t len = (size_t)sprintf(big, "{\"config\":{\"Env\":[");
	for (int i = 0; i <= IMAGE_ENV_MAX; i++)
		len += (size_t)sprintf(big + len, "%s\"K=%d\"", i ? "," : "", i);
	sprintf(big + len, "]}}");
	expect_config_error(big, "more than");
}

static void test_index_and_manifest(void **state)
{
	(void)state;
	char digest[80];
	uint64_t bytes = 0;
	struct cove_err err = { 0 };
	const char *index = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D2 "\",\"annotations\":{"
			    "\"org.opencontainers.image.ref.name\":\"other\"}},{\"digest\":\"" D1 "\",\"annotations\":{"
			    "\"org.opencontainers.image.ref.name\":\"image\"}}]}";
	assert_int_equal(image_index_manifest(index, strlen(index), "image", digest, sizeof(digest), &err), 0);
	assert_string_equal(digest, D1);
	assert_int_equal(image_index_manifest(index, strlen(index), "none", digest, sizeof(digest), &err), -ENOENT);
	const char *bad = "{\"manifests\":[{\"digest\":\"sha256:../../etc\",\"annotations\":{"
			  "\"org.opencontainers.image.ref.name\":\"image\"}}]}";
	assert_int_equal(image_index_manifest(bad, strlen(bad), "image", digest, sizeof(digest), &err), -EINVAL);

	const char *m = "{\"config\":{\"digest\":\"" D2 "\"},\"layers\":[{\"size\":1000},{\"size\":24}]}";
	assert_int_equal(image_manifest_parse(m, strlen(m), digest, sizeof(digest), &bytes, &err), 0);
	assert_string_equal(digest, D2);
	assert_int_equal(bytes, 1024);
	const char *list = "{\"manifests\":[]}";
	assert_int_equal(image_manifest_parse(list, strlen(list), digest, sizeof(digest), &bytes, &err), -EINVAL);
	const char *neg = "{\"config\":{\"digest\":\"" D2 "\"},\"layers\":[{\"size\":-1}]}";
	assert_int_equal(image_manifest_parse(neg, strlen(neg), digest, sizeof(digest), &bytes, &err), -EINVAL);

	const char *inspect = "{\"Digest\":\"" D1 "\",\"LayersData\":[{\"Size\":5},{\"Size\":6}]}";
	assert_int_equal(image_inspect_parse(inspect, strlen(inspect), digest, sizeof(digest), &bytes, &err), 0);
	assert_string_equal(digest, D1);
	assert_int_equal(bytes, 11);
	const char *old = "{\"Digest\":\"" D1 "\",\"Layers\":[]}";
	assert_int_equal(image_inspect_parse(old, strlen(old), digest, sizeof(digest), &bytes, &err), 0);
	assert_int_equal(bytes, 0);
	const char *upper = "{\"Digest\":\"sha256:34DDD8CCC85D8336E2976C17790CF19CE4D6C2BE62220109C669B3C0084F1E2D\"}";
	assert_int_equal(image_inspect_parse(upper, strlen(upper), digest, sizeof(digest), &bytes, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_index_and_manifest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
