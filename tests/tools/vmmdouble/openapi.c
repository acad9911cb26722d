/* The request checker of the VMM test doubles (openapi.h). */
#include "openapi.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/cleanup.h"

/* Deeper schemas than this are a loop of $refs, not a document. */
#define OPENAPI_MAX_DEPTH 32

struct openapi {
	json_t *root;
	char base[64];
};

/* --- YAML to JSON --- */

static bool plain_is(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

static json_t *plain_scalar(const char *s)
{
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const nulls[] = { "null", "Null", "NULL", "~", "", NULL };
	if (plain_is(s, trues))
		return json_true();
	if (plain_is(s, falses))
		return json_false();
	if (plain_is(s, nulls))
		return json_null();
	char *end;
	errno = 0;
	long long i = strtoll(s, &end, 10);
	if (*s && *end == '\0' && errno == 0 && (isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
		return json_integer(i);
	double d = strtod(s, &end);
	if (*s && *end == '\0' && (isdigit((unsigned char)*s) || *s == '-' || *s == '.'))
		return json_real(d);
	return json_string(s);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
	if (!node || depth > 256)
		return NULL;
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)node->data.scalar.value;
		return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s) : json_string(s);
	}
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start; a && it < node->data.sequence.items.top;
		     it++) {
			json_t *v = node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1);
			if (!v || json_array_append_new(a, v) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start; o && p < node->data.mapping.pairs.top;
		     p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			json_t *v = node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
			if (!k || k->type != YAML_SCALAR_NODE || !v ||
			    json_object_set_new(o, (const char *)k->data.scalar.value, v) < 0) {
				json_decref(v);
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	default:
		return NULL;
	}
}

int openapi_yaml_to_json(const char *text, size_t len, json_t **ret, struct cove_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser))
		return cove_errf(err, -ENOMEM, "yaml: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		int r = cove_errf(err, -EINVAL, "yaml: line %zu: %s", parser.problem_mark.line + 1,
				  parser.problem ? parser.problem : "parse error");
		yaml_parser_delete(&parser);
		return r;
	}
	json_t *v = node_to_json(&doc, yaml_document_get_root_node(&doc), 0);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (!v)
		return cove_errf(err, -EINVAL, "yaml: empty document or a key that is not a scalar");
	*ret = v;
	return 0;
}

int openapi_load(const char *path, const char *base, struct openapi **ret, struct cove_err *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return cove_errno(err, -errno, "openapi: open %s", path);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		char *more = realloc(text, len + n + 1);
		if (!more || len + n > 16 * 1024 * 1024)
			return cove_errf(err, more ? -EFBIG : -ENOMEM, "openapi: read %s: too large", path);
		text = more;
		memcpy(text + len, buf, n);
		len += n;
	}
	int r = openapi_parse(text ? text : "", len, base, ret, err);
	return r < 0 ? cove_err_prefix(err, "openapi: %s", path) : 0;
}

int openapi_parse(const char *text, size_t len, const char *base, struct openapi **ret, struct cove_err *err)
{
	json_t *root = NULL;
	int r = openapi_yaml_to_json(text, len, &root, err);
	if (r < 0)
		return r;
	if (!json_is_object(json_object_get(root, "paths"))) {
		json_decref(root);
		return cove_errf(err, -EINVAL, "openapi: the document has no paths");
	}
	struct openapi *api = calloc(1, sizeof(*api));
	if (!api) {
		json_decref(root);
		return cove_errf(err, -ENOMEM, "openapi: out of memory");
	}
	api->root = root;
	snprintf(api->base, sizeof(api->base), "%s", base ? base : "");
	*ret = api;
	return 0;
}

struct openapi *openapi_free(struct openapi *api)
{
	if (api) {
		json_decref(api->root);
		free(api);
	}
	return NULL;
}

const char *openapi_version(const struct openapi *api)
{
	const char *v = json_string_value(json_object_get(json_object_get(api->root, "info"), "version"));
	return v ? v : "unknown";
}

/* --- paths --- */

/* Whether path (no query) matches the template: literal segments equal,
 * {name} segments anything but empty. */
