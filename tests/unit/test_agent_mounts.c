/* Unit tests for src/guest/agent/mounts.c, the pure half of /init's
 * volumeMounts: good lists and the defaults, each rule that rejects an
 * entry (with the message naming the field and entry), the source and
 * options mount(2) is given, and finding an earlier /init's mount in
 * mountinfo. Mounting itself needs a guest (tests/integration). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/mounts.h"

#define EXPORT "/vol_0123456789abcdef01234567"

/* Parses {"volumeMounts": <list>}, list as JSON text. */
static int parse(const char *list, struct agent_mounts *m, struct cove_err *err)
{
	char body[16384];
	snprintf(body, sizeof(body), "{\"volumeMounts\": %s}", list);
	json_t *req = json_loads(body, JSON_ALLOW_NUL, NULL);
	assert_non_null(req);
	int r = agent_mounts_parse(req, m, err);
	json_decref(req);
	return r;
}

/* One entry with path p (a JSON string's text) and the rest good. */
static int parse_path(const char *p, struct cove_err *err)
{
	char list[12288];
	snprintf(list, sizeof(list), "[{\"path\": \"%s\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}]", p);
	struct agent_mounts m = { .count = 99 };
	int r = parse(list, &m, err);
	if (r == 0)
		agent_mounts_free(&m);
	else
		assert_int_equal(m.count, 99); /* untouched on failure */
	return r;
}

static void test_good(void **state)
{
	(void)state;
	struct agent_mounts m;
	struct cove_err err = { 0 };
	assert_int_equal(parse("[{\"path\": \"/mnt/data\", \"server\": \"169.254.0.22\", \"export\": \"" EXPORT
			       "\", \"port\": 2050, \"mountPort\": 20049, \"readOnly\": true},"
			       " {\"path\": \"/home/user/b c\", \"server\": \"10.0.0.1\","
			       " \"export\": \"/vol_abcdefabcdefabcdefabcdef\"}]",
			       &m, &err),
			 0);
	assert_int_equal(m.count, 2);
	assert_string_equal(m.mount[0].path, "/mnt/data");
	assert_string_equal(m.mount[0].server, "169.254.0.22");
	assert_string_equal(m.mount[0].export, EXPORT);
	assert_int_equal(m.mount[0].port, 2050);
	assert_int_equal(m.mount[0].mount_port, 20049);
	assert_string_equal(m.mount[1].path, "/home/user/b c");
	agent_mounts_free(&m);
	assert_int_equal(m.count, 0);
}

static void test_defaults_and_none(void **state)
{
	(void)state;
	struct agent_mounts m;
	struct cove_err err = { 0 };
	assert_int_equal(parse("[{\"path\": \"/data\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT
			       "\", \"port\": null}]",
			       &m, &err),
			 0);
	assert_int_equal(m.mount[0].port, AGENT_NFS_PORT);
	assert_int_equal(m.mount[0].mount_port, AGENT_NFS_MOUNT_PORT);
	assert_int_equal(AGENT_NFS_PORT, 2049);
	assert_int_equal(AGENT_NFS_MOUNT_PORT, 20048);
	agent_mounts_free(&m);
	/* Absent, null and [] are none. */
	assert_int_equal(parse("null", &m, &err), 0);
	assert_int_equal(m.count, 0);
	assert_int_equal(parse("[]", &m, &err), 0);
	assert_int_equal(m.count, 0);
	json_t *empty = json_object();
	assert_int_equal(agent_mounts_parse(empty, &m, &err), 0);
	assert_int_equal(m.count, 0);
	json_decref(empty);
}

