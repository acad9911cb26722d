/* The catalog's records and their JSON (see records.h). The numeric fields
 * of each record are tables (name, offset, range) that decode, check and
 * encode share, so a field's rule is written once. */
#include "cluster/records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* I-JSON's (RFC 7493) exact integers: what any JSON reader keeps intact. */
#define JSON_INT_MAX ((int64_t)(((int64_t)1 << 53) - 1))

struct uint_field {
	const char *name;
	size_t offset;
	unsigned min, max;
};

struct int64_field {
	const char *name;
	size_t offset;
	int64_t min;
};

#define HOST_UINT(f, lo, hi) { #f, offsetof(struct cluster_host, f), lo, hi }
static const struct uint_field host_uints[] = {
	HOST_UINT(cpus, 1, CLUSTER_MAX_CPUS),
	HOST_UINT(mem_max_mib, 1, CLUSTER_MAX_MIB),
	HOST_UINT(mem_committed_mib, 0, CLUSTER_MAX_MIB),
	HOST_UINT(vcpus_alloc, 0, CLUSTER_MAX_COUNT),
	HOST_UINT(cpu_busy_pct, 0, 100),
	HOST_UINT(sandboxes, 0, CLUSTER_MAX_COUNT),
	HOST_UINT(max_sandboxes, 0, CLUSTER_MAX_COUNT),
	HOST_UINT(boots_inflight, 0, CLUSTER_MAX_COUNT),
	HOST_UINT(max_boots, 0, CLUSTER_MAX_COUNT),
};
static const struct int64_field host_int64s[] = {
	{ "ts", offsetof(struct cluster_host, ts_ms), 1 },
};

#define SB_UINT(f, lo, hi) { #f, offsetof(struct cluster_sandbox, f), lo, hi }
static const struct uint_field sandbox_uints[] = {
	SB_UINT(vcpus, 1, CLUSTER_MAX_CPUS),
	SB_UINT(mem_mib, 1, CLUSTER_MAX_MIB),
};
static const struct int64_field sandbox_int64s[] = {
	{ "epoch", offsetof(struct cluster_sandbox, epoch), 1 },
	{ "seq", offsetof(struct cluster_sandbox, seq), 0 },
	{ "started", offsetof(struct cluster_sandbox, started_ms), 0 },
	{ "end", offsetof(struct cluster_sandbox, end_ms), 0 },
};

static const char *const host_state_names[] = { "ready", "draining" };
static const char *const sandbox_state_names[] = { "creating", "running", "paused", "killing" };

const char *cluster_host_state_name(enum cluster_host_state s)
{
	return (size_t)s < ARRAY_SIZE(host_state_names) ? host_state_names[s] : "?";
}

