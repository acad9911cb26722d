/* Unit tests for src/proto/peek (the egress proxy's reading of a connection's
 * first bytes). The TLS vectors are real ClientHellos of curl, openssl
 * s_client and node, recorded on loopback into tests/fuzz/corpus/fuzz_peek/
 * (the fuzz target's seeds); hand-built ones cover what clients never send. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/peek.h"

#define BUF_MAX (PEEK_MAX + 8192)

/* Reads tests/fuzz/corpus/fuzz_peek/NAME, found from the test binary's
 * directory upwards (build/bin/tests, build/asan/bin/tests, ...). */
static size_t load(const char *name, uint8_t *buf)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	assert_true(n > 0);
	dir[n] = '\0';
	for (char *slash; (slash = strrchr(dir, '/')) != NULL;) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_peek/%s", dir, name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		size_t len = fread(buf, 1, BUF_MAX, f);
		fclose(f);
		return len;
	}
	fail_msg("corpus file %s not found above the test binary", name);
	return 0;
}

/* peek_name on every prefix of buf: PEEK_MORE until the answer, which must
 * be want (and name want_name on success) and then never change. */
static void check_prefixes(const uint8_t *buf, size_t len, int want, const char *want_name)
{
	char name[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	int first = -1;
	for (size_t k = 0; k <= len; k++) {
		strcpy(name, "untouched");
		int r = peek_name(buf, k, name, &err);
		if (r == PEEK_MORE) {
			if (first >= 0)
				fail_msg("answer %d at %d bytes, PEEK_MORE at %zu", want, first, k);
			continue;
		}
		if (r != want)
			fail_msg("got %d at %zu bytes, want %d (%s)", r, k, want, err.msg);
		if (first < 0)
			first = (int)k;
		if (want > 0)
			assert_string_equal(name, want_name);
		else
			assert_string_equal(name, "untouched");
	}
	if (first < 0)
		fail_msg("still PEEK_MORE after all %zu bytes", len);
}

static void test_real_client_hellos(void **state)
{
	(void)state;
	static const struct {
		const char *file, *name;
	} cases[] = {
		{ "tls_curl_sni", "allowed.test" },
		{ "tls_openssl_sni", "x.test" },
		{ "tls_openssl_nosni", "" },
		{ "tls12_openssl_mixed_case", "mixed.case.test" },
		{ "tls_openssl_3_records", "frag.test" }, /* -max_send_frag 512: three records */
		{ "tls_node_sni", "node.test" },
	};
	static uint8_t buf[BUF_MAX];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		size_t len = load(cases[i].file, buf);
		check_prefixes(buf, len, PEEK_TLS, cases[i].name);
	}
}

static void test_real_http_requests(void **state)
{
	(void)state;
	static uint8_t buf[BUF_MAX];
	size_t len = load("http_curl", buf);
	check_prefixes(buf, len, PEEK_HTTP, "allowed.test");
	len = load("http_curl_absolute", buf);
	check_prefixes(buf, len, PEEK_HTTP, "allowed.test");
}

/* The ClientHello of a one-record capture sent again in records of frag
 * bytes each (the last one shorter); returns the new length. */
static size_t rerecord(const uint8_t *in, size_t len, size_t frag, uint8_t *out)
{
	size_t msg = (size_t)in[3] << 8 | in[4], o = 0;
	assert_int_equal(msg, len - 5);
	for (size_t off = 0; off < msg; off += frag) {
		size_t n = msg - off < frag ? msg - off : frag;
		out[o] = 22, out[o + 1] = in[1], out[o + 2] = in[2];
		out[o + 3] = (uint8_t)(n >> 8), out[o + 4] = (uint8_t)n;
		memcpy(out + o + 5, in + 5 + off, n);
		o += 5 + n;
	}
	return o;
}

