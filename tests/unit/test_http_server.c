/* Unit tests for src/http: the shared server, run in this process on
 * loopback with a policy of the test's own, spoken to over raw sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"

static struct http_server *server;
static unsigned port;

static enum MHD_Result echo_param(struct http_request *r)
{
	char text[300];
	snprintf(text, sizeof(text), "%s|%s|%s", r->params[0], r->target, http_query(r, "q") ? http_query(r, "q") : "");
	return http_reply(r, 200, "text/plain", text, strlen(text));
}

static enum MHD_Result echo_body(struct http_request *r)
{
	return http_reply_json(r, 200, json_pack("{s:s%}", "body", r->body ? r->body : "", r->len));
}

static int count_sink(struct http_request *r, const char *data, size_t len)
{
	(void)data;
	r->ctx = (void *)((size_t)r->ctx + len);
	return 0;
}

static enum MHD_Result sink_done(struct http_request *r)
{
	char text[32];
	snprintf(text, sizeof(text), "%zu", (size_t)r->ctx);
	return http_reply(r, 200, NULL, text, strlen(text));
}

static ssize_t one_chunk(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)max;
	if (pos)
		return MHD_CONTENT_READER_END_OF_STREAM;
	memcpy(buf, "streamed", 8);
	return 8;
}

static void nothing(void *cls)
{
	(void)cls;
}

static enum MHD_Result stream(struct http_request *r)
{
	return http_stream(r, "text/plain", one_chunk, NULL, nothing);
}

static enum MHD_Result taken(struct http_request *r)
{
	return http_reply_empty(r, 299);
}

static int self_authorize(struct http_request *r, char *why, size_t len)
{
	snprintf(why, len, "no ticket");
	return http_query(r, "ticket") ? 0 : -EACCES;
}

static const struct http_route routes[] = {
	{ "GET", "/a/{}", echo_param },
	{ "POST", "/body", echo_body, 8 },
	{ "POST", "/small", echo_body },
	{ "POST", "/sink", sink_done, 0, count_sink },
	{ "GET", "/stream", stream },
	{ "GET", "/open", taken, .open = true },
	{ "GET", "/own", taken, .authorize = self_authorize },
};

static const struct http_route take = { "*", "*", taken, .open = true };

static const struct http_route *intercept(void *cls, struct http_request *r)
{
	assert_ptr_equal(cls, &port);
	return http_header(r, "X-Take") ? &take : NULL;
}

static int authorize(void *cls, struct http_request *r, char *why, size_t len)
{
	(void)cls;
	(void)why;
	(void)len;
	const char *k = http_header(r, "K");
	return k && strcmp(k, "yes") == 0 ? 0 : -EACCES;
}

static enum MHD_Result refuse(struct http_request *r, enum http_failure what)
{
	static const unsigned status[] = { 401, 404, 405, 413, 500, 503, 429 };
	char text[160];
	snprintf(text, sizeof(text), "failure %d %s", (int)what, r->auth_error);
	return http_reply(r, status[what], "text/plain", text, strlen(text));
}

static int setup(void **state)
{
	(void)state;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct http_server_config c = {
		.addr = &sa, .routes = routes, .nroutes = sizeof(routes) / sizeof(routes[0]), .max_connections = 8,
		.default_body_limit = 4, .cls = &port, .intercept = intercept, .authorize = authorize, .fail = refuse,
		.reply_header = "X-Stamp", .reply_header_value = "1",
	};
	struct cove_err err = { 0 };
	assert_int_equal(http_server_start(&c, &server, &err), 0);
	port = http_server_port(server);
	assert_true(port > 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	http_server_stop(server);
	return 0;
}

/* A connection to p from 127.0.0.from (any loopback address reaches
 * 127.0.0.1), with a 5 s receive timeout. */
