#include "proto/base64.h"

#include <errno.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

void base64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i = 0, j = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[j++] = alphabet[v >> 18];
		out[j++] = alphabet[(v >> 12) & 63];
		out[j++] = alphabet[(v >> 6) & 63];
		out[j++] = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		out[j++] = alphabet[v >> 18];
		out[j++] = alphabet[(v >> 12) & 63];
		out[j++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[j++] = '=';
	}
	out[j] = '\0';
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

long base64_decode(const char *in, size_t len, uint8_t *out)
{
	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	uint32_t acc = 0;
	int bits = 0;
	long n = 0;
	for (size_t i = 0; i < len; i++) {
		int v = value_of(in[i]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}
