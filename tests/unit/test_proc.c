/* Unit tests for process identity and pidfds (src/common/proc.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/proc.h"

/* A /proc/PID/stat line for comm with 52 fields; field 22 is start_time.
 * Fields 4..21 hold 4..21 so a parser off by one field is caught. */
static void stat_line(char *buf, size_t len, const char *comm, const char *start_time)
{
	int n = snprintf(buf, len, "1234 (%s) S", comm);
	for (int field = 4; field <= 21; field++)
		n += snprintf(buf + n, len - (size_t)n, " %d", field);
	n += snprintf(buf + n, len - (size_t)n, " %s", start_time);
	for (int field = 23; field <= 52; field++)
		n += snprintf(buf + n, len - (size_t)n, " %d", field * 1000);
	snprintf(buf + n, len - (size_t)n, "\n");
}

static uint64_t parse_ok(const char *text)
{
	uint64_t v = 0;
	int r = proc_stat_parse_start_time(text, &v);
	if (r != 0)
		fail_msg("proc_stat_parse_start_time('%s') returned %d", text, r);
	return v;
}

/* Forks a child that waits until the returned pipe end is closed. */
static pid_t fork_blocked_child(int *release_fd)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		char c;
		_exit(read(p[0], &c, 1) == 0 ? 0 : 1);
	}
	close(p[0]);
	*release_fd = p[1];
	return pid;
}

static void reap(pid_t pid, int expected_exit)
{
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), expected_exit);
}

static void test_proc_stat_parses_start_time(void **state)
{
	(void)state;
	char line[512];
	stat_line(line, sizeof(line), "bash", "987654321");
	assert_int_equal(parse_ok(line), 987654321);
	stat_line(line, sizeof(line), "x", "0");
	assert_int_equal(parse_ok(line), 0);
	stat_line(line, sizeof(line), "kworker/0:1H-kblockd", "18446744073709551615");
	assert_true(parse_ok(line) == UINT64_MAX);
}

static void test_proc_stat_comm_with_spaces_and_parens(void **state)
{
	(void)state;
	char line[512];
	/* A comm may contain ") S 1 2" itself: only the last ')' ends it. */
	stat_line(line, sizeof(line), "a) b (c)", "4242");
	assert_int_equal(parse_ok(line), 4242);
	stat_line(line, sizeof(line), "x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 99", "31337");
	assert_int_equal(parse_ok(line), 31337);
	stat_line(line, sizeof(line), ")", "7");
	assert_int_equal(parse_ok(line), 7);
}

