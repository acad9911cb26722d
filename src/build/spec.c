/* The template build API's small bodies and query (see spec.h): a create,
 * the tag routes, the status query; the build trigger is trigger.c's. */
#include "build/spec.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/internal.h"
#include "common/json.h"

bool build_hash_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!isdigit((unsigned char)s[n]) && !(s[n] >= 'a' && s[n] <= 'f'))
			return false;
	return n == BUILD_HASH_HEX;
}

bool build_user_ok(const char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '$')
		n--;
	if (n == 0 || n > BUILD_USER_MAX || isdigit((unsigned char)s[0]) || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

bool build_relative_ok(const char *p)
{
	if (*p == '/')
		return false;
	for (const char *c = p; *c;) {
		size_t len = strcspn(c, "/");
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c += len;
		c += *c == '/';
	}
	return true;
}

/* --- tags --- */

/* One tag of tags[] (as the tag of a name is checked, by template_ref_parse),
 * added unless there already; "default" is "". */
static int tags_add_text(struct build_tags *tags, const char *what, size_t i, const char *text,
			 struct cove_err *err)
{
	if (!*text)
		return cove_errf(err, -EINVAL, "%s[%zu]: a tag cannot be empty", what, i);
	if (strlen(text) > TEMPLATE_REF_MAX - 2)
		return cove_errf(err, -EINVAL, "%s[%zu]: a tag is at most %d characters", what, i, TEMPLATE_REF_MAX - 2);
	char name[TEMPLATE_REF_MAX + 1];
	snprintf(name, sizeof(name), "x:%s", text);
	struct template_ref ref;
	struct cove_err e = { 0 };
	if (template_ref_parse(name, &ref, &e) < 0) {
		/* template_ref's reason, without the made-up name it was given. */
		const char *why = strstr(e.msg, "': ");
		return cove_errf(err, -EINVAL, "%s[%zu] '%.64s': %s", what, i, text, why ? why + 3 : e.msg);
	}
	for (size_t k = 0; k < tags->n; k++)
		if (strcmp(tags->tag[k], ref.tag) == 0)
			return 0;
	if (tags->n == BUILD_MAX_TAGS)
		return cove_errf(err, -EINVAL, "%s: more than %d tags", what, BUILD_MAX_TAGS);
	memcpy(tags->tag[tags->n++], ref.tag, sizeof(ref.tag));
	return 0;
}

static void tags_add_ref(struct build_tags *tags, const struct template_ref *ref)
{
	/* The first of an empty list: no check needed. */
	memcpy(tags->tag[tags->n++], ref->tag, sizeof(ref->tag));
}

/* tags[]: a list of strings, or null or absent. */
static int tags_parse(json_t *arr, const char *what, struct build_tags *tags, struct cove_err *err)
{
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return cove_errf(err, -EINVAL, "%s must be a list of strings", what);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return cove_errf(err, -EINVAL, "%s[%zu] must be a string", what, i);
		int r = tags_add_text(tags, what, i, json_string_value(v), err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A name field, required: "[namespace/]alias[:tag]". */
static int name_parse(json_t *v, const char *what, struct template_ref *ref, struct cove_err *err)
{
	if (!v || json_is_null(v))
		return cove_errf(err, -EINVAL, "%s is required", what);
	if (!json_is_string(v))
		return cove_errf(err, -EINVAL, "%s must be a string", what);
	int r = template_ref_parse(json_string_value(v), ref, err);
	return r < 0 ? cove_err_prefix(err, "%s", what) : 0;
}

/* --- create --- */

/* An optional whole number field in [min, max]; 0 when absent or null. */
static int size_field(json_t *body, const char *name, long long min, long long max, unsigned *ret,
		      struct cove_err *err)
{
	json_t *v = json_object_get(body, name);
	*ret = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return cove_errf(err, -EINVAL, "%s must be a whole number from %lld to %lld", name, min, max);
	json_int_t n = json_integer_value(v);
	if (n < 0 && min >= 0)
		return cove_errf(err, -EINVAL, "%s must not be negative", name);
	if (n < min || n > max)
		return cove_errf(err, -EINVAL, "%s must be from %lld to %lld, not %lld", name, min, max, (long long)n);
	*ret = (unsigned)n;
	return 0;
}

static int create_sizes(json_t *body, struct build_create *c, struct cove_err *err)
{
	int r = size_field(body, "cpuCount", 1, BUILD_MAX_CPUS, &c->cpu_count, err);
	if (r == 0)
		r = size_field(body, "memoryMB", BUILD_MIN_MEMORY_MIB, BUILD_MAX_MEMORY_MIB, &c->memory_mib, err);
	if (r == 0 && c->memory_mib % 2)
		r = cove_errf(err, -EINVAL, "memoryMB must be an even number, not %u", c->memory_mib);
	if (r == 0)
		r = size_field(body, "minFreeDiskMb", 0, BUILD_MAX_FREE_DISK_MIB, &c->min_free_disk_mib, err);
	return r;
}

static int create_parse(json_t *body, struct build_create *c, struct cove_err *err)
{
	/* The SDK sends name; alias is the deprecated spelling of it. */
	json_t *name = json_object_get(body, "name");
	const char *field = "name";
	if (!name || json_is_null(name)) {
		name = json_object_get(body, "alias");
		field = "alias";
	}
	if (!name || json_is_null(name))
		return cove_errf(err, -EINVAL, "a name is required (name: \"alias[:tag]\")");
	int r = name_parse(name, field, &c->name, err);
	if (r < 0)
		return r;
	if (c->name.tag[0])
		tags_add_ref(&c->tags, &c->name);
	if ((r = tags_parse(json_object_get(body, "tags"), "tags", &c->tags, err)) < 0)
		return r;
	if (c->tags.n == 0)
		tags_add_ref(&c->tags, &c->name); /* "": default */
	return create_sizes(body, c, err);
}

int build_create_parse(const char *body, size_t len, struct build_create *ret, struct cove_err *err)
{
	_cleanup_json_ json_t *j = json_object_body(body, len, err);
	if (!j)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	return create_parse(j, ret, err);
}

/* --- tag routes --- */

static int tags_body_parse(const char *body, size_t len, const char *name_field, struct build_tags_body *ret,
			   struct cove_err *err)
{
	_cleanup_json_ json_t *j = json_object_body(body, len, err);
	if (!j)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	int r = name_parse(json_object_get(j, name_field), name_field, &ret->ref, err);
	if (r < 0)
		return r;
	json_t *tags = json_object_get(j, "tags");
	if (!json_is_array(tags) || json_array_size(tags) == 0)
		return cove_errf(err, -EINVAL, "tags must be a list of at least one tag");
	return tags_parse(tags, "tags", &ret->tags, err);
}

int build_tags_assign_parse(const char *body, size_t len, struct build_tags_body *ret, struct cove_err *err)
{
	return tags_body_parse(body, len, "target", ret, err);
}

int build_tags_remove_parse(const char *body, size_t len, struct build_tags_body *ret, struct cove_err *err)
{
	return tags_body_parse(body, len, "name", ret, err);
}

/* --- status query --- */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

const char *build_log_level_name(enum build_log_level level)
{
	return (size_t)level < ARRAY_SIZE(level_names) ? level_names[level] : "info";
}

/* A decimal number from 0 to max; absent (NULL or "") leaves *ret. */
static int count_arg(const char *text, const char *name, size_t max, size_t *ret, struct cove_err *err)
{
	if (!text || !*text)
		return 0;
	size_t v = 0;
	for (const char *p = text; *p; p++) {
		if (!isdigit((unsigned char)*p) || v > (max - (size_t)(*p - '0')) / 10)
			return cove_errf(err, -EINVAL, "%s must be a whole number from 0 to %zu, not '%.32s'", name, max,
					 text);
		v = v * 10 + (size_t)(*p - '0');
	}
	*ret = v;
	return 0;
}

int build_status_query_parse(const char *logs_offset, const char *limit, const char *level,
			     struct build_status_query *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->limit = BUILD_LOGS_MAX_LIMIT;
	ret->min_level = BUILD_LOG_DEBUG;
	/* An offset past any log there is reads nothing; the bound only keeps
	 * the sum with a page in range. */
	int r = count_arg(logs_offset, "logsOffset", (size_t)1 << 40, &ret->logs_offset, err);
	if (r == 0)
		r = count_arg(limit, "limit", BUILD_LOGS_MAX_LIMIT, &ret->limit, err);
	if (r < 0 || !level || !*level)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (strcmp(level, level_names[i]) == 0) {
			ret->min_level = (enum build_log_level)i;
			return 0;
		}
	return cove_errf(err, -EINVAL, "level must be debug, info, warn or error, not '%.32s'", level);
}
