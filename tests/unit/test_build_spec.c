/* Unit tests for src/build/spec.h: the template build API's bodies and
 * query (the JSON npm e2b 2.51.0 sends, from docs/research), and the layer
 * cache keys. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/spec.h"
#include "image/image.h"

#define HASH_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASH_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* --- helpers --- */

static int create(const char *body, struct build_create *c, struct cove_err *err)
{
	return build_create_parse(body, strlen(body), c, err);
}

static void create_refused(const char *body, const char *want)
{
	struct cove_err err = { 0 };
	struct build_create c;
	int r = create(body, &c, &err);
	if (r != -EINVAL || !strstr(err.msg, want))
		fail_msg("%s: got %d '%s', want '%s'", body, r, err.msg, want);
}

static int trigger(const char *body, struct build_trigger *t, struct cove_err *err)
{
	return build_trigger_parse(body, strlen(body), t, err);
}

static void trigger_refused(const char *body, const char *want)
{
	struct cove_err err = { 0 };
	struct build_trigger t;
	int r = trigger(body, &t, &err);
	if (r != -EINVAL || !strstr(err.msg, want))
		fail_msg("%s: got %d '%s', want '%s'", body, r, err.msg, want);
	assert_null(t.json);
	assert_null(t.steps);
}

/* A trigger body with fromImage and one step of the given JSON. */
static char *one_step(const char *step)
{
	char *s = NULL;
	assert_true(asprintf(&s, "{\"steps\":[%s],\"force\":false,\"fromImage\":\"debian:12\"}", step) > 0);
	return s;
}

static void step_refused(const char *step, const char *want)
{
	char *body = one_step(step);
	trigger_refused(body, want);
	free(body);
}

