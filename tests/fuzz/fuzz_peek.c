/* libFuzzer target: the egress proxy's reading of the first bytes a guest
 * sends on a new connection (src/proto/peek.h). Beyond not crashing: the
 * answer is one of the documented ones, a name is a normalized one, and
 * shorter prefixes of the input either ask for more bytes or already gave
 * the same answer (more bytes never change an answer once given). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peek.h"

static void check_name(int r, const char *name)
{
	size_t n = strlen(name);
	if (n > PEEK_NAME_MAX || (n > 0 && name[n - 1] == '.'))
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
		/* an HTTP IPv6 literal: "[" hex, ':' and '.' "]" */
		if (r == PEEK_HTTP && name[0] == '[')
			ok = ok || c == ':' || (c == '[' && i == 0) || (c == ']' && i == n - 1);
		if (!ok)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[PEEK_NAME_MAX + 1], prefix_name[PEEK_NAME_MAX + 1];
	struct cove_err err = { 0 };
	int r = peek_name(data, size, name, &err);
	if (r != PEEK_MORE && r != PEEK_TLS && r != PEEK_HTTP && r != -EPROTO && r != -E2BIG)
		abort();
	if (r == PEEK_MORE && size >= PEEK_MAX)
		abort();
	if (r < 0 && (err.code != r || !err.msg[0]))
		abort();
	if (r > 0)
		check_name(r, name);
	size_t prefixes[] = { size / 4, size / 2, size * 3 / 4, size ? size - 1 : 0 };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++) {
		int p = peek_name(data, prefixes[i], prefix_name, &err);
		if (p != PEEK_MORE && (p != r || (r > 0 && strcmp(name, prefix_name) != 0)))
			abort();
	}
	return 0;
}
