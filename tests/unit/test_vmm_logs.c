/* Unit tests for a VMM's capped, rotated logs and their reader
 * (src/vmm/console.c): the cap and rotation on files, and the reader over
 * a real socket and FIFO, with this test playing the VMM (it accepts on
 * the console socket and writes both streams). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "common/proc.h"
#include "vmm/console.h"
#include "vmm/driver.h"

struct fixture {
	char dir[64];
	char path[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/cove-test-logs.XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/sb.console.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "re");
	if (!fp)
		return NULL;
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_log_file_rotates_at_cap(void **state)
{
	struct fixture *f = *state;
	char rotated[PATH_MAX + 4];
	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	struct log_file lf;
	struct cove_err err = { 0 };
	assert_int_equal(log_file_open(&lf, f->path, 100, true, &err), 0);
	char chunk[30];
	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < 3; i++)
		assert_int_equal(log_file_write(&lf, chunk, sizeof(chunk), &err), 0);
	assert_int_equal(size_of(f->path), 90);
	assert_int_equal(size_of(rotated), -1);
	/* 10 more fit; the other 20 begin a new file. */
	memset(chunk, 'b', sizeof(chunk));
	assert_int_equal(log_file_write(&lf, chunk, sizeof(chunk), &err), 0);
	assert_int_equal(size_of(rotated), 100);
	assert_int_equal(size_of(f->path), 20);
	char *text = read_all(f->path);
	assert_string_equal(text, "bbbbbbbbbbbbbbbbbbbb");
	free(text);
	/* Far more than the cap at once: rotated as often as it takes; both
	 * files hold the last of it, neither more than the cap. */
	char big[1000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('0' + i / 100);
	assert_int_equal(log_file_write(&lf, big, sizeof(big), &err), 0);
	assert_true(size_of(f->path) <= 100 && size_of(rotated) <= 100);
	text = read_all(f->path);
	assert_int_equal(text[strlen(text) - 1], '9');
	free(text);
	log_file_close(&lf);
}

static void test_log_file_appends_or_starts_afresh(void **state)
{
	struct fixture *f = *state;
	struct log_file lf;
	struct cove_err err = { 0 };
	assert_int_equal(log_file_open(&lf, f->path, 100, true, &err), 0);
	assert_int_equal(log_file_write(&lf, "0123456789", 10, &err), 0);
	log_file_close(&lf);
	/* Appending (an adopted VMM) counts what is there against the cap. */
	assert_int_equal(log_file_open(&lf, f->path, 15, false, &err), 0);
	assert_int_equal(lf.size, 10);
	assert_int_equal(log_file_write(&lf, "abcdefghij", 10, &err), 0);
	assert_int_equal(size_of(f->path), 5);
	log_file_close(&lf);
	char rotated[PATH_MAX + 4];
	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	assert_int_equal(size_of(rotated), 15);
	/* Afresh: both go. */
	assert_int_equal(log_file_open(&lf, f->path, 100, true, &err), 0);
	log_file_close(&lf);
	assert_int_equal(size_of(f->path), 0);
	assert_int_equal(size_of(rotated), -1);
	log_file_remove(f->path);
	assert_int_equal(size_of(f->path), -1);
}

/* A struct vmm as much as the reader uses: its run directory and log paths. */
static void fake_vmm(struct fixture *f, struct vmm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg.c.id = "sb-test";
	vm->pidfd = -1;
	snprintf(vm->dir, sizeof(vm->dir), "%s", f->dir);
	snprintf(vm->console_path, sizeof(vm->console_path), "%s/sb.console.log", f->dir);
	snprintf(vm->log_path, sizeof(vm->log_path), "%s/sb.vmm.log", f->dir);
}

/* A fake VMM's logs made and their reader started; *vmm_listen and
 * *vmm_out are the VMM's copies of its descriptors, as it would have them
 * after exec. */
static void start_reader(struct fixture *f, struct vmm *vm, int *vmm_listen, int *vmm_out)
{
	struct cove_err err = { 0 };
	int listen_fd, out_fd;
	fake_vmm(f, vm);
	assert_int_equal(vmm_logs_prepare(vm, &listen_fd, &out_fd, &err), 0);
	*vmm_listen = dup(listen_fd);
	*vmm_out = dup(out_fd);
	assert_int_equal(vmm_logs_start(vm, &err), 0);
}

static void test_reader_writes_both_streams_and_reconnects(void **state)
{
	struct fixture *f = *state;
	struct vmm vm;
	struct cove_err err = { 0 };
	int vmm_listen, vmm_out;
	start_reader(f, &vm, &vmm_listen, &vmm_out);
	int con = accept(vmm_listen, NULL, NULL);
	assert_true(con >= 0);
	assert_int_equal(fs_write_all(con, "boot line\n", 10), 0);
	assert_int_equal(fs_write_all(vmm_out, "qemu says\n", 10), 0);
	/* Detached while the VMM lives (this process stands for it): what
	 * is pending is written. */
	vm.pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	usleep(100 * 1000);
	vmm_logs_stop(&vm);
	assert_null(vm.logs);
	/* A restarted coved: connects again and appends. */
	assert_int_equal(vmm_logs_adopt(&vm, &err), 0);
	int con2 = accept(vmm_listen, NULL, NULL);
	assert_true(con2 >= 0);
	assert_int_equal(fs_write_all(con2, "after restart\n", 14), 0);
	assert_int_equal(fs_write_all(vmm_out, "still here\n", 11), 0);
	/* The VMM exits: the reader reads to the end of both. */
	close(con);
	close(con2);
	close(vmm_out);
	close(vmm_listen);
	close(vm.pidfd);
	vm.pidfd = -1;
	vmm_logs_stop(&vm);
	char *text = read_all(vm.console_path);
	assert_string_equal(text, "boot line\nafter restart\n");
	free(text);
	text = read_all(vm.log_path);
	assert_string_equal(text, "qemu says\nstill here\n");
	free(text);
}

/* The reader writes at most VMM_LOG_RATE a second: a guest writing faster
 * finds its socket full (its serial port would wait) rather than coved
 * holding what it wrote. */
static void test_reader_pushes_back(void **state)
{
	struct fixture *f = *state;
	struct vmm vm;
	int vmm_listen, vmm_out;
	start_reader(f, &vm, &vmm_listen, &vmm_out);
	int con = accept4(vmm_listen, NULL, NULL, SOCK_NONBLOCK);
	assert_true(con >= 0);
	static char buf[64 * 1024];
	memset(buf, 'x', sizeof(buf));
	size_t total = 0;
	int64_t deadline = now_ms() + 300;
	bool blocked = false;
	while (now_ms() < deadline && total < 8u * VMM_LOG_RATE) {
		ssize_t n = write(con, buf, sizeof(buf));
		if (n > 0)
			total += (size_t)n;
		else if (errno == EAGAIN)
			blocked = true, usleep(1000);
	}
	print_message("wrote %zu bytes in 300 ms against a rate of %u a second\n", total, VMM_LOG_RATE);
	assert_true(blocked);
	/* What got in: at most the second's allowance plus the kernel's buffers. */
	assert_true(total < 3u * VMM_LOG_RATE);
	close(con);
	close(vmm_out);
	close(vmm_listen);
	vmm_logs_stop(&vm);
	assert_true(size_of(vm.console_path) + size_of(vm.log_path) <= (off_t)total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_file_rotates_at_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_file_appends_or_starts_afresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_writes_both_streams_and_reconnects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_pushes_back, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