static void step_accepted(const char *step)
{
	struct cove_err err = { 0 };
	struct build_trigger t;
	char *body = one_step(step);
	if (trigger(body, &t, &err) != 0)
		fail_msg("%s: refused: %s", body, err.msg);
	assert_int_equal(t.n_steps, 1);
	build_trigger_clear(&t);
	free(body);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* --- create --- */

static void test_create_sdk_body(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_create c;
	/* research §1: exactly what Template.build(t, 'my:v1', {...}) sends. */
	assert_int_equal(create("{\"name\":\"my:v1\",\"tags\":[\"extra\"],\"cpuCount\":2,\"memoryMB\":1024,"
				"\"minFreeDiskMb\":512}", &c, &err), 0);
	assert_string_equal(c.name.alias, "my");
	assert_string_equal(c.name.tag, "v1");
	assert_int_equal(c.tags.n, 2);
	assert_string_equal(c.tags.tag[0], "v1");
	assert_string_equal(c.tags.tag[1], "extra");
	assert_int_equal(c.cpu_count, 2);
	assert_int_equal(c.memory_mib, 1024);
	assert_int_equal(c.min_free_disk_mib, 512);
}

static void test_create_defaults(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_create c;
	assert_int_equal(create("{\"name\":\"  Team/My-App \", \"future\": {\"x\": 1}}", &c, &err), 0);
	assert_string_equal(c.name.alias, "my-app");
	assert_string_equal(c.name.tag, "");
	/* No tag anywhere: the build gets E2B's default tag alone. */
	assert_int_equal(c.tags.n, 1);
	assert_string_equal(c.tags.tag[0], "");
	assert_int_equal(c.cpu_count, 0);
	assert_int_equal(c.memory_mib, 0);
	assert_int_equal(c.min_free_disk_mib, 0);
	/* The legacy alias, and null fields as absent. */
	assert_int_equal(create("{\"alias\":\"old\",\"cpuCount\":null,\"tags\":null}", &c, &err), 0);
	assert_string_equal(c.name.alias, "old");
	/* name wins over alias. */
	assert_int_equal(create("{\"alias\":\"old\",\"name\":\"new\"}", &c, &err), 0);
	assert_string_equal(c.name.alias, "new");
}

static void test_create_tags(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_create c;
	/* Lower-cased and deduplicated (with the name's tag too); "default" is "". */
	assert_int_equal(create("{\"name\":\"a:V1\",\"tags\":[\"v1\",\"PROD\",\"prod\",\"default\",\"x.y_z-1\"]}", &c,
				&err), 0);
	assert_int_equal(c.tags.n, 4);
	assert_string_equal(c.tags.tag[0], "v1");
	assert_string_equal(c.tags.tag[1], "prod");
	assert_string_equal(c.tags.tag[2], "");
	assert_string_equal(c.tags.tag[3], "x.y_z-1");
	/* name:default is no tag: only the default one. */
	assert_int_equal(create("{\"name\":\"a:default\"}", &c, &err), 0);
	assert_int_equal(c.tags.n, 1);
	assert_string_equal(c.tags.tag[0], "");
	create_refused("{\"name\":\"a\",\"tags\":[\"bad tag\"]}", "tags[0] 'bad tag': the tag must be");
	create_refused("{\"name\":\"a\",\"tags\":[\"ok\",\"a/b\"]}", "tags[1]");
	create_refused("{\"name\":\"a\",\"tags\":[\"123e4567-e89b-12d3-a456-426614174000\"]}", "cannot be a UUID");
	create_refused("{\"name\":\"a\",\"tags\":[\"\"]}", "tags[0]: a tag cannot be empty");
	create_refused("{\"name\":\"a\",\"tags\":[1]}", "tags[0] must be a string");
	create_refused("{\"name\":\"a\",\"tags\":\"v1\"}", "tags must be a list of strings");
	char *lng = repeat('t', TEMPLATE_REF_MAX);
	char body[512];
	snprintf(body, sizeof(body), "{\"name\":\"a\",\"tags\":[\"%s\"]}", lng);
	create_refused(body, "a tag is at most");
	free(lng);
	/* More distinct tags than BUILD_MAX_TAGS. */
	char many[4096] = "{\"name\":\"a\",\"tags\":[";
	for (int i = 0; i <= BUILD_MAX_TAGS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"t%d\"", i ? "," : "", i);
	strcat(many, "]}");
	create_refused(many, "more than 32 tags");
}

static void test_create_names(void **state)
{
	(void)state;
	create_refused("{}", "a name is required");
	create_refused("", "a name is required");
	create_refused("{\"name\":null}", "a name is required");
	create_refused("{\"name\":5}", "name must be a string");
	create_refused("{\"name\":\"\"}", "name: invalid name '': it is empty");
	create_refused("{\"name\":\"a b\"}", "name: invalid name 'a b'");
	create_refused("{\"alias\":\"a!\"}", "alias: invalid name 'a!'");
	create_refused("{\"name\":\"a:123e4567-e89b-12d3-a456-426614174000\"}", "a tag cannot be a UUID");
	create_refused("[1]", "the body is not a JSON object");
	create_refused("{\"name\":\"a\",\"name\":\"b\"}", "the body is not a JSON object");
}

static void test_create_sizes(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_create c;
	assert_int_equal(create("{\"name\":\"a\",\"cpuCount\":1,\"memoryMB\":128,\"minFreeDiskMb\":0}", &c, &err), 0);
	assert_int_equal(create("{\"name\":\"a\",\"cpuCount\":64,\"memoryMB\":65536,\"minFreeDiskMb\":1048576}", &c,
				&err), 0);
	assert_int_equal(c.cpu_count, 64);
	assert_int_equal(c.min_free_disk_mib, 1048576);
	create_refused("{\"name\":\"a\",\"cpuCount\":0}", "cpuCount must be from 1 to 64, not 0");
	create_refused("{\"name\":\"a\",\"cpuCount\":65}", "cpuCount must be from 1 to 64, not 65");
	create_refused("{\"name\":\"a\",\"cpuCount\":-1}", "cpuCount must not be negative");
	create_refused("{\"name\":\"a\",\"cpuCount\":1.5}", "cpuCount must be a whole number");
	create_refused("{\"name\":\"a\",\"cpuCount\":\"2\"}", "cpuCount must be a whole number");
	create_refused("{\"name\":\"a\",\"memoryMB\":127}", "memoryMB must be from 128 to 65536");
	create_refused("{\"name\":\"a\",\"memoryMB\":65538}", "memoryMB must be from 128 to 65536");
	create_refused("{\"name\":\"a\",\"memoryMB\":1025}", "memoryMB must be an even number");
	create_refused("{\"name\":\"a\",\"minFreeDiskMb\":-1}", "minFreeDiskMb must not be negative");
	create_refused("{\"name\":\"a\",\"minFreeDiskMb\":1048577}", "minFreeDiskMb must be from 0 to 1048576");
	create_refused("{\"name\":\"a\",\"minFreeDiskMb\":99999999999999999999}", "not a JSON object");
}

/* --- trigger --- */

static void test_trigger_dockerfile(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_trigger t;
	/* research §3: fromDockerfile("FROM ubuntu\nRUN echo hi\nCMD [\"python\",\"app.py\"]"). */
	const char *body =
		"{\"startCmd\":\"python app.py\",\"readyCmd\":\"sleep 20\",\"steps\":[\n"
		" {\"type\":\"USER\",\"args\":[\"root\"],\"force\":false},{\"type\":\"WORKDIR\",\"args\":[\"/\"],\"force\":false},\n"
		" {\"type\":\"RUN\",\"args\":[\"echo hi\"],\"force\":false},{\"type\":\"USER\",\"args\":[\"user\"],\"force\":false},\n"
		" {\"type\":\"WORKDIR\",\"args\":[\"/home/user\"],\"force\":false}],\"force\":false,\"fromImage\":\"ubuntu\"}";
	assert_int_equal(trigger(body, &t, &err), 0);
	assert_int_equal(t.base, BUILD_BASE_IMAGE);
	assert_string_equal(t.from, "ubuntu");
	assert_false(t.default_base);
	assert_int_equal(t.registry, BUILD_REGISTRY_NONE);
	assert_null(t.registry_type);
	assert_string_equal(t.start_cmd, "python app.py");
	assert_string_equal(t.ready_cmd, "sleep 20");
	assert_false(t.force);
	assert_int_equal(t.n_steps, 5);
	const enum build_step_type types[] = { BUILD_USER, BUILD_WORKDIR, BUILD_RUN, BUILD_USER, BUILD_WORKDIR };
	const char *args[] = { "root", "/", "echo hi", "user", "/home/user" };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(t.steps[i].type, types[i]);
		assert_int_equal(t.steps[i].n_args, 1);
		assert_string_equal(t.steps[i].args[0], args[i]);
		assert_false(t.steps[i].force);
		assert_string_equal(t.steps[i].files_hash, "");
	}
	build_trigger_clear(&t);
	assert_null(t.json);
}

