/* Unit tests for the page server (src/vmm/pager): the handshake's parser,
 * the chain of memory files, and a whole serve over a real userfaultfd:
 * Firecracker's side of the handshake is the test double's
 * (tests/tools/vmmdouble/uffd.c), which reads every page through the
 * faults the server answers, and what it read must be the Diff over the
 * base, page by page. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/pager/pager.h"

int vmmdouble_uffd_fetch(const char *socket_path, uint64_t size, const char *to, struct cove_err *err);

#define PAGE 4096
#define PAGES 64

static void mappings_ok(const char *text, size_t want)
{
	struct pager_region r[PAGER_MAX_REGIONS];
	size_t n;
	struct cove_err err = { 0 };
	int rc = pager_parse_mappings(text, strlen(text), r, PAGER_MAX_REGIONS, &n, &err);
	if (rc < 0)
		fail_msg("%s: %s", text, err.msg);
	assert_int_equal(n, want);
}

static void mappings_bad(const char *text, const char *why)
{
	struct pager_region r[2];
	size_t n = 99;
	struct cove_err err = { 0 };
	assert_true(pager_parse_mappings(text, strlen(text), r, 2, &n, &err) < 0);
	assert_int_equal(n, 0);
	if (!strstr(err.msg, why))
		fail_msg("'%s' for %s, not about '%s'", err.msg, text, why);
}

static void test_mappings(void **state)
{
	(void)state;
	mappings_ok("[{\"base_host_virt_addr\":140000000000000,\"size\":536870912,\"offset\":0,\"page_size\":4096,"
		    "\"page_size_kib\":4096}]", 1);
	/* Before 1.12: page_size_kib alone (in bytes). Two regions (the
	 * 32-bit hole splits a large guest's memory). */
	mappings_ok("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size_kib\":4096},"
		    "{\"base_host_virt_addr\":1048576,\"size\":4096,\"offset\":8192,\"page_size_kib\":4096}]", 2);
	mappings_ok("[{\"base_host_virt_addr\":2097152,\"size\":4194304,\"offset\":0,\"page_size\":2097152}]", 1);
	mappings_bad("", "not JSON");
	mappings_bad("{}", "non-empty array");
	mappings_bad("[]", "non-empty array");
	mappings_bad("[1]", "not an object");
	mappings_bad("[{\"size\":4096,\"offset\":0,\"page_size\":4096}]", "lacks");
	mappings_bad("[{\"base_host_virt_addr\":-4096,\"size\":4096,\"offset\":0,\"page_size\":4096}]", "lacks");
	mappings_bad("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0}]", "no page_size");
	mappings_bad("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":1000}]", "power of two");
	mappings_bad("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":2048}]", "power of two");
	mappings_bad("[{\"base_host_virt_addr\":4097,\"size\":4096,\"offset\":0,\"page_size\":4096}]", "whole pages");
	mappings_bad("[{\"base_host_virt_addr\":4096,\"size\":0,\"offset\":0,\"page_size\":4096}]", "whole pages");
	/* Past 2^63 (no user address is): not a number jansson reads. */
	mappings_bad("[{\"base_host_virt_addr\":18446744073709547520,\"size\":8192,\"offset\":0,\"page_size\":4096}]",
		     "not JSON");
	mappings_bad("[{\"base_host_virt_addr\":9223372036854771712,\"size\":9223372036854771712,\"offset\":0,"
		     "\"page_size\":4096},{\"base_host_virt_addr\":9223372036854775807,\"size\":4096,\"offset\":0,"
		     "\"page_size\":4096}]", "whole pages");
	mappings_bad("[{\"base_host_virt_addr\":9223372036854771712,\"size\":9223372036854771712,\"offset\":0,"
		     "\"page_size\":4096},{\"base_host_virt_addr\":9223372036854767616,\"size\":8192,\"offset\":0,"
		     "\"page_size\":4096}]", "overlap");
	mappings_bad("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096},"
		     "{\"base_host_virt_addr\":8192,\"size\":4096,\"offset\":0,\"page_size\":4096}]", "overlap");
	mappings_bad("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":4096},"
		     "{\"base_host_virt_addr\":8192,\"size\":4096,\"offset\":0,\"page_size\":4096},"
		     "{\"base_host_virt_addr\":12288,\"size\":4096,\"offset\":0,\"page_size\":4096}]", "at most 2");
}

/* Base: page i filled with 'a' + i % 26, page 5 left a hole. Diff:
 * pages 3 and 40 'X', page 7 written as zeros (data, not a hole), the rest
 * holes, and shorter than the base. */
