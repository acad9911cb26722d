/* etcd's JSON gateway: the request bodies (proto/etcd.h), and the watch
 * stream's line splitter. int64 fields go out as strings, as the gateway
 * writes them itself; bytes as base64. */
#include "proto/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proto/base64.h"

/* Sets obj[name] to the base64 of data; false when out of memory. */
static bool set_bytes(json_t *obj, const char *name, const void *data, size_t len)
{
	if (len > SIZE_MAX / 2)
		return false;
	_cleanup_free_ char *b64 = malloc(base64_encoded_len(len) + 1);
	if (!b64)
		return false;
	base64_encode(data ? data : (const void *)"", len, b64);
	return json_object_set_new(obj, name, json_string(b64)) == 0;
}

static bool set_int64(json_t *obj, const char *name, int64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_object_set_new(obj, name, json_string(s)) == 0;
}

size_t etcd_prefix_end(const uint8_t *key, size_t len, uint8_t *out)
{
	for (size_t i = len; i > 0; i--) {
		if (key[i - 1] != 0xff) {
			memcpy(out, key, i - 1);
			out[i - 1] = key[i - 1] + 1;
			return i;
		}
	}
	out[0] = 0;
	return 1;
}

/* key, and range_end when prefix. etcd refuses an empty key: every key
 * is ["\0", "\0"), its own spelling. */
static bool set_key_range(json_t *obj, const void *key, size_t len, bool prefix)
{
	if (prefix && len == 0)
		return set_bytes(obj, "key", "", 1) && set_bytes(obj, "range_end", "", 1);
	if (!set_bytes(obj, "key", key, len))
		return false;
	if (!prefix)
		return true;
	_cleanup_free_ uint8_t *end = malloc(len ? len : 1);
	if (!end)
		return false;
	size_t n = etcd_prefix_end(key, len, end);
	return set_bytes(obj, "range_end", end, n);
}

static json_t *op_object(const struct etcd_request_op *op)
{
	_cleanup_json_ json_t *o = json_object();
	if (!o || !set_key_range(o, op->key, op->key_len, op->op != ETCD_OP_PUT && op->prefix))
		return NULL;
	bool ok = true;
	switch (op->op) {
	case ETCD_OP_RANGE:
		ok = (!op->limit || set_int64(o, "limit", op->limit)) &&
		     (!op->revision || set_int64(o, "revision", op->revision));
		break;
	case ETCD_OP_PUT:
		ok = set_bytes(o, "value", op->value, op->value_len) &&
		     (!op->lease || set_int64(o, "lease", op->lease));
		/* fall through */
	case ETCD_OP_DELETE: ok = ok && (!op->prev_kv || json_object_set_new(o, "prev_kv", json_true()) == 0); break;
	}
	return ok ? TAKE_PTR(o) : NULL;
}

static char *dump(json_t *o)
{
	return o ? json_dumps(o, JSON_COMPACT) : NULL;
}

const char *etcd_op_path(enum etcd_op op)
{
	switch (op) {
	case ETCD_OP_RANGE: return "/v3/kv/range";
	case ETCD_OP_PUT: return "/v3/kv/put";
	case ETCD_OP_DELETE: return "/v3/kv/deleterange";
	}
	return "/v3/kv/range";
}

char *etcd_op_encode(const struct etcd_request_op *op)
{
	_cleanup_json_ json_t *o = op_object(op);
	return dump(o);
}

