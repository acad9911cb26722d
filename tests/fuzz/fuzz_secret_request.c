/* libFuzzer target: the secret routes' requests (POST /secrets, POST
 * /secrets/{id}, GET /secrets). The first byte picks which: bit 0 clear, a
 * body (bit 1: create's, with a name, else an update's); set, a query
 * string "name=value&..." (split, not decoded, as MHD hands it over).
 * Accepted input must keep secrets/secrets.h's rules, and a name lower-cased
 * once is the same lower-cased again. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"

#include "query_args.h"

static void check_name(const char *name)
{
	size_t n = strnlen(name, SECRETS_NAME_MAX + 1);
	if (n == 0 || n > SECRETS_NAME_MAX || strpbrk(name, "{}/") || strncmp(name, "sec_", 4) == 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || (name[i] >= 'A' && name[i] <= 'Z'))
			abort();
	char again[SECRETS_NAME_MAX + 1];
	struct cove_err err = { 0 };
	if (secrets_name_canon(name, again, &err) < 0 || strcmp(again, name) != 0)
		abort();
}

static void body(const uint8_t *data, size_t size, bool create)
{
	struct cove_err err = { 0 };
	struct api_secret_body b;
	int r = api_secret_body_parse((const char *)data, size, create, &b, &err);
	if (r < 0 && (r != -EINVAL || !err.msg[0]))
		abort();
	if (r < 0)
		return;
	if (create)
		check_name(b.w.name);
	if (b.w.value_len < 1 || b.w.value_len > SECRETS_VALUE_MAX || memchr(b.w.value, '\0', b.w.value_len))
		abort();
	if (b.w.metadata && secrets_metadata_check(b.w.metadata, &err) < 0)
		abort();
	api_secret_body_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		body(data + 1, size - 1, data[0] & 2);
		return 0;
	}
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct args a = { 0 };
	split(text, &a);
	struct api_query in = { get, &a };
	struct api_secret_query q;
	struct cove_err err = { 0 };
	int r = api_secret_query_parse(&in, &q, &err);
	if (r < 0 && (r != -EINVAL || !err.msg[0]))
		abort();
	if (r == 0 && (q.limit < 1 || q.limit > SECRETS_LIST_MAX || q.before_seq < 0))
		abort();
	free(text);
	return 0;
}