static bool path_matches(const char *tmpl, const char *path)
{
	while (*tmpl && *path) {
		if (*tmpl == '{') {
			const char *close = strchr(tmpl, '}');
			if (!close || *path == '/')
				return false;
			tmpl = close + 1;
			while (*path && *path != '/')
				path++;
			continue;
		}
		if (*tmpl != *path)
			return false;
		tmpl++;
		path++;
	}
	return *tmpl == '\0' && *path == '\0';
}

static json_t *find_path_item(const struct openapi *api, const char *path)
{
	const char *key;
	json_t *item;
	/* A literal path wins over a template (/drives/x vs a /drives/{id}). */
	item = json_object_get(json_object_get(api->root, "paths"), path);
	if (item)
		return item;
	json_object_foreach(json_object_get(api->root, "paths"), key, item) {
		if (path_matches(key, path))
			return item;
	}
	return NULL;
}

/* "#/definitions/Drive" or "#/components/schemas/VmConfig" */
static json_t *resolve_ref(const struct openapi *api, const char *ref)
{
	if (strncmp(ref, "#/", 2) != 0)
		return NULL;
	json_t *at = api->root;
	char part[256];
	for (const char *p = ref + 2; at && *p;) {
		size_t n = strcspn(p, "/");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		at = json_object_get(at, part);
		p += n + (p[n] == '/');
	}
	return at;
}

/* The request body's schema and whether a body is required: Swagger 2's
 * `in: body` parameter or OpenAPI 3's requestBody. */
static json_t *body_schema(json_t *op, bool *required)
{
	size_t i;
	json_t *param;
	*required = false;
	json_array_foreach(json_object_get(op, "parameters"), i, param) {
		const char *in = json_string_value(json_object_get(param, "in"));
		if (in && strcmp(in, "body") == 0) {
			*required = json_is_true(json_object_get(param, "required"));
			return json_object_get(param, "schema");
		}
	}
	json_t *rb = json_object_get(op, "requestBody");
	if (!rb)
		return NULL;
	*required = json_is_true(json_object_get(rb, "required"));
	return json_object_get(json_object_get(json_object_get(rb, "content"), "application/json"), "schema");
}

/* --- schemas --- */

struct check {
	const struct openapi *api;
	struct cove_err *err;
	char where[512]; /* body.drives[0].path */
};

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static int check_value(struct check *c, json_t *schema, json_t *v, int depth);

static bool type_ok(const char *type, const json_t *v)
{
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	if (strcmp(type, "array") == 0)
		return json_is_array(v);
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	return true; /* a type this checker does not know: not held against the request */
}

static int check_enum(struct check *c, json_t *values, json_t *v)
{
	size_t i;
	json_t *e;
	json_array_foreach(values, i, e) {
		if (json_equal(e, v))
			return 0;
	}
	char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	char *allowed = json_dumps(values, JSON_COMPACT);
	cove_errf(c->err, -EINVAL, "%s: %s is not one of %s", c->where, shown ? shown : "?",
		  allowed ? allowed : "?");
	free(shown);
	free(allowed);
	return -EINVAL;
}

static int check_bounds(struct check *c, json_t *schema, json_t *v)
{
	if (!json_is_number(v))
		return 0;
	double x = json_number_value(v);
	json_t *min = json_object_get(schema, "minimum"), *max = json_object_get(schema, "maximum");
	if (json_is_number(min) && x < json_number_value(min))
		return cove_errf(c->err, -EINVAL, "%s: %g is below the minimum %g", c->where, x,
				 json_number_value(min));
	if (json_is_number(max) && x > json_number_value(max))
		return cove_errf(c->err, -EINVAL, "%s: %g is above the maximum %g", c->where, x,
				 json_number_value(max));
	return 0;
}

/* Descends into where: ".name" or "[i]", restored by the caller. */
static size_t where_push(struct check *c, const char *fmt, const char *name, size_t index)
{
	size_t len = strlen(c->where);
	if (name)
		snprintf(c->where + len, sizeof(c->where) - len, fmt, name);
	else
		snprintf(c->where + len, sizeof(c->where) - len, fmt, index);
	return len;
}

