/* libFuzzer target: the snapshot routes' requests (POST
 * /sandboxes/{id}/snapshots, GET /snapshots, DELETE /templates/{id}). The
 * first byte picks which: even, the body; odd, a query string
 * "name=value&..." (split, not decoded, as MHD hands it over), whose name
 * argument is also parsed alone as DELETE's path would be. Accepted input
 * must be within the limits and names E2B's rules. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"

#include "query_args.h"

/* [a-z0-9_-]+ (with dot, '.' too) and NUL-terminated within its buffer. */
static void check_word(const char *s, size_t cap, bool dot, bool may_be_empty)
{
	size_t n = strnlen(s, cap);
	if (n == cap || (!n && !may_be_empty))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    !(dot && s[i] == '.'))
			abort();
}

static void check_ref(const struct template_ref *ref)
{
	check_word(ref->alias, sizeof(ref->alias), false, false);
	check_word(ref->tag, sizeof(ref->tag), true, true);
	if (strcmp(ref->tag, "default") == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct cove_err err = { 0 };
	if (!(data[0] & 1)) {
		struct api_snapshot_body b;
		int r = api_snapshot_body_parse((const char *)data + 1, size - 1, &b, &err);
		if (r < 0 && (r != -EINVAL || !err.msg[0]))
			abort();
		if (r == 0 && b.named)
			check_ref(&b.name);
		return 0;
	}
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct args a = { 0 };
	split(text, &a);
	struct api_query in = { get, &a };
	struct api_snapshot_query q;
	int r = api_snapshot_query_parse(&in, &q, &err);
	if (r < 0 && (r != -EINVAL || !err.msg[0]))
		abort();
	if (r == 0 && (q.limit < 1 || q.limit > API_LIST_MAX_LIMIT || q.before_seq < 0 ||
		       strnlen(q.sandbox, sizeof(q.sandbox)) == sizeof(q.sandbox)))
		abort();
	if (r == 0 && q.named)
		check_ref(&q.name);
	struct template_ref ref;
	const char *name = get(&a, "name");
	if (name && template_ref_parse(name, &ref, &err) == 0)
		check_ref(&ref);
	free(text);
	return 0;
}