static void test_bad_paths(void **state)
{
	(void)state;
	const char *bad[] = {
		"",
		"mnt/data",
		"/",
		"/mnt/",
		"/mnt//data",
		"//mnt",
		"/mnt/./data",
		"/mnt/.",
		"/mnt/../etc",
		"/..",
		"/proc",
		"/proc/x",
		"/sys",
		"/sys/fs/x",
		"/dev",
		"/dev/shm",
		"/run",
		"/run/user/0",
		"/etc",
		"/etc/ssl",
		"/usr",
		"/usr/bin",
		"/sbin",
		"/usr/sbin",
		"/usr/local",
		"/etc/pki/tls",
		"/etc/resolv.conf",
		"/mnt/a\\nb",
		"/mnt/a\\u0000b",
		"/mnt/\\u007f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct cove_err err = { 0 };
		if (parse_path(bad[i], &err) != -EINVAL)
			fail_msg("path '%s' was accepted", bad[i]);
		assert_true(strncmp(err.msg, "volumeMounts[0].path: ", 22) == 0);
	}
	/* Near misses that are fine. */
	const char *good[] = { "/proc2",          "/devices", "/runner",      "/sysroot/x", "/etc/app",
			       "/usr/local/data", "/mnt/..x", "/mnt/.hidden", "/home/user" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		struct cove_err err = { 0 };
		if (parse_path(good[i], &err) != 0)
			fail_msg("path '%s' was refused: %s", good[i], err.msg);
	}
	/* 4095 bytes are the most. */
	static char longest[4097];
	memset(longest, 'a', sizeof(longest));
	longest[0] = '/';
	longest[4095] = '\0';
	struct cove_err err = { 0 };
	assert_int_equal(parse_path(longest, &err), 0);
	longest[4095] = 'a';
	longest[4096] = '\0';
	assert_int_equal(parse_path(longest, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4095"));
}

static void test_bad_fields(void **state)
{
	(void)state;
	struct {
		const char *entry, *msg;
	} bad[] = {
		{ "\"x\"", "volumeMounts[1]: must be an object" },
		{ "{\"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}", "volumeMounts[1].path: must be a string" },
		{ "{\"path\": 5, \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}", "volumeMounts[1].path: " },
		{ "{\"path\": \"/b\", \"export\": \"" EXPORT "\"}", "volumeMounts[1].server: " },
		{ "{\"path\": \"/b\", \"server\": \"host.example\", \"export\": \"" EXPORT "\"}",
		  "volumeMounts[1].server: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0\", \"export\": \"" EXPORT "\"}",
		  "volumeMounts[1].server: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.256\", \"export\": \"" EXPORT "\"}",
		  "volumeMounts[1].server: " },
		{ "{\"path\": \"/b\", \"server\": \"010.0.0.1\", \"export\": \"" EXPORT "\"}",
		  "volumeMounts[1].server: " },
		{ "{\"path\": \"/b\", \"server\": \"::1\", \"export\": \"" EXPORT "\"}", "volumeMounts[1].server: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\"}", "volumeMounts[1].export: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"/vol_0123456789ABCDEF01234567\"}",
		  "volumeMounts[1].export: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"/vol_0123456789abcdef0123456\"}",
		  "volumeMounts[1].export: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"/vol_0123456789abcdef012345678\"}",
		  "volumeMounts[1].export: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"/vol_0123456789abcdef0123456g\"}",
		  "volumeMounts[1].export: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"/srv/vol_0123456789abcdef01234567\"}",
		  "volumeMounts[1].export: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\", \"port\": 0}",
		  "volumeMounts[1].port: must be an integer from 1 to 65535" },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\", \"port\": 65536}",
		  "volumeMounts[1].port: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\", \"port\": \"2049\"}",
		  "volumeMounts[1].port: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\", \"port\": 2049.0}",
		  "volumeMounts[1].port: " },
		{ "{\"path\": \"/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\", \"mountPort\": -1}",
		  "volumeMounts[1].mountPort: " },
		/* Overlaps with entry 0 at /a. */
		{ "{\"path\": \"/a\", \"server\": \"10.0.0.2\", \"export\": \"" EXPORT "\"}",
		  "volumeMounts[1].path: is also volumeMounts[0].path" },
		{ "{\"path\": \"/a/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}",
		  "volumeMounts[1].path: is inside volumeMounts[0].path" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char list[1024];
		snprintf(list, sizeof(list),
			 "[{\"path\": \"/a\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}, %s]",
			 bad[i].entry);
		struct agent_mounts m;
		struct cove_err err = { 0 };
		if (parse(list, &m, &err) != -EINVAL)
			fail_msg("entry %s was accepted", bad[i].entry);
		if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("entry %s: '%s', not '%s...'", bad[i].entry, err.msg, bad[i].msg);
	}
	/* An entry that contains an earlier one. */
	struct agent_mounts m;
	struct cove_err err = { 0 };
	assert_int_equal(parse("[{\"path\": \"/a/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"},"
			       " {\"path\": \"/a\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}]",
			       &m, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "volumeMounts[1].path: contains volumeMounts[0].path");
	/* Siblings sharing a prefix are not nested. */
	assert_int_equal(parse("[{\"path\": \"/a/b\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"},"
			       " {\"path\": \"/a/bc\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}]",
			       &m, &err),
			 0);
	agent_mounts_free(&m);
}

static void test_bad_list(void **state)
{
	(void)state;
	struct agent_mounts m;
	struct cove_err err = { 0 };
	assert_int_equal(parse("{}", &m, &err), -EINVAL);
	assert_string_equal(err.msg, "volumeMounts must be an array of at most 24 mounts");
	assert_int_equal(parse("\"/mnt\"", &m, &err), -EINVAL);
	/* 24 are the most (16 volumes and 8 shares). */
	char list[8192];
	size_t n = 0;
	n += (size_t)snprintf(list + n, sizeof(list) - n, "[");
	for (int i = 0; i < AGENT_MOUNTS_MAX + 1; i++) {
		n += (size_t)snprintf(list + n, sizeof(list) - n,
				      "%s{\"path\": \"/m%d\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"}",
				      i ? ", " : "", i);
		if (i == AGENT_MOUNTS_MAX - 1) {
			char most[8192];
			snprintf(most, sizeof(most), "%s]", list);
			assert_int_equal(parse(most, &m, &err), 0);
			assert_int_equal(m.count, AGENT_MOUNTS_MAX);
			assert_string_equal(m.mount[23].path, "/m23");
			agent_mounts_free(&m);
		}
	}
	snprintf(list + n, sizeof(list) - n, "]");
	assert_int_equal(parse(list, &m, &err), -EINVAL);
}