static void test_fragmented_hello(void **state)
{
	(void)state;
	static uint8_t in[BUF_MAX], out[BUF_MAX];
	size_t len = load("tls_curl_sni", in);
	static const size_t frags[] = { 1, 2, 3, 5, 64, 300, 516 };
	for (size_t i = 0; i < sizeof(frags) / sizeof(*frags); i++) {
		size_t n = rerecord(in, len, frags[i], out);
		check_prefixes(out, n, PEEK_TLS, "allowed.test");
	}
	/* An alert (21) or change_cipher_spec (20) record inside the hello. */
	size_t n = rerecord(in, len, 100, out);
	out[105] = 21;
	check_prefixes(out, n, -EPROTO, NULL);
	out[105] = 20;
	check_prefixes(out, n, -EPROTO, NULL);
	/* A record of length 0 in between (RFC 8446 5.1 forbids it). */
	out[105] = 22;
	check_prefixes(out, n, PEEK_TLS, "allowed.test");
	memmove(out + 110, out + 105, n - 105);
	memcpy(out + 105, "\x16\x03\x01\x00\x00", 5);
	check_prefixes(out, n + 5, -EPROTO, NULL);
}

/* A ClientHello in one record (version 0x0303) with the given extensions
 * block (ext_len bytes, NULL: none at all); returns its length. */
static size_t hello(uint8_t *out, const uint8_t *ext, size_t ext_len)
{
	size_t o = 9;
	out[o++] = 3, out[o++] = 3;
	memset(out + o, 0xab, 32), o += 32;
	out[o++] = 0;                                                 /* session id */
	out[o++] = 0, out[o++] = 2, out[o++] = 0x13, out[o++] = 0x01; /* TLS_AES_128_GCM_SHA256 */
	out[o++] = 1, out[o++] = 0;                                   /* null compression */
	if (ext) {
		out[o++] = (uint8_t)(ext_len >> 8), out[o++] = (uint8_t)ext_len;
		memcpy(out + o, ext, ext_len), o += ext_len;
	}
	size_t msg = o - 9, rec = o - 5;
	out[0] = 22, out[1] = 3, out[2] = 1, out[3] = (uint8_t)(rec >> 8), out[4] = (uint8_t)rec;
	out[5] = 1, out[6] = (uint8_t)(msg >> 16), out[7] = (uint8_t)(msg >> 8), out[8] = (uint8_t)msg;
	return o;
}

/* Appends a server_name extension naming name (type: the name type). */
static size_t sni(uint8_t *out, const char *name, uint8_t type)
{
	size_t n = strlen(name);
	out[0] = 0, out[1] = 0, out[2] = (uint8_t)((n + 5) >> 8), out[3] = (uint8_t)(n + 5);
	out[4] = (uint8_t)((n + 3) >> 8), out[5] = (uint8_t)(n + 3);
	out[6] = type, out[7] = (uint8_t)(n >> 8), out[8] = (uint8_t)n;
	memcpy(out + 9, name, n);
	return n + 9;
}

static void expect_hello(const uint8_t *ext, size_t ext_len, int want, const char *want_name)
{
	static uint8_t buf[BUF_MAX];
	size_t len = hello(buf, ext, ext_len);
	check_prefixes(buf, len, want, want_name);
}