static void test_trigger_copy(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_trigger t;
	/* copy('a.txt','/app/',{user:'user',mode:0o755,forceUpload:true}) and
	 * copy('sub','/app/sub'); forceUpload is the SDK's own key. */
	const char *body = "{\"steps\":[{\"type\":\"COPY\",\"args\":[\"a.txt\",\"/app/\",\"user\",\"0755\"],\"force\":true,"
			   "\"forceUpload\":true,\"filesHash\":\"" HASH_A "\"},"
			   "{\"type\":\"COPY\",\"args\":[\"sub\",\"/app/sub\",\"\",\"\"],\"force\":false,"
			   "\"filesHash\":\"" HASH_B "\",\"resolveSymlinks\":false,\"gzip\":false}],"
			   "\"force\":false,\"fromTemplate\":\"code-interpreter-v1\"}";
	assert_int_equal(trigger(body, &t, &err), 0);
	assert_int_equal(t.base, BUILD_BASE_TEMPLATE);
	assert_string_equal(t.from, "code-interpreter-v1");
	assert_string_equal(t.template.alias, "code-interpreter-v1");
	assert_int_equal(t.n_steps, 2);
	assert_int_equal(t.steps[0].type, BUILD_COPY);
	assert_int_equal(t.steps[0].n_args, 4);
	assert_string_equal(t.steps[0].args[3], "0755");
	assert_true(t.steps[0].force);
	assert_string_equal(t.steps[0].files_hash, HASH_A);
	assert_string_equal(t.steps[1].files_hash, HASH_B);
	assert_string_equal(t.steps[1].args[2], "");
	assert_null(t.start_cmd);
	build_trigger_clear(&t);
}

static void test_trigger_skip_cache(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_trigger t;
	/* skipCache() then two steps and a from*: every later step and the top
	 * are forced; the runCmd with a user has two args. */
	const char *body = "{\"steps\":[{\"type\":\"RUN\",\"args\":[\"a\"],\"force\":false},"
			   "{\"type\":\"RUN\",\"args\":[\"a && b\",\"root\"],\"force\":true},"
			   "{\"type\":\"ENV\",\"args\":[\"FOO\",\"1\",\"BAR\",\"x y\"],\"force\":true}],"
			   "\"force\":true,\"fromImage\":\"python:3.12\"}";
	assert_int_equal(trigger(body, &t, &err), 0);
	assert_true(t.force);
	assert_false(t.steps[0].force);
	assert_true(t.steps[1].force);
	assert_string_equal(t.steps[1].args[1], "root");
	assert_true(t.steps[2].force);
	assert_int_equal(t.steps[2].n_args, 4);
	build_trigger_clear(&t);
}

