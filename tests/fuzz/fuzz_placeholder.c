/* libFuzzer target: a rule's header value, as a sandbox's creator sends it,
 * scanned for ${e2b.secrets.NAME} placeholders the way the egress proxy
 * fills them in: each one found lies inside the text, after the one before,
 * and is exactly `${e2b.secrets.` NAME `}`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/placeholder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct placeholder p;
	size_t at = 0, plen = strlen(PLACEHOLDER_PREFIX);
	int r;
	while ((r = placeholder_next(text, size, at, &p, NULL)) > 0) {
		if (p.at < at || p.len > size - p.at || p.len != plen + p.name_len + 1 || p.name != text + p.at + plen ||
		    memcmp(text + p.at, PLACEHOLDER_PREFIX, plen) != 0 || text[p.at + p.len - 1] != '}' ||
		    memchr(p.name, '}', p.name_len) || p.name_len == 0 || p.name_len > PLACEHOLDER_NAME_MAX)
			abort();
		at = p.at + p.len;
	}
	return 0;
}
