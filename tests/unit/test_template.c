/* Unit tests for src/template: template names, template.conf parsing and
 * loading a template directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "template/template.h"

static void test_names(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	const char *good[] = { "base", "tiny", "python-3.11", "a", "0x_1", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij012" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_int_equal(template_name_check(good[i], &err), 0);
	const char *bad[] = { "", ".", "..", "../etc", "a/b", "Base", "-x", "_x", "a b", "base\n",
			      "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij0123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(template_name_check(bad[i], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "template name"));
	}
	assert_int_equal(template_name_check(NULL, &err), -EINVAL);
}

static void test_parse(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct template t = { 0 };
	assert_int_equal(template_parse_conf("# comment\n\nsuite=bookworm\n  user=user  \nworkdir=/home/user\n"
					     "disk_mib=2048\nmemory_mib=512\nvcpus=2",
					     "t.conf", &t, &err),
			 0);
	assert_string_equal(t.suite, "bookworm");
	assert_string_equal(t.user, "user");
	assert_string_equal(t.workdir, "/home/user");
	assert_int_equal(t.disk_mib, 2048);
	assert_int_equal(t.memory_mib, 512);
	assert_int_equal(t.vcpus, 2);
	assert_string_equal(t.start_cmd, "");
	/* Start and ready commands are shell text, '=' and all. */
	assert_int_equal(template_parse_conf("start_cmd=A=1 /usr/lib/cove/x --y\nready_cmd=curl -sf http://127.0.0.1:1/\n"
					     "ready_timeout=300\n",
					     "t.conf", &t, &err),
			 0);
	assert_string_equal(t.start_cmd, "A=1 /usr/lib/cove/x --y");
	assert_string_equal(t.ready_cmd, "curl -sf http://127.0.0.1:1/");
	assert_int_equal(t.ready_timeout_s, 300);
}

static void expect_error(const char *text, const char *msg)
{
	struct cove_err err = { 0 };
	struct template t = { 0 };
	assert_int_equal(template_parse_conf(text, "t.conf", &t, &err), -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("'%s': got '%s', expected '%s'", text, err.msg, msg);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("user=user\ncolour=blue\n", "t.conf:2: unknown key 'colour'");
	expect_error("just words\n", "t.conf:1: expected key=value");
	expect_error("=x\n", "t.conf:1: expected key=value");
	expect_error("vcpus=0\n", "vcpus='0': must be a number from 1 to 64");
	expect_error("vcpus=65\n", "vcpus='65'");
	expect_error("vcpus=-1\n", "vcpus='-1'");
	expect_error("memory_mib=12x\n", "memory_mib='12x'");
	expect_error("memory_mib=\n", "memory_mib=''");
	expect_error("workdir=home\n", "workdir='home': must be an absolute path");
	expect_error("user=-rf\n", "user='-rf'");
	expect_error("ready_timeout=0\n", "ready_timeout='0': must be seconds, from 1 to 3600");
	expect_error("start_cmd=\n", "start_cmd=''");
	expect_error("user=a b\n", "user='a b'");
	expect_error("user=abcdefghijabcdefghijabcdefghijabc\n", "user is too long");
	char long_line[8192];
	memset(long_line, 'a', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	expect_error(long_line, "t.conf:1: line too long");
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/cove-test-template-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	struct cove_err err = { 0 };
	struct template t;

	assert_int_equal(template_load(dir, "base", &t, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "template 'base' not found"));

	snprintf(path, sizeof(path), "%s/base", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/base/template.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("user=user\nworkdir=/home/user\nmemory_mib=256\n", f);
	fclose(f);
	/* A template without its image is not usable, and says which file. */
	assert_int_equal(template_load(dir, "base", &t, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "rootfs.ext4"));
	snprintf(path, sizeof(path), "%s/base/rootfs.ext4", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(template_load(dir, "base", &t, &err), 0);
	assert_string_equal(t.name, "base");
	assert_string_equal(t.user, "user");
	assert_string_equal(t.rootfs, path);
	assert_int_equal(t.memory_mib, 256);
	assert_int_equal(t.vcpus, 0);

	assert_int_equal(template_load(dir, "../base", &t, &err), -EINVAL);
	assert_int_equal(fs_remove_tree(dir, &err), 0);
}

/* env= lines (an image's Env) and source=. */
static void test_env(void **state)
{
	(void)state;
	static struct template t;
	struct cove_err err = { 0 };
	memset(&t, 0, sizeof(t));
	assert_int_equal(template_parse_conf("source=docker://h:5000/x@sha256:ab\nenv=PATH=/usr/bin:/bin\n"
					     "env=GREETING=hello world\nenv=EMPTY=\n", "t.conf", &t, &err), 0);
	assert_string_equal(t.source, "docker://h:5000/x@sha256:ab");
	assert_int_equal(t.nenv, 3);
	const char *envs[8];
	assert_int_equal(template_envs(&t, NULL, envs, 8), 3);
	assert_string_equal(envs[0], "PATH=/usr/bin:/bin");
	assert_string_equal(envs[1], "GREETING=hello world");
	assert_string_equal(envs[2], "EMPTY=");
	assert_null(envs[3]);
	/* A request's own go on top: one of the same key replaces the template's. */
	const char *extra[] = { "GREETING=hi", "NEW=1", NULL };
	assert_int_equal(template_envs(&t, extra, envs, 8), 4);
	assert_string_equal(envs[0], "PATH=/usr/bin:/bin");
	assert_string_equal(envs[1], "EMPTY=");
	assert_string_equal(envs[2], "GREETING=hi");
	assert_string_equal(envs[3], "NEW=1");
	assert_int_equal(template_envs(&t, extra, envs, 4), -E2BIG);

	expect_error("env=NOEQUALS\n", "env='NOEQUALS': must be KEY=VALUE");
	expect_error("env==x\n", "env='=x'");
	expect_error("source=\n", "source=''");
	/* More than a template holds: said so, with the limits. */
	char *many = malloc(TEMPLATE_ENV_MAX * 16 + 64);
	assert_non_null(many);
	size_t len = 0;
	for (int i = 0; i <= TEMPLATE_ENV_MAX; i++)
		len += (size_t)sprintf(many + len, "env=K%d=v\n", i);
	expect_error(many, "more env than a template holds");
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
