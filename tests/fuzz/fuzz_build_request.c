/* libFuzzer target: the template build API's smaller requests. The first
 * byte picks which: 0 mod 3, POST /templates/tags's body; 1, DELETE
 * /templates/tags's; 2, the status query, its three arguments (logsOffset,
 * limit, level) separated by '&' (NUL-terminated, as MHD hands them over). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/spec.h"

static void check_error(int r, const struct cove_err *err)
{
	if ((r != -EINVAL && r != -ENOMEM) || !err->msg[0])
		abort();
}

static void status_query(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *arg[3] = { NULL, NULL, NULL }, *save = NULL;
	size_t n = 0;
	for (char *p = strtok_r(text, "&", &save); p && n < 3; p = strtok_r(NULL, "&", &save))
		arg[n++] = p;
	struct cove_err err = { 0 };
	struct build_status_query q;
	int r = build_status_query_parse(arg[0], arg[1], arg[2], &q, &err);
	if (r < 0)
		check_error(r, &err);
	else if (q.limit > BUILD_LOGS_MAX_LIMIT || q.logs_offset > (size_t)1 << 40 || q.min_level > BUILD_LOG_ERROR)
		abort();
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 3 == 2) {
		status_query(data + 1, size - 1);
		return 0;
	}
	struct cove_err err = { 0 };
	struct build_tags_body b;
	int r = data[0] % 3 ? build_tags_remove_parse((const char *)data + 1, size - 1, &b, &err)
			    : build_tags_assign_parse((const char *)data + 1, size - 1, &b, &err);
	if (r < 0) {
		check_error(r, &err);
		return 0;
	}
	if (b.tags.n < 1 || b.tags.n > BUILD_MAX_TAGS || !b.ref.alias[0])
		abort();
	for (size_t i = 0; i < b.tags.n; i++)
		if (strnlen(b.tags.tag[i], sizeof(b.tags.tag[i])) == sizeof(b.tags.tag[i]) ||
		    strcmp(b.tags.tag[i], "default") == 0)
			abort();
	return 0;
}