static const char *const target_names[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
static const char *const target_fields[] = { "version", "create_revision", "mod_revision", "value", "lease" };
static const char *const relation_names[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };

static json_t *compare_object(const struct etcd_compare *c)
{
	if ((unsigned)c->target > ETCD_CMP_LEASE || (unsigned)c->relation > ETCD_NOT_EQUAL)
		return NULL;
	_cleanup_json_ json_t *o = json_object();
	if (!o || !set_bytes(o, "key", c->key, c->key_len) ||
	    json_object_set_new(o, "target", json_string(target_names[c->target])) < 0 ||
	    json_object_set_new(o, "result", json_string(relation_names[c->relation])) < 0)
		return NULL;
	bool ok = c->target == ETCD_CMP_VALUE ? set_bytes(o, "value", c->value, c->value_len)
					      : set_int64(o, target_fields[c->target], c->number);
	return ok ? TAKE_PTR(o) : NULL;
}

static const char *const op_wrappers[] = { "request_range", "request_put", "request_delete_range" };

static json_t *ops_array(const struct etcd_request_op *ops, size_t n)
{
	_cleanup_json_ json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		if ((unsigned)ops[i].op > ETCD_OP_DELETE)
			return NULL;
		json_t *o = op_object(&ops[i]);
		if (!o || json_array_append_new(a, json_pack("{s:o}", op_wrappers[ops[i].op], o)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}

char *etcd_txn_encode(const struct etcd_txn_request *txn)
{
	_cleanup_json_ json_t *cmp = json_array();
	for (size_t i = 0; cmp && i < txn->ncompare; i++)
		if (json_array_append_new(cmp, compare_object(&txn->compare[i])) < 0)
			return NULL;
	json_t *success = ops_array(txn->success, txn->nsuccess);
	json_t *failure = ops_array(txn->failure, txn->nfailure);
	if (!cmp || !success || !failure) {
		json_decref(success);
		json_decref(failure);
		return NULL;
	}
	_cleanup_json_ json_t *o = json_pack("{s:O,s:o,s:o}", "compare", cmp, "success", success, "failure", failure);
	return dump(o);
}

char *etcd_lease_grant_encode(int64_t ttl)
{
	_cleanup_json_ json_t *o = json_object();
	if (!o || !set_int64(o, "TTL", ttl))
		return NULL;
	return dump(o);
}

char *etcd_compact_encode(int64_t revision)
{
	_cleanup_json_ json_t *o = json_object();
	if (!o || !set_int64(o, "revision", revision))
		return NULL;
	return dump(o);
}

char *etcd_lease_id_encode(int64_t id, bool keys)
{
	_cleanup_json_ json_t *o = json_object();
	if (!o || !set_int64(o, "ID", id) || (keys && json_object_set_new(o, "keys", json_true()) < 0))
		return NULL;
	return dump(o);
}

char *etcd_watch_encode(const struct etcd_watch_request *w)
{
	_cleanup_json_ json_t *create = json_object();
	if (!create || !set_key_range(create, w->key, w->key_len, w->prefix) ||
	    (w->start_revision && !set_int64(create, "start_revision", w->start_revision)) ||
	    (w->prev_kv && json_object_set_new(create, "prev_kv", json_true()) < 0))
		return NULL;
	_cleanup_json_ json_t *o = json_pack("{s:O}", "create_request", create);
	return dump(o);
}

int etcd_lines_append(struct etcd_lines *l, const void *data, size_t len)
{
	/* Drop the lines already taken before growing. */
	if (l->start > 0) {
		memmove(l->buf, l->buf + l->start, l->len - l->start);
		l->len -= l->start;
		l->start = 0;
	}
	if (len > ETCD_MAX_RESPONSE - l->len)
		return -EMSGSIZE;
	if (l->len + len + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->len + len + 1)
			cap *= 2;
		char *buf = realloc(l->buf, cap);
		if (!buf)
			return -ENOMEM;
		l->buf = buf;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, len);
	l->len += len;
	l->buf[l->len] = '\0';
	return 0;
}

bool etcd_lines_next(struct etcd_lines *l, bool final, const char **line, size_t *len)
{
	while (l->start < l->len) {
		char *begin = l->buf + l->start;
		char *nl = memchr(begin, '\n', l->len - l->start);
		if (!nl && !final)
			return false;
		size_t n = nl ? (size_t)(nl - begin) : l->len - l->start;
		l->start += n + (nl ? 1 : 0);
		if (n > 0 && begin[n - 1] == '\r')
			n--;
		if (n == 0)
			continue; /* blank lines carry nothing */
		*line = begin;
		*len = n;
		return true;
	}
	return false;
}

void etcd_lines_clear(struct etcd_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}
