/* etcd's JSON gateway: the responses (proto/etcd.h). Every field is checked
 * for its type; absent fields take proto3's defaults (0, false, empty). */
#include "proto/etcd.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proto/base64.h"

static int bad(struct cove_err *err, const char *what)
{
	return cove_errf(err, -EBADMSG, "etcd: unexpected answer: %s", what);
}

/* An int64 as a JSON integer or a string of digits (proto3 JSON writes
 * int64 as strings; both are valid input). Absent: 0. */
static int get_int64(json_t *obj, const char *name, int64_t *out)
{
	json_t *v = json_object_get(obj, name);
	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) > 20 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return -EBADMSG;
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*out = n;
	return 0;
}

/* uint64 (the header's ids): the same without a sign. */
static int get_uint64(json_t *obj, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);
	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -EBADMSG;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || s[0] < '0' || s[0] > '9' || strlen(s) > 20)
		return -EBADMSG;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*out = n;
	return 0;
}

static int get_bool(json_t *obj, const char *name, bool *out)
{
	json_t *v = json_object_get(obj, name);
	*out = v && json_is_true(v);
	return !v || json_is_boolean(v) ? 0 : -EBADMSG;
}

/* A bytes field: base64, decoded into a NUL-terminated copy. Absent: empty. */
static int get_bytes(json_t *obj, const char *name, struct etcd_bytes *out)
{
	json_t *v = json_object_get(obj, name);
	*out = (struct etcd_bytes){ 0 };
	if (!v)
		return 0;
	const char *s = json_string_value(v);
	if (!s)
		return -EBADMSG;
	size_t slen = json_string_length(v);
	if (slen == 0)
		return 0;
	uint8_t *data = malloc(slen / 4 * 3 + 4);
	if (!data)
		return -ENOMEM;
	long n = base64_decode(s, slen, data);
	if (n < 0) {
		free(data);
		return -EBADMSG;
	}
	data[n] = '\0';
	*out = (struct etcd_bytes){ .data = data, .len = (size_t)n };
	return 0;
}

static int parse_header(json_t *obj, struct etcd_header *h)
{
	json_t *hj = json_object_get(obj, "header");
	*h = (struct etcd_header){ 0 };
	if (!hj)
		return 0;
	if (!json_is_object(hj))
		return -EBADMSG;
	if (get_uint64(hj, "cluster_id", &h->cluster_id) < 0 || get_uint64(hj, "member_id", &h->member_id) < 0 ||
	    get_int64(hj, "revision", &h->revision) < 0 || get_int64(hj, "raft_term", &h->raft_term) < 0)
		return -EBADMSG;
	return 0;
}

void etcd_kv_clear(struct etcd_kv *kv)
{
	free(kv->key.data);
	free(kv->value.data);
	*kv = (struct etcd_kv){ 0 };
}

static int parse_kv(json_t *obj, struct etcd_kv *kv)
{
	*kv = (struct etcd_kv){ 0 };
	if (!json_is_object(obj))
		return -EBADMSG;
	int r = get_bytes(obj, "key", &kv->key);
	if (r == 0)
		r = get_bytes(obj, "value", &kv->value);
	if (r == 0 && (get_int64(obj, "create_revision", &kv->create_revision) < 0 ||
		       get_int64(obj, "mod_revision", &kv->mod_revision) < 0 ||
		       get_int64(obj, "version", &kv->version) < 0 || get_int64(obj, "lease", &kv->lease) < 0))
		r = -EBADMSG;
	if (r < 0)
		etcd_kv_clear(kv);
	return r;
}

static void kvs_free(struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		etcd_kv_clear(&kvs[i]);
	free(kvs);
}

/* An array of kvs (absent: none). */
static int parse_kvs(json_t *arr, struct etcd_kv **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return -EBADMSG;
	size_t count = json_array_size(arr);
	if (count == 0)
		return 0;
	struct etcd_kv *kvs = calloc(count, sizeof(*kvs));
	if (!kvs)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		int r = parse_kv(json_array_get(arr, i), &kvs[i]);
		if (r < 0) {
			kvs_free(kvs, i);
			return r;
		}
	}
	*out = kvs;
	*n = count;
	return 0;
}

