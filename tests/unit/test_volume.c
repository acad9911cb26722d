/* Unit tests for src/volume: volumes kept in a real state directory (SQLite
 * and directories in a scratch directory); what open() finishes after a
 * crash; content paths normalized and kept beneath the volume (a symlink
 * loop, a tree swapped for a symlink); writes whole or not at all, also
 * with two writers at once; a tree deeper than a few hundred levels
 * removed; and the API's parsers of the volume routes. The SDK's view is
 * tests/e2b/coved/volumes.test.mjs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/request.h"
#include "common/fs.h"
#include "volume/volume.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-volume-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fs_remove_tree(dir, NULL);
	return 0;
}

static struct volumes *open_volumes(void)
{
	struct volumes *v = NULL;
	struct cove_err err = { 0 };
	if (volumes_open(dir, &v, &err) < 0)
		fail_msg("volumes_open: %s", err.msg);
	return v;
}

static struct volume_content *content(struct volumes *v, const struct volume_info *info)
{
	struct volume_content *c = NULL;
	struct cove_err err = { 0 };
	if (volume_open_content(v, info->id, info->token, &c, &err) < 0)
		fail_msg("volume_open_content: %s", err.msg);
	return c;
}

static void host_path(const struct volume_info *info, const char *rel, char *buf, size_t len)
{
	snprintf(buf, len, "%s/volumes/%s%s%s", dir, info->id, rel[0] ? "/" : "", rel);
}

static void write_file(struct volume_content *c, const char *path, const char *text)
{
	struct volume_write *w = NULL;
	struct volume_entry e;
	struct cove_err err = { 0 };
	if (volume_write_begin(c, path, NULL, true, &w, &err) < 0 || volume_write_data(w, text, strlen(text), &err) < 0 ||
	    volume_write_commit(w, &e, &err) < 0)
		fail_msg("write %s: %s", path, err.msg);
	volume_entry_clear(&e);
}

/* A crash between a row and its directory, or during a destroy: open()
 * makes the missing directory and removes what no row names. */
static void test_open_finishes(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "a", &a, &err), 0);
	assert_int_equal(volume_create(v, "a", &a, &err), -EEXIST);
	assert_int_equal(volume_create(v, "no/slash", &a, &err), -EINVAL);
	volumes_close(v);
	char p[512], orphan[512], gone[512];
	host_path(&a, "", p, sizeof(p));
	assert_int_equal(fs_remove_tree(p, &err), 0);
	snprintf(orphan, sizeof(orphan), "%s/volumes/vol_0123456789abcdef01234567", dir);
	snprintf(gone, sizeof(gone), "%s/volumes/.gone-vol_0123456789abcdef01234568", dir);
	assert_int_equal(mkdir(orphan, 0755), 0);
	assert_int_equal(mkdir(gone, 0755), 0);
	char sub[530];
	snprintf(sub, sizeof(sub), "%s/sub", gone);
	assert_int_equal(mkdir(sub, 0755), 0);
	v = open_volumes();
	struct stat st;
	host_path(&a, "", p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, VOLUME_DEFAULT_UID);
	assert_int_equal(stat(orphan, &st), -1);
	assert_int_equal(stat(gone, &st), -1);
	struct volume_info got;
	assert_int_equal(volume_get(v, a.id, &got, &err), 0);
	assert_string_equal(got.token, a.token);
	assert_int_equal(volume_destroy(v, a.id, &err), 0);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(volume_destroy(v, a.id, &err), -ENOENT);
	assert_int_equal(volume_get(v, "../etc", &got, &err), -ENOENT);
	volumes_close(v);
}

/* Paths as given are normalized; ".." may move inside, not out; a symlink
 * loop and a final ".." are errors, not hangs. */