static void test_source_and_options(void **state)
{
	(void)state;
	struct agent_mount m = { .path = "/mnt/data",
				 .server = "169.254.0.22",
				 .export = EXPORT,
				 .port = 2049,
				 .mount_port = 20048 };
	char source[AGENT_MOUNT_SOURCE_MAX], options[AGENT_MOUNT_OPTIONS_MAX];
	agent_mount_source(&m, source);
	assert_string_equal(source, "169.254.0.22:" EXPORT);
	agent_mount_options(&m, options);
	assert_string_equal(options, "vers=3,proto=tcp,nolock,addr=169.254.0.22,port=2049,mountport=20048,"
				     "mountproto=tcp,hard,timeo=50,retrans=3");
	/* The longest source fits. */
	struct agent_mount big = { .server = "255.255.255.255", .export = EXPORT };
	agent_mount_source(&big, source);
	assert_string_equal(source, "255.255.255.255:" EXPORT);
}

static void test_mountinfo(void **state)
{
	(void)state;
	const char *src = "10.0.0.1:" EXPORT;
	const char *info = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
			   "40 22 0:33 / /mnt/data rw,nosuid,nodev,relatime shared:20 - nfs 10.0.0.1:" EXPORT
			   " rw,vers=3\n"
			   "41 22 0:34 / /mnt/with\\040space rw,relatime - nfs 10.0.0.1:" EXPORT " rw\n"
			   "42 22 0:35 / /mnt/other rw - nfs 10.0.0.2:" EXPORT " rw\n"
			   "43 22 0:36 / /mnt/v4 rw - nfs4 10.0.0.1:" EXPORT " rw\n"
			   "44 22 0:37 / /mnt/covered rw - nfs 10.0.0.1:" EXPORT " rw\n"
			   "45 44 0:38 / /mnt/covered rw - tmpfs tmpfs rw\n"
			   "46 22 0:39 / /mnt/short rw\n"
			   "47 22 0:40 / /mnt/tagged rw shared:3 master:2 - nfs 10.0.0.1:" EXPORT " rw";
	size_t len = strlen(info);
	assert_true(agent_mountinfo_has_nfs(info, len, "/mnt/data", src));
	assert_true(agent_mountinfo_has_nfs(info, len, "/mnt/with space", src));
	assert_true(agent_mountinfo_has_nfs(info, len, "/mnt/tagged", src)); /* the last line, no newline */
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/with\\040space", src));
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/other", src));   /* another server */
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/v4", src));      /* not NFSv3's type */
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/covered", src)); /* a mount on top */
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/short", src));
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt", src));
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/data/x", src));
	assert_false(agent_mountinfo_has_nfs(info, len, "/mnt/dat", src));
	assert_false(agent_mountinfo_has_nfs("", 0, "/mnt/data", src));
	/* A field longer than what it is compared with, with a NUL (escaped or
	 * not) right where that ends: no match, and no read past its end
	 * (found by fuzz_volume_mounts). */
	const char nul[] = "1 1 0:1 / /mnt/data\\000x rw - nfs 10.0.0.1:" EXPORT " rw\n"
			   "1 1 0:1 / /mnt/data\0x rw - nfs 10.0.0.1:" EXPORT " rw\n";
	assert_false(agent_mountinfo_has_nfs(nul, sizeof(nul) - 1, "/mnt/data", src));
}