static int check_object(struct check *c, json_t *schema, json_t *v, int depth)
{
	size_t i;
	json_t *req;
	json_array_foreach(json_object_get(schema, "required"), i, req) {
		const char *name = json_string_value(req);
		if (name && !json_object_get(v, name))
			return cove_errf(c->err, -EINVAL, "%s: missing required property '%s'", c->where, name);
	}
	json_t *props = json_object_get(schema, "properties");
	json_t *extra = json_object_get(schema, "additionalProperties");
	const char *key;
	json_t *val;
	json_object_foreach(v, key, val) {
		json_t *sub = json_object_get(props, key);
		if (!sub && json_is_object(extra))
			sub = extra;
		if (!sub && json_is_true(extra))
			continue;
		if (!sub)
			return cove_errf(c->err, -EINVAL, "%s: unknown property '%s'", c->where, key);
		size_t len = where_push(c, ".%s", key, 0);
		int r = check_value(c, sub, val, depth + 1);
		if (r < 0)
			return r;
		c->where[len] = '\0';
	}
	return 0;
}

static int check_array(struct check *c, json_t *schema, json_t *v, int depth)
{
	json_t *items = json_object_get(schema, "items");
	size_t i;
	json_t *el;
	json_array_foreach(v, i, el) {
		if (!items)
			break;
		size_t len = where_push(c, "[%zu]", NULL, i);
		int r = check_value(c, items, el, depth + 1);
		if (r < 0)
			return r;
		c->where[len] = '\0';
	}
	return 0;
}

static int check_value(struct check *c, json_t *schema, json_t *v, int depth)
{
	if (depth > OPENAPI_MAX_DEPTH)
		return cove_errf(c->err, -ELOOP, "%s: schema nested too deep", c->where);
	const char *ref = json_string_value(json_object_get(schema, "$ref"));
	if (ref) {
		json_t *target = resolve_ref(c->api, ref);
		if (!target)
			return cove_errf(c->err, -EINVAL, "%s: the document's $ref %s leads nowhere", c->where, ref);
		return check_value(c, target, v, depth + 1);
	}
	size_t i;
	json_t *part;
	json_array_foreach(json_object_get(schema, "allOf"), i, part) {
		int r = check_value(c, part, v, depth + 1);
		if (r < 0)
			return r;
	}
	if (json_is_null(v) && json_is_true(json_object_get(schema, "nullable")))
		return 0;
	const char *type = json_string_value(json_object_get(schema, "type"));
	if (!type && json_object_get(schema, "properties"))
		type = "object";
	if (type && !type_ok(type, v))
		return cove_errf(c->err, -EINVAL, "%s: expected %s, got %s", c->where, type, json_kind(v));
	json_t *values = json_object_get(schema, "enum");
	int r = json_is_array(values) ? check_enum(c, values, v) : 0;
	r = r ?: check_bounds(c, schema, v);
	if (r == 0 && json_is_object(v) && (!type || strcmp(type, "object") == 0))
		r = check_object(c, schema, v, depth);
	if (r == 0 && json_is_array(v))
		r = check_array(c, schema, v, depth);
	return r;
}

static void lowercase(char *out, size_t len, const char *in)
{
	size_t i = 0;
	for (; in[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

int openapi_check(const struct openapi *api, const char *method, const char *path, const char *body, size_t len,
		  json_t **body_json, struct cove_err *err)
{
	size_t blen = strlen(api->base);
	if (strncmp(path, api->base, blen) != 0)
		return cove_errf(err, -ENOENT, "no path %s in the API document", path);
	json_t *item = find_path_item(api, path + blen);
	if (!item)
		return cove_errf(err, -ENOENT, "no path %s in the API document", path + blen);
	char m[16];
	lowercase(m, sizeof(m), method);
	json_t *op = json_object_get(item, m);
	if (!op)
		return cove_errf(err, -EOPNOTSUPP, "the API document has no %s on %s", method, path + blen);
	bool required;
	json_t *schema = body_schema(op, &required);
	bool has_body = len > 0;
	if (!has_body) {
		if (schema && required)
			return cove_errf(err, -EINVAL, "body: required, none sent");
		if (body_json)
			*body_json = NULL;
		return 0;
	}
	json_error_t jerr;
	json_t *v = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return cove_errf(err, -EINVAL, "body: not JSON: %s (at %d)", jerr.text, jerr.position);
	struct check c = { .api = api, .err = err, .where = "body" };
	int r = schema ? check_value(&c, schema, v, 0) : 0;
	if (r < 0 || !body_json)
		json_decref(v);
	else
		*body_json = v;
	return r;
}
