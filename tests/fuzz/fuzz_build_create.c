/* libFuzzer target: the body of POST /v3/templates (build_create_parse).
 * Accepted input must give a checked name, one to BUILD_MAX_TAGS distinct
 * tags of E2B's characters (never "default") and sizes within bounds. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/spec.h"

#define ALIAS_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-_"

/* Of E2B's characters for its part of a name, NUL-terminated in its buffer. */
static void check_word(const char *s, size_t cap, const char *allowed, bool may_be_empty)
{
	size_t n = strnlen(s, cap);
	if (n == cap || (!n && !may_be_empty) || strspn(s, allowed) != n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cove_err err = { 0 };
	struct build_create c;
	int r = build_create_parse((const char *)data, size, &c, &err);
	if (r < 0) {
		if ((r != -EINVAL && r != -ENOMEM) || !err.msg[0])
			abort();
		return 0;
	}
	check_word(c.name.alias, sizeof(c.name.alias), ALIAS_CHARS, false);
	check_word(c.name.tag, sizeof(c.name.tag), ALIAS_CHARS ".", true);
	if (c.tags.n < 1 || c.tags.n > BUILD_MAX_TAGS)
		abort();
	for (size_t i = 0; i < c.tags.n; i++) {
		check_word(c.tags.tag[i], sizeof(c.tags.tag[i]), ALIAS_CHARS ".", true);
		if (strcmp(c.tags.tag[i], "default") == 0)
			abort();
		for (size_t k = 0; k < i; k++)
			if (strcmp(c.tags.tag[i], c.tags.tag[k]) == 0)
				abort();
	}
	if (c.cpu_count > BUILD_MAX_CPUS || (c.memory_mib && (c.memory_mib < BUILD_MIN_MEMORY_MIB ||
							      c.memory_mib > BUILD_MAX_MEMORY_MIB || c.memory_mib % 2)) ||
	    c.min_free_disk_mib > BUILD_MAX_FREE_DISK_MIB)
		abort();
	return 0;
}
