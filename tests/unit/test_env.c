/* Unit tests for the settings read from the environment (src/common/env.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/env.h"

static void test_table_is_complete(void **state)
{
	(void)state;
	for (int s = 0; s < ENV_SETTINGS_COUNT; s++) {
		const struct env_setting_info *i = env_setting_info((enum env_setting)s);
		assert_non_null(i->name);
		assert_int_equal(strncmp(i->name, "COVE_", 5), 0);
		assert_non_null(i->default_text);
		assert_non_null(i->meaning);
		for (int t = 0; t < s; t++)
			assert_string_not_equal(i->name, env_setting_info((enum env_setting)t)->name);
	}
	assert_null(env_setting_info(ENV_SETTINGS_COUNT));
}

static void test_empty_is_unset(void **state)
{
	(void)state;
	setenv("COVE_RUN_DIR", "", 1);
	assert_null(env_get(ENV_RUN_DIR));
	assert_string_equal(env_value(ENV_RUN_DIR), COVE_DEFAULT_RUN_DIR);
	setenv("COVE_RUN_DIR", "/tmp/x", 1);
	assert_string_equal(env_get(ENV_RUN_DIR), "/tmp/x");
	assert_string_equal(env_value(ENV_RUN_DIR), "/tmp/x");
	unsetenv("COVE_RUN_DIR");
	assert_null(env_get(ENV_RUN_DIR));
	unsetenv("COVE_API_KEY");
	assert_null(env_value(ENV_API_KEY));
}

static void test_unsigned(void **state)
{
	(void)state;
	unsetenv("COVE_NET_POOL");
	assert_int_equal(env_unsigned(ENV_NET_POOL), 0);
	setenv("COVE_NET_POOL", "7", 1);
	assert_int_equal(env_unsigned(ENV_NET_POOL), 7);
	unsetenv("COVE_NET_POOL");
}

static void test_guest_path(void **state)
{
	(void)state;
	char p[PATH_MAX];
	setenv("COVE_GUEST_TOOLS", "/some/where", 1);
	assert_int_equal(env_guest_path(ENV_GUEST_TOOLS, p, sizeof(p)), 0);
	assert_string_equal(p, "/some/where");
	unsetenv("COVE_GUEST_TOOLS");
	/* Next to this test's binary (BUILD/bin/tests/../guest/tools) there is
	 * none, so the installed place is named. */
	int r = env_guest_path(ENV_GUEST_TOOLS, p, sizeof(p));
	if (access(COVE_SHARE_DIR "/tools", R_OK) != 0) {
		assert_int_equal(r, -ENOENT);
		assert_string_equal(p, COVE_SHARE_DIR "/tools");
	}
	/* A setting that is no guest file. */
	assert_int_equal(env_guest_path(ENV_RUN_DIR, p, sizeof(p)), -EINVAL);
	char dir[PATH_MAX];
	assert_int_equal(env_exe_dir(dir, sizeof(dir)), 0);
	assert_non_null(strstr(dir, "/bin/tests"));
}

/* README.md names every setting: found upward from this binary. */
static void test_readme_lists_every_setting(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	assert_int_equal(env_exe_dir(dir, sizeof(dir)), 0);
	FILE *f = NULL;
	while (!f && strlen(dir) > 1) {
		snprintf(path, sizeof(path), "%s/README.md", dir);
		f = fopen(path, "re");
		char *slash = strrchr(dir, '/');
		*(slash == dir ? slash + 1 : slash) = '\0';
	}
	if (!f)
		skip();
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (int s = 0; s < ENV_SETTINGS_COUNT; s++) {
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "`%s", env_setting_info((enum env_setting)s)->name);
		if (!strstr(text, quoted))
			fail_msg("README.md does not mention %s", quoted + 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_complete),
		cmocka_unit_test(test_empty_is_unset),
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_guest_path),
		cmocka_unit_test(test_readme_lists_every_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