const char *cluster_sandbox_state_name(enum cluster_sandbox_state s)
{
	return (size_t)s < ARRAY_SIZE(sandbox_state_names) ? sandbox_state_names[s] : "?";
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* 1..max bytes, the first alphanumeric (lower-case unless upper), each
 * alphanumeric or one of punct. */
static bool name_ok(const char *s, size_t max, bool upper, const char *punct)
{
	size_t n = s ? strnlen(s, max + 1) : 0;
	if (n == 0 || n > max || !(upper ? is_alnum(s[0]) : is_lower_alnum(s[0])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(upper ? is_alnum(s[i]) : is_lower_alnum(s[i])) && !strchr(punct, s[i]))
			return false;
	return true;
}

int cluster_host_id_check(const char *id, struct cove_err *err)
{
	if (!name_ok(id, CLUSTER_HOST_ID_MAX, true, "._-"))
		return cove_errf(err, -EINVAL, "host id '%.*s': must be 1 to %d of A-Z, a-z, 0-9, '.', '_', '-', "
				 "starting with a letter or digit", CLUSTER_HOST_ID_MAX + 1, id ? id : "",
				 CLUSTER_HOST_ID_MAX);
	return 0;
}

int cluster_sandbox_id_check(const char *id, struct cove_err *err)
{
	if (!name_ok(id, CLUSTER_SANDBOX_ID_MAX, false, ""))
		return cove_errf(err, -EINVAL, "sandbox id '%.*s': must be 1 to %d of a-z, 0-9",
				 CLUSTER_SANDBOX_ID_MAX + 1, id ? id : "", CLUSTER_SANDBOX_ID_MAX);
	return 0;
}

int cluster_template_name_check(const char *name, struct cove_err *err)
{
	if (!name_ok(name, CLUSTER_TEMPLATE_NAME_MAX, false, "._:-"))
		return cove_errf(err, -EINVAL, "template name '%.*s': must be 1 to %d of a-z, 0-9, '.', '_', ':', '-', "
				 "starting with a letter or digit", CLUSTER_TEMPLATE_NAME_MAX + 1,
				 name ? name : "", CLUSTER_TEMPLATE_NAME_MAX);
	return 0;
}

/* prefix + id into buf. */
static int make_key(const char *prefix, const char *id, char *buf, size_t size, struct cove_err *err)
{
	if ((size_t)snprintf(buf, size, "%s%s", prefix, id) >= size)
		return cove_errf(err, -ENAMETOOLONG, "catalog key %s%s: longer than %zu bytes", prefix, id, size - 1);
	return 0;
}

int cluster_host_key(const char *id, char *buf, size_t size, struct cove_err *err)
{
	int r = cluster_host_id_check(id, err);
	return r < 0 ? r : make_key(CLUSTER_HOSTS_PREFIX, id, buf, size, err);
}

int cluster_sandbox_key(const char *id, char *buf, size_t size, struct cove_err *err)
{
	int r = cluster_sandbox_id_check(id, err);
	return r < 0 ? r : make_key(CLUSTER_SANDBOXES_PREFIX, id, buf, size, err);
}

/* The part of key after prefix into id[max + 1], checked by check. */
static int key_id(const char *key, size_t len, const char *prefix, char *id, size_t max,
		  int (*check)(const char *, struct cove_err *), struct cove_err *err)
{
	size_t p = strlen(prefix);
	if (len <= p || len - p > max || memcmp(key, prefix, p) != 0)
		return cove_errf(err, -EINVAL, "catalog key '%.*s': not %sID", (int)(len > 300 ? 300 : len), key,
				 prefix);
	memcpy(id, key + p, len - p);
	id[len - p] = '\0';
	if (strlen(id) != len - p)
		return cove_errf(err, -EINVAL, "catalog key under %s: holds a NUL byte", prefix);
	return check(id, err);
}

int cluster_key_host_id(const char *key, size_t len, char id[CLUSTER_HOST_ID_MAX + 1], struct cove_err *err)
{
	return key_id(key, len, CLUSTER_HOSTS_PREFIX, id, CLUSTER_HOST_ID_MAX, cluster_host_id_check, err);
}

int cluster_key_sandbox_id(const char *key, size_t len, char id[CLUSTER_SANDBOX_ID_MAX + 1], struct cove_err *err)
{
	return key_id(key, len, CLUSTER_SANDBOXES_PREFIX, id, CLUSTER_SANDBOX_ID_MAX, cluster_sandbox_id_check, err);
}

/* Visible ASCII (no space), 1..max bytes. */
static bool visible_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* HOST:PORT with a host name or IPv4 address, or [IPV6]:PORT; port 1..65535. */
static bool addr_ok(const char *s)
{
	if (!visible_ok(s, CLUSTER_ADDR_MAX))
		return false;
	const char *colon = strrchr(s, ':');
	if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5)
		return false;
	long port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535 || colon == s)
		return false;
	size_t hlen = (size_t)(colon - s);
	if (s[0] == '[')
		return hlen > 2 && s[hlen - 1] == ']' && strspn(s + 1, "0123456789abcdefABCDEF:.") == hlen - 2;
	for (size_t i = 0; i < hlen; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static int uint_check(const char *what, const struct uint_field *f, long long v, struct cove_err *err)
{
	if (v < f->min || v > f->max)
		return cove_errf(err, -EINVAL, "%s: field '%s': %lld is not from %u to %u", what, f->name, v, f->min,
				 f->max);
	return 0;
}

static int int64_check(const char *what, const struct int64_field *f, long long v, struct cove_err *err)
{
	if (v < f->min || v > JSON_INT_MAX)
		return cove_errf(err, -EINVAL, "%s: field '%s': %lld is not from %lld to %lld", what, f->name, v,
				 (long long)f->min, (long long)JSON_INT_MAX);
	return 0;
}

static int uints_check(const char *what, const void *rec, const struct uint_field *fs, size_t n,
		       struct cove_err *err)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		memcpy(&v, (const char *)rec + fs[i].offset, sizeof(v));
		int r = uint_check(what, &fs[i], v, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int int64s_check(const char *what, const void *rec, const struct int64_field *fs, size_t n,
			struct cove_err *err)
{
	for (size_t i = 0; i < n; i++) {
		int64_t v;
		memcpy(&v, (const char *)rec + fs[i].offset, sizeof(v));
		int r = int64_check(what, &fs[i], v, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int templates_check(const char *what, const struct cluster_host *h, struct cove_err *err)
{
	if (h->ntemplates > CLUSTER_MAX_TEMPLATES || (h->ntemplates && !h->templates))
		return cove_errf(err, -EINVAL, "%s: field 'templates': more than %d", what, CLUSTER_MAX_TEMPLATES);
	for (size_t i = 0; i < h->ntemplates; i++) {
		const struct cluster_template *t = &h->templates[i];
		if (cluster_template_name_check(t->name, err) < 0)
			return cove_err_prefix(err, "%s: field 'templates'", what);
		if (t->warm > CLUSTER_MAX_COUNT)
			return cove_errf(err, -EINVAL, "%s: field 'templates.%s.warm': %u is more than %u", what,
					 t->name, t->warm, CLUSTER_MAX_COUNT);
		if (t->vcpus > CLUSTER_MAX_CPUS || t->mem_mib > CLUSTER_MAX_MIB)
			return cove_errf(err, -EINVAL, "%s: field 'templates.%s': size %u vCPUs, %u MiB out of range",
					 what, t->name, t->vcpus, t->mem_mib);
		for (size_t j = 0; j < i; j++)
			if (strcmp(h->templates[j].name, t->name) == 0)
				return cove_errf(err, -EINVAL, "%s: field 'templates': '%s' twice", what, t->name);
	}
	return 0;
}

static int host_strings_check(const char *what, const struct cluster_host *h, struct cove_err *err)
{
	if (!addr_ok(h->addr))
		return cove_errf(err, -EINVAL, "%s: field 'addr': '%.64s' is not HOST:PORT", what, h->addr);
	if ((size_t)h->state >= ARRAY_SIZE(host_state_names))
		return cove_errf(err, -EINVAL, "%s: field 'state': not ready or draining", what);
	if (!visible_ok(h->version, CLUSTER_VERSION_MAX))
		return cove_errf(err, -EINVAL, "%s: field 'version': must be 1 to %d visible ASCII characters", what,
				 CLUSTER_VERSION_MAX);
	if (!name_ok(h->accel, CLUSTER_ACCEL_MAX, false, ""))
		return cove_errf(err, -EINVAL, "%s: field 'accel': must be 1 to %d of a-z, 0-9", what,
				 CLUSTER_ACCEL_MAX);
	if (!visible_ok(h->snap_key, CLUSTER_SNAP_KEY_MAX))
		return cove_errf(err, -EINVAL, "%s: field 'snap_key': must be 1 to %d visible ASCII characters", what,
				 CLUSTER_SNAP_KEY_MAX);
	return 0;
}

/* "host record ID" (the id cut to its bound) for messages. */
static void record_name(const char *kind, const char *id, char what[96])
{
	snprintf(what, 96, "%s record %.*s", kind, CLUSTER_HOST_ID_MAX, id ? id : "");
}

int cluster_host_check(const struct cluster_host *h, struct cove_err *err)
{
	char what[96];
	record_name("host", h->id, what);
	int r = cluster_host_id_check(h->id, err);
	if (r < 0)
		return cove_err_prefix(err, "host record");
	if ((r = host_strings_check(what, h, err)) < 0 ||
	    (r = uints_check(what, h, host_uints, ARRAY_SIZE(host_uints), err)) < 0 ||
	    (r = int64s_check(what, h, host_int64s, ARRAY_SIZE(host_int64s), err)) < 0)
		return r;
	return templates_check(what, h, err);
}

/* A JSON object of at most CLUSTER_METADATA_MAX string values, keys 1 to
 * CLUSTER_METADATA_KEY_MAX and values at most CLUSTER_METADATA_VALUE_MAX
 * bytes (coved's create's rule). */
static int metadata_json_check(const char *what, const json_t *o, struct cove_err *err)
{
	if (!json_is_object(o))
		return cove_errf(err, -EINVAL, "%s: field 'metadata': not an object", what);
	if (json_object_size(o) > CLUSTER_METADATA_MAX)
		return cove_errf(err, -EINVAL, "%s: field 'metadata': more than %d entries", what,
				 CLUSTER_METADATA_MAX);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		if (!*k || strlen(k) > CLUSTER_METADATA_KEY_MAX || !json_is_string(v) ||
		    json_string_length(v) > CLUSTER_METADATA_VALUE_MAX)
			return cove_errf(err, -EINVAL, "%s: field 'metadata': entry '%.64s': a key must be 1 to %d "
					 "and a value a string of at most %d bytes", what, k,
					 CLUSTER_METADATA_KEY_MAX, CLUSTER_METADATA_VALUE_MAX);
	}
	return 0;
}

/* Metadata text (NULL: none) as a JSON object into *ret (NULL for none). */
static int metadata_load(const char *what, const char *text, json_t **ret, struct cove_err *err)
{
	*ret = NULL;
	if (!text)
		return 0;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	int r = o ? metadata_json_check(what, o, err)
		  : cove_errf(err, -EINVAL, "%s: field 'metadata': not JSON", what);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	*ret = o;
	return 0;
}

int cluster_sandbox_check(const struct cluster_sandbox *sb, struct cove_err *err)
{
	char what[96];
	record_name("sandbox", sb->id, what);
	if (cluster_sandbox_id_check(sb->id, err) < 0)
		return cove_err_prefix(err, "sandbox record");
	if (cluster_host_id_check(sb->host, err) < 0)
		return cove_err_prefix(err, "%s: field 'host'", what);
	if ((size_t)sb->state >= ARRAY_SIZE(sandbox_state_names))
		return cove_errf(err, -EINVAL, "%s: field 'state': not creating, running, paused or killing", what);
	if (cluster_template_name_check(sb->template_id, err) < 0)
		return cove_err_prefix(err, "%s: field 'template'", what);
	int r = uints_check(what, sb, sandbox_uints, ARRAY_SIZE(sandbox_uints), err);
	if (r < 0 || (r = int64s_check(what, sb, sandbox_int64s, ARRAY_SIZE(sandbox_int64s), err)) < 0)
		return r;
	_cleanup_json_ json_t *meta = NULL;
	return metadata_load(what, sb->metadata, &meta, err);
}

/* Encoding. */

static int set(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

static int set_uints(json_t *o, const void *rec, const struct uint_field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		memcpy(&v, (const char *)rec + fs[i].offset, sizeof(v));
		if (set(o, fs[i].name, json_integer(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int set_int64s(json_t *o, const void *rec, const struct int64_field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t v;
		memcpy(&v, (const char *)rec + fs[i].offset, sizeof(v));
		if (set(o, fs[i].name, json_integer(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static json_t *templates_json(const struct cluster_host *h)
{
	_cleanup_json_ json_t *o = json_object();
	for (size_t i = 0; o && i < h->ntemplates; i++) {
		const struct cluster_template *t = &h->templates[i];
		json_t *v = json_pack("{s:b,s:I}", "snap", t->snap, "warm", (json_int_t)t->warm);
		/* The sizes only when known: absent is 0, so the text stays canonical. */
		if (v && t->vcpus && set(v, "vcpus", json_integer(t->vcpus)) < 0)
			v = NULL;
		if (v && t->mem_mib && set(v, "mem_mib", json_integer(t->mem_mib)) < 0)
			v = NULL;
		if (set(o, t->name, v) < 0)
			return NULL;
	}
	return TAKE_PTR(o);
}

/* o as compact JSON with sorted keys into *ret. */
static int dump(const json_t *o, char **ret, struct cove_err *err)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return cove_errf(err, -ENOMEM, "catalog record: out of memory");
	*ret = text;
	return 0;
}

int cluster_host_encode(const struct cluster_host *h, char **ret, struct cove_err *err)
{
	int r = cluster_host_check(h, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "addr", h->addr, "state",
					      cluster_host_state_name(h->state), "version", h->version, "accel",
					      h->accel, "snap_key", h->snap_key);
	if (!o || set_uints(o, h, host_uints, ARRAY_SIZE(host_uints)) < 0 ||
	    set_int64s(o, h, host_int64s, ARRAY_SIZE(host_int64s)) < 0 || set(o, "templates", templates_json(h)) < 0)
		return cove_errf(err, -ENOMEM, "host record %s: out of memory", h->id);
	return dump(o, ret, err);
}

int cluster_sandbox_encode(const struct cluster_sandbox *sb, char **ret, struct cove_err *err)
{
	int r = cluster_sandbox_check(sb, err);
	if (r < 0)
		return r;
	json_t *meta = NULL;
	if ((r = metadata_load("sandbox record", sb->metadata, &meta, err)) < 0)
		return r;
	_cleanup_json_ json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:o}", "host", sb->host, "state",
					      cluster_sandbox_state_name(sb->state), "template", sb->template_id,
					      "auto_pause", sb->auto_pause, "metadata", meta ? meta : json_object());
	if (!o || set_uints(o, sb, sandbox_uints, ARRAY_SIZE(sandbox_uints)) < 0 ||
	    set_int64s(o, sb, sandbox_int64s, ARRAY_SIZE(sandbox_int64s)) < 0)
		return cove_errf(err, -ENOMEM, "sandbox record %s: out of memory", sb->id);
	return dump(o, ret, err);
}

/* Decoding. */

/* The text as a JSON object, bounded, duplicate keys refused, no field
 * named like a token. */
static json_t *load_object(const char *what, const char *text, size_t len, struct cove_err *err)
{
	if (len > CLUSTER_RECORD_MAX) {
		cove_errf(err, -EINVAL, "%s: %zu bytes, more than %d", what, len, CLUSTER_RECORD_MAX);
		return NULL;
	}
	json_error_t jerr;
	_cleanup_json_ json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		cove_errf(err, -EINVAL, "%s: not a JSON object%s%s", what, o ? "" : ": ", o ? "" : jerr.text);
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		if (strcasestr(k, "token")) {
			cove_errf(err, -EINVAL, "%s: field '%.64s': the catalog never holds tokens", what, k);
			return NULL;
		}
	}
	return TAKE_PTR(o);
}

static json_t *need(const char *what, const json_t *o, const char *name, int type, struct cove_err *err)
{
	static const char *const types[] = { [JSON_OBJECT] = "an object", [JSON_STRING] = "a string",
					     [JSON_INTEGER] = "an integer", [JSON_TRUE] = "true or false" };
	json_t *v = json_object_get(o, name);
	bool ok = v && (json_typeof(v) == (json_type)type || (type == JSON_TRUE && json_is_boolean(v)));
	if (!ok)
		cove_errf(err, -EINVAL, "%s: field '%s': %s %s", what, name, v ? "must be" : "missing, must be",
			  types[type]);
	return ok ? v : NULL;
}

/* The string field into buf[max + 1]; its content is check's to judge. */
static int get_string(const char *what, const json_t *o, const char *name, char *buf, size_t max,
		      struct cove_err *err)
{
	json_t *v = need(what, o, name, JSON_STRING, err);
	if (!v)
		return -EINVAL;
	size_t n = json_string_length(v);
	if (n > max || strlen(json_string_value(v)) != n)
		return cove_errf(err, -EINVAL, "%s: field '%s': longer than %zu bytes", what, name, max);
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

static int get_uints(const char *what, const json_t *o, void *rec, const struct uint_field *fs, size_t n,
		     struct cove_err *err)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = need(what, o, fs[i].name, JSON_INTEGER, err);
		if (!v || uint_check(what, &fs[i], json_integer_value(v), err) < 0)
			return -EINVAL;
		unsigned u = (unsigned)json_integer_value(v);
		memcpy((char *)rec + fs[i].offset, &u, sizeof(u));
	}
	return 0;
}

static int get_int64s(const char *what, const json_t *o, void *rec, const struct int64_field *fs, size_t n,
		      struct cove_err *err)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = need(what, o, fs[i].name, JSON_INTEGER, err);
		if (!v || int64_check(what, &fs[i], json_integer_value(v), err) < 0)
			return -EINVAL;
		int64_t x = json_integer_value(v);
		memcpy((char *)rec + fs[i].offset, &x, sizeof(x));
	}
	return 0;
}

/* The index of name among names, or -EINVAL naming the field. */
static int get_enum(const char *what, const json_t *o, const char *name, const char *const *names, size_t n,
		    struct cove_err *err)
{
	char buf[16];
	if (get_string(what, o, name, buf, sizeof(buf) - 1, err) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(buf, names[i]) == 0)
			return (int)i;
	return cove_errf(err, -EINVAL, "%s: field '%s': '%s' is not one of its states", what, name, buf);
}

static int template_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cluster_template *)a)->name, ((const struct cluster_template *)b)->name);
}

/* A template's optional size field: absent is 0; given, 1 to max. */
static int get_size(const char *what, const char *field, const json_t *v, const char *name, unsigned max,
		    unsigned *ret, struct cove_err *err)
{
	json_t *n = json_object_get(v, name);
	*ret = 0;
	if (!n)
		return 0;
	if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > max)
		return cove_errf(err, -EINVAL, "%s: field '%s.%s': not an integer from 1 to %u", what, field, name,
				 max);
	*ret = (unsigned)json_integer_value(n);
	return 0;
}

static int get_template(const char *what, const char *name, const json_t *v, struct cluster_template *t,
			struct cove_err *err)
{
	char field[128];
	snprintf(field, sizeof(field), "templates.%.64s", name);
	if (cluster_template_name_check(name, err) < 0)
		return cove_err_prefix(err, "%s: field 'templates'", what);
	snprintf(t->name, sizeof(t->name), "%s", name);
	json_t *snap = need(what, v, "snap", JSON_TRUE, err);
	json_t *warm = snap ? need(what, v, "warm", JSON_INTEGER, err) : NULL;
	if (!json_is_object(v) || !warm)
		return cove_errf(err, -EINVAL, "%s: field '%s': must be {\"snap\": bool, \"warm\": integer}", what,
				 field);
	if (json_integer_value(warm) < 0 || json_integer_value(warm) > CLUSTER_MAX_COUNT)
		return cove_errf(err, -EINVAL, "%s: field '%s.warm': not from 0 to %u", what, field,
				 CLUSTER_MAX_COUNT);
	t->snap = json_is_true(snap);
	t->warm = (unsigned)json_integer_value(warm);
	if (get_size(what, field, v, "vcpus", CLUSTER_MAX_CPUS, &t->vcpus, err) < 0 ||
	    get_size(what, field, v, "mem_mib", CLUSTER_MAX_MIB, &t->mem_mib, err) < 0)
		return -EINVAL;
	return 0;
}

/* templates: {name: {snap, warm}} into h, sorted by name. */
static int get_templates(const char *what, const json_t *o, struct cluster_host *h, struct cove_err *err)
{
	json_t *ts = need(what, o, "templates", JSON_OBJECT, err);
	if (!ts)
		return -EINVAL;
	size_t n = json_object_size(ts);
	if (n > CLUSTER_MAX_TEMPLATES)
		return cove_errf(err, -EINVAL, "%s: field 'templates': %zu, more than %d", what, n,
				 CLUSTER_MAX_TEMPLATES);
	if (n && !(h->templates = calloc(n, sizeof(*h->templates))))
		return cove_errf(err, -ENOMEM, "%s: out of memory", what);
	const char *name;
	json_t *v;
	json_object_foreach(ts, name, v) {
		int r = get_template(what, name, v, &h->templates[h->ntemplates], err);
		if (r < 0)
			return r;
		h->ntemplates++;
	}
	if (n)
		qsort(h->templates, n, sizeof(*h->templates), template_cmp);
	return 0;
}

static int host_fields(const char *what, const json_t *o, struct cluster_host *h, struct cove_err *err)
{
	int state = get_enum(what, o, "state", host_state_names, ARRAY_SIZE(host_state_names), err);
	if (state < 0 || get_string(what, o, "addr", h->addr, CLUSTER_ADDR_MAX, err) < 0 ||
	    get_string(what, o, "version", h->version, CLUSTER_VERSION_MAX, err) < 0 ||
	    get_string(what, o, "accel", h->accel, CLUSTER_ACCEL_MAX, err) < 0 ||
	    get_string(what, o, "snap_key", h->snap_key, CLUSTER_SNAP_KEY_MAX, err) < 0 ||
	    get_uints(what, o, h, host_uints, ARRAY_SIZE(host_uints), err) < 0 ||
	    get_int64s(what, o, h, host_int64s, ARRAY_SIZE(host_int64s), err) < 0)
		return -EINVAL;
	h->state = (enum cluster_host_state)state;
	return get_templates(what, o, h, err);
}

int cluster_host_decode(const char *id, const char *text, size_t len, struct cluster_host *ret,
			struct cove_err *err)
{
	char what[96];
	record_name("host", id, what);
	if (cluster_host_id_check(id, err) < 0)
		return cove_err_prefix(err, "host record");
	_cleanup_json_ json_t *o = load_object(what, text, len, err);
	if (!o)
		return err ? err->code : -EINVAL;
	struct cluster_host h = { 0 };
	snprintf(h.id, sizeof(h.id), "%s", id);
	int r = host_fields(what, o, &h, err);
	if (r == 0)
		r = cluster_host_check(&h, err);
	if (r < 0) {
		cluster_host_clear(&h);
		return r;
	}
	*ret = h;
	return 0;
}

static int sandbox_metadata(const char *what, const json_t *o, struct cluster_sandbox *sb, struct cove_err *err)
{
	json_t *meta = json_object_get(o, "metadata");
	if (!meta || json_is_null(meta) || (json_is_object(meta) && json_object_size(meta) == 0))
		return 0;
	int r = metadata_json_check(what, meta, err);
	if (r < 0)
		return r;
	if (!(sb->metadata = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS)))
		return cove_errf(err, -ENOMEM, "%s: out of memory", what);
	return 0;
}

static int sandbox_fields(const char *what, const json_t *o, struct cluster_sandbox *sb, struct cove_err *err)
{
	int state = get_enum(what, o, "state", sandbox_state_names, ARRAY_SIZE(sandbox_state_names), err);
	json_t *auto_pause = state < 0 ? NULL : need(what, o, "auto_pause", JSON_TRUE, err);
	if (!auto_pause || get_string(what, o, "host", sb->host, CLUSTER_HOST_ID_MAX, err) < 0 ||
	    get_string(what, o, "template", sb->template_id, CLUSTER_TEMPLATE_NAME_MAX, err) < 0 ||
	    get_uints(what, o, sb, sandbox_uints, ARRAY_SIZE(sandbox_uints), err) < 0 ||
	    get_int64s(what, o, sb, sandbox_int64s, ARRAY_SIZE(sandbox_int64s), err) < 0)
		return -EINVAL;
	sb->state = (enum cluster_sandbox_state)state;
	sb->auto_pause = json_is_true(auto_pause);
	return sandbox_metadata(what, o, sb, err);
}

int cluster_sandbox_decode(const char *id, const char *text, size_t len, struct cluster_sandbox *ret,
			   struct cove_err *err)
{
	char what[96];
	record_name("sandbox", id, what);
	if (cluster_sandbox_id_check(id, err) < 0)
		return cove_err_prefix(err, "sandbox record");
	_cleanup_json_ json_t *o = load_object(what, text, len, err);
	if (!o)
		return err ? err->code : -EINVAL;
	struct cluster_sandbox sb = { 0 };
	snprintf(sb.id, sizeof(sb.id), "%s", id);
	int r = sandbox_fields(what, o, &sb, err);
	if (r == 0)
		r = cluster_sandbox_check(&sb, err);
	if (r < 0) {
		cluster_sandbox_clear(&sb);
		return r;
	}
	*ret = sb;
	return 0;
}

const struct cluster_template *cluster_host_template(const struct cluster_host *h, const char *name)
{
	for (size_t i = 0; i < h->ntemplates; i++)
		if (strcmp(h->templates[i].name, name) == 0)
			return &h->templates[i];
	return NULL;
}

static bool uints_equal(const void *a, const void *b, const struct uint_field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp((const char *)a + fs[i].offset, (const char *)b + fs[i].offset, sizeof(unsigned)))
			return false;
	return true;
}