void etcd_result_clear(struct etcd_result *r)
{
	kvs_free(r->kvs, r->nkvs);
	*r = (struct etcd_result){ 0 };
}

/* One range, put or delete response object. */
static int parse_result(enum etcd_op op, json_t *obj, struct etcd_result *out)
{
	*out = (struct etcd_result){ .op = op };
	if (!json_is_object(obj) || parse_header(obj, &out->header) < 0)
		return -EBADMSG;
	int r = 0;
	switch (op) {
	case ETCD_OP_RANGE:
		r = get_bool(obj, "more", &out->more) < 0 || get_int64(obj, "count", &out->count) < 0 ? -EBADMSG : 0;
		if (r == 0)
			r = parse_kvs(json_object_get(obj, "kvs"), &out->kvs, &out->nkvs);
		break;
	case ETCD_OP_PUT: {
		json_t *prev = json_object_get(obj, "prev_kv");
		if (!prev)
			break;
		if (!(out->kvs = calloc(1, sizeof(*out->kvs))))
			return -ENOMEM;
		r = parse_kv(prev, out->kvs);
		out->nkvs = r == 0;
		break;
	}
	case ETCD_OP_DELETE:
		r = get_int64(obj, "deleted", &out->count) < 0 ? -EBADMSG : 0;
		if (r == 0)
			r = parse_kvs(json_object_get(obj, "prev_kvs"), &out->kvs, &out->nkvs);
		break;
	default: r = -EINVAL;
	}
	if (r < 0)
		etcd_result_clear(out);
	return r;
}

int etcd_error_errno(int code)
{
	switch (code) {
	case 1: return -ECANCELED;   /* CANCELLED */
	case 3: return -EINVAL;      /* INVALID_ARGUMENT */
	case 4: return -ETIMEDOUT;   /* DEADLINE_EXCEEDED */
	case 5: return -ENOENT;      /* NOT_FOUND */
	case 6: return -EEXIST;      /* ALREADY_EXISTS */
	case 7: return -EPERM;       /* PERMISSION_DENIED */
	case 8: return -ENOSPC;      /* RESOURCE_EXHAUSTED */
	case 9: return -EPROTO;      /* FAILED_PRECONDITION */
	case 10: return -EAGAIN;     /* ABORTED */
	case 11: return -ERANGE;     /* OUT_OF_RANGE: compacted */
	case 12: return -EOPNOTSUPP; /* UNIMPLEMENTED */
	case 14: return -EAGAIN;     /* UNAVAILABLE */
	case 16: return -EACCES;     /* UNAUTHENTICATED */
	default: return -EIO;        /* UNKNOWN, INTERNAL, DATA_LOSS, ... */
	}
}

static int error_from(json_t *root, struct etcd_error *out)
{
	json_t *e = json_object_get(root, "error");
	if (!e || json_object_get(root, "header") || json_object_get(root, "result"))
		return -EINVAL;
	json_t *holder = json_is_object(e) ? e : root;
	json_t *code = json_object_get(holder, json_is_object(e) ? "grpc_code" : "code");
	const char *msg = json_string_value(json_object_get(holder, "message"));
	if (!msg)
		msg = json_string_value(e);
	if (!json_is_integer(code) || !msg)
		return -EINVAL;
	json_int_t c = json_integer_value(code);
	out->code = c < 0 || c > 64 ? 2 : (int)c;
	snprintf(out->message, sizeof(out->message), "%s", msg);
	return 0;
}

/* The document as an object; an etcd error body becomes its errno. */
static json_t *load(const char *json, size_t len, int *r, struct cove_err *err)
{
	if (len > ETCD_MAX_RESPONSE) {
		*r = bad(err, "the answer is too long");
		return NULL;
	}
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		*r = bad(err, "not a JSON object");
		return NULL;
	}
	struct etcd_error e;
	if (error_from(root, &e) == 0) {
		json_decref(root);
		*r = cove_errf(err, etcd_error_errno(e.code), "etcd: %s (code %d)", e.message, e.code);
		return NULL;
	}
	*r = 0;
	return root;
}

