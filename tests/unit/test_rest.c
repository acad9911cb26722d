/* The VMM REST client (src/vmm/rest): requests as a VMM's API server sees
 * them, its answers and refusals as errnos with the VMM's words, a broken
 * connection, a VMM that never listens or died first; and the TAP handed
 * over by name (src/vmm/tap.c), in a network namespace of the test's own. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "common/proc.h"
#include "vmm/driver.h"
#include "vmm/rest/rest.h"

/* A one-thread HTTP server: reads each request whole (Content-Length
 * bodies), records its first line and body, answers by the path. */
struct server {
	int listen_fd;
	char path[108];
	pthread_t thread;
	char last_line[256];
	char last_body[256];
	int requests;
	int connections;
	int conn_fd; /* the connection being served, -1: none */
};

static void answer(int fd, int status, const char *type, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status,
			 type, strlen(body));
	fs_write_all(fd, head, (size_t)n);
	fs_write_all(fd, body, strlen(body));
}

/* Serves one connection until the client closes it or /hangup. */
static void serve(struct server *s, int fd)
{
	char buf[8192];
	size_t have = 0;
	for (;;) {
		char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
		if (!end) {
			ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				return;
			have += (size_t)n;
			continue;
		}
		buf[have] = '\0';
		size_t head_len = (size_t)(end - buf) + 4, body_len = 0;
		char *cl = strcasestr(buf, "Content-Length:");
		if (cl && cl < end)
			body_len = strtoul(cl + 15, NULL, 10);
		while (have < head_len + body_len) {
			ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				return;
			have += (size_t)n;
		}
		char *eol = strstr(buf, "\r\n");
		snprintf(s->last_line, sizeof(s->last_line), "%.*s", (int)(eol - buf), buf);
		snprintf(s->last_body, sizeof(s->last_body), "%.*s", (int)body_len, buf + head_len);
		s->requests++;
		if (strstr(s->last_line, " /ok "))
			answer(fd, 200, "application/json", "{\"state\":\"Running\"}");
		else if (strstr(s->last_line, " /empty "))
			answer(fd, 204, "application/json", "");
		else if (strstr(s->last_line, " /bad "))
			answer(fd, 400, "application/json", "{\"fault_message\":\"The requested operation is not supported\"}");
		else if (strstr(s->last_line, " /text "))
			answer(fd, 500, "text/plain", "Error from API\nline two");
		else if (strstr(s->last_line, " /garbage "))
			answer(fd, 200, "application/json", "{not json");
		else if (strstr(s->last_line, " /hangup "))
			return;
		else
			answer(fd, 404, "application/json", "{\"fault_message\":\"Invalid request method and/or path\"}");
		memmove(buf, buf + head_len + body_len, have - head_len - body_len);
		have -= head_len + body_len;
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return NULL;
		s->connections++;
		s->conn_fd = fd;
		serve(s, fd);
		s->conn_fd = -1;
		close(fd);
	}
}

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));
	s->conn_fd = -1;
	snprintf(s->path, sizeof(s->path), "/tmp/test_rest.%d.sock", (int)getpid());
	assert_int_equal(vmm_unix_listen(s->path, &s->listen_fd, NULL), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;
	/* A failed check leaves the client's connection open: end it too. */
	int conn = s->conn_fd;
	if (conn >= 0)
		shutdown(conn, SHUT_RDWR);
	shutdown(s->listen_fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
	free(s);
	return 0;
}

static void test_answers(void **state)
{
	struct server *s = *state;
	struct rest *c = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(rest_open("firecracker", s->path, -1, 1000, &c, &err), 0);
	json_t *reply = NULL, *body = json_pack("{s:s}", "state", "Paused");
	assert_int_equal(rest_call(c, "PATCH", "/ok", body, &reply, 1000, &err), 0);
	assert_string_equal(s->last_line, "PATCH /ok HTTP/1.1");
	assert_string_equal(s->last_body, "{\"state\":\"Paused\"}");
	assert_string_equal(json_string_value(json_object_get(reply, "state")), "Running");
	json_decref(reply);
	/* No body: none sent, and an empty answer is no reply. */
	assert_int_equal(rest_call(c, "PUT", "/empty", NULL, &reply, 1000, &err), 0);
	assert_null(reply);
	assert_string_equal(s->last_body, "");
	assert_int_equal(rest_call(c, "GET", "/ok", NULL, NULL, 1000, &err), 0);
	assert_string_equal(s->last_line, "GET /ok HTTP/1.1");
	/* rest_open's look whether it listens, then one connection, kept. */
	assert_int_equal(s->connections, 2);
	assert_int_equal(s->requests, 3);

	assert_int_equal(rest_call(c, "PUT", "/bad", body, &reply, 1000, &err), -EINVAL);
	assert_null(reply);
	assert_non_null(strstr(err.msg, "firecracker API: PUT /bad: HTTP 400: The requested operation is not supported"));
	assert_int_equal(rest_call(c, "PUT", "/text", NULL, NULL, 1000, &err), -EIO);
	assert_non_null(strstr(err.msg, "HTTP 500: Error from API line two"));
	assert_int_equal(rest_call(c, "GET", "/nowhere", NULL, NULL, 1000, &err), -ENOENT);
	assert_int_equal(rest_call(c, "GET", "/garbage", NULL, &reply, 1000, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not JSON"));
	assert_int_equal(rest_call(c, "GET", "/hangup", NULL, NULL, 1000, &err), -ECONNRESET);
	/* And on after it: a new connection. */
	assert_int_equal(rest_call(c, "GET", "/ok", NULL, NULL, 1000, &err), 0);
	json_decref(body);
	rest_close(c);
	assert_int_equal(rest_status_errno(204), 0);
	assert_int_equal(rest_status_errno(409), -EBUSY);
	assert_int_equal(rest_status_errno(501), -EOPNOTSUPP);
}

static void test_no_listener(void **state)
{
	(void)state;
	struct rest *c = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(rest_open("cloud-hypervisor", "/tmp/test_rest.none.sock", -1, 50, &c, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "cloud-hypervisor API"));
	/* A VMM that exited first is said at once. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int pidfd = proc_pidfd_open(pid);
	assert_true(pidfd >= 0);
	int64_t t0 = now_ms();
	assert_int_equal(rest_open("firecracker", "/tmp/test_rest.none.sock", pidfd, 10000, &c, &err), -ECHILD);
	assert_true(now_ms() - t0 < 5000);
	waitpid(pid, NULL, 0);
	close(pidfd);
	assert_null(rest_call(NULL, "GET", "/", NULL, NULL, 10, &err) == 0 ? (void *)1 : NULL);
}

/* The TAP by name, in a network namespace of this thread's own. */
static void test_tap_by_name(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNET) < 0) {
		skip(); /* no CAP_SYS_ADMIN: unit tests run as root in CI */
		return;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "covt-tap");
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	struct vmm vm = { .confined = true, .uid = 4242 };
	vm.cfg.c.id = "t";
	vm.cfg.c.tap_fd = fd;
	char name[16];
	struct cove_err err = { 0 };
	/* Group 4243: as under Firecracker's jailer, a gid not its uid. */
	assert_int_equal(vmm_tap_by_name(&vm, 4243, name, &err), 0);
	assert_string_equal(name, "covt-tap");
	assert_int_equal(vm.cfg.c.tap_fd, -1);
	assert_true(vm.tap_by_name);
	assert_true(fcntl(fd, F_GETFD) < 0); /* closed */
	/* Closed and given to uid 4242, group 4243: a process of that uid
	 * and gid with no capabilities attaches (no EBUSY, no EPERM); of that
	 * uid without the group, it may not. */
	/* A node it may open, as its jail has (the host's may be 0600). */
	char node[64];
	snprintf(node, sizeof(node), "/tmp/test_rest.%d.tun", (int)getpid());
	unlink(node);
	assert_int_equal(mknod(node, S_IFCHR | 0666, makedev(10, 200)), 0);
	assert_int_equal(chmod(node, 0666), 0);
	for (gid_t gid = 4242; gid <= 4243; gid++) {
		pid_t pid = fork();
		if (pid == 0) {
			if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(4242) < 0)
				_exit(2);
			int t = open(node, O_RDWR | O_CLOEXEC);
			if (t < 0)
				_exit(2);
			if (ioctl(t, TUNSETIFF, &ifr) < 0) {
				fprintf(stderr, "uid 4242 gid %u: attach to covt-tap: %s\n", (unsigned)gid, strerror(errno));
				_exit(errno == EPERM ? 1 : 2);
			}
			_exit(0);
		}
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), gid == 4243 ? 0 : 1);
	}
	unlink(node);
	int again = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_int_equal(ioctl(again, TUNSETIFF, &ifr), 0);
	/* Without a TAP: refused, saying so. */
	vm.cfg.c.tap_fd = -1;
	assert_int_equal(vmm_tap_by_name(&vm, 4243, name, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no TAP"));
	ioctl(again, TUNSETPERSIST, 0);
	close(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test(test_no_listener),
		cmocka_unit_test(test_tap_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
