/* The guest agent run directly on the host, bound to loopback: the same
 * binary that runs in guests, driven through the host's client (agent_exec)
 * without booting anything. Fast, so it can cover more cases. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/agent.h"

static pid_t agent_pid;
static struct agent_endpoint ep = { .netns_fd = -1, .address = "127.0.0.1" };

struct capture {
	char *out, *err;
	size_t out_len, err_len;
};

static int capture(void *ctx, enum process_stream stream, const uint8_t *data, size_t len)
{
	struct capture *c = ctx;
	char **buf = stream == PROCESS_STDERR ? &c->err : &c->out;
	size_t *n = stream == PROCESS_STDERR ? &c->err_len : &c->out_len;
	char *nb = realloc(*buf, *n + len + 1);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + *n, data, len);
	*n += len;
	nb[*n] = '\0';
	*buf = nb;
	return 0;
}

static void capture_free(struct capture *c)
{
	free(c->out);
	free(c->err);
	memset(c, 0, sizeof(*c));
}

static int run(const char *const *argv, const char *const *envs, const char *cwd, struct capture *c,
	       struct agent_exec_result *res, struct cove_err *err)
{
	memset(c, 0, sizeof(*c));
	struct agent_exec_request req = { .argv = argv, .envs = envs, .cwd = cwd, .on_output = capture, .ctx = c };
	return agent_exec(&ep, &req, res, -1, err);
}

static int start_agent(void **state)
{
	(void)state;
	const char *build = getenv("COVE_BUILD");
	char path[512];
	snprintf(path, sizeof(path), "%s/bin/cove-agent", build ? build : "build");
	int p[2];
	if (pipe(p) < 0)
		return -1;
	agent_pid = fork();
	if (agent_pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(path, path, "--listen", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char line[128] = "";
	FILE *f = fdopen(p[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || sscanf(line, "cove-agent: listening on port %u", &ep.port) != 1) {
		fprintf(stderr, "agent %s did not start: '%s'\n", path, line);
		return -1;
	}
	fclose(f);
	return 0;
}

static int stop_agent(void **state)
{
	(void)state;
	kill(agent_pid, SIGTERM);
	waitpid(agent_pid, NULL, 0);
	return 0;
}

static void test_agent_streams_and_exit_code(void **state)
{
	(void)state;
	struct capture c;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 7", NULL };
	assert_int_equal(run(argv, NULL, NULL, &c, &res, &err), 0);
	assert_string_equal(c.out, "out\n");
	assert_string_equal(c.err, "err\n");
	assert_true(res.exited);
	assert_int_equal(res.exit_code, 7);
	capture_free(&c);
}

static void test_agent_env_cwd_and_path_lookup(void **state)
{
	(void)state;
	struct capture c;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "sh", "-c", "echo \"$A|$B\"; pwd", NULL };
	const char *envs[] = { "A=1", "B=two words", NULL };
	assert_int_equal(run(argv, envs, "/tmp", &c, &res, &err), 0);
	assert_string_equal(c.out, "1|two words\n/tmp\n");
	capture_free(&c);
}

static void test_agent_start_errors(void **state)
{
	(void)state;
	struct capture c;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *missing[] = { "cove-no-such-command", NULL };
	assert_int_equal(run(missing, NULL, NULL, &c, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cove-no-such-command"));
	char path[] = "/tmp/cove-agent-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x01\x02", 2), 2);
	close(fd);
	const char *not_exec[] = { path, NULL };
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(run(not_exec, NULL, NULL, &c, &res, &err), -EACCES);
	/* Executable bits on something that is no program: cannot execute. */
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(run(not_exec, NULL, NULL, &c, &res, &err), -EACCES);
	unlink(path);
	const char *ok[] = { "true", NULL };
	assert_int_equal(run(ok, NULL, "/no/such/dir", &c, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/no/such/dir"));
	capture_free(&c);
}

static void test_agent_streams_megabytes(void **state)
{
	(void)state;
	struct capture c;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	/* 8 MiB on stdout and 1 MiB on stderr at once: both pipes must keep moving. */
	const char *argv[] = { "sh", "-c", "head -c 1048576 /dev/zero >&2 & head -c 8388608 /dev/zero; wait", NULL };
	assert_int_equal(run(argv, NULL, NULL, &c, &res, &err), 0);
	assert_int_equal(c.out_len, 8388608);
	assert_int_equal(c.err_len, 1048576);
	assert_int_equal(res.exit_code, 0);
	capture_free(&c);
}

static void test_agent_reports_signals(void **state)
{
	(void)state;
	struct capture c;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "sh", "-c", "kill -KILL $$", NULL };
	assert_int_equal(run(argv, NULL, NULL, &c, &res, &err), 0);
	assert_false(res.exited);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.signal, SIGKILL);
	assert_string_equal(res.status, "signal: killed");
	capture_free(&c);
}

static void test_agent_background_child_does_not_hold_stream(void **state)
{
	(void)state;
	struct capture c;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	/* The background sleep keeps stdout open; the stream still ends when sh does. */
	const char *argv[] = { "sh", "-c", "sleep 30 & echo started", NULL };
	assert_int_equal(run(argv, NULL, NULL, &c, &res, &err), 0);
	assert_string_equal(c.out, "started\n");
	capture_free(&c);
}

static void test_agent_never_misses_output_of_instant_commands(void **state)
{
	(void)state;
	/* The stream must be subscribed before the process can exit: once the
	 * output of a command this quick was lost (found by agent_http.sh). */
	for (int i = 0; i < 100; i++) {
		struct capture c;
		struct agent_exec_result res;
		struct cove_err err = { 0 };
		const char *argv[] = { "echo", "x", NULL };
		assert_int_equal(run(argv, NULL, NULL, &c, &res, &err), 0);
		assert_non_null(c.out);
		assert_string_equal(c.out, "x\n");
		capture_free(&c);
	}
}

static void test_agent_serves_concurrent_commands(void **state)
{
	(void)state;
	/* Ten clients at once, each its own process: forked so they overlap. */
	pid_t kids[10];
	for (int i = 0; i < 10; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct capture c;
			struct agent_exec_result res;
			struct cove_err err = { 0 };
			char script[64];
			snprintf(script, sizeof(script), "sleep 0.2; echo %d", i);
			const char *argv[] = { "sh", "-c", script, NULL };
			char want[8];
			snprintf(want, sizeof(want), "%d\n", i);
			int ok = run(argv, NULL, NULL, &c, &res, &err) == 0 && c.out && strcmp(c.out, want) == 0;
			_exit(ok ? 0 : 1);
		}
	}
	for (int i = 0; i < 10; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_streams_and_exit_code),
		cmocka_unit_test(test_agent_env_cwd_and_path_lookup),
		cmocka_unit_test(test_agent_start_errors),
		cmocka_unit_test(test_agent_streams_megabytes),
		cmocka_unit_test(test_agent_reports_signals),
		cmocka_unit_test(test_agent_background_child_does_not_hold_stream),
		cmocka_unit_test(test_agent_never_misses_output_of_instant_commands),
		cmocka_unit_test(test_agent_serves_concurrent_commands),
	};
	return cmocka_run_group_tests_name("agent_host", tests, start_agent, stop_agent);
}
