/* Unit tests for the host-guest framing (src/proto/): Connect stream
 * envelopes and base64. The process.Process messages are in
 * test_proto_process.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/base64.h"
#include "proto/envelope.h"
#include "proto/utf8.h"

/* ---- envelopes ---- */

static void test_envelope_header_round_trip(void **state)
{
	(void)state;
	uint8_t h[ENVELOPE_HEADER_SIZE];
	/* Big-endian length, every byte distinct so a swap shows. */
	envelope_header_encode(ENVELOPE_FLAG_END, 0x01020304, h);
	const uint8_t want[] = { 0x02, 0x01, 0x02, 0x03, 0x04 };
	assert_memory_equal(h, want, sizeof(want));
	uint8_t flags = 0xff;
	uint32_t len = 0;
	assert_int_equal(envelope_header_decode(h, UINT32_MAX, &flags, &len), 0);
	assert_int_equal(flags, ENVELOPE_FLAG_END);
	assert_int_equal(len, 0x01020304);
	envelope_header_encode(0, 0, h);
	assert_int_equal(envelope_header_decode(h, 0, &flags, &len), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(len, 0);
}

static void test_envelope_header_rejects_flags_and_size(void **state)
{
	(void)state;
	uint8_t h[ENVELOPE_HEADER_SIZE];
	uint8_t flags = 0x7f;
	uint32_t len = 77;
	envelope_header_encode(ENVELOPE_FLAG_COMPRESSED, 4, h);
	assert_int_equal(envelope_header_decode(h, 1024, &flags, &len), -EPROTO);
	envelope_header_encode(0x04, 4, h);
	assert_int_equal(envelope_header_decode(h, 1024, &flags, &len), -EPROTO);
	envelope_header_encode(0, 1025, h);
	assert_int_equal(envelope_header_decode(h, 1024, &flags, &len), -EMSGSIZE);
	envelope_header_encode(0, 1024, h);
	assert_int_equal(envelope_header_decode(h, 1024, &flags, &len), 0);
	assert_int_equal(len, 1024);
}

/* Appends one envelope (header and payload) to buf at *n. */
static void put_envelope(uint8_t *buf, size_t *n, uint8_t flags, const char *payload)
{
	size_t len = strlen(payload);
	envelope_header_encode(flags, (uint32_t)len, buf + *n);
	memcpy(buf + *n + ENVELOPE_HEADER_SIZE, payload, len);
	*n += ENVELOPE_HEADER_SIZE + len;
}

static void test_envelope_decoder_byte_at_a_time(void **state)
{
	(void)state;
	const char *payloads[] = { "{\"event\":{\"start\":{\"pid\":1}}}", "", "{}" };
	const uint8_t flags[] = { 0, 0, ENVELOPE_FLAG_END };
	uint8_t stream[128];
	size_t n = 0;
	for (size_t i = 0; i < 3; i++)
		put_envelope(stream, &n, flags[i], payloads[i]);

	struct envelope_decoder d;
	envelope_decoder_init(&d, 1024);
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(envelope_decoder_feed(&d, stream + i, 1), 0);
		struct envelope e;
		int r;
		while ((r = envelope_decoder_next(&d, &e)) == 1) {
			assert_true(got < 3);
			assert_int_equal(e.flags, flags[got]);
			assert_int_equal(e.len, strlen(payloads[got]));
			assert_memory_equal(e.data, payloads[got], e.len);
			got++;
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(got, 3);
	envelope_decoder_free(&d);
	assert_null(d.buf);
}

static void test_envelope_decoder_waits_for_more(void **state)
{
	(void)state;
	uint8_t stream[64];
	size_t n = 0;
	put_envelope(stream, &n, 0, "hello");
	struct envelope_decoder d;
	envelope_decoder_init(&d, 1024);
	struct envelope e;
	assert_int_equal(envelope_decoder_next(&d, &e), 0);
	/* An empty read before anything was buffered (found by fuzzing: a
	 * memcpy into the never-allocated buffer, undefined behaviour). */
	assert_int_equal(envelope_decoder_feed(&d, stream, 0), 0);
	assert_int_equal(envelope_decoder_feed(&d, stream, 3), 0);
	assert_int_equal(envelope_decoder_next(&d, &e), 0);
	assert_int_equal(envelope_decoder_feed(&d, stream + 3, ENVELOPE_HEADER_SIZE), 0);
	assert_int_equal(envelope_decoder_next(&d, &e), 0);
	assert_int_equal(envelope_decoder_feed(&d, stream + 3 + ENVELOPE_HEADER_SIZE, n - 3 - ENVELOPE_HEADER_SIZE), 0);
	assert_int_equal(envelope_decoder_next(&d, &e), 1);
	assert_int_equal(e.len, 5);
	assert_memory_equal(e.data, "hello", 5);
	assert_int_equal(envelope_decoder_next(&d, &e), 0);
	envelope_decoder_free(&d);
}

static void test_envelope_decoder_rejects_bad_headers(void **state)
{
	(void)state;
	const struct { uint8_t flags; uint32_t len; int want; } cases[] = {
		{ 0, 17, -EMSGSIZE }, { ENVELOPE_FLAG_COMPRESSED, 1, -EPROTO }, { 0x80, 1, -EPROTO },
	};
	for (size_t i = 0; i < 3; i++) {
		uint8_t h[ENVELOPE_HEADER_SIZE];
		struct envelope e;
		struct envelope_decoder d;
		envelope_decoder_init(&d, 16);
		envelope_header_encode(cases[i].flags, cases[i].len, h);
		assert_int_equal(envelope_decoder_feed(&d, h, sizeof(h)), 0);
		assert_int_equal(envelope_decoder_next(&d, &e), cases[i].want);
		envelope_decoder_free(&d);
	}
}

static void test_envelope_decoder_limits_feed(void **state)
{
	(void)state;
	uint8_t *big = calloc(1, ENVELOPE_FEED_MAX + 1);
	assert_non_null(big);
	struct envelope_decoder d;
	envelope_decoder_init(&d, ENVELOPE_MAX_MESSAGE);
	assert_int_equal(envelope_decoder_feed(&d, big, ENVELOPE_FEED_MAX + 1), -EMSGSIZE);
	assert_int_equal(envelope_decoder_feed(&d, big, ENVELOPE_FEED_MAX), 0);
	envelope_decoder_free(&d);
	free(big);
}

static void test_envelope_send_over_socket(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(envelope_send(sv[0], ENVELOPE_FLAG_END, "{}", 2), 0);
	uint8_t buf[16];
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 7);
	const uint8_t want[] = { 0x02, 0, 0, 0, 2, '{', '}' };
	assert_memory_equal(buf, want, sizeof(want));
	close(sv[1]);
	assert_int_equal(envelope_send(sv[0], 0, "x", 1), -EPIPE);
	close(sv[0]);
}

/* ---- base64 ---- */

static void test_base64_rfc4648_vectors(void **state)
{
	(void)state;
	const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (size_t i = 0; i < 7; i++) {
		size_t len = strlen(plain[i]);
		char out[16];
		assert_int_equal(base64_encoded_len(len), strlen(coded[i]));
		base64_encode((const uint8_t *)plain[i], len, out);
		assert_string_equal(out, coded[i]);
		uint8_t back[16];
		assert_int_equal(base64_decode(coded[i], strlen(coded[i]), back), (long)len);
		assert_memory_equal(back, plain[i], len);
	}
}

static void test_base64_decodes_unpadded_and_url_safe(void **state)
{
	(void)state;
	uint8_t out[16];
	assert_int_equal(base64_decode("Zm9vYg", 6, out), 4);
	assert_memory_equal(out, "foob", 4);
	assert_int_equal(base64_decode("Zm9vYmE", 7, out), 5);
	assert_memory_equal(out, "fooba", 5);
	/* 0xfb 0xff 0xbf is "+/+/" in the standard alphabet, "-_-_" URL-safe. */
	const uint8_t want[] = { 0xfb, 0xff, 0xbf };
	char enc[8];
	base64_encode(want, 3, enc);
	assert_string_equal(enc, "+/+/");
	assert_int_equal(base64_decode("-_-_", 4, out), 3);
	assert_memory_equal(out, want, 3);
}

static void test_base64_rejects_invalid(void **state)
{
	(void)state;
	uint8_t out[16];
	assert_int_equal(base64_decode("Zm9v!A==", 8, out), -EINVAL);
	assert_int_equal(base64_decode("Zm 9v", 5, out), -EINVAL);
	assert_int_equal(base64_decode("Zm=v", 4, out), -EINVAL);
	assert_int_equal(base64_decode("Zm9vY", 5, out), -EINVAL);
}

static void expect_lossy(const char *in, const char *out)
{
	json_t *j = json_string_lossy(in);
	assert_non_null(j);
	assert_string_equal(json_string_value(j), out);
	json_decref(j);
}

static void test_utf8_lossy(void **state)
{
	(void)state;
	expect_lossy("", "");
	expect_lossy("plain/path.txt", "plain/path.txt");
	expect_lossy("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	expect_lossy("a\xff" "b", "a\xef\xbf\xbd" "b");
	expect_lossy("\xc3", "\xef\xbf\xbd");                         /* truncated */
	expect_lossy("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");          /* overlong '/' */
	expect_lossy("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a surrogate */
	expect_lossy("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* past U+10FFFF */
	assert_int_equal(utf8_sequence_len((const unsigned char *)"\xe2\x82", 2), 0);
	assert_int_equal(utf8_sequence_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	assert_null(json_string_lossy(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_lossy),
		cmocka_unit_test(test_envelope_header_round_trip),
		cmocka_unit_test(test_envelope_header_rejects_flags_and_size),
		cmocka_unit_test(test_envelope_decoder_byte_at_a_time),
		cmocka_unit_test(test_envelope_decoder_waits_for_more),
		cmocka_unit_test(test_envelope_decoder_rejects_bad_headers),
		cmocka_unit_test(test_envelope_decoder_limits_feed),
		cmocka_unit_test(test_envelope_send_over_socket),
		cmocka_unit_test(test_base64_rfc4648_vectors),
		cmocka_unit_test(test_base64_decodes_unpadded_and_url_safe),
		cmocka_unit_test(test_base64_rejects_invalid),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
