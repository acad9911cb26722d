/* Parsing the secret routes' bodies and query (see request.h). A body
 * carries a secret's value: it never goes into an error message, not even
 * as the text around a JSON syntax error. */
#include "api/request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int value_field(json_t *body, struct api_secret_body *b, struct cove_err *err)
{
	json_t *v = json_object_get(body, "value");
	if (!json_is_string(v))
		return cove_errf(err, -EINVAL, "value is required: a string");
	b->w.value = json_string_value(v);
	b->w.value_len = json_string_length(v);
	return secrets_value_check(b->w.value, b->w.value_len, err);
}

static int metadata_field(json_t *body, struct api_secret_body *b, struct cove_err *err)
{
	json_t *m = json_object_get(body, "metadata");
	if (!m || json_is_null(m))
		return 0;
	if (!json_is_object(m))
		return cove_errf(err, -EINVAL, "metadata must be an object of strings");
	if (!(b->metadata = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS)))
		return cove_errf(err, -ENOMEM, "out of memory");
	b->w.metadata = b->metadata;
	return secrets_metadata_check(b->metadata, err);
}

int api_secret_body_parse(const char *body, size_t len, bool create, struct api_secret_body *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	json_error_t jerr = { .line = 0 };
	ret->json = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!json_is_object(ret->json)) {
		int line = ret->json ? 0 : jerr.line, column = ret->json ? 0 : jerr.column;
		api_secret_body_clear(ret);
		return line ? cove_errf(err, -EINVAL, "the body is not a JSON object (line %d, column %d)", line,
					column)
			    : cove_errf(err, -EINVAL, "the body is not a JSON object");
	}
	int r = 0;
	if (create) {
		json_t *name = json_object_get(ret->json, "name");
		r = json_is_string(name) ? secrets_name_canon(json_string_value(name), ret->name, err)
					 : cove_errf(err, -EINVAL, "name is required: a string");
		ret->w.name = ret->name;
	}
	if (r == 0)
		r = value_field(ret->json, ret, err);
	if (r == 0)
		r = metadata_field(ret->json, ret, err);
	if (r < 0)
		api_secret_body_clear(ret);
	return r;
}

void api_secret_body_clear(struct api_secret_body *b)
{
	json_t *v = json_object_get(b->json, "value");
	/* The body's copy of the value: jansson's own string, zeroed in place. */
	if (json_is_string(v))
		explicit_bzero((char *)json_string_value(v), json_string_length(v));
	json_decref(b->json);
	free(b->metadata);
	memset(b, 0, sizeof(*b));
}

int api_secret_query_parse(const struct api_query *q, struct api_secret_query *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->limit = API_LIST_DEFAULT_LIMIT;
	return api_query_page(q, SECRETS_LIST_MAX, &ret->limit, &ret->before_seq, err);
}
