/* The catalog list's page tokens (catalog.h): a version byte, the seq as 8
 * bytes big-endian and the id, in base64url without padding. Opaque to
 * clients; parsing accepts exactly what encoding writes (one text per
 * (seq, id): it decodes, checks and encodes again to compare). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cluster/catalog.h"
#include "proto/base64.h"

#define TOKEN_VERSION 1
#define TOKEN_RAW_MAX (1 + 8 + CLUSTER_SANDBOX_ID_MAX)

_Static_assert((TOKEN_RAW_MAX + 2) / 3 * 4 < CATALOG_TOKEN_MAX, "a token fits its buffer");

void catalog_token_encode(int64_t seq, const char *id, char buf[CATALOG_TOKEN_MAX])
{
	uint8_t raw[TOKEN_RAW_MAX];
	size_t idlen = strnlen(id, CLUSTER_SANDBOX_ID_MAX);
	raw[0] = TOKEN_VERSION;
	for (int i = 0; i < 8; i++)
		raw[1 + i] = (uint8_t)((uint64_t)seq >> (56 - 8 * i));
	memcpy(raw + 9, id, idlen);
	base64_encode(raw, 9 + idlen, buf);
	/* base64url: safe in a query string without escaping */
	size_t n = strcspn(buf, "=");
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

static int bad(const char *text, const char *why, struct cove_err *err)
{
	return cove_errf(err, -EINVAL, "nextToken '%.64s' is not one this gateway gave (%s)", text, why);
}

int catalog_token_parse(const char *text, int64_t *seq, char id[CLUSTER_SANDBOX_ID_MAX + 1], struct cove_err *err)
{
	size_t len = strnlen(text, CATALOG_TOKEN_MAX);
	if (len == 0 || len >= CATALOG_TOKEN_MAX ||
	    strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789-_") != len)
		return bad(text, "not base64url", err);
	uint8_t raw[CATALOG_TOKEN_MAX * 3 / 4 + 3];
	long n = base64_decode(text, len, raw);
	if (n < 0)
		return bad(text, "not base64url", err);
	if (n < 10 || n > TOKEN_RAW_MAX || raw[0] != TOKEN_VERSION)
		return bad(text, "not a token", err);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | raw[1 + i];
	if (v > INT64_MAX)
		return bad(text, "seq out of range", err);
	char idbuf[CLUSTER_SANDBOX_ID_MAX + 1];
	memcpy(idbuf, raw + 9, (size_t)n - 9);
	idbuf[n - 9] = '\0';
	if (strlen(idbuf) != (size_t)n - 9 || cluster_sandbox_id_check(idbuf, NULL) < 0)
		return bad(text, "not a sandbox id", err);
	char again[CATALOG_TOKEN_MAX];
	catalog_token_encode((int64_t)v, idbuf, again);
	if (strcmp(again, text) != 0)
		return bad(text, "not canonical", err);
	*seq = (int64_t)v;
	memcpy(id, idbuf, (size_t)n - 8);
	return 0;
}
