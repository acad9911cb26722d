/* Unit tests for src/net/forward.c on loopback (namespace fd -1): bytes both
 * ways, large transfers in both directions at once (no deadlock), half-close,
 * a target that refuses, and stop with connections still open. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/forward.h"

/* A loopback server that echoes everything back, then closes its side when
 * the client closes its own (so half-close is visible end to end). */
struct echo {
	int fd;
	uint16_t port;
	pthread_t thread;
};

static void *echo_conn(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;
	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (send(c, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	shutdown(c, SHUT_WR);
	close(c);
	return NULL;
}

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	for (;;) {
		int c = accept(e->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		pthread_t t;
		pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)c);
		pthread_detach(t);
	}
}

static void echo_start(struct echo *e)
{
	e->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(e->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(e->fd, 16), 0);
	socklen_t len = sizeof(sa);
	getsockname(e->fd, (struct sockaddr *)&sa, &len);
	e->port = ntohs(sa.sin_port);
	pthread_create(&e->thread, NULL, echo_main, e);
}

static void echo_stop(struct echo *e)
{
	shutdown(e->fd, SHUT_RDWR);
	pthread_join(e->thread, NULL);
	close(e->fd);
}

static int dial(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static struct net_forward *forward_to(uint16_t port)
{
	struct net_forward_config c = { .netns_fd = -1, .target_addr = "127.0.0.1", .target_port = port };
	struct net_forward *f = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(net_forward_start(&c, &f, &err), 0);
	assert_true(net_forward_port(f) > 0);
	return f;
}

struct writer {
	int fd;
	size_t total;
};

static void *write_all_then_shut(void *arg)
{
	struct writer *w = arg;
	char buf[65536];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	size_t sent = 0;
	while (sent < w->total) {
		size_t n = w->total - sent < sizeof(buf) ? w->total - sent : sizeof(buf);
		ssize_t r = send(w->fd, buf, n, MSG_NOSIGNAL);
		if (r <= 0)
			return NULL;
		sent += (size_t)r;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* 64 MiB out and back at once: the relay must keep reading one direction
 * while the other is blocked, or both sides' buffers fill and it stalls. */
static void test_large_both_ways(void **state)
{
	(void)state;
	struct echo e;
	echo_start(&e);
	struct net_forward *f = forward_to(e.port);
	int fd = dial(net_forward_port(f));
	struct writer w = { fd, 64u << 20 };
	pthread_t t;
	pthread_create(&t, NULL, write_all_then_shut, &w);
	size_t got = 0;
	char buf[65536];
	bool same = true;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			same &= buf[i] == (char)(((got + (size_t)i) % 65536) * 7);
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	/* The echo server closed after our SHUT_WR: EOF came back through. */
	assert_int_equal(n, 0);
	assert_int_equal(got, w.total);
	assert_true(same);
	assert_int_equal(net_forward_count(f), 1);
	close(fd);
	net_forward_stop(f);
	echo_stop(&e);
}

static void test_refused_target_closes_client(void **state)
{
	(void)state;
	struct echo e;
	echo_start(&e);
	uint16_t dead = e.port;
	echo_stop(&e); /* nothing listens there now */
	struct net_forward *f = forward_to(dead);
	int fd = dial(net_forward_port(f));
	char c;
	assert_int_equal(read(fd, &c, 1), 0);
	assert_int_equal(net_forward_count(f), 0);
	close(fd);
	net_forward_stop(f);
}

static void test_stop_with_open_connections(void **state)
{
	(void)state;
	struct echo e;
	echo_start(&e);
	struct net_forward *f = forward_to(e.port);
	int fds[8];
	for (int i = 0; i < 8; i++) {
		fds[i] = dial(net_forward_port(f));
		assert_int_equal(send(fds[i], "ping", 4, 0), 4);
		char buf[4];
		assert_int_equal(read(fds[i], buf, 4), 4);
		assert_memory_equal(buf, "ping", 4);
	}
	net_forward_stop(f); /* must not wait for the clients */
	for (int i = 0; i < 8; i++) {
		char c;
		assert_true(read(fds[i], &c, 1) <= 0);
		close(fds[i]);
	}
	echo_stop(&e);
}

static void test_bad_config(void **state)
{
	(void)state;
	struct net_forward *f = NULL;
	struct cove_err err = { 0 };
	struct net_forward_config c = { .netns_fd = -1, .target_addr = "not-an-ip", .target_port = 80 };
	assert_int_equal(net_forward_start(&c, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not-an-ip"));
	c.target_addr = "127.0.0.1";
	c.listen_addr = "256.1.1.1";
	assert_int_equal(net_forward_start(&c, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "256.1.1.1"));
	assert_null(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_large_both_ways),
		cmocka_unit_test(test_refused_target_closes_client),
		cmocka_unit_test(test_stop_with_open_connections),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
