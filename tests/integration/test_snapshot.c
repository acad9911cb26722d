/* VMM snapshots for real: a guest whose RAM is a shared file is saved
 * (device state through a descriptor), killed, and a new QEMU restored from
 * the state over a private mapping of that file carries on where the first
 * stopped: a counter on the serial console goes on from its last value. No
 * network is needed: the guest's init is busybox printing the counter. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "common/proc.h"
#include "harness.h"
#include "vmm/vmm.h"

static struct harness h;
static char mem[128], state[128];

#define COUNTER "-- sh -c \"i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done\""

static void config(struct vmm_config *c, const char *id)
{
	vmm_config_init(c);
	c->id = id;
	c->kernel = h.kernel;
	c->rootfs = h.rootfs;
	c->mem_mib = 128;
	c->run_dir = h.run_dir;
	c->log_dir = h.log_dir;
	c->init = "/bin/busybox";
	c->extra_cmdline = COUNTER;
	c->die_with_parent = true;
	c->mem_file = mem;
}

/* The highest "tick N" on the console of id, -1 when none yet. */
static int last_tick(const char *id)
{
	char path[256], line[256];
	snprintf(path, sizeof(path), "%s/%s.console.log", h.log_dir, id);
	FILE *f = fopen(path, "r");
	int last = -1, v;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "tick %d", &v) == 1 && v > last)
			last = v;
	if (f)
		fclose(f);
	return last;
}

static bool console_has(const char *id, const char *text)
{
	char path[256], line[256];
	snprintf(path, sizeof(path), "%s/%s.console.log", h.log_dir, id);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return found;
}

static int wait_tick(const char *id, int at_least, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int t;
	while ((t = last_tick(id)) < at_least && now_ms() < deadline)
		usleep(20000);
	return t;
}

static void test_snapshot_then_restore_carries_on(void **state_)
{
	(void)state_;
	struct vmm_config c;
	config(&c, "snap-a");
	c.mem_shared = true;
	struct vmm *a = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_create(&c, &a, &err), 0);
	if (vmm_boot(a, &err) < 0)
		fail_msg("boot: %s", err.msg);
	assert_true(wait_tick("snap-a", 3, 60000) >= 3);
	if (vmm_snapshot(a, state, &err) < 0)
		fail_msg("snapshot: %s", err.msg);
	assert_int_equal(vmm_state(a), VMM_STATE_PAUSED);
	int saved = last_tick("snap-a");
	struct stat st;
	assert_int_equal(stat(state, &st), 0);
	assert_true(st.st_size > 0);
	a = vmm_free(a);

	config(&c, "snap-b");
	c.mem_shared = false; /* a private copy-on-write mapping of the saved RAM */
	c.restore_state = state;
	struct vmm *b = NULL;
	assert_int_equal(vmm_create(&c, &b, &err), 0);
	int64_t t0 = now_us();
	if (vmm_boot(b, &err) < 0)
		fail_msg("restore: %s", err.msg);
	print_message("restore to running: %.1f ms\n", (double)(now_us() - t0) / 1000.0);
	assert_int_equal(vmm_state(b), VMM_STATE_RUNNING);
	/* The counter goes on from where it was: no boot, no "tick 0". */
	int t = wait_tick("snap-b", saved + 2, 30000);
	assert_true(t >= saved + 2);
	assert_false(console_has("snap-b", "tick 0\n"));
	assert_false(console_has("snap-b", "Linux version"));
	b = vmm_free(b);
	/* The restored guest wrote to its private mapping only. */
	unlink(state);
}

static void test_snapshot_needs_shared_memory(void **state_)
{
	(void)state_;
	struct vmm_config c;
	config(&c, "snap-c");
	c.mem_file = NULL;
	struct vmm *v = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_create(&c, &v, &err), 0);
	if (vmm_boot(v, &err) < 0)
		fail_msg("boot: %s", err.msg);
	assert_int_equal(vmm_snapshot(v, state, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "not in a shared file"));
	assert_int_equal(access(state, F_OK), -1);
	assert_int_equal(vmm_state(v), VMM_STATE_RUNNING);
	v = vmm_free(v);
}

static void test_restore_from_garbage_fails_cleanly(void **state_)
{
	(void)state_;
	int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a migration stream", 22), 22);
	close(fd);
	struct vmm_config c;
	config(&c, "snap-d");
	c.restore_state = state;
	struct vmm *v = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_create(&c, &v, &err), 0);
	assert_true(vmm_boot(v, &err) < 0);
	assert_non_null(strstr(err.msg, "restore snap-d from"));
	assert_int_equal(vmm_state(v), VMM_STATE_STOPPED);
	v = vmm_free(v);
	unlink(state);

	/* A state file that is not there is refused before anything starts. */
	config(&c, "snap-e");
	c.restore_state = state;
	assert_int_equal(vmm_create(&c, &v, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "restore_state"));
}

static void test_nothing_left_behind(void **state_)
{
	(void)state_;
	assert_int_equal(processes_mentioning(h.run_dir), 0);
	assert_int_equal(dir_entries(h.run_dir), 0);
}

int main(void)
{
	if (harness_init(&h) < 0)
		return 0;
	snprintf(mem, sizeof(mem), "%s/memory", h.base);
	snprintf(state, sizeof(state), "%s/state", h.base);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_then_restore_carries_on),
		cmocka_unit_test(test_snapshot_needs_shared_memory),
		cmocka_unit_test(test_restore_from_garbage_fails_cleanly),
		cmocka_unit_test(test_nothing_left_behind),
	};
	int failed = cmocka_run_group_tests_name("vmm_snapshot", tests, NULL, NULL);
	harness_fini(&h);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", h.base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h.base);
	return failed ? 1 : 0;
}