/* The virtiofs form: a tag, readOnly, no server or export; beside NFS
 * entries, whose form is unchanged. */
static void test_virtiofs_good(void **state)
{
	(void)state;
	struct agent_mounts m;
	struct cove_err err = { 0 };
	assert_int_equal(parse("[{\"path\": \"/mnt/host\", \"type\": \"virtiofs\", \"tag\": \"cove-share-0\"},"
			       " {\"path\": \"/srv/ro\", \"type\": \"virtiofs\", \"tag\": \"a_b-9\", \"readOnly\": true},"
			       " {\"path\": \"/srv/rw\", \"type\": \"virtiofs\", \"tag\": \"x\", \"readOnly\": null,"
			       " \"server\": \"bad\"},"
			       " {\"path\": \"/mnt/nfs\", \"type\": \"nfs\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT
			       "\"}]",
			       &m, &err),
			 0);
	assert_int_equal(m.count, 4);
	assert_int_equal(m.mount[0].type, AGENT_MOUNT_VIRTIOFS);
	assert_string_equal(m.mount[0].tag, "cove-share-0");
	assert_false(m.mount[0].read_only);
	assert_true(m.mount[1].read_only);
	assert_false(m.mount[2].read_only);
	assert_int_equal(m.mount[3].type, AGENT_MOUNT_NFS);
	char source[AGENT_MOUNT_SOURCE_MAX];
	agent_mount_source(&m.mount[0], source);
	assert_string_equal(source, "cove-share-0");
	assert_string_equal(agent_mount_fstype(&m.mount[0]), "virtiofs");
	assert_string_equal(agent_mount_fstype(&m.mount[3]), "nfs");
	/* A tag of 36 characters, the most. */
	agent_mounts_free(&m);
	assert_int_equal(parse("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": "
			       "\"abcdefghijklmnopqrstuvwxyz0123456789\"}]",
			       &m, &err),
			 0);
	agent_mounts_free(&m);
}