static void test_trigger_base(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_trigger t;
	/* Neither: E2B's default base, Cove's base template. */
	assert_int_equal(trigger("{\"steps\":[],\"force\":false}", &t, &err), 0);
	assert_true(t.default_base);
	assert_int_equal(t.base, BUILD_BASE_TEMPLATE);
	assert_string_equal(t.from, BUILD_DEFAULT_TEMPLATE);
	assert_string_equal(t.template.alias, "base");
	assert_int_equal(t.n_steps, 0);
	build_trigger_clear(&t);
	assert_int_equal(trigger("", &t, &err), 0);
	assert_true(t.default_base);
	build_trigger_clear(&t);
	/* A fromTemplate with a tag. */
	assert_int_equal(trigger("{\"fromTemplate\":\"mine:v2\"}", &t, &err), 0);
	assert_string_equal(t.template.alias, "mine");
	assert_string_equal(t.template.tag, "v2");
	build_trigger_clear(&t);
	trigger_refused("{\"fromImage\":\"a\",\"fromTemplate\":\"b\"}", "give fromImage or fromTemplate, not both");
	trigger_refused("{\"fromImage\":\"a b\"}", "fromImage 'a b' is not an image reference");
	trigger_refused("{\"fromImage\":5}", "fromImage must be a string");
	trigger_refused("{\"fromTemplate\":\"Bad!\"}", "fromTemplate: invalid name");
	/* The image module's limit on a reference. */
	char *lng = repeat('a', IMAGE_REF_MAX + 10), body[IMAGE_REF_MAX + 64], want[64];
	snprintf(body, sizeof(body), "{\"fromImage\":\"%s\"}", lng);
	snprintf(want, sizeof(want), "fromImage is longer than %d bytes", IMAGE_REF_MAX);
	trigger_refused(body, want);
	free(lng);
	trigger_refused("{\"force\":1}", "force must be true or false");
	trigger_refused("{\"steps\":{}}", "steps must be a list");
	trigger_refused("{\"startCmd\":[]}", "startCmd must be a string");
	lng = repeat('s', BUILD_MAX_START_CMD + 1);
	char *big = NULL;
	assert_true(asprintf(&big, "{\"readyCmd\":\"%s\"}", lng) > 0);
	trigger_refused(big, "readyCmd is longer than 1023 bytes");
	free(big);
	free(lng);
}

static void test_trigger_registry(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_trigger t;
	assert_int_equal(trigger("{\"fromImage\":\"r.example/p:1\",\"fromImageRegistry\":{\"type\":\"registry\","
				 "\"username\":\"u\",\"password\":\"p\"}}", &t, &err), 0);
	assert_int_equal(t.registry, BUILD_REGISTRY_BASIC);
	assert_string_equal(t.username, "u");
	assert_string_equal(t.password, "p");
	build_trigger_clear(&t);
	/* AWS and GCP parse, and say which (the API answers 501). */
	assert_int_equal(trigger("{\"fromImage\":\"x\",\"fromImageRegistry\":{\"type\":\"aws\",\"awsAccessKeyId\":\"A\","
				 "\"awsSecretAccessKey\":\"S\",\"awsRegion\":\"us-east-1\"}}", &t, &err), 0);
	assert_int_equal(t.registry, BUILD_REGISTRY_AWS);
	assert_string_equal(t.registry_type, "aws");
	assert_null(t.username);
	build_trigger_clear(&t);
	assert_int_equal(trigger("{\"fromImage\":\"x\",\"fromImageRegistry\":{\"type\":\"gcp\","
				 "\"serviceAccountJson\":\"{\\\"a\\\":1}\"}}", &t, &err), 0);
	assert_int_equal(t.registry, BUILD_REGISTRY_GCP);
	assert_string_equal(t.registry_type, "gcp");
	build_trigger_clear(&t);
	/* Left set after a fromTemplate: ignored. */
	assert_int_equal(trigger("{\"fromTemplate\":\"base\",\"fromImageRegistry\":{\"type\":\"nope\"}}", &t, &err), 0);
	assert_int_equal(t.registry, BUILD_REGISTRY_NONE);
	build_trigger_clear(&t);
	trigger_refused("{\"fromImage\":\"x\",\"fromImageRegistry\":{\"type\":\"registry\",\"username\":\"u\"}}",
			"fromImageRegistry: a registry login needs username and password");
	trigger_refused("{\"fromImage\":\"x\",\"fromImageRegistry\":{\"type\":\"azure\"}}",
			"fromImageRegistry.type must be registry, aws or gcp");
	trigger_refused("{\"fromImage\":\"x\",\"fromImageRegistry\":[]}", "fromImageRegistry must be an object");
	trigger_refused("{\"fromImage\":\"x\",\"fromImageRegistry\":{\"type\":\"registry\",\"username\":1,\"password\":\"p\"}}",
			"fromImageRegistry: username must be a string");
}

