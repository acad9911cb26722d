/* Unit tests for starting children (src/common/spawn.c). The children are
 * this program again (/proc/self/exe --child MODE ...), so what they see
 * (descriptors, signals, session, directory) can be reported exactly. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/spawn.h"

/* --- the child's side --- */

/* The open descriptors, in order, but the one listing them. */
static int child_list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 2;
	int fds[256], n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 256)
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			fds[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", fds[i]);
	printf("\n");
	return 0;
}

static int child_main(int argc, char **argv)
{
	const char *mode = argv[2];
	if (strcmp(mode, "exit") == 0)
		return atoi(argv[3]);
	if (strcmp(mode, "raise") == 0) {
		raise(atoi(argv[3]));
		return 99;
	}
	if (strcmp(mode, "fds") == 0)
		return child_list_fds();
	if (strcmp(mode, "spew") == 0) {
		static char x[100000];
		memset(x, 'x', sizeof(x));
		fwrite(x, 1, sizeof(x), stdout);
		fputs("to stderr", stderr);
		return 0;
	}
	if (strcmp(mode, "inodes") == 0) { /* of 3 and 4 */
		struct stat a, b;
		if (fstat(3, &a) < 0 || fstat(4, &b) < 0)
			return 2;
		printf("%lu %lu\n", (unsigned long)a.st_ino, (unsigned long)b.st_ino);
		return 0;
	}
	if (strcmp(mode, "cat") == 0) {
		char buf[256];
		ssize_t n;
		while ((n = read(0, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		return 0;
	}
	if (strcmp(mode, "whoami") == 0) { /* session leader? directory, FOO, SIGTERM blocked? */
		char cwd[PATH_MAX];
		sigset_t set;
		sigprocmask(SIG_SETMASK, NULL, &set);
		printf("%d %s %s %d\n", getsid(0) == getpid(), getcwd(cwd, sizeof(cwd)) ? cwd : "?",
		       getenv("FOO") ? getenv("FOO") : "-", sigismember(&set, SIGTERM));
		return 0;
	}
	(void)argc;
	return 100;
}

/* --- the tests --- */

static char *child_argv[8];

static struct spawn_options child(const char *mode, const char *arg)
{
	child_argv[0] = "test_spawn";
	child_argv[1] = "--child";
	child_argv[2] = (char *)mode;
	child_argv[3] = (char *)arg;
	child_argv[4] = NULL;
	return (struct spawn_options){ .path = "/proc/self/exe", .argv = child_argv,
				       .stdio = { { SPAWN_NULL }, { SPAWN_PIPE }, { SPAWN_INHERIT } } };
}

static void test_exit_code(void **state)
{
	(void)state;
	struct spawn_options o = child("exit", "3");
	int status = spawn_run(&o, NULL, NULL, NULL);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
}

/* A readable cancel descriptor kills the child and says so; an unread one
 * changes nothing. */
static void test_cancel(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *const argv[] = { "/bin/sleep", "30", NULL };
	struct spawn_options o = { .path = "/bin/sleep", .argv = argv,
				   .stdio = { { SPAWN_NULL }, { SPAWN_PIPE }, { SPAWN_PIPE } } };
	struct spawn_options quick = child("exit", "4");
	int status = spawn_run_cancellable(&quick, NULL, NULL, p[0], NULL);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 4);
	assert_int_equal(write(p[1], "x", 1), 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(spawn_run_cancellable(&o, NULL, NULL, p[0], NULL), -ECANCELED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	close(p[0]);
	close(p[1]);
}

/* The caller's blocked and ignored signals are not passed on. */
static void test_killed_by_signal(void **state)
{
	(void)state;
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	struct sigaction ign = { .sa_handler = SIG_IGN }, was;
	sigaction(SIGTERM, &ign, &was);
	struct spawn_options o = child("raise", "15");
	int status = spawn_run(&o, NULL, NULL, NULL);
	sigaction(SIGTERM, &was, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

static void test_missing_program(void **state)
{
	(void)state;
	struct spawn_options o = child("exit", "0");
	o.path = "/nonexistent/cove-test-program";
	struct spawn_failure f = { 0 };
	assert_int_equal(spawn_run(&o, NULL, NULL, &f), -ENOENT);
	assert_int_equal(f.step, SPAWN_STEP_EXEC);
	assert_int_equal(f.err, ENOENT);
	assert_true(f.pid > 0);
	/* Reaped: nothing is left to wait for. */
	assert_int_equal(waitpid(f.pid, NULL, WNOHANG), -1);
	o.path = "/tmp"; /* not executable */
	assert_int_equal(spawn_run(&o, NULL, NULL, &f), -EACCES);
}

/* 100000 bytes into a 1000-byte buffer: 999 kept, the rest read and
 * dropped (the child is not blocked on a full pipe), stderr apart. */
static void test_capture_bounded(void **state)
{
	(void)state;
	struct spawn_options o = child("spew", NULL);
	o.stdio[2].mode = SPAWN_PIPE;
	char out[1000], err[64];
	struct spawn_capture co = { out, sizeof(out) }, ce = { err, sizeof(err) };
	int status = spawn_run(&o, &co, &ce, NULL);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(co.len, sizeof(out) - 1);
	assert_true(co.truncated);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_string_equal(err, "to stderr");
	assert_false(ce.truncated);
}

static void test_nothing_leaks(void **state)
{
	(void)state;
	/* Made without CLOEXEC, as a careless caller (or library) might. */
	int stray = open("/dev/null", O_RDONLY);
	assert_true(stray >= 0);
	struct spawn_options o = child("fds", NULL);
	char out[256];
	struct spawn_capture co = { out, sizeof(out) };
	assert_int_equal(spawn_run(&o, &co, NULL, NULL), 0);
	assert_string_equal(out, "0 1 2\n");
	int pass[] = { stray };
	o.pass_fds = pass;
	o.npass_fds = 1;
	assert_int_equal(spawn_run(&o, &co, NULL, NULL), 0);
	assert_string_equal(out, "0 1 2 3\n");
	close(stray);
}

/* Passed in the opposite order of their numbers: each lands where asked
 * (3 gets what was at the higher number, 4 what was at the lower). */
static void test_passed_descriptors(void **state)
{
	(void)state;
	int a = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), b = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(a >= 0 && b > a);
	struct stat sa, sb;
	fstat(a, &sa);
	fstat(b, &sb);
	struct spawn_options o = child("inodes", NULL);
	int pass[] = { b, a };
	o.pass_fds = pass;
	o.npass_fds = 2;
	char out[128], want[128];
	struct spawn_capture co = { out, sizeof(out) };
	assert_int_equal(spawn_run(&o, &co, NULL, NULL), 0);
	snprintf(want, sizeof(want), "%lu %lu\n", (unsigned long)sb.st_ino, (unsigned long)sa.st_ino);
	assert_string_equal(out, want);
	close(a);
	close(b);
}

static void test_stdin_pipe_and_pidfd(void **state)
{
	(void)state;
	struct spawn_options o = child("cat", NULL);
	o.stdio[0].mode = SPAWN_PIPE;
	struct spawn_child c;
	assert_int_equal(spawn_start(&o, &c, NULL), 0);
	assert_true(c.pidfd >= 0 && c.stdio[0] >= 0 && c.stdio[1] >= 0 && c.stdio[2] == -1);
	assert_int_equal(fcntl(c.stdio[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(write(c.stdio[0], "hello", 5), 5);
	close(c.stdio[0]);
	c.stdio[0] = -1;
	char buf[16] = "";
	ssize_t n = 0, got;
	while ((got = read(c.stdio[1], buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += got;
	assert_string_equal(buf, "hello");
	struct pollfd p = { c.pidfd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 5000), 1);
	int status = -1;
	assert_int_equal(spawn_wait(&c, &status), 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(c.pidfd, -1);
}

static int setup_fails(void *data, struct spawn_failure *f)
{
	(void)data;
	f->step = SPAWN_STEP_CALLER + 2;
	f->index = 5;
	return -EPERM;
}

static int setup_marks(void *data, struct spawn_failure *f)
{
	(void)f;
	/* After setsid, before the directory change: the child's own. */
	return getsid(0) == getpid() && chdir(data) == 0 ? 0 : -EINVAL;
}

static void test_setup_setsid_cwd_env(void **state)
{
	(void)state;
	struct spawn_options o = child("whoami", NULL);
	char *envp[] = { "FOO=bar", NULL };
	o.envp = envp;
	o.setsid = true;
	o.cwd = "/tmp";
	o.setup = setup_marks;
	o.setup_data = "/";
	o.parent_death_signal = SIGKILL;
	char out[PATH_MAX + 32];
	struct spawn_capture co = { out, sizeof(out) };
	assert_int_equal(spawn_run(&o, &co, NULL, NULL), 0);
	assert_string_equal(out, "1 /tmp bar 0\n");
	o.setup = setup_fails;
	struct spawn_failure f = { 0 };
	assert_int_equal(spawn_run(&o, &co, NULL, &f), -EPERM);
	assert_int_equal(f.step, SPAWN_STEP_CALLER + 2);
	assert_int_equal(f.index, 5);
	o.setup = NULL;
	o.cwd = "/nonexistent";
	assert_int_equal(spawn_run(&o, &co, NULL, &f), -ENOENT);
	assert_int_equal(f.step, SPAWN_STEP_CHDIR);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct spawn_options o = child("exit", "0");
	o.stdio[1] = (struct spawn_stdio){ SPAWN_FD, -1 };
	struct spawn_failure f = { 0 };
	assert_int_equal(spawn_run(&o, NULL, NULL, &f), -EBADF);
	assert_int_equal(f.step, SPAWN_STEP_BADFD);
	assert_int_equal(f.index, 1);
	int many[SPAWN_MAX_PASS_FDS + 1] = { 0 };
	o = child("exit", "0");
	o.pass_fds = many;
	o.npass_fds = SPAWN_MAX_PASS_FDS + 1;
	assert_int_equal(spawn_run(&o, NULL, NULL, &f), -E2BIG);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_capture_bounded),
		cmocka_unit_test(test_nothing_leaks),
		cmocka_unit_test(test_passed_descriptors),
		cmocka_unit_test(test_stdin_pipe_and_pidfd),
		cmocka_unit_test(test_setup_setsid_cwd_env),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