static int dial(unsigned p, unsigned from)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | from) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends request (whole) on fd and returns the whole reply, malloc'd. */
static char *exchange_on(int fd, const char *request)
{
	assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
	size_t cap = 8192, got = 0;
	char *reply = malloc(cap);
	ssize_t n;
	while (got < cap - 1 && (n = recv(fd, reply + got, cap - 1 - got, 0)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	close(fd);
	return reply;
}

static char *exchange(const char *request)
{
	return exchange_on(dial(port, 1), request);
}

/* The reply has status and contains each of the strings; freed. */
static void check_reply(char *reply, const char *request, unsigned status, va_list ap)
{
	char line[32];
	snprintf(line, sizeof(line), "HTTP/1.1 %u ", status);
	if (strncmp(reply, line, strlen(line)) != 0)
		fail_msg("%.200s: want %u, got: %s", request, status, reply);
	for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
		if (!strstr(reply, s))
			fail_msg("%.200s: no '%s' in: %s", request, s, reply);
	free(reply);
}

/* The reply to request has status and contains each of the strings. */
static void expect(const char *request, unsigned status, ...)
{
	va_list ap;
	va_start(ap, status);
	check_reply(exchange(request), request, status, ap);
	va_end(ap);
}

/* The same from 127.0.0.from to port p. */
static void expect_at(unsigned p, unsigned from, const char *request, unsigned status, ...)
{
	va_list ap;
	va_start(ap, status);
	check_reply(exchange_on(dial(p, from), request), request, status, ap);
	va_end(ap);
}

#define CLOSE "Connection: close\r\n"

static void test_refusals(void **state)
{
	(void)state;
	/* Unauthorized is told first, then no route, then too large. */
	expect("GET /nowhere HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", 401, "failure 0", NULL);
	expect("GET /nowhere HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n", 404, "failure 1", "X-Stamp: 1", NULL);
	expect("DELETE /a/b HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n", 405, "failure 2", NULL);
	expect("POST /body HTTP/1.1\r\nHost: x\r\nK: yes\r\nContent-Length: 9\r\n" CLOSE "\r\n123456789", 413,
	       "failure 3", NULL);
	/* A route's own authorize decides instead, with its reason. */
	expect("GET /own HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n", 401, "failure 0 no ticket", NULL);
	expect("GET /own?ticket=1 HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", 299, NULL);
	expect("GET /open HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", 299, "X-Stamp: 1", NULL);
	/* An intercepted request skips the routes and the authorize hook. */
	expect("PUT /anything HTTP/1.1\r\nHost: x\r\nX-Take: 1\r\n" CLOSE "\r\n", 299, NULL);
}

static void test_requests(void **state)
{
	(void)state;
	expect("GET /a/x%20y?q=1%262 HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n", 200,
	       "x y|/a/x%20y?q=1%262|1&2", "Content-Type: text/plain", "X-Stamp: 1", NULL);
	expect("POST /body HTTP/1.1\r\nHost: x\r\nK: yes\r\nContent-Length: 8\r\n" CLOSE "\r\n12345678", 200,
	       "{\"body\":\"12345678\"}", "Content-Type: application/json", NULL);
	/* A route without a limit takes the server's default. */
	expect("POST /small HTTP/1.1\r\nHost: x\r\nK: yes\r\nContent-Length: 4\r\n" CLOSE "\r\n1234", 200, NULL);
	expect("POST /small HTTP/1.1\r\nHost: x\r\nK: yes\r\nContent-Length: 5\r\n" CLOSE "\r\n12345", 413, NULL);
	/* A sink takes any size, chunked or not. */
	expect("POST /sink HTTP/1.1\r\nHost: x\r\nK: yes\r\nTransfer-Encoding: chunked\r\n" CLOSE
	       "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	       200, "\r\n\r\n11", NULL);
	char *reply = exchange("GET /stream HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n");
	assert_non_null(strstr(reply, "streamed"));
	assert_null(strstr(reply, "X-Stamp")); /* streams are not plain replies */
	free(reply);
}

static void test_route_patterns(void **state)
{
	(void)state;
	char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM];
	assert_true(http_match("/sandboxes/{}/timeout", "/sandboxes/abc123/timeout", params, 2));
	assert_string_equal(params[0], "abc123");
	assert_false(http_match("/sandboxes/{}", "/sandboxes/", params, 2));
	assert_false(http_match("/sandboxes/{}", "/sandboxes/a/b", params, 2));
	assert_false(http_match("/sandboxes", "/sandboxes/", params, 2));
	assert_true(http_match("/health", "/health", params, 2));
	assert_false(http_match("/health", "/healthz", params, 2));
	/* A named segment matches as {} does; the name is only for people. */
	assert_true(http_match("/sandboxes/{sandboxID}/snapshots", "/sandboxes/abc/snapshots", params, 2));
	assert_string_equal(params[0], "abc");
	assert_false(http_match("/sandboxes/{sandboxID}/snapshots", "/sandboxes/abc/snapshot", params, 2));
	assert_false(http_match("/templates/{templateID}", "/templates/a/b", params, 2));
	assert_true(http_match("/a/{}/b/{}", "/a/x/b/y", params, 2));
	assert_string_equal(params[1], "y");
	assert_false(http_match("/a/{}/b/{}", "/a/x/b/y", params, 1));
	char path[300];
	snprintf(path, sizeof(path), "/sandboxes/%0127d", 0);
	assert_true(http_match("/sandboxes/{}", path, params, 2));
	snprintf(path, sizeof(path), "/sandboxes/%0128d", 0);
	assert_false(http_match("/sandboxes/{}", path, params, 2));
}

/* --- limits: a server of their own, with small numbers --- */

static enum MHD_Result slow(struct http_request *r)
{
	sleep(2); /* longer than the idle timeout: a handler at work is not idle */
	return http_reply_empty(r, 200);
}

static ssize_t late_chunk(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)max;
	if (pos)
		return MHD_CONTENT_READER_END_OF_STREAM;
	sleep(2); /* a stream waiting for what to send is not idle either */
	memcpy(buf, "late", 4);
	return 4;
}

static enum MHD_Result late_stream(struct http_request *r)
{
	return http_stream(r, "text/plain", late_chunk, NULL, nothing);
}

static const struct http_route limit_routes[] = {
	{ "GET", "/slow", slow },
	{ "GET", "/late", late_stream },
	{ "POST", "/body", echo_body, 8 },
	{ "GET", "/own", taken, .authorize = self_authorize },
};

/* Caps (max_conns, per_client) only for the test of them: MHD tells of a
 * closed connection a moment later, so back-to-back requests from one
 * address may briefly count the one before. */
static struct http_server *limits_start(unsigned *p, unsigned max_conns, unsigned per_client)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct http_server_config c = {
		.addr = &sa, .routes = limit_routes, .nroutes = sizeof(limit_routes) / sizeof(limit_routes[0]),
		.max_connections = max_conns, .max_per_client = per_client, .idle_timeout_s = 1, .auth_failures = 3,
		.auth_lockout_s = 2, .default_body_limit = 4, .authorize = authorize, .fail = refuse,
	};
	struct http_server *s;
	struct cove_err err = { 0 };
	assert_int_equal(http_server_start(&c, &s, &err), 0);
	*p = http_server_port(s);
	return s;
}

