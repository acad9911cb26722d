#include "proto/compose.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void compose_request_clear(struct compose_request *r)
{
	for (size_t i = 0; r->sources && i < r->nsources; i++)
		free(r->sources[i]);
	free(r->sources);
	free(r->destination);
	free(r->username);
	memset(r, 0, sizeof(*r));
}

/* A copy of a JSON string fit to be a path: not empty, no NUL, bounded. */
static int path_copy(json_t *v, const char *what, char **out, struct cove_err *err)
{
	if (!json_is_string(v))
		return cove_errf(err, -EINVAL, "invalid request body: %s must be a string", what);
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n == 0)
		return cove_errf(err, -EINVAL, "%s is empty", what);
	if (n > COMPOSE_MAX_PATH)
		return cove_errf(err, -E2BIG, "%s is longer than %d bytes", what, COMPOSE_MAX_PATH);
	if (memchr(s, '\0', n))
		return cove_errf(err, -EINVAL, "%s contains a NUL byte", what);
	*out = strdup(s);
	return *out ? 0 : cove_errf(err, -ENOMEM, "%s: out of memory", what);
}

static int parse_sources(json_t *v, struct compose_request *out, struct cove_err *err)
{
	if (v && !json_is_null(v) && !json_is_array(v))
		return cove_errf(err, -EINVAL, "invalid request body: source_paths must be an array of strings");
	size_t n = json_array_size(v); /* 0 for null or absent */
	if (n == 0)
		return cove_errf(err, -EINVAL, "source_paths must not be empty");
	if (n > COMPOSE_MAX_SOURCES)
		return cove_errf(err, -E2BIG, "source_paths has more than %d entries", COMPOSE_MAX_SOURCES);
	out->sources = calloc(n + 1, sizeof(char *));
	if (!out->sources)
		return cove_errf(err, -ENOMEM, "source_paths: out of memory");
	for (size_t i = 0; i < n; i++) {
		char what[40];
		snprintf(what, sizeof(what), "source_paths[%zu]", i);
		int r = path_copy(json_array_get(v, i), what, &out->sources[i], err);
		if (r < 0)
			return r;
		out->nsources++;
	}
	return 0;
}

static int parse_fields(json_t *j, struct compose_request *out, struct cove_err *err)
{
	if (!json_is_object(j))
		return cove_errf(err, -EINVAL, "invalid request body: not a JSON object");
	int r = parse_sources(json_object_get(j, "source_paths"), out, err);
	if (r < 0)
		return r;
	json_t *dest = json_object_get(j, "destination");
	if (!dest || json_is_null(dest) || (json_is_string(dest) && json_string_length(dest) == 0))
		return cove_errf(err, -EINVAL, "destination is required");
	if ((r = path_copy(dest, "destination", &out->destination, err)) < 0)
		return r;
	json_t *user = json_object_get(j, "username");
	if (!user || json_is_null(user) || (json_is_string(user) && json_string_length(user) == 0))
		return 0;
	if (!json_is_string(user) || json_string_length(user) > 255 || memchr(json_string_value(user), '\0', json_string_length(user)))
		return cove_errf(err, -EINVAL, "invalid request body: username must be a user name");
	out->username = strdup(json_string_value(user));
	return out->username ? 0 : cove_errf(err, -ENOMEM, "username: out of memory");
}

int compose_request_parse(const void *json, size_t len, struct compose_request *out, struct cove_err *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!j)
		return cove_errf(err, -EINVAL, "invalid request body: %s", jerr.text);
	int r = parse_fields(j, out, err);
	json_decref(j);
	if (r < 0)
		compose_request_clear(out);
	return r;
}
