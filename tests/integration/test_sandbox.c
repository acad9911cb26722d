/* Sandboxes booted for real: QEMU microvm under the accelerator the probe
 * picks, the guest kernel and tiny image from the build, the agent reached
 * from inside the sandbox's network namespace. */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/proc.h"
#include "harness.h"

static struct harness h;
static struct sandbox *shared; /* one booted sandbox for the exec tests */

static int exec_in(struct sandbox *sb, const char *const *argv, const char *const *envs, const char *cwd,
		   struct capture *cap, struct agent_exec_result *res, struct cove_err *err)
{
	memset(cap, 0, sizeof(*cap));
	struct agent_exec_request req = { .argv = argv, .envs = envs, .cwd = cwd, .on_output = capture_output, .ctx = cap };
	return sandbox_exec(sb, &req, res, err);
}

static int boot_shared(void **state)
{
	(void)state;
	struct sandbox_config c;
	harness_config(&h, &c);
	struct cove_err err = { 0 };
	int r = sandbox_start(&c, &shared, &err);
	if (r < 0)
		fprintf(stderr, "boot failed: %s\n", err.msg);
	return r < 0 ? -1 : 0;
}

static int free_shared(void **state)
{
	(void)state;
	shared = sandbox_free(shared);
	return 0;
}

static void test_exec_separates_streams_and_exit_code(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), 0);
	assert_string_equal(cap.out, "out\n");
	assert_string_equal(cap.err, "err\n");
	assert_true(res.exited);
	assert_int_equal(res.exit_code, 3);
	assert_string_equal(res.status, "exit status 3");
	assert_true(res.pid > 1);
}

static void test_exec_runs_guest_kernel(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "uname", "-r", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), 0);
	assert_int_equal(strncmp(cap.out, "6.1.", 4), 0);
	assert_int_equal(res.exit_code, 0);
}

static void test_exec_env_and_cwd(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "sh", "-c", "echo \"$GREETING\"; pwd; echo $HOME", NULL };
	const char *envs[] = { "GREETING=hello there", NULL };
	assert_int_equal(exec_in(shared, argv, envs, "/tmp", &cap, &res, &err), 0);
	assert_string_equal(cap.out, "hello there\n/tmp\n/root\n");
}

static void test_exec_not_found_is_enoent(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "no-such-command", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no-such-command"));
	const char *bad_cwd[] = { "true", NULL };
	assert_int_equal(exec_in(shared, bad_cwd, NULL, "/does/not/exist", &cap, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/does/not/exist"));
	const char *not_exec[] = { "/etc/passwd", NULL };
	assert_int_equal(exec_in(shared, not_exec, NULL, NULL, &cap, &res, &err), -EACCES);
}

static void test_exec_reports_signal(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "sh", "-c", "kill -TERM $$", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), 0);
	assert_false(res.exited);
	assert_int_equal(res.signal, SIGTERM);
	assert_string_equal(res.status, "signal: terminated");
}

static void test_exec_streams_large_output(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	/* 40000 bytes: more than one 32 KiB read, less than the capture buffer. */
	const char *argv[] = { "sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), 0);
	assert_int_equal(cap.out_len, 40000);
	assert_int_equal(strspn(cap.out, "x"), 40000);
}

static void test_agent_needs_the_sandbox_token(void **state)
{
	(void)state;
	/* The same agent, reached without the token /init gave it. */
	struct agent_endpoint ep = { sandbox_netns_fd(shared), "169.254.0.21", ENVD_PORT, NULL };
	const char *argv[] = { "true", NULL };
	struct agent_exec_request req = { .argv = argv };
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	assert_int_equal(agent_exec(&ep, &req, &res, -1, &err), -EPERM);
	ep.token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	assert_int_equal(agent_exec(&ep, &req, &res, -1, &err), -EPERM);
}

static void test_guest_clock_is_the_hosts(void **state)
{
	(void)state;
	struct capture cap;
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	const char *argv[] = { "date", "+%s", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), 0);
	long long guest = atoll(cap.out), host = (long long)time(NULL);
	assert_true(guest >= host - 2 && guest <= host + 2);
}

static void test_pause_and_resume(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct vmm *vm = sandbox_vmm(shared);
	assert_int_equal(sandbox_pause(shared, &err), 0);
	assert_int_equal(vmm_state(vm), VMM_STATE_PAUSED);
	/* A paused guest answers nothing: the agent must not be reachable. */
	assert_int_equal(vmm_pause(vm, &err), 0); /* pausing twice is harmless */
	assert_int_equal(sandbox_resume(shared, &err), 0);
	assert_int_equal(vmm_state(vm), VMM_STATE_RUNNING);
	struct capture cap;
	struct agent_exec_result res;
	const char *argv[] = { "echo", "after resume", NULL };
	assert_int_equal(exec_in(shared, argv, NULL, NULL, &cap, &res, &err), 0);
	assert_string_equal(cap.out, "after resume\n");
}

static struct sandbox *boot(void)
{
	struct sandbox_config c;
	harness_config(&h, &c);
	struct sandbox *sb = NULL;
	struct cove_err err = { 0 };
	if (sandbox_start(&c, &sb, &err) < 0)
		fail_msg("boot: %s", err.msg);
	return sb;
}