#define GET_OWN(ticket) "GET /own" ticket " HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"

static void test_auth_lockout(void **state)
{
	(void)state;
	unsigned p;
	struct http_server *s = limits_start(&p, 64, 0);
	/* A good answer forgets the failures before it. */
	expect_at(p, 10, GET_OWN(""), 401, NULL);
	expect_at(p, 10, GET_OWN(""), 401, NULL);
	expect_at(p, 10, GET_OWN("?ticket=1"), 299, NULL);
	expect_at(p, 10, GET_OWN(""), 401, NULL);
	expect_at(p, 10, GET_OWN(""), 401, NULL);
	/* The third in a row locks the address out: the right answer too. */
	expect_at(p, 10, GET_OWN(""), 401, NULL);
	expect_at(p, 10, GET_OWN(""), 429, "failure 6", NULL);
	expect_at(p, 10, GET_OWN("?ticket=1"), 429, NULL);
	/* Another address is not. */
	expect_at(p, 11, GET_OWN("?ticket=1"), 299, NULL);
	expect_at(p, 11, GET_OWN(""), 401, NULL);
	sleep(2);
	expect_at(p, 10, GET_OWN("?ticket=1"), 299, NULL);
	http_server_stop(s);
}

/* Opens a connection from 127.0.0.from and waits until the server has it. */
static int hold(unsigned p, unsigned from)
{
	int fd = dial(p, from);
	usleep(100 * 1000);
	return fd;
}

