/* Unit tests for src/proto/http1 (the proxy's reading of guest responses);
 * coved's routing helpers are tested in test_http_server.c and
 * test_api_request.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/http1.h"

static int parse(const char *text, struct http1_response *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s", text);
	return http1_parse_response(buf, strlen(buf), r);
}

static void test_response_heads(void **state)
{
	(void)state;
	char buf[1024];
	struct http1_response r;
	assert_int_equal(http1_head_end("HTTP/1.1 200 OK\r\n\r\nbody", 23), 19);
	assert_int_equal(http1_head_end("HTTP/1.1 200 OK\r\n", 17), 0);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length:  12 \r\n\r\n", &r, buf,
			       sizeof(buf)), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, 12);
	assert_false(r.chunked);
	assert_string_equal(http1_header(&r, "content-type"), "text/plain");
	assert_null(http1_header(&r, "X-Nope"));
	assert_int_equal(parse("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n", &r, buf, sizeof(buf)), 0);
	assert_true(r.chunked);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse("HTTP/1.0 204\r\n\r\n", &r, buf, sizeof(buf)), 0);
	assert_int_equal(r.status, 204);
	const char *bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (parse(bad[i], &r, buf, sizeof(buf)) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
	/* Too many headers. */
	char many[8192] = "HTTP/1.1 200 OK\r\n";
	for (int i = 0; i <= HTTP1_MAX_HEADERS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "X-%d: v\r\n", i);
	strcat(many, "\r\n");
	assert_int_equal(http1_parse_response(many, strlen(many), &r), -EPROTO);
}

/* Feeds text to the decoder in pieces of step bytes. */
static int decode(const char *text, size_t step, char *out, size_t *out_len, bool *done)
{
	struct http1_chunked c = { 0 };
	size_t len = strlen(text), off = 0;
	*out_len = 0;
	while (off < len && !c.done) {
		size_t n = len - off < step ? len - off : step, used, made;
		int r = http1_chunked_decode(&c, (const uint8_t *)text + off, n, (uint8_t *)out + *out_len, &used, &made);
		if (r < 0)
			return r;
		off += used;
		*out_len += made;
	}
	out[*out_len] = '\0';
	*done = c.done;
	return 0;
}

static void test_chunked(void **state)
{
	(void)state;
	char out[256];
	size_t n;
	bool done;
	const char *body = "5\r\nhello\r\n1;name=v\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nleftover";
	for (size_t step = 1; step <= 80; step += 7) {
		assert_int_equal(decode(body, step, out, &n, &done), 0);
		assert_true(done);
		assert_string_equal(out, "hello 0123456789");
	}
	assert_int_equal(decode("3\r\nab", 100, out, &n, &done), 0);
	assert_false(done);
	assert_string_equal(out, "ab");
	const char *bad[] = { "\r\n", "g\r\n", "5\r\nhelloXX", "5\nhello\r\n", "11111111111111111\r\n",
			      "5\r\nhello\r\n0\r\nX" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = decode(bad[i], 3, out, &n, &done);
		if (i == 5) {
			/* a trailer without its end is incomplete, not wrong */
			assert_int_equal(r, 0);
			assert_false(done);
		} else if (r != -EPROTO) {
			fail_msg("accepted: %s", bad[i]);
		}
	}
}

static int request(const char *text, struct http1_request *r, char *buf)
{
	strcpy(buf, text);
	return http1_parse_request(buf, strlen(buf), r);
}

static void test_request_heads(void **state)
{
	(void)state;
	char buf[1024], out[1024];
	struct http1_request r;
	assert_int_equal(request("POST /v1/x?q=1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: old\r\n"
				 "Content-Length: 5\r\nX-A: 1\r\nauthorization: older\r\n\r\n",
				 &r, buf),
			 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.target, "/v1/x?q=1");
	assert_int_equal(r.minor, 1);
	assert_string_equal(r.host, "api.test");
	assert_int_equal(r.content_length, 5);
	assert_false(r.chunked);
	assert_false(r.tunnel);
	const struct http1_header set[] = { { "Authorization", "Bearer s3cret" }, { "X-New", "v" } };
	long n = http1_request_compose(&r, set, 2, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, "POST /v1/x?q=1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer s3cret\r\n"
				 "Content-Length: 5\r\nX-A: 1\r\nX-New: v\r\n\r\n");
	assert_int_equal(http1_request_compose(&r, set, 2, out, 20), -ENOSPC);

	assert_int_equal(request("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r, buf), 0);
	assert_true(r.chunked);
	assert_int_equal(request("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &r, buf), 0);
	assert_true(r.tunnel);
	assert_int_equal(request("GET / HTTP/1.0\r\n\r\n", &r, buf), 0);
	assert_null(r.host);

	const char *bad[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\r\n\r\n",
		"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (request(bad[i], &r, buf) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_heads),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_request_heads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