static void test_kill9_is_noticed_and_cleaned_up(void **state)
{
	(void)state;
	struct sandbox *sb = boot();
	struct vmm *vm = sandbox_vmm(sb);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/%s", h.run_dir, sandbox_id(sb));
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(kill(vmm_identity(vm)->pid, SIGKILL), 0);
	int64_t deadline = now_ms() + 5000;
	while (vmm_state(vm) != VMM_STATE_STOPPED && now_ms() < deadline)
		usleep(10000);
	assert_int_equal(vmm_state(vm), VMM_STATE_STOPPED);
	assert_true(WIFSIGNALED(vmm_exit_status(vm)));
	assert_int_equal(WTERMSIG(vmm_exit_status(vm)), SIGKILL);
	assert_int_not_equal(stat(dir, &st), 0);
	assert_false(proc_identity_matches(vmm_identity(vm)));
	struct cove_err err = { 0 };
	struct capture cap;
	struct agent_exec_result res;
	const char *argv[] = { "true", NULL };
	assert_true(exec_in(sb, argv, NULL, NULL, &cap, &res, &err) < 0);
	assert_int_equal(vmm_pause(vm, &err), -ESRCH);
	sandbox_free(sb);
}

static void test_stop_powers_guest_off(void **state)
{
	(void)state;
	struct sandbox *sb = boot();
	struct vmm *vm = sandbox_vmm(sb);
	struct cove_err err = { 0 };
	int64_t t0 = now_ms();
	assert_int_equal(sandbox_stop(sb, &err), 0);
	/* QEMU exits 0 when the guest powers itself off; a signal would show. */
	assert_true(WIFEXITED(vmm_exit_status(vm)));
	assert_int_equal(WEXITSTATUS(vmm_exit_status(vm)), 0);
	assert_true(now_ms() - t0 < 2000); /* the grace period was not needed */
	assert_int_equal(vmm_state(vm), VMM_STATE_STOPPED);
	sandbox_free(sb);
}

static void expect_start_error(struct sandbox_config *c, int code, const char *needle)
{
	struct sandbox *sb = NULL;
	struct cove_err err = { 0 };
	int r = sandbox_start(c, &sb, &err);
	if (r != code || !strstr(err.msg, needle))
		fail_msg("expected %d with '%s', got %d: %s", code, needle, r, err.msg);
	assert_null(sb);
}

static void test_bad_kernel_path(void **state)
{
	(void)state;
	struct sandbox_config c;
	harness_config(&h, &c);
	c.kernel = "/nonexistent/vmlinux";
	expect_start_error(&c, -ENOENT, "kernel /nonexistent/vmlinux");
}

static void test_missing_qemu(void **state)
{
	(void)state;
	struct sandbox_config c;
	harness_config(&h, &c);
	c.vmm_binary = "qemu-system-nonexistent";
	expect_start_error(&c, -ENOENT, "apt-get install qemu-system-x86");
	c.vmm_binary = "/nonexistent/qemu-system-x86_64";
	expect_start_error(&c, -ENOENT, "/nonexistent/qemu-system-x86_64");
}

static void test_vmm_that_exits_at_once(void **state)
{
	(void)state;
	/* An empty file is no kernel: QEMU refuses it and exits. */
	char kernel[128];
	snprintf(kernel, sizeof(kernel), "%s/empty-kernel", h.base);
	FILE *f = fopen(kernel, "w");
	assert_non_null(f);
	fclose(f);
	struct sandbox_config c;
	harness_config(&h, &c);
	c.kernel = kernel;
	expect_start_error(&c, -ECHILD, "VMM exited immediately");
	expect_start_error(&c, -ECHILD, ".vmm.log");
	unlink(kernel);
}

static void test_nothing_left_behind(void **state)
{
	(void)state;
	assert_int_equal(processes_mentioning(h.run_dir), 0);
	assert_int_equal(dir_entries(h.run_dir), 0);
	assert_int_equal(harness_slots_left(), 0);
	assert_int_equal(mounts_under(h.base), 0);
}

int main(void)
{
	if (harness_init(&h) < 0)
		return 0;
	const struct CMUnitTest exec_tests[] = {
		cmocka_unit_test(test_exec_separates_streams_and_exit_code),
		cmocka_unit_test(test_exec_runs_guest_kernel),
		cmocka_unit_test(test_exec_env_and_cwd),
		cmocka_unit_test(test_exec_not_found_is_enoent),
		cmocka_unit_test(test_exec_reports_signal),
		cmocka_unit_test(test_exec_streams_large_output),
		cmocka_unit_test(test_agent_needs_the_sandbox_token),
		cmocka_unit_test(test_guest_clock_is_the_hosts),
		cmocka_unit_test(test_pause_and_resume),
	};
	const struct CMUnitTest lifecycle_tests[] = {
		cmocka_unit_test(test_kill9_is_noticed_and_cleaned_up),
		cmocka_unit_test(test_stop_powers_guest_off),
		cmocka_unit_test(test_bad_kernel_path),
		cmocka_unit_test(test_missing_qemu),
		cmocka_unit_test(test_vmm_that_exits_at_once),
		cmocka_unit_test(test_nothing_left_behind),
	};
	int failed = cmocka_run_group_tests_name("sandbox_exec", exec_tests, boot_shared, free_shared);
	failed += cmocka_run_group_tests_name("sandbox_lifecycle", lifecycle_tests, NULL, NULL);
	harness_fini(&h);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", h.base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h.base);
	return failed ? 1 : 0;
}