static void test_paths(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "paths", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	struct volume_entry e;
	assert_int_equal(volume_mkdir(c, "//x/./y/", NULL, true, &e, &err), 0);
	assert_string_equal(e.path, "/x/y");
	assert_string_equal(e.name, "y");
	volume_entry_clear(&e);
	write_file(c, "x/y/../f.txt", "inside");
	assert_int_equal(volume_stat(c, "/x/f.txt", &e, &err), 0);
	assert_int_equal(e.size, 6);
	volume_entry_clear(&e);
	assert_int_equal(volume_stat(c, "/x/..", &e, &err), -EINVAL);
	assert_int_equal(volume_stat(c, "/../x", &e, &err), -EXDEV);
	char p[512];
	host_path(&a, "loop", p, sizeof(p));
	assert_int_equal(symlink("loop", p), 0);
	int fd;
	uint64_t size;
	assert_int_equal(volume_open_file(c, "/loop", &fd, &size, &err), -ELOOP);
	assert_int_equal(volume_stat(c, "/loop", &e, &err), 0);
	assert_int_equal(e.type, VOLUME_ENTRY_SYMLINK);
	assert_string_equal(e.target, "loop");
	volume_entry_clear(&e);
	/* A directory swapped for a symlink out: later calls never follow it. */
	host_path(&a, "x", p, sizeof(p));
	char aside[520];
	snprintf(aside, sizeof(aside), "%s.old", p);
	assert_int_equal(rename(p, aside), 0);
	assert_int_equal(symlink(dir, p), 0);
	assert_int_equal(volume_open_file(c, "/x/volumes", &fd, &size, &err), -EXDEV);
	assert_int_equal(volume_remove(c, "/x/volumes", &err), -EXDEV);
	assert_int_equal(volume_remove(c, "/x", &err), 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(volume_remove(c, "/", &err), -EINVAL);
	volume_content_close(c);
	volumes_close(v);
}

/* An aborted write leaves nothing; !replace keeps what is there. */
static void test_write_whole(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "writes", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	write_file(c, "/f", "first");
	struct volume_write *w = NULL;
	assert_int_equal(volume_write_begin(c, "/f", NULL, true, &w, &err), 0);
	assert_int_equal(volume_write_data(w, "half", 4, &err), 0);
	volume_write_abort(w);
	assert_int_equal(volume_write_begin(c, "/f", NULL, false, &w, &err), -EEXIST);
	assert_int_equal(volume_write_begin(c, "/", NULL, true, &w, &err), -EISDIR);
	int fd;
	uint64_t size;
	assert_int_equal(volume_open_file(c, "/f", &fd, &size, &err), 0);
	char buf[16] = { 0 };
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	close(fd);
	assert_string_equal(buf, "first");
	struct volume_entry e;
	assert_int_equal(volume_stat(c, "/", &e, &err), 0);
	assert_string_equal(e.path, "/");
	assert_int_equal(e.type, VOLUME_ENTRY_DIRECTORY);
	volume_entry_clear(&e);
	volume_content_close(c);
	volumes_close(v);
}

struct writer {
	struct volume_content *c;
	char fill;
	int rc;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	char chunk[4096];
	memset(chunk, wr->fill, sizeof(chunk));
	for (int round = 0; round < 20 && wr->rc == 0; round++) {
		struct volume_write *w = NULL;
		struct volume_entry e;
		struct cove_err err = { 0 };
		wr->rc = volume_write_begin(wr->c, "/shared/file", NULL, true, &w, &err);
		for (int i = 0; wr->rc == 0 && i < 64; i++)
			wr->rc = volume_write_data(w, chunk, sizeof(chunk), &err);
		if (wr->rc == 0)
			wr->rc = volume_write_commit(w, &e, &err);
		else
			volume_write_abort(w);
		if (wr->rc == 0)
			volume_entry_clear(&e);
	}
	return NULL;
}

static int count_entry(void *ctx, const struct volume_entry *e)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

/* Two writers of one path: a reader always finds one of them whole. */
static void test_two_writers(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "race", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	struct writer w1 = { c, 'a', 0 }, w2 = { c, 'b', 0 };
	pthread_t t1, t2;
	assert_int_equal(pthread_create(&t1, NULL, writer_main, &w1), 0);
	assert_int_equal(pthread_create(&t2, NULL, writer_main, &w2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(w1.rc, 0);
	assert_int_equal(w2.rc, 0);
	int fd;
	uint64_t size;
	assert_int_equal(volume_open_file(c, "/shared/file", &fd, &size, &err), 0);
	assert_int_equal(size, 64 * 4096);
	char *buf = malloc(size);
	assert_int_equal(read(fd, buf, size), (ssize_t)size);
	close(fd);
	for (size_t i = 1; i < size; i++)
		if (buf[i] != buf[0])
			fail_msg("mixed content at byte %zu", i);
	free(buf);
	/* No write's scratch file is left. */
	int listed = 0;
	struct cove_err lerr = { 0 };
	assert_int_equal(volume_list(c, "/shared", 1, count_entry, &listed, &lerr), 0);
	assert_int_equal(listed, 1);
	volume_content_close(c);
	volumes_close(v);
}

/* A tree 300 levels deep goes whole. */
static void test_deep_remove(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "deep", &a, &err), 0);
	char p[512];
	host_path(&a, "", p, sizeof(p));
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
		assert_true(fd >= 0);
	}
	close(fd);
	struct volume_content *c = content(v, &a);
	assert_int_equal(volume_remove(c, "/d", &err), 0);
	struct volume_entry e;
	assert_int_equal(volume_stat(c, "/d", &e, &err), -ENOENT);
	volume_content_close(c);
	volumes_close(v);
}

