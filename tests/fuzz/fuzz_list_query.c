/* libFuzzer target: the query of coved's sandbox listing (GET /sandboxes,
 * /v2/sandboxes): metadata, state, template, startedAfter (RFC 3339), order,
 * limit, nextToken. The input is a query string "name=value&..." (as MHD
 * hands the arguments over: split, not decoded); its first byte picks v1
 * or v2. Accepted queries must be within the limits. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"

#include "query_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct args a = { 0 };
	split(text, &a);
	struct api_query in = { get, &a };
	struct cove_err err = { 0 };
	struct api_list_query q;
	bool v2 = data[0] & 1;
	int r = api_list_query_parse(&in, v2, &q, &err);
	if (r < 0 && ((r != -EINVAL && r != -ENOMEM) || !err.msg[0] || q.metadata))
		abort();
	if (r == 0 && (q.limit < 1 || q.limit > API_LIST_MAX_LIMIT || q.after_seq < 0 || (!v2 && q.paused)))
		abort();
	/* v1 takes none of v2's filters. */
	if (r == 0 && !v2 && (q.template_id[0] || q.started_after_set || q.ascending))
		abort();
	if (r == 0 && strnlen(q.template_id, sizeof(q.template_id)) == sizeof(q.template_id))
		abort();
	/* A token, once parsed, is given back as it came (one order, one number). */
	const char *next = get(&a, "nextToken");
	char token[32];
	if (r == 0 && q.after_seq) {
		api_list_token(q.ascending, q.after_seq, token);
		if (strcmp(token, next) != 0)
			abort();
	}
	/* A time accepted is within the years RFC 3339 can write. */
	if (r == 0 && q.started_after_set && (q.started_after_ms < -62167219200000LL - 86400000LL * 2 ||
					      q.started_after_ms > 253402300799999LL + 86400000LL * 2))
		abort();
	if (r == 0 && q.metadata && !json_is_object(q.metadata))
		abort();
	api_list_query_clear(&q);
	free(text);
	return 0;
}