int etcd_error_parse(const char *json, size_t len, struct etcd_error *out)
{
	_cleanup_json_ json_t *root = len <= ETCD_MAX_RESPONSE ? json_loadb(json, len, 0, NULL) : NULL;
	if (!json_is_object(root))
		return -EINVAL;
	return error_from(root, out);
}

int etcd_result_parse(enum etcd_op op, const char *json, size_t len, struct etcd_result *out, struct cove_err *err)
{
	int r;
	*out = (struct etcd_result){ .op = op };
	_cleanup_json_ json_t *root = load(json, len, &r, err);
	if (!root)
		return r;
	r = parse_result(op, root, out);
	if (r == -ENOMEM)
		return cove_errf(err, r, "etcd: out of memory");
	return r < 0 ? bad(err, etcd_op_path(op)) : 0;
}

void etcd_txn_result_clear(struct etcd_txn_result *t)
{
	for (size_t i = 0; i < t->nresponses; i++)
		etcd_result_clear(&t->responses[i]);
	free(t->responses);
	*t = (struct etcd_txn_result){ 0 };
}

static const char *const response_names[] = { "response_range", "response_put", "response_delete_range" };

/* {"response_put":{...}} and the like. */
static int parse_response_op(json_t *item, struct etcd_result *out)
{
	for (int op = ETCD_OP_RANGE; op <= ETCD_OP_DELETE; op++) {
		json_t *v = json_object_get(item, response_names[op]);
		if (v)
			return json_object_size(item) == 1 ? parse_result((enum etcd_op)op, v, out) : -EBADMSG;
	}
	return -EBADMSG;
}