static void test_connection_caps(void **state)
{
	(void)state;
	unsigned p;
	struct http_server *s = limits_start(&p, 4, 2);
	int a = hold(p, 20), b = hold(p, 20);
	/* A third from the same address is answered 503 and closed. */
	expect_at(p, 20, GET_OWN("?ticket=1"), 503, "failure 5", NULL);
	int c = hold(p, 21), d = hold(p, 21);
	/* Four open: any address is over the total. */
	expect_at(p, 22, GET_OWN("?ticket=1"), 503, NULL);
	/* The connections held from the start are served. */
	char *reply = exchange_on(b, GET_OWN("?ticket=1"));
	assert_memory_equal(reply, "HTTP/1.1 299", 12);
	free(reply);
	/* A place freed is taken (MHD tells of a closed connection soon). */
	close(a);
	bool served = false;
	for (int i = 0; i < 40 && !served; i++) {
		usleep(50 * 1000);
		reply = exchange_on(dial(p, 22), GET_OWN("?ticket=1"));
		served = strncmp(reply, "HTTP/1.1 299", 12) == 0;
		free(reply);
	}
	assert_true(served);
	close(c);
	close(d);
	http_server_stop(s);
}

static void test_timeouts_and_sizes(void **state)
{
	(void)state;
	unsigned p;
	struct http_server *s = limits_start(&p, 64, 0);
	/* An idle connection is closed after the timeout (1 s). */
	int fd = hold(p, 30);
	char byte;
	struct timespec t0, t1; /* monotonic: the wall clock may be stepped meanwhile */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(recv(fd, &byte, 1, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms < 500 || ms >= 4000)
		fail_msg("the idle connection was closed after %ld ms", ms);
	close(fd);
	/* A handler and a stream that take longer are not cut. */
	expect_at(p, 30, "GET /slow HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n", 200, NULL);
	expect_at(p, 30, "GET /late HTTP/1.1\r\nHost: x\r\nK: yes\r\n" CLOSE "\r\n", 200, "late", NULL);
	/* A body declared too large is refused before any of it is sent. */
	expect_at(p, 30, "POST /body HTTP/1.1\r\nHost: x\r\nK: yes\r\nContent-Length: 1000000000\r\n\r\n", 413,
		  "failure 3", NULL);
	/* ... and when the client sends it anyway, the reply still reaches it. */
	size_t blen = 200 * 1024;
	char *sent = malloc(blen + 128);
	int hn = snprintf(sent, 128, "POST /body HTTP/1.1\r\nHost: x\r\nK: yes\r\nContent-Length: %zu\r\n\r\n", blen);
	memset(sent + hn, 'b', blen);
	sent[hn + blen] = '\0';
	expect_at(p, 30, sent, 413, "failure 3", NULL);
	free(sent);
	/* Headers past MHD's per-connection memory (32 KiB): 431. */
	size_t big = 40 * 1024;
	char *req = malloc(big + 128);
	int n = snprintf(req, 128, "GET /own?ticket=1 HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'a', big);
	memcpy(req + n + big, "\r\n\r\n", 5);
	expect_at(p, 30, req, 431, NULL);
	free(req);
	http_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_route_patterns),
		cmocka_unit_test(test_auth_lockout),
		cmocka_unit_test(test_connection_caps),
		cmocka_unit_test(test_timeouts_and_sizes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