static void make_files(char base[64], char diff[64])
{
	snprintf(base, 64, "/tmp/test_pager.base.XXXXXX");
	snprintf(diff, 64, "/tmp/test_pager.diff.XXXXXX");
	int b = mkstemp(base), d = mkstemp(diff);
	assert_true(b >= 0 && d >= 0);
	char page[PAGE];
	for (int i = 0; i < PAGES; i++) {
		if (i == 5)
			continue;
		memset(page, 'a' + i % 26, PAGE);
		assert_int_equal(pwrite(b, page, PAGE, (off_t)i * PAGE), PAGE);
	}
	assert_int_equal(ftruncate(b, PAGES * PAGE), 0);
	memset(page, 'X', PAGE);
	assert_int_equal(pwrite(d, page, PAGE, 3 * PAGE), PAGE);
	assert_int_equal(pwrite(d, page, PAGE, 40 * PAGE), PAGE);
	memset(page, 0, PAGE);
	assert_int_equal(pwrite(d, page, PAGE, 7 * PAGE), PAGE);
	close(b);
	close(d);
}

static char expected(int i)
{
	return i == 3 || i == 40 ? 'X' : i == 7 || i == 5 ? 0 : (char)('a' + i % 26);
}

static void check_memory(const char *path, int pages)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	char page[PAGE];
	for (int i = 0; i < pages; i++) {
		assert_int_equal(pread(fd, page, PAGE, (off_t)i * PAGE), PAGE);
		for (int k = 0; k < PAGE; k += 512)
			if (page[k] != expected(i))
				fail_msg("page %d byte %d: %d, expected %d", i, k, page[k], expected(i));
	}
	close(fd);
}

static void test_layers(void **state)
{
	(void)state;
	char base[64], diff[64];
	make_files(base, diff);
	int fds[2] = { open(diff, O_RDONLY), open(base, O_RDONLY) };
	struct pager_layers *l;
	struct cove_err err = { 0 };
	assert_int_equal(pager_layers_open(fds, 2, &l, &err), 0);
	char buf[2 * PAGE];
	for (int i = 0; i < PAGES; i++) {
		int from = pager_layers_read(l, (uint64_t)i * PAGE, buf, PAGE);
		assert_int_equal(buf[0], expected(i));
		assert_int_equal(from, i == 3 || i == 40 || i == 7 ? 0 : i == 5 ? PAGER_ZERO : 1);
	}
	/* Two pages at once: each from its own file. */
	pager_layers_read(l, 2 * PAGE, buf, 2 * PAGE);
	assert_int_equal(buf[0], 'c');
	assert_int_equal(buf[PAGE], 'X');
	/* Past every file's end: zeros. */
	assert_int_equal(pager_layers_read(l, (uint64_t)PAGES * PAGE, buf, PAGE), PAGER_ZERO);
	assert_int_equal(buf[0], 0);
	pager_layers_free(l);
	assert_int_equal(pager_layers_open(fds, 0, &l, &err), -EINVAL);
	close(fds[0]);
	close(fds[1]);
	unlink(base);
	unlink(diff);
}

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(path);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 1), 0);
	return s;
}

/* The server in a child, serving this process (the "VMM"); its exit
 * status: 0 when it ended cleanly. */
static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* What a test made: its listening socket and files. */
static void remove_all(int lfd, const char *sock, const char *base, const char *diff)
{
	close(lfd);
	unlink(sock);
	unlink(base);
	unlink(diff);
}

/* The server in a child, serving the process vmm; its exit status: 0 when
 * it ended cleanly (its VMM gone) having served what make_files made, 3 at
 * its accept time limit, 4 when the VMM ended before it connected. */
static pid_t start_server(int listen_fd, pid_t vmm, const char *base, const char *diff, int timeout_ms)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fds[2] = { open(diff, O_RDONLY), open(base, O_RDONLY) };
		struct pager_layers *l;
		struct cove_err err = { 0 };
		struct pager_stats st;
		struct pager_options o = { listen_fd, vmm, timeout_ms };
		int r = pager_layers_open(fds, 2, &l, &err);
		r = r ?: pager_serve(&o, l, &st, &err);
		if (r < 0)
			fprintf(stderr, "server: %s\n", err.msg);
		/* Each page once: pages 3, 7 and 40 from the Diff, page 5 (a
		 * hole in both) a zero page, the rest from the base, in runs:
		 * fewer faults than pages. */
		if (r == 0 && (st.from_layer[0] != 3 || st.zero != 1 || st.from_layer[1] != PAGES - 4 ||
			       st.faults >= PAGES / 4)) {
			fprintf(stderr, "server: counted %llu, %llu, %llu pages in %llu faults\n",
				(unsigned long long)st.from_layer[0], (unsigned long long)st.from_layer[1],
				(unsigned long long)st.zero, (unsigned long long)st.faults);
			r = -EPROTO;
		}
		_exit(r == 0 ? 0 : r == -ETIMEDOUT ? 3 : r == -ESRCH ? 4 : 1);
	}
	return pid;
}