static bool int64s_equal(const void *a, const void *b, const struct int64_field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp((const char *)a + fs[i].offset, (const char *)b + fs[i].offset, sizeof(int64_t)))
			return false;
	return true;
}

static bool templates_equal(const struct cluster_host *a, const struct cluster_host *b)
{
	if (a->ntemplates != b->ntemplates)
		return false;
	for (size_t i = 0; i < a->ntemplates; i++) {
		const struct cluster_template *x = &a->templates[i], *y = &b->templates[i];
		if (strcmp(x->name, y->name) || x->snap != y->snap || x->warm != y->warm || x->vcpus != y->vcpus ||
		    x->mem_mib != y->mem_mib)
			return false;
	}
	return true;
}

bool cluster_host_equal(const struct cluster_host *a, const struct cluster_host *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->addr, b->addr) && a->state == b->state &&
	       !strcmp(a->version, b->version) && !strcmp(a->accel, b->accel) && !strcmp(a->snap_key, b->snap_key) &&
	       uints_equal(a, b, host_uints, ARRAY_SIZE(host_uints)) &&
	       int64s_equal(a, b, host_int64s, ARRAY_SIZE(host_int64s)) && templates_equal(a, b);
}

bool cluster_sandbox_equal(const struct cluster_sandbox *a, const struct cluster_sandbox *b)
{
	bool meta = (!a->metadata && !b->metadata) || (a->metadata && b->metadata && !strcmp(a->metadata, b->metadata));
	return meta && !strcmp(a->id, b->id) && !strcmp(a->host, b->host) && a->state == b->state &&
	       !strcmp(a->template_id, b->template_id) && a->auto_pause == b->auto_pause &&
	       uints_equal(a, b, sandbox_uints, ARRAY_SIZE(sandbox_uints)) &&
	       int64s_equal(a, b, sandbox_int64s, ARRAY_SIZE(sandbox_int64s));
}

void cluster_host_clear(struct cluster_host *h)
{
	free(h->templates);
	h->templates = NULL;
	h->ntemplates = 0;
}

void cluster_sandbox_clear(struct cluster_sandbox *sb)
{
	free(sb->metadata);
	sb->metadata = NULL;
}