static void test_step_run(void **state)
{
	(void)state;
	step_accepted("{\"type\":\"RUN\",\"args\":[\"echo a\"],\"force\":false}");
	step_accepted("{\"type\":\"RUN\",\"args\":[\"pip install .\",\"root\"]}");
	step_accepted("{\"type\":\"RUN\",\"args\":[\"x\",\"\"],\"unknown\":[1,2]}");
	step_refused("{\"type\":\"RUN\",\"args\":[]}", "step 1 (RUN): args must be 1 or 2");
	step_refused("{\"type\":\"RUN\",\"args\":[\"a\",\"root\",\"x\"]}", "not 3 strings");
	step_refused("{\"type\":\"RUN\",\"args\":[\"  \"]}", "step 1 (RUN): the command is empty");
	step_refused("{\"type\":\"RUN\",\"args\":[\"ls\",\"Root User\"]}", "'Root User' is not a user name");
	step_refused("{\"type\":\"RUN\",\"args\":[\"ls\",5]}", "step 1 (RUN): args[1] must be a string");
	step_refused("{\"type\":\"RUN\"}", "step 1 (RUN): args must be a list of strings");
	step_refused("{\"type\":\"RUN\",\"args\":[\"ls\"],\"force\":\"yes\"}", "step 1: force must be true or false");
	char *cmd = repeat('x', BUILD_MAX_CMD), *step = NULL;
	assert_true(asprintf(&step, "{\"type\":\"RUN\",\"args\":[\"%s\"]}", cmd) > 0);
	step_accepted(step);
	free(step);
	assert_true(asprintf(&step, "{\"type\":\"RUN\",\"args\":[\"%sy\"]}", cmd) > 0);
	step_refused(step, "step 1 (RUN): args[0] is longer than 65536 bytes");
	free(step);
	free(cmd);
}

static void test_step_copy(void **state)
{
	(void)state;
	step_accepted("{\"type\":\"COPY\",\"args\":[\"a.txt\",\"/app/\",\"user\",\"0755\"],\"filesHash\":\"" HASH_A "\"}");
	step_accepted("{\"type\":\"COPY\",\"args\":[\".\",\"app\",\"1000:1000\",\"7\"],\"filesHash\":\"" HASH_A "\"}");
	step_accepted("{\"type\":\"COPY\",\"args\":[\"sub/*.txt\",\"/d\",\"u:g\",\"\"],\"filesHash\":\"" HASH_A "\"}");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"\"]}", "step 1 (COPY): filesHash is required");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"\"],\"filesHash\":\"ABC\"}", "invalid filesHash");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"\"],\"filesHash\":\"" HASH_A "0\"}",
		     "invalid filesHash");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"\"],\"filesHash\":"
		     "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}", "invalid filesHash");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\"],\"filesHash\":\"" HASH_A "\"}",
		     "step 1 (COPY): args must be 4 (source, destination, owner, mode), not 3");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"\",\"\",\"\"],\"filesHash\":\"" HASH_A "\"}",
		     "the destination is empty");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"0778\"],\"filesHash\":\"" HASH_A "\"}",
		     "the mode '0778' is not 1 to 4 octal digits");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"00755\"],\"filesHash\":\"" HASH_A "\"}",
		     "the mode '00755'");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"\",\"rw\"],\"filesHash\":\"" HASH_A "\"}", "the mode");
	step_refused("{\"type\":\"COPY\",\"args\":[\"../x\",\"/b\",\"\",\"\"],\"filesHash\":\"" HASH_A "\"}",
		     "the source '../x' must be a relative path without '..'");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a/../../x\",\"/b\",\"\",\"\"],\"filesHash\":\"" HASH_A "\"}",
		     "without '..'");
	step_refused("{\"type\":\"COPY\",\"args\":[\"/etc\",\"/b\",\"\",\"\"],\"filesHash\":\"" HASH_A "\"}",
		     "without '..'");
	step_refused("{\"type\":\"COPY\",\"args\":[\"\",\"/b\",\"\",\"\"],\"filesHash\":\"" HASH_A "\"}", "the source ''");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"u:g:x\",\"\"],\"filesHash\":\"" HASH_A "\"}",
		     "the owner 'u:g:x' is not user[:group]");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\"Bad\",\"\"],\"filesHash\":\"" HASH_A "\"}", "the owner");
	step_refused("{\"type\":\"COPY\",\"args\":[\"a\",\"/b\",\":g\",\"\"],\"filesHash\":\"" HASH_A "\"}", "the owner");
}