static void test_built_hellos(void **state)
{
	(void)state;
	uint8_t ext[4096];
	size_t n;
	expect_hello(NULL, 0, PEEK_TLS, ""); /* no extensions block */
	expect_hello(ext, 0, PEEK_TLS, "");  /* an empty one */
	n = sni(ext, "Pypi.ORG.", 0);
	expect_hello(ext, n, PEEK_TLS, "pypi.org");
	n = sni(ext, "93.184.216.34", 0); /* an IP literal, as broken clients send */
	expect_hello(ext, n, PEEK_TLS, "93.184.216.34");
	/* Another extension before it (ALPN h2). */
	memcpy(ext, "\x00\x10\x00\x05\x00\x03\x02h2", 9);
	n = 9 + sni(ext + 9, "a.test", 0);
	expect_hello(ext, n, PEEK_TLS, "a.test");
	/* Bad names. */
	static const char *const bad[] = { "a_b.test", "a b.test", "a.test:443", ".a.test",         "a..test",
					   ".",        "",         "a..",        "bad\xc3\xa9.test" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		n = sni(ext, bad[i], 0);
		expect_hello(ext, n, -EPROTO, NULL);
	}
	char name[300];
	memset(name, 'a', 64), name[64] = '\0'; /* a label of 64 */
	expect_hello(ext, sni(ext, name, 0), -EPROTO, NULL);
	for (size_t i = 0; i < 4; i++) /* 4 labels of 63 and dots: 255 */
		memset(name + 64 * i, 'a', 63), name[64 * i + 63] = '.';
	name[253] = '\0';
	expect_hello(ext, sni(ext, name, 0), PEEK_TLS, name);
	name[253] = 'a', name[254] = '\0';
	expect_hello(ext, sni(ext, name, 0), -EPROTO, NULL);
	memset(name, 'a', 299), name[299] = '\0'; /* longer than any name buffer */
	static uint8_t buf[BUF_MAX];
	char out[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	assert_int_equal(peek_name(buf, hello(buf, ext, sni(ext, name, 0)), out, &err), -EPROTO);
	assert_string_equal(err.msg, "tls: server_name of 299 bytes (253 at most)");
	/* Two server_name extensions; a name type other than host_name. */
	n = sni(ext, "a.test", 0);
	n += sni(ext + n, "b.test", 0);
	expect_hello(ext, n, -EPROTO, NULL);
	expect_hello(ext, sni(ext, "a.test", 1), -EPROTO, NULL);
	/* Two host_name entries in one list. */
	n = sni(ext, "a.test", 0);
	memcpy(ext + n, "\0\0\6b.test", 9);
	ext[3] += 9, ext[5] += 9, n += 9;
	expect_hello(ext, n, -EPROTO, NULL);
}

/* One byte of a valid hello changed: each change must be refused. */
static void test_bad_lengths(void **state)
{
	(void)state;
	static uint8_t buf[BUF_MAX];
	uint8_t ext[64];
	size_t ext_len = sni(ext, "a.test", 0);
	static const struct {
		size_t at;
		int delta;
		const char *what;
	} cases[] = {
		{ 0, -6, "record type 16" },
		{ 1, -1, "record version 2.x" },
		{ 2, 3, "record version 3.4" },
		{ 5, 1, "handshake type 2" },
		{ 8, 1, "handshake length one more than the record's" },
		{ 8, -1, "handshake length one less" },
		{ 9, -1, "ClientHello version 2.x" },
		{ 43, 33, "session id of 33" },
		{ 45, 1, "cipher suites of 3" },
		{ 45, -2, "cipher suites of 0" },
		{ 48, -1, "compression methods of 0" },
		{ 51, 1, "extensions one longer than the message" },
		{ 51, -1, "extensions one shorter than the message" },
		{ 55, 1, "server_name extension one longer" },
		{ 55, -1, "server_name extension one shorter" },
		{ 57, 1, "server_name list one longer" },
		{ 57, -1, "server_name list one shorter" },
		{ 60, 1, "host_name one longer" },
		{ 60, -1, "host_name one shorter" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		size_t len = hello(buf, ext, ext_len);
		buf[cases[i].at] = (uint8_t)(buf[cases[i].at] + cases[i].delta);
		char name[PEEK_NAME_MAX + 1];
		struct cove_err err = { 0 };
		/* With the bytes that follow too, as a stream has them. */
		memset(buf + len, 0x16, 64);
		int r = peek_name(buf, len + 64, name, &err);
		if (r != -EPROTO)
			fail_msg("%s: got %d (%s)", cases[i].what, r, err.msg);
	}
}

static void test_sizes(void **state)
{
	(void)state;
	static uint8_t buf[BUF_MAX], out[BUF_MAX * 2];
	char name[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	/* A handshake length no PEEK_MAX bytes can carry: known at 9 bytes. */
	assert_int_equal(peek_name((const uint8_t *)"\x16\x03\x01\x40\x00\x01\xff\xff\xff", 9, name, &err), -E2BIG);
	assert_int_equal(peek_name((const uint8_t *)"\x16\x03\x01\x40\x00\x01\xff\xff", 8, name, &err), PEEK_MORE);
	/* Large hellos as post-quantum key shares make them: an 8000-byte
	 * padding extension (21), then the name, in records of 1500. */
	uint8_t ext[9000] = { 0, 21, 8000 >> 8, 8000 & 255 };
	size_t n = 4 + 8000 + sni(ext + 8004, "big.test", 0);
	size_t len = hello(buf, ext, n);
	check_prefixes(buf, len, PEEK_TLS, "big.test");
	check_prefixes(out, rerecord(buf, len, 1500, out), PEEK_TLS, "big.test");
	/* One that fits a record but not, in records of 50, PEEK_MAX bytes. */
	static uint8_t big[20000];
	memcpy(big, "\x00\x15\x3a\x98", 4); /* padding of 15000 */
	n = 4 + 15000 + sni(big + 4 + 15000, "big.test", 0);
	len = hello(buf, big, n);
	check_prefixes(buf, len, PEEK_TLS, "big.test");
	len = rerecord(buf, len, 50, out);
	assert_true(len > PEEK_MAX);
	assert_int_equal(peek_name(out, PEEK_MAX - 1, name, &err), PEEK_MORE);
	assert_int_equal(peek_name(out, PEEK_MAX, name, &err), -E2BIG);
	assert_int_equal(peek_name(out, len, name, &err), -E2BIG);
	/* An HTTP head that does not end within PEEK_MAX. */
	memset(buf, 'a', BUF_MAX);
	memcpy(buf, "GET /", 5);
	assert_int_equal(peek_name(buf, PEEK_MAX - 1, name, &err), PEEK_MORE);
	assert_int_equal(peek_name(buf, PEEK_MAX, name, &err), -E2BIG);
	assert_int_equal(peek_name(buf, BUF_MAX, name, &err), -E2BIG);
	len = (size_t)snprintf((char *)buf, BUF_MAX, "GET / HTTP/1.1\r\nHost: a.test\r\n");
	for (; len < PEEK_MAX + 100; len += 10)
		memcpy(buf + len, "X-A: bbb\r\n", 10);
	assert_int_equal(peek_name(buf, len, name, &err), -E2BIG);
}

static void expect_http(const char *text, int want, const char *want_name)
{
	check_prefixes((const uint8_t *)text, strlen(text), want, want_name);
}

/* Refused, for the reason named. */
static void expect_http_error(const char *text, const char *reason)
{
	char name[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	check_prefixes((const uint8_t *)text, strlen(text), -EPROTO, NULL);
	assert_int_equal(peek_name((const uint8_t *)text, strlen(text), name, &err), -EPROTO);
	if (!strstr(err.msg, reason))
		fail_msg("'%s' refused for '%s', not for %s", text, err.msg, reason);
}

static void test_http(void **state)
{
	(void)state;
	expect_http("GET / HTTP/1.1\r\nHost: Example.COM.\r\n\r\n", PEEK_HTTP, "example.com");
	expect_http("GET / HTTP/1.1\nHost: a.test:8080\nAccept: */*\n\nbody", PEEK_HTTP, "a.test");
	expect_http("get /x?y HTTP/1.1\r\nhOsT:a.test \t\r\n\r\n", PEEK_HTTP, "a.test");
	expect_http("GET / HTTP/1.1\r\nHost: a.test:\r\n\r\n", PEEK_HTTP, "a.test");
	expect_http("GET / HTTP/1.1\r\nX-Host: b.test\r\nHost: a.test\r\n\r\n", PEEK_HTTP, "a.test");
	expect_http("GET / HTTP/1.0\r\n\r\n", PEEK_HTTP, "");
	expect_http("GET / HTTP/1.1\r\nHost:\r\n\r\n", PEEK_HTTP, "");
	expect_http("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", PEEK_HTTP, "[::1]");
	expect_http("GET / HTTP/1.1\r\nHost: [2001:DB8::1]\r\n\r\n", PEEK_HTTP, "[2001:db8::1]");
	expect_http("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", PEEK_HTTP, "10.0.0.1");
	expect_http("OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", PEEK_HTTP, "a.test");
	/* Absolute-form: its host names the request; a Host must agree. */
	expect_http("GET http://a.test/x HTTP/1.1\r\n\r\n", PEEK_HTTP, "a.test");
	expect_http("GET HTTP://A.test:80?q HTTP/1.1\r\nHost: a.test:8080\r\n\r\n", PEEK_HTTP, "a.test");
	expect_http("GET https://a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", PEEK_HTTP, "a.test");
	expect_http("GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET http://a.test/ HTTP/1.1\r\nHost:\r\n\r\n", -EPROTO, NULL);
	expect_http("GET http://a.test@b.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET http:///x HTTP/1.1\r\n\r\n", -EPROTO, NULL);
	expect_http("GET ftp://a.test/ HTTP/1.1\r\n\r\n", -EPROTO, NULL);
	/* Smuggling and evasion. */
	expect_http("GET / HTTP/1.1\r\nHost: a.test\r\nhost: b.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test\r\nX: y\r\n z\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\n Host: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost : a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nX: a\x01\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a_b.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test..\r\n\r\n", -EPROTO, NULL);
	expect_http("GET http://a.. HTTP/1.1\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test:99999\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: a.test:8x\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\nNoColon\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\n\r\n", -EPROTO, NULL); /* 1.1 without a host */
	expect_http("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", -EPROTO, NULL);
	expect_http("connect a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", -EPROTO, NULL);
	expect_http("GET * HTTP/1.1\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1 \r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / http/1.1\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET /\tx HTTP/1.1\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http("GET / HTTP/1.1\r\n\r\n", -EPROTO, NULL);
	expect_http("\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n", -EPROTO, NULL);
	expect_http_error("CONNECT / HTTP/1.1\r\nHost: a.test\r\n\r\n", "CONNECT");
	expect_http_error("CONNECT http://a.test/ HTTP/1.1\r\n\r\n", "CONNECT");
	expect_http_error("GET http://a.test:x@b.test/ HTTP/1.1\r\n\r\n", "userinfo");
	expect_http_error("GET / HTTP/1.1\r\nHost: a.test\r\nX: y\r\n\tz\r\n\r\n", "obs-fold");
	expect_http_error("GET / HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n", "two Host");
	expect_http_error("GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", "another host");
	/* NUL and junk, refused at once. */
	static const uint8_t nul[] = "GET / HTTP/1.1\r\nHost: a.test\0\r\n\r\n";
	check_prefixes(nul, sizeof(nul) - 1, -EPROTO, NULL);
	char name[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	assert_int_equal(peek_name((const uint8_t *)"\x80\x01\x02", 3, name, &err), -EPROTO);
	assert_int_equal(peek_name((const uint8_t *)"SSH-2.0-OpenSSH_9.2\r\n", 21, name, &err), -EPROTO);
	assert_int_equal(peek_name((const uint8_t *)"GE\x01", 3, name, &err), -EPROTO);
	assert_int_equal(peek_name((const uint8_t *)"\x16\x03\x05", 3, name, &err), -EPROTO);
	assert_int_equal(peek_name((const uint8_t *)"\x16\x03\x01\x00\x05\x02", 6, name, &err), -EPROTO);
}

/* Errors say what was wrong without quoting the guest's bytes. */
static void test_errors_quote_nothing(void **state)
{
	(void)state;
	char name[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	const char *req = "GET / HTTP/1.1\r\nHost: evil_name.test\r\nHost: evil2.test\r\n\r\n";
	assert_int_equal(peek_name((const uint8_t *)req, strlen(req), name, &err), -EPROTO);
	assert_null(strstr(err.msg, "evil"));
	assert_non_null(strstr(err.msg, "Host"));
	uint8_t buf[512], ext[64];
	size_t len = hello(buf, ext, sni(ext, "evil_name.test", 0));
	assert_int_equal(peek_name(buf, len, name, &err), -EPROTO);
	assert_null(strstr(err.msg, "evil"));
	assert_non_null(strstr(err.msg, "server_name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_client_hellos),
		cmocka_unit_test(test_real_http_requests),
		cmocka_unit_test(test_fragmented_hello),
		cmocka_unit_test(test_built_hellos),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_errors_quote_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