static const char *query_get(void *cls, const char *name)
{
	const char *const *kv = cls;
	for (; kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static int parse_query(const char *const *kv, struct api_volume_query *q)
{
	struct api_query in = { query_get, (void *)kv };
	struct cove_err err = { 0 };
	return api_volume_query_parse(&in, q, &err);
}

/* A literal and its length. */
#define S(text) text, strlen(text)

static void test_parsers(void **state)
{
	(void)state;
	struct api_volume_query q;
	const char *good[] = { "path", "/a", "depth", "3", "uid", "0", "gid", "4294967294", "mode", "493", "force", "false", NULL };
	assert_int_equal(parse_query(good, &q), 0);
	assert_int_equal(q.depth, 3);
	assert_true(q.attrs.has_uid && q.attrs.uid == 0 && q.attrs.gid == 4294967294u && q.attrs.mode == 0755);
	assert_true(q.has_force && !q.force);
	const char *bad[][4] = { { "depth", "0" },   { "depth", "33" }, { "uid", "-1" },	 { "uid", "4294967295" },
				 { "mode", "4096" }, { "mode", "0x1" }, { "force", "yes" }, { "path", "a\nb" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *kv[] = { "path", "/p", bad[i][0], bad[i][1], NULL };
		if (strcmp(bad[i][0], "path") == 0)
			kv[1] = bad[i][1];
		assert_int_equal(parse_query(kv, &q), -EINVAL);
	}
	const char *none[] = { "depth", "1", NULL };
	assert_int_equal(parse_query(none, &q), -EINVAL);
	struct volume_attrs at;
	struct cove_err err = { 0 };
	assert_int_equal(api_volume_attrs_parse(S("{}"), &at, &err), -EINVAL);
	assert_int_equal(api_volume_attrs_parse(S("{\"mode\": 511, \"uid\": null}"), &at, &err), 0);
	assert_true(at.has_mode && !at.has_uid && at.mode == 0777);
	assert_int_equal(api_volume_attrs_parse(S("{\"gid\": -2}"), &at, &err), -EINVAL);
	char name[VOLUME_NAME_MAX + 1];
	assert_int_equal(api_volume_body_parse(S("{\"name\": \"my-vol-1\"}"), name, &err), 0);
	assert_string_equal(name, "my-vol-1");
	assert_int_equal(api_volume_body_parse(S("{\"name\": \"a_b\"}"), name, &err), -EINVAL);
	assert_int_equal(api_volume_body_parse(S("{\"name\": \"a\\u0000b\"}"), name, &err), -EINVAL);
	assert_int_equal(api_volume_body_parse(S("[]"), name, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_finishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_remove, setup, teardown),
		cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