static void test_step_env_workdir_user(void **state)
{
	(void)state;
	step_accepted("{\"type\":\"ENV\",\"args\":[\"FOO\",\"1\",\"_b2\",\"$PATH:/x\"]}");
	step_accepted("{\"type\":\"ENV\",\"args\":[\"X\",\"\"]}");
	step_refused("{\"type\":\"ENV\",\"args\":[\"FOO\"]}", "step 1 (ENV): args must be name, value pairs, not 1");
	step_refused("{\"type\":\"ENV\",\"args\":[]}", "pairs, not 0");
	step_refused("{\"type\":\"ENV\",\"args\":[\"A\",\"1\",\"B\"]}", "pairs, not 3");
	step_refused("{\"type\":\"ENV\",\"args\":[\"1A\",\"1\"]}", "'1A' is not a variable name");
	step_refused("{\"type\":\"ENV\",\"args\":[\"A=B\",\"1\"]}", "'A=B' is not a variable name");
	step_refused("{\"type\":\"ENV\",\"args\":[\"\",\"1\"]}", "'' is not a variable name");
	step_accepted("{\"type\":\"WORKDIR\",\"args\":[\"/app\"]}");
	step_refused("{\"type\":\"WORKDIR\",\"args\":[\"/a\",\"/b\"]}", "step 1 (WORKDIR): args must be 1");
	step_refused("{\"type\":\"WORKDIR\",\"args\":[\"\"]}", "the directory is empty");
	step_accepted("{\"type\":\"USER\",\"args\":[\"user\"]}");
	step_accepted("{\"type\":\"USER\",\"args\":[\"app_1\",\"true\"]}");
	step_accepted("{\"type\":\"USER\",\"args\":[\"app\",\"false\"]}");
	step_refused("{\"type\":\"USER\",\"args\":[\"app\",\"yes\"]}", "args[1] must be \"true\" or \"false\"");
	step_refused("{\"type\":\"USER\",\"args\":[]}", "step 1 (USER): args must be 1 or 2");
	step_refused("{\"type\":\"USER\",\"args\":[\"\"]}", "the user is empty");
	step_refused("{\"type\":\"USER\",\"args\":[\"1000\"]}", "'1000' is not a user name");
	step_refused("{\"type\":\"USER\",\"args\":[\"a-very-long-user-name-past-32-chars\"]}", "is not a user name");
	char *val = repeat('v', BUILD_MAX_ARG + 1), *step = NULL;
	assert_true(asprintf(&step, "{\"type\":\"ENV\",\"args\":[\"A\",\"%s\"]}", val) > 0);
	step_refused(step, "step 1 (ENV): args[1] is longer than 4096 bytes");
	free(step);
	free(val);
}

static void test_step_types_and_limits(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_trigger t;
	trigger_refused("{\"steps\":[{\"type\":\"RUN\",\"args\":[\"a\"]},{\"type\":\"ADD\",\"args\":[]}]}",
			"step 2: unknown type 'ADD' (RUN, COPY, ENV, WORKDIR or USER)");
	trigger_refused("{\"steps\":[{\"type\":\"run\",\"args\":[\"a\"]}]}", "step 1: unknown type 'run'");
	trigger_refused("{\"steps\":[{\"args\":[\"a\"]}]}", "step 1: type must be a string");
	trigger_refused("{\"steps\":[1]}", "step 1 must be an object");
	trigger_refused("{\"steps\":[{\"type\":\"RUN\",\"args\":[\"a\"]},{\"type\":\"RUN\",\"args\":[\"\"]}]}",
			"step 2 (RUN): the command is empty");
	/* BUILD_MAX_STEPS steps, then one more. */
	size_t cap = 64 + (BUILD_MAX_STEPS + 1) * 40;
	char *body = malloc(cap);
	strcpy(body, "{\"steps\":[");
	for (int i = 0; i < BUILD_MAX_STEPS; i++)
		strcat(body, i ? ",{\"type\":\"RUN\",\"args\":[\"a\"]}" : "{\"type\":\"RUN\",\"args\":[\"a\"]}");
	size_t len = strlen(body);
	strcpy(body + len, "]}");
	assert_int_equal(trigger(body, &t, &err), 0);
	assert_int_equal(t.n_steps, BUILD_MAX_STEPS);
	build_trigger_clear(&t);
	strcpy(body + len, ",{\"type\":\"RUN\",\"args\":[\"a\"]}]}");
	trigger_refused(body, "steps: more than 256 steps");
	free(body);
	/* ENV pairs past the limit. */
	body = malloc(16 * (2 * BUILD_MAX_ENVS + 4) + 64);
	strcpy(body, "{\"type\":\"ENV\",\"args\":[");
	for (int i = 0; i < 2 * BUILD_MAX_ENVS + 2; i++)
		sprintf(body + strlen(body), "%s\"A%d\"", i ? "," : "", i);
	strcat(body, "]}");
	step_refused(body, "more than 512 args");
	free(body);
}

