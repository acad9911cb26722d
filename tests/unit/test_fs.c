/* Unit tests for src/common/fs.c's copies: holes stay holes, on one file
 * system (where copy_file_range over a whole file would write them out as
 * zeros) and between two (where the kernel copies nothing: by hand). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/fs.h"

#define SIZE (64 << 20)

static void write_at(const char *path, off_t off, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, s, strlen(s), off), (ssize_t)strlen(s));
	close(fd);
}

static void read_at(const char *path, off_t off, const char *want)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, strlen(want), off), (ssize_t)strlen(want));
	close(fd);
	assert_string_equal(buf, want);
}

/* A 64 MiB file with a few bytes at its start, in its middle and at its end. */
static void make_sparse(const char *path)
{
	write_at(path, 0, "start");
	write_at(path, 20 << 20, "middle");
	write_at(path, SIZE - 3, "end");
}

static void check_copy(const char *from, const char *to)
{
	struct cove_err err = { 0 };
	assert_int_equal(fs_copy_file(from, to, true, &err), 0);
	struct stat st;
	assert_int_equal(stat(to, &st), 0);
	assert_int_equal(st.st_size, SIZE);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* holes kept, not 64 MiB of zeros */
	assert_int_equal(st.st_mode & 07777, 0600);
	read_at(to, 0, "start");
	read_at(to, 20 << 20, "middle");
	read_at(to, SIZE - 3, "end");
	read_at(to, 10 << 20, ""); /* a hole reads as zeros: nothing to compare but its length */
	assert_int_equal(fs_copy_file(from, to, false, &err), -EEXIST);
	assert_non_null(strstr(err.msg, to));
}

static void test_copy_one_file_system(void **state)
{
	(void)state;
	char dir[] = "/var/tmp/cove-test-fs.XXXXXX", from[64], to[64];
	assert_non_null(mkdtemp(dir));
	snprintf(from, sizeof(from), "%s/from", dir);
	snprintf(to, sizeof(to), "%s/to", dir);
	make_sparse(from);
	check_copy(from, to);
	unlink(from);
	unlink(to);
	rmdir(dir);
}

static void test_copy_between_file_systems(void **state)
{
	(void)state;
	char shm[] = "/dev/shm/cove-test-fs.XXXXXX", dir[] = "/var/tmp/cove-test-fs.XXXXXX", from[64], to[64];
	if (!mkdtemp(shm))
		skip(); /* no /dev/shm here */
	assert_non_null(mkdtemp(dir));
	snprintf(from, sizeof(from), "%s/from", shm);
	snprintf(to, sizeof(to), "%s/to", dir);
	make_sparse(from);
	check_copy(from, to);
	unlink(from);
	unlink(to);
	rmdir(shm);
	rmdir(dir);
}

static void test_copy_missing(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	assert_int_equal(fs_copy_file("/nonexistent/cove-from", "/var/tmp/cove-never", false, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/cove-from"));
}

/* A sparse diff applied onto a file: its data blocks (zeros written as
 * data included) over the file's bytes, the file's other blocks as they
 * were, the file grown to the diff's size. */
static void test_overlay(void **state)
{
	(void)state;
	char base[] = "/tmp/test_fs.base.XXXXXX", diff[] = "/tmp/test_fs.diff.XXXXXX";
	int b = mkstemp(base), d = mkstemp(diff);
	assert_true(b >= 0 && d >= 0);
	close(b);
	close(d);
	write_at(base, 0, "base-start");
	write_at(base, 8 << 20, "base-middle");
	write_at(base, (16 << 20) - 9, "base-end!");
	write_at(diff, 8 << 20, "DIFF");
	char zeros[4] = { 0 };
	d = open(diff, O_WRONLY);
	assert_int_equal(pwrite(d, zeros, 4, 4 << 20), 4);
	assert_int_equal(ftruncate(d, 32 << 20), 0);
	close(d);
	write_at(base, 4 << 20, "keep");
	b = open(base, O_WRONLY);
	d = open(diff, O_RDONLY);
	assert_int_equal(fs_overlay_fd(d, b), 0);
	close(b);
	close(d);
	read_at(base, 0, "base-start");
	/* Whole blocks of the diff: what followed DIFF in its block is its zeros. */
	read_at(base, 8 << 20, "DIFF");
	char c = 'x';
	b = open(base, O_RDONLY);
	assert_int_equal(pread(b, &c, 1, (8 << 20) + 8), 1);
	assert_int_equal(c, 0);
	close(b);
	read_at(base, (16 << 20) - 9, "base-end!");
	char buf[4];
	b = open(base, O_RDONLY);
	assert_int_equal(pread(b, buf, 4, 4 << 20), 4);
	assert_memory_equal(buf, zeros, 4); /* written as zeros in the diff: zeros */
	struct stat st;
	assert_int_equal(fstat(b, &st), 0);
	assert_int_equal(st.st_size, 32 << 20);
	close(b);
	unlink(base);
	unlink(diff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_one_file_system),
		cmocka_unit_test(test_copy_between_file_systems),
		cmocka_unit_test(test_copy_missing),
		cmocka_unit_test(test_overlay),
	};
	return cmocka_run_group_tests_name("fs", tests, NULL, NULL);
}
