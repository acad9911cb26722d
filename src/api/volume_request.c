/* Parsing the volume routes' bodies and queries (see request.h). */
#include "api/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *object_body(const char *body, size_t len, struct cove_err *err)
{
	json_error_t jerr = { .line = 0 };
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (json_is_object(j))
		return j;
	json_decref(j);
	if (len && !j)
		cove_errf(err, -EINVAL, "the body is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			  jerr.column);
	else
		cove_errf(err, -EINVAL, "the body is not a JSON object");
	return NULL;
}

int api_volume_body_parse(const char *body, size_t len, char name[VOLUME_NAME_MAX + 1], struct cove_err *err)
{
	json_t *j = object_body(body, len, err);
	if (!j)
		return -EINVAL;
	json_t *n = json_object_get(j, "name");
	int r = 0;
	if (!json_is_string(n))
		r = cove_errf(err, -EINVAL, "name is required: a string");
	else if (strlen(json_string_value(n)) != json_string_length(n))
		r = cove_errf(err, -EINVAL, "name: a volume name has only letters, digits and '-'");
	else if ((r = volume_name_check(json_string_value(n), err)) == 0)
		snprintf(name, VOLUME_NAME_MAX + 1, "%s", json_string_value(n));
	json_decref(j);
	return r;
}

/* A whole decimal number in [0, max]. */
static int number(const char *field, const char *text, unsigned long long max, unsigned long long *ret,
		  struct cove_err *err)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
	if (!end || *end || errno || v > max)
		return cove_errf(err, -EINVAL, "%s: '%.32s': a whole number from 0 to %llu", field, text, max);
	*ret = v;
	return 0;
}

static int attr_text(const char *field, const char *text, unsigned long long max, bool *has, uint32_t *v,
		     struct cove_err *err)
{
	unsigned long long n;
	if (!text)
		return 0;
	int r = number(field, text, max, &n, err);
	if (r == 0) {
		*has = true;
		*v = (uint32_t)n;
	}
	return r;
}

int api_volume_query_parse(const struct api_query *q, struct api_volume_query *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->depth = 1;
	const char *path = q->get(q->cls, "path");
	if (!path)
		return cove_errf(err, -EINVAL, "path is required");
	size_t n = strlen(path);
	if (n > VOLUME_PATH_MAX - 2)
		return cove_errf(err, -ENAMETOOLONG, "path: longer than %d bytes", VOLUME_PATH_MAX - 2);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return cove_errf(err, -EINVAL, "path: a control character at byte %zu", i);
	memcpy(ret->path, path, n + 1);
	const char *depth = q->get(q->cls, "depth");
	unsigned long long d;
	int r = 0;
	if (depth && (r = number("depth", depth, VOLUME_LIST_DEPTH_MAX, &d, err)) == 0) {
		if (d < 1)
			return cove_errf(err, -EINVAL, "depth: 1 to %d", VOLUME_LIST_DEPTH_MAX);
		ret->depth = (unsigned)d;
	}
	struct volume_attrs *a = &ret->attrs;
	if (r == 0)
		r = attr_text("uid", q->get(q->cls, "uid"), 4294967294ull, &a->has_uid, &a->uid, err);
	if (r == 0)
		r = attr_text("gid", q->get(q->cls, "gid"), 4294967294ull, &a->has_gid, &a->gid, err);
	if (r == 0)
		r = attr_text("mode", q->get(q->cls, "mode"), 07777, &a->has_mode, &a->mode, err);
	const char *force = q->get(q->cls, "force");
	if (r == 0 && force) {
		if (strcmp(force, "true") != 0 && strcmp(force, "false") != 0)
			return cove_errf(err, -EINVAL, "force: '%.32s': true or false", force);
		ret->has_force = true;
		ret->force = strcmp(force, "true") == 0;
	}
	return r;
}

static int attr_json(json_t *j, const char *field, json_int_t max, bool *has, uint32_t *v, struct cove_err *err)
{
	json_t *x = json_object_get(j, field);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > max)
		return cove_errf(err, -EINVAL, "%s: a whole number from 0 to %lld", field, (long long)max);
	*has = true;
	*v = (uint32_t)json_integer_value(x);
	return 0;
}

int api_volume_attrs_parse(const char *body, size_t len, struct volume_attrs *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	json_t *j = object_body(body, len, err);
	if (!j)
		return -EINVAL;
	int r = attr_json(j, "uid", 4294967294ll, &ret->has_uid, &ret->uid, err);
	if (r == 0)
		r = attr_json(j, "gid", 4294967294ll, &ret->has_gid, &ret->gid, err);
	if (r == 0)
		r = attr_json(j, "mode", 07777, &ret->has_mode, &ret->mode, err);
	if (r == 0 && !ret->has_uid && !ret->has_gid && !ret->has_mode)
		r = cove_errf(err, -EINVAL, "nothing to change: give uid, gid or mode");
	json_decref(j);
	return r;
}