static int parse_txn(json_t *root, struct etcd_txn_result *out)
{
	if (parse_header(root, &out->header) < 0 || get_bool(root, "succeeded", &out->succeeded) < 0)
		return -EBADMSG;
	json_t *arr = json_object_get(root, "responses");
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return -EBADMSG;
	size_t n = json_array_size(arr);
	if (n == 0)
		return 0;
	if (!(out->responses = calloc(n, sizeof(*out->responses))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = parse_response_op(json_array_get(arr, i), &out->responses[i]);
		if (r < 0)
			return r;
		out->nresponses = i + 1;
	}
	return 0;
}

int etcd_txn_parse(const char *json, size_t len, struct etcd_txn_result *out, struct cove_err *err)
{
	int r;
	*out = (struct etcd_txn_result){ 0 };
	_cleanup_json_ json_t *root = load(json, len, &r, err);
	if (!root)
		return r;
	r = parse_txn(root, out);
	if (r < 0)
		etcd_txn_result_clear(out);
	if (r == -ENOMEM)
		return cove_errf(err, r, "etcd: out of memory");
	return r < 0 ? bad(err, "/v3/kv/txn") : 0;
}

/* A streamed RPC's message (keepalive, watch) is wrapped: {"result":{...}}. */
static json_t *unwrap(json_t *root)
{
	json_t *result = json_object_get(root, "result");
	return result ? result : root;
}

void etcd_lease_clear(struct etcd_lease *l)
{
	for (size_t i = 0; i < l->nkeys; i++)
		free(l->keys[i].data);
	free(l->keys);
	*l = (struct etcd_lease){ 0 };
}

static int parse_lease(json_t *obj, struct etcd_lease *out)
{
	if (!json_is_object(obj) || parse_header(obj, &out->header) < 0 || get_int64(obj, "ID", &out->id) < 0 ||
	    get_int64(obj, "TTL", &out->ttl) < 0 || get_int64(obj, "grantedTTL", &out->granted_ttl) < 0)
		return -EBADMSG;
	/* LeaseGrantResponse has an error string of its own. */
	const char *e = json_string_value(json_object_get(obj, "error"));
	if (e && *e)
		return -EPROTO;
	json_t *keys = json_object_get(obj, "keys");
	if (!keys)
		return 0;
	if (!json_is_array(keys))
		return -EBADMSG;
	size_t n = json_array_size(keys);
	if (n == 0)
		return 0;
	if (!(out->keys = calloc(n, sizeof(*out->keys))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *k = json_array_get(keys, i);
		if (!json_is_string(k))
			return -EBADMSG;
		json_t *holder = json_pack("{s:O}", "k", k);
		int r = holder ? get_bytes(holder, "k", &out->keys[i]) : -ENOMEM;
		json_decref(holder);
		if (r < 0)
			return r;
		out->nkeys = i + 1;
	}
	return 0;
}

int etcd_lease_parse(const char *json, size_t len, struct etcd_lease *out, struct cove_err *err)
{
	int r;
	*out = (struct etcd_lease){ 0 };
	_cleanup_json_ json_t *root = load(json, len, &r, err);
	if (!root)
		return r;
	r = parse_lease(unwrap(root), out);
	if (r < 0)
		etcd_lease_clear(out);
	if (r == -ENOMEM)
		return cove_errf(err, r, "etcd: out of memory");
	if (r == -EPROTO)
		return cove_errf(err, r, "etcd: lease: %s", json_string_value(json_object_get(unwrap(root), "error")));
	return r < 0 ? bad(err, "lease") : 0;
}

void etcd_watch_msg_clear(struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->nevents; i++) {
		etcd_kv_clear(&m->events[i].kv);
		etcd_kv_clear(&m->events[i].prev_kv);
	}
	free(m->events);
	*m = (struct etcd_watch_msg){ 0 };
}

static int parse_event(json_t *obj, struct etcd_event *ev)
{
	if (!json_is_object(obj))
		return -EBADMSG;
	json_t *type = json_object_get(obj, "type");
	const char *t = json_string_value(type);
	if (!type || (t && strcmp(t, "PUT") == 0) || (json_is_integer(type) && json_integer_value(type) == 0))
		ev->type = ETCD_EVENT_PUT;
	else if ((t && strcmp(t, "DELETE") == 0) || (json_is_integer(type) && json_integer_value(type) == 1))
		ev->type = ETCD_EVENT_DELETE;
	else
		return -EBADMSG;
	json_t *kv = json_object_get(obj, "kv");
	int r = kv ? parse_kv(kv, &ev->kv) : 0;
	json_t *prev = json_object_get(obj, "prev_kv");
	if (r == 0 && prev) {
		r = parse_kv(prev, &ev->prev_kv);
		ev->has_prev_kv = r == 0;
	}
	return r;
}

static int parse_watch(json_t *obj, struct etcd_watch_msg *out)
{
	if (!json_is_object(obj) || parse_header(obj, &out->header) < 0 ||
	    get_int64(obj, "watch_id", &out->watch_id) < 0 || get_bool(obj, "created", &out->created) < 0 ||
	    get_bool(obj, "canceled", &out->canceled) < 0 ||
	    get_int64(obj, "compact_revision", &out->compact_revision) < 0)
		return -EBADMSG;
	json_t *reason = json_object_get(obj, "cancel_reason");
	if (reason && !json_is_string(reason))
		return -EBADMSG;
	snprintf(out->cancel_reason, sizeof(out->cancel_reason), "%s", reason ? json_string_value(reason) : "");
	/* A compaction always ends the watch, whether or not it says so. */
	if (out->compact_revision > 0)
		out->canceled = true;
	json_t *events = json_object_get(obj, "events");
	if (!events)
		return 0;
	if (!json_is_array(events))
		return -EBADMSG;
	size_t n = json_array_size(events);
	if (n == 0)
		return 0;
	if (!(out->events = calloc(n, sizeof(*out->events))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		out->nevents = i + 1; /* cleared with the rest on failure */
		int r = parse_event(json_array_get(events, i), &out->events[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int etcd_watch_parse(const char *json, size_t len, struct etcd_watch_msg *out, struct cove_err *err)
{
	int r;
	*out = (struct etcd_watch_msg){ 0 };
	_cleanup_json_ json_t *root = load(json, len, &r, err);
	if (!root)
		return r;
	r = parse_watch(unwrap(root), out);
	if (r < 0)
		etcd_watch_msg_clear(out);
	if (r == -ENOMEM)
		return cove_errf(err, r, "etcd: out of memory");
	return r < 0 ? bad(err, "/v3/watch") : 0;
}