static void test_proc_stat_field_22_at_end(void **state)
{
	(void)state;
	/* Older kernels end sooner; field 22 may be the last, with or without '\n'. */
	char line[256] = "1 (init) S";
	for (int field = 4; field <= 21; field++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %d", field);
	strcat(line, " 555");
	assert_int_equal(parse_ok(line), 555);
	strcat(line, "\n");
	assert_int_equal(parse_ok(line), 555);
}

static void test_proc_stat_rejects_truncated(void **state)
{
	(void)state;
	uint64_t v = 77;
	assert_int_equal(proc_stat_parse_start_time("1234 (sh) S 1 2 3", &v), -EINVAL);
	/* 21 fields: one short of the start time. */
	char line[256] = "1 (init) S";
	for (int field = 4; field <= 21; field++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %d", field);
	assert_int_equal(proc_stat_parse_start_time(line, &v), -EINVAL);
	assert_int_equal(proc_stat_parse_start_time("1234 sh S 1 2 3", &v), -EINVAL);
	assert_int_equal(proc_stat_parse_start_time("", &v), -EINVAL);
	/* Ends right after the comm: once read past the terminator (ASan). */
	assert_int_equal(proc_stat_parse_start_time("1234 (sh)", &v), -EINVAL);
	assert_int_equal(v, 77);
}

static void test_proc_stat_rejects_non_numeric(void **state)
{
	(void)state;
	char line[512];
	uint64_t v = 77;
	const char *bad[] = { "abc", "12x", "x12", "99999999999999999999999", "-5", "+5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		stat_line(line, sizeof(line), "sh", bad[i]);
		if (proc_stat_parse_start_time(line, &v) != -EINVAL)
			fail_msg("start time '%s' was accepted", bad[i]);
	}
	assert_int_equal(v, 77);
}

static void test_proc_identity_of_self(void **state)
{
	(void)state;
	struct proc_identity id;
	struct cove_err err = { 0 };
	assert_int_equal(proc_identity_read(getpid(), &id, &err), 0);
	assert_int_equal(id.pid, getpid());
	assert_true(id.start_time > 0);
	assert_true(proc_identity_matches(&id));
	/* Reading again gives the same identity. */
	struct proc_identity again;
	assert_int_equal(proc_identity_read(getpid(), &again, NULL), 0);
	assert_true(again.start_time == id.start_time);
}

static void test_proc_identity_other_start_time_differs(void **state)
{
	(void)state;
	struct proc_identity id;
	assert_int_equal(proc_identity_read(getpid(), &id, NULL), 0);
	id.start_time += 1;
	assert_false(proc_identity_matches(&id));
	id.start_time -= 2;
	assert_false(proc_identity_matches(&id));
	struct proc_identity none = { .pid = 0, .start_time = 0 };
	assert_false(proc_identity_matches(&none));
}

static void test_proc_identity_of_reaped_child(void **state)
{
	(void)state;
	int release;
	pid_t pid = fork_blocked_child(&release);
	struct proc_identity id;
	assert_int_equal(proc_identity_read(pid, &id, NULL), 0);
	assert_true(proc_identity_matches(&id));
	close(release);
	reap(pid, 0);
	assert_false(proc_identity_matches(&id));
}

static void test_proc_identity_of_zombie_child(void **state)
{
	(void)state;
	int release;
	pid_t pid = fork_blocked_child(&release);
	struct proc_identity id;
	assert_int_equal(proc_identity_read(pid, &id, NULL), 0);
	close(release);
	/* Exited but not yet reaped: still in /proc, but no longer alive. */
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_false(proc_identity_matches(&id));
	reap(pid, 0);
}

static void test_proc_identity_missing_pid(void **state)
{
	(void)state;
	/* pids are always below pid_max, so this one never exists. */
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
	assert_non_null(f);
	int pid_max = 0;
	assert_int_equal(fscanf(f, "%d", &pid_max), 1);
	fclose(f);
	struct proc_identity id = { .pid = 99, .start_time = 99 };
	struct cove_err err = { 0 };
	assert_int_equal(proc_identity_read(pid_max, &id, &err), -ESRCH);
	assert_int_equal(err.code, -ESRCH);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid_max);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(id.pid, 99);
}

static void test_proc_pidfd_wait_for_exit(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		_exit(7);
	}
	int pidfd = proc_pidfd_open(pid);
	assert_true(pidfd >= 0);
	assert_int_equal(proc_pidfd_wait(pidfd, 0), 0);
	int64_t t0 = now_ms();
	assert_int_equal(proc_pidfd_wait(pidfd, 2000), 1);
	assert_true(now_ms() - t0 < 2000);
	/* Exited and not yet reaped: still readable. */
	assert_int_equal(proc_pidfd_wait(pidfd, 0), 1);
	reap(pid, 7);
	close(pidfd);
}

static void test_proc_pidfd_wait_times_out(void **state)
{
	(void)state;
	int release;
	pid_t pid = fork_blocked_child(&release);
	int pidfd = proc_pidfd_open(pid);
	assert_true(pidfd >= 0);
	int64_t t0 = now_ms();
	assert_int_equal(proc_pidfd_wait(pidfd, 30), 0);
	assert_true(now_ms() - t0 >= 29);
	close(release);
	assert_int_equal(proc_pidfd_wait(pidfd, 2000), 1);
	reap(pid, 0);
	close(pidfd);
}

static void test_proc_identity_pidfd_checks_start_time(void **state)
{
	(void)state;
	int release;
	pid_t pid = fork_blocked_child(&release);
	struct proc_identity id;
	assert_int_equal(proc_identity_read(pid, &id, NULL), 0);
	int fd = -1;
	assert_int_equal(proc_identity_pidfd(&id, &fd, NULL), 0);
	assert_true(fd >= 0);
	struct proc_identity stale = id;
	stale.start_time += 1;
	int fd2 = -1;
	struct cove_err err = { 0 };
	assert_int_equal(proc_identity_pidfd(&stale, &fd2, &err), -ESRCH);
	assert_int_equal(fd2, -1);
	close(release);
	assert_int_equal(proc_pidfd_wait(fd, 2000), 1);
	reap(pid, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_stat_parses_start_time),
		cmocka_unit_test(test_proc_stat_comm_with_spaces_and_parens),
		cmocka_unit_test(test_proc_stat_field_22_at_end),
		cmocka_unit_test(test_proc_stat_rejects_truncated),
		cmocka_unit_test(test_proc_stat_rejects_non_numeric),
		cmocka_unit_test(test_proc_identity_of_self),
		cmocka_unit_test(test_proc_identity_other_start_time_differs),
		cmocka_unit_test(test_proc_identity_of_reaped_child),
		cmocka_unit_test(test_proc_identity_of_zombie_child),
		cmocka_unit_test(test_proc_identity_missing_pid),
		cmocka_unit_test(test_proc_pidfd_wait_for_exit),
		cmocka_unit_test(test_proc_pidfd_wait_times_out),
		cmocka_unit_test(test_proc_identity_pidfd_checks_start_time),
	};
	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
