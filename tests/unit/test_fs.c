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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_one_file_system),
		cmocka_unit_test(test_copy_between_file_systems),
		cmocka_unit_test(test_copy_missing),
	};
	return cmocka_run_group_tests_name("fs", tests, NULL, NULL);
}