/* --- tag routes --- */

static void test_tags_bodies(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_tags_body b;
	const char *assign = "{\"target\":\"my:v1\",\"tags\":[\"prod\"]}";
	assert_int_equal(build_tags_assign_parse(assign, strlen(assign), &b, &err), 0);
	assert_string_equal(b.ref.alias, "my");
	assert_string_equal(b.ref.tag, "v1");
	assert_int_equal(b.tags.n, 1);
	assert_string_equal(b.tags.tag[0], "prod");
	const char *rm = "{\"name\":\"my\",\"tags\":[\"prod\",\"x\",\"PROD\"]}";
	assert_int_equal(build_tags_remove_parse(rm, strlen(rm), &b, &err), 0);
	assert_string_equal(b.ref.alias, "my");
	assert_int_equal(b.tags.n, 2);
	assert_string_equal(b.tags.tag[1], "x");
	/* The other route's field is not this one's. */
	assert_int_equal(build_tags_remove_parse(assign, strlen(assign), &b, &err), -EINVAL);
	assert_string_equal(err.msg, "name is required");
	const char *bad[][2] = {
		{ "{\"target\":\"my\"}", "tags must be a list of at least one tag" },
		{ "{\"target\":\"my\",\"tags\":[]}", "tags must be a list of at least one tag" },
		{ "{\"target\":\"my\",\"tags\":[\"a b\"]}", "tags[0] 'a b'" },
		{ "{\"target\":\"M y\",\"tags\":[\"a\"]}", "target: invalid name" },
		{ "{\"tags\":[\"a\"]}", "target is required" },
		{ "nope", "the body is not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = build_tags_assign_parse(bad[i][0], strlen(bad[i][0]), &b, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][1]))
			fail_msg("%s: got %d '%s', want '%s'", bad[i][0], r, err.msg, bad[i][1]);
	}
}

/* --- status query --- */

static void test_status_query(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct build_status_query q;
	assert_int_equal(build_status_query_parse(NULL, NULL, NULL, &q, &err), 0);
	assert_int_equal(q.logs_offset, 0);
	assert_int_equal(q.limit, BUILD_LOGS_MAX_LIMIT);
	assert_int_equal(q.min_level, BUILD_LOG_DEBUG);
	assert_int_equal(build_status_query_parse("3", "", "", &q, &err), 0);
	assert_int_equal(q.logs_offset, 3);
	assert_int_equal(build_status_query_parse("0", "0", "warn", &q, &err), 0);
	assert_int_equal(q.limit, 0);
	assert_int_equal(q.min_level, BUILD_LOG_WARN);
	assert_string_equal(build_log_level_name(q.min_level), "warn");
	assert_int_equal(build_status_query_parse("1099511627776", "100", "error", &q, &err), 0);
	assert_int_equal(q.logs_offset, (size_t)1 << 40);
	const char *bad[][4] = {
		{ "-1", NULL, NULL, "logsOffset must be a whole number from 0" },
		{ "1x", NULL, NULL, "logsOffset must be a whole number" },
		{ "1099511627777", NULL, NULL, "logsOffset must be a whole number" },
		{ "99999999999999999999999", NULL, NULL, "logsOffset" },
		{ NULL, "101", NULL, "limit must be a whole number from 0 to 100, not '101'" },
		{ NULL, "+1", NULL, "limit" },
		{ NULL, NULL, "INFO", "level must be debug, info, warn or error, not 'INFO'" },
		{ NULL, NULL, "fatal", "level must be" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = build_status_query_parse(bad[i][0], bad[i][1], bad[i][2], &q, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][3]))
			fail_msg("case %zu: got %d '%s', want '%s'", i, r, err.msg, bad[i][3]);
	}
}