static int exit_code(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* A child plays the VMM: it starts the server (its own child, as coved
 * starts it), fetches all of its memory through it and exits. The server
 * must then end cleanly by itself; this process, a subreaper, inherits it
 * and reads its status. */
static void test_serve(void **state)
{
	(void)state;
	char base[64], diff[64], sock[] = "/tmp/test_pager.sock", out[] = "/tmp/test_pager.out";
	make_files(base, diff);
	int lfd = listen_at(sock);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t vmm = fork();
	assert_true(vmm >= 0);
	if (vmm == 0) {
		pid_t server = start_server(lfd, getpid(), base, diff, 10000);
		assert_int_equal(write(p[1], &server, sizeof(server)), sizeof(server));
		struct cove_err err = { 0 };
		int r = vmmdouble_uffd_fetch(sock, PAGES * PAGE, out, &err);
		if (r < 0)
			fprintf(stderr, "fetch: %s\n", err.msg);
		_exit(r == 0 ? 0 : 1);
	}
	pid_t server;
	assert_int_equal(read(p[0], &server, sizeof(server)), sizeof(server));
	assert_int_equal(exit_code(vmm), 0);
	check_memory(out, PAGES);
	assert_int_equal(exit_code(server), 0);
	close(p[0]);
	close(p[1]);
	unlink(out);
	remove_all(lfd, sock, base, diff);
}

/* Only the VMM is served: another process's connection is closed at once,
 * and the server ends when the VMM does without having connected. */
static void test_only_the_vmm(void **state)
{
	(void)state;
	char base[64], diff[64], sock[] = "/tmp/test_pager2.sock";
	make_files(base, diff);
	int lfd = listen_at(sock);
	pid_t vmm = fork();
	assert_true(vmm >= 0);
	if (vmm == 0) {
		pause();
		_exit(0);
	}
	pid_t server = start_server(lfd, vmm, base, diff, 10000);
	int c = connect_to(sock);
	assert_true(c >= 0);
	char byte;
	assert_true(read(c, &byte, 1) <= 0); /* closed on us */
	close(c);
	kill(vmm, SIGKILL);
	waitpid(vmm, NULL, 0);
	assert_int_equal(exit_code(server), 4);
	remove_all(lfd, sock, base, diff);
}

/* A VMM whose handshake cannot be served would wait for its pages
 * forever: the server kills it and ends with an error. */
static void test_bad_handshake_kills(void **state)
{
	(void)state;
	char base[64], diff[64], sock[] = "/tmp/test_pager4.sock";
	make_files(base, diff);
	int lfd = listen_at(sock);
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t vmm = fork();
	assert_true(vmm >= 0);
	if (vmm == 0) {
		char c;
		assert_int_equal(read(go[0], &c, 1), 1);
		int s = connect_to(sock);
		if (s < 0 || write(s, "[{\"size\":1}]", 12) != 12)
			_exit(1);
		pause();
		_exit(0);
	}
	pid_t server = start_server(lfd, vmm, base, diff, 10000);
	assert_int_equal(write(go[1], "x", 1), 1);
	int status;
	assert_int_equal(waitpid(vmm, &status, 0), vmm);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(exit_code(server), 1);
	close(go[0]);
	close(go[1]);
	remove_all(lfd, sock, base, diff);
}

/* Nobody connects: the server gives up at its time limit, saying so. */
static void test_accept_timeout(void **state)
{
	(void)state;
	char base[64], diff[64], sock[] = "/tmp/test_pager3.sock";
	make_files(base, diff);
	int lfd = listen_at(sock);
	pid_t server = start_server(lfd, getpid(), base, diff, 200);
	assert_int_equal(exit_code(server), 3);
	remove_all(lfd, sock, base, diff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mappings),
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_only_the_vmm),
		cmocka_unit_test(test_bad_handshake_kills),
		cmocka_unit_test(test_accept_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