static void expect_bad(const char *list, const char *msg)
{
	struct agent_mounts m = { .count = 99 };
	struct cove_err err = { 0 };
	assert_int_equal(parse(list, &m, &err), -EINVAL);
	assert_int_equal(m.count, 99);
	if (!strstr(err.msg, msg))
		fail_msg("'%s' does not say '%s'", err.msg, msg);
}

static void test_virtiofs_bad(void **state)
{
	(void)state;
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\"}]", "volumeMounts[0].tag: must be 1-36");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": \"\"}]", "volumeMounts[0].tag");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": 7}]", "volumeMounts[0].tag");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": \"Upper\"}]", "volumeMounts[0].tag");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": \"a b\"}]", "volumeMounts[0].tag");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": \"a\\u0000b\"}]", "volumeMounts[0].tag");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": "
		   "\"abcdefghijklmnopqrstuvwxyz0123456789a\"}]",
		   "volumeMounts[0].tag");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\", \"tag\": \"t\", \"readOnly\": \"yes\"}]",
		   "volumeMounts[0].readOnly: must be a boolean");
	expect_bad("[{\"path\": \"/m\", \"type\": \"9p\", \"tag\": \"t\"}]",
		   "volumeMounts[0].type: must be \"nfs\" or \"virtiofs\"");
	expect_bad("[{\"path\": \"/m\", \"type\": 1, \"tag\": \"t\"}]", "volumeMounts[0].type");
	expect_bad("[{\"path\": \"/m\", \"type\": \"virtiofs\\u0000\", \"tag\": \"t\"}]", "volumeMounts[0].type");
	/* The path rules hold for virtiofs too. */
	expect_bad("[{\"path\": \"/proc/x\", \"type\": \"virtiofs\", \"tag\": \"t\"}]", "volumeMounts[0].path");
	expect_bad("[{\"path\": \"m\", \"type\": \"virtiofs\", \"tag\": \"t\"}]", "volumeMounts[0].path");
	expect_bad("[{\"path\": \"/a/../b\", \"type\": \"virtiofs\", \"tag\": \"t\"}]", "volumeMounts[0].path");
	/* Nor may a share overlap an NFS volume. */
	expect_bad("[{\"path\": \"/mnt\", \"server\": \"10.0.0.1\", \"export\": \"" EXPORT "\"},"
		   " {\"path\": \"/mnt/x\", \"type\": \"virtiofs\", \"tag\": \"t\"}]",
		   "volumeMounts[1].path: is inside volumeMounts[0].path");
	/* An NFS entry still needs its server and export. */
	expect_bad("[{\"path\": \"/m\", \"type\": \"nfs\", \"tag\": \"t\"}]", "volumeMounts[0].server");
}

static void test_mountinfo_virtiofs(void **state)
{
	(void)state;
	const char *info = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
			   "40 22 0:33 / /mnt/host rw,nosuid,nodev,relatime - virtiofs cove-share-0 rw\n"
			   "41 22 0:34 / /mnt/nfs rw - nfs cove-share-0 rw\n";
	size_t len = strlen(info);
	assert_true(agent_mountinfo_has(info, len, "/mnt/host", "virtiofs", "cove-share-0"));
	assert_false(agent_mountinfo_has(info, len, "/mnt/host", "virtiofs", "cove-share-1"));
	assert_false(agent_mountinfo_has(info, len, "/mnt/host", "nfs", "cove-share-0"));
	assert_false(agent_mountinfo_has(info, len, "/mnt/nfs", "virtiofs", "cove-share-0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),      cmocka_unit_test(test_defaults_and_none),
		cmocka_unit_test(test_bad_paths), cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_bad_list),  cmocka_unit_test(test_source_and_options),
		cmocka_unit_test(test_mountinfo), cmocka_unit_test(test_virtiofs_good),
		cmocka_unit_test(test_virtiofs_bad), cmocka_unit_test(test_mountinfo_virtiofs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