/* --- cache keys --- */

static void test_layer_keys(void **state)
{
	(void)state;
	const char *a1[] = { "echo a" }, *a2[] = { "echo", "a" }, *a3[] = { "echo b" };
	struct build_step s1 = { .type = BUILD_RUN, .n_args = 1, .args = a1 };
	struct build_step s2 = { .type = BUILD_RUN, .n_args = 2, .args = a2 };
	struct build_step s3 = { .type = BUILD_RUN, .n_args = 1, .args = a3 };
	char k1[BUILD_HASH_HEX + 1], k2[BUILD_HASH_HEX + 1], k3[BUILD_HASH_HEX + 1], again[BUILD_HASH_HEX + 1];
	build_layer_key("base-key", &s1, k1);
	assert_int_equal(strlen(k1), BUILD_HASH_HEX);
	assert_true(strspn(k1, "0123456789abcdef") == BUILD_HASH_HEX);
	build_layer_key("base-key", &s1, again);
	assert_string_equal(k1, again);
	/* Force is not part of it; args, their split, type, parent and files are. */
	s1.force = true;
	build_layer_key("base-key", &s1, again);
	assert_string_equal(k1, again);
	build_layer_key("base-key", &s2, k2);
	assert_string_not_equal(k1, k2);
	build_layer_key("base-key", &s3, k3);
	assert_string_not_equal(k1, k3);
	build_layer_key("other-base", &s1, again);
	assert_string_not_equal(k1, again);
	struct build_step w = s1;
	w.type = BUILD_WORKDIR;
	build_layer_key("base-key", &w, again);
	assert_string_not_equal(k1, again);
	const char *ca[] = { "a", "/b", "", "" };
	struct build_step c = { .type = BUILD_COPY, .n_args = 4, .args = ca };
	strcpy(c.files_hash, HASH_A);
	build_layer_key("base-key", &c, k2);
	strcpy(c.files_hash, HASH_B);
	build_layer_key("base-key", &c, k3);
	assert_string_not_equal(k2, k3);
	/* A chain: a change to step 1 changes step 2's key. */
	build_layer_key(k1, &s3, k2);
	build_layer_key(k3, &s3, again);
	assert_string_not_equal(k2, again);
}

static void test_finalize_key(void **state)
{
	(void)state;
	char k[BUILD_HASH_HEX + 1], other[BUILD_HASH_HEX + 1];
	build_finalize_key("last", "python app.py", "sleep 20", 2, 1024, k);
	assert_int_equal(strlen(k), BUILD_HASH_HEX);
	build_finalize_key("last", "python app.py", "sleep 20", 2, 1024, other);
	assert_string_equal(k, other);
	build_finalize_key("last", "python app.py", "sleep 21", 2, 1024, other);
	assert_string_not_equal(k, other);
	build_finalize_key("last", "python app.py", "sleep 20", 4, 1024, other);
	assert_string_not_equal(k, other);
	build_finalize_key("last", "python app.py", "sleep 20", 2, 2048, other);
	assert_string_not_equal(k, other);
	build_finalize_key("last2", "python app.py", "sleep 20", 2, 1024, other);
	assert_string_not_equal(k, other);
	/* Start and ready do not run together: moving text between them counts. */
	build_finalize_key("last", "python app.pysleep 20", "", 2, 1024, other);
	assert_string_not_equal(k, other);
	build_finalize_key("last", NULL, NULL, 0, 0, k);
	build_finalize_key("last", "", "", 0, 0, other);
	assert_string_equal(k, other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_sdk_body),
		cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_create_tags),
		cmocka_unit_test(test_create_names),
		cmocka_unit_test(test_create_sizes),
		cmocka_unit_test(test_trigger_dockerfile),
		cmocka_unit_test(test_trigger_copy),
		cmocka_unit_test(test_trigger_skip_cache),
		cmocka_unit_test(test_trigger_base),
		cmocka_unit_test(test_trigger_registry),
		cmocka_unit_test(test_step_run),
		cmocka_unit_test(test_step_copy),
		cmocka_unit_test(test_step_env_workdir_user),
		cmocka_unit_test(test_step_types_and_limits),
		cmocka_unit_test(test_tags_bodies),
		cmocka_unit_test(test_status_query),
		cmocka_unit_test(test_layer_keys),
		cmocka_unit_test(test_finalize_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
