/* The etcd client's requests (cluster/etcd.h): endpoints and failover,
 * then one function per operation, each a body from proto/etcd.h, one POST
 * and the answer parsed. */
#include "cluster/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"

static int add_endpoint(struct etcd_client *c, const char *s, size_t len, struct cove_err *err)
{
	while (len > 0 && s[len - 1] == '/')
		len--;
	if (c->n == ETCD_MAX_ENDPOINTS)
		return cove_errf(err, -E2BIG, "etcd: more than %d endpoints", ETCD_MAX_ENDPOINTS);
	bool scheme = (len > 7 && strncmp(s, "http://", 7) == 0) || (len > 8 && strncmp(s, "https://", 8) == 0);
	if (!scheme || len >= ETCD_MAX_ENDPOINT_LEN || memchr(s, ' ', len))
		return cove_errf(err, -EINVAL, "etcd: endpoint '%.*s' is not an http:// or https:// URL", (int)len, s);
	memcpy(c->endpoints[c->n], s, len);
	c->endpoints[c->n][len] = '\0';
	c->n++;
	return 0;
}

int etcd_client_new(const char *endpoints, long timeout_ms, struct etcd_client **ret, struct cove_err *err)
{
	_cleanup_free_ struct etcd_client *c = calloc(1, sizeof(*c));
	if (!c)
		return cove_errf(err, -ENOMEM, "etcd: out of memory");
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
	for (const char *p = endpoints ? endpoints : ""; *p;) {
		size_t len = strcspn(p, ",");
		if (len > 0) {
			int r = add_endpoint(c, p, len, err);
			if (r < 0)
				return r;
		}
		p += len + (p[len] == ',');
	}
	if (c->n == 0)
		return cove_errf(err, -EINVAL, "etcd: no endpoints in '%s'", endpoints ? endpoints : "");
	cove_curl_init();
	*ret = TAKE_PTR(c);
	return 0;
}

struct etcd_client *etcd_client_free(struct etcd_client *c)
{
	free(c);
	return NULL;
}

const char *etcd_client_endpoint(struct etcd_client *c)
{
	return c->endpoints[atomic_load(&c->current) % c->n];
}

CURL *etcd_easy_new(struct etcd_client *c, size_t i, const char *path, const char *body, struct curl_slist **headers)
{
	char url[ETCD_MAX_ENDPOINT_LEN + 64];
	snprintf(url, sizeof(url), "%s%s", c->endpoints[i], path);
	*headers = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *easy = *headers ? curl_easy_init() : NULL;
	if (!easy)
		return NULL;
	cove_curl_cloexec(easy);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *headers);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_NOPROXY, "*"); /* the members are reached directly */
	return easy;
}

struct answer {
	char *data;
	size_t len;
	bool too_long;
};

static size_t collect(char *p, size_t size, size_t n, void *data)
{
	struct answer *a = data;
	size_t add = size * n;
	if (add > ETCD_MAX_RESPONSE - a->len) {
		a->too_long = true;
		return 0;
	}
	char *grown = realloc(a->data, a->len + add + 1);
	if (!grown)
		return 0;
	memcpy(grown + a->len, p, add);
	a->data = grown;
	a->len += add;
	a->data[a->len] = '\0';
	return add;
}

static int curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	default: return -EIO;
	}
}

/* One POST to endpoint i. 0 with the 200 answer in a; else the error, and
 * *retry says whether another endpoint may do better (no answer, or 5xx). */
static int post(struct etcd_client *c, size_t i, const char *path, const char *body, struct answer *a, bool *retry,
		struct cove_err *err)
{
	const char *ep = c->endpoints[i];
	_cleanup_curl_slist_ struct curl_slist *headers = NULL;
	_cleanup_curl_ CURL *easy = etcd_easy_new(c, i, path, body, &headers);
	*retry = false;
	if (!easy)
		return cove_errf(err, -ENOMEM, "etcd %s %s: out of memory", ep, path);
	char curl_msg[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, a);
	CURLcode code = curl_easy_perform(easy);
	if (a->too_long)
		return cove_errf(err, -EMSGSIZE, "etcd %s %s: the answer passes %d bytes", ep, path, ETCD_MAX_RESPONSE);
	if (code != CURLE_OK) {
		*retry = true;
		return cove_errf(err, curl_errno(code), "etcd %s %s: %s", ep, path,
				 *curl_msg ? curl_msg : curl_easy_strerror(code));
	}
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		return 0;
	*retry = status >= 500;
	struct etcd_error e;
	if (a->data && etcd_error_parse(a->data, a->len, &e) == 0)
		return cove_errf(err, etcd_error_errno(e.code), "etcd %s %s: %s (code %d)", ep, path, e.message,
				 e.code);
	return cove_errf(err, status >= 500 ? -EIO : -EPROTO, "etcd %s %s: HTTP %ld: %.80s", ep, path, status,
			 a->data ? a->data : "");
}

/* POSTs body to path, trying each endpoint in turn from the one that
 * answered last. On success the answer (NUL-terminated) is the caller's. */
static int call(struct etcd_client *c, const char *path, const char *body, struct answer *out, struct cove_err *err)
{
	if (!body)
		return cove_errf(err, -EINVAL, "etcd %s: cannot encode the request (out of memory, or an unknown op)",
				 path);
	size_t first = atomic_load(&c->current) % c->n;
	int r = -EIO;
	for (size_t k = 0; k < c->n; k++) {
		size_t i = (first + k) % c->n;
		struct answer a = { 0 };
		bool retry;
		r = post(c, i, path, body, &a, &retry, err);
		if (r == 0) {
			if (i != first)
				atomic_store(&c->current, i);
			*out = a;
			return 0;
		}
		free(a.data);
		if (!retry)
			return r;
	}
	if (c->n > 1)
		cove_err_prefix(err, "etcd: no endpoint of %zu answered; the last", c->n);
	return r;
}

int etcd_do(struct etcd_client *c, const struct etcd_request_op *op, struct etcd_result *ret, struct cove_err *err)
{
	_cleanup_free_ char *body = etcd_op_encode(op);
	struct answer a = { 0 };
	int r = call(c, etcd_op_path(op->op), body, &a, err);
	if (r < 0)
		return r;
	struct etcd_result local;
	r = etcd_result_parse(op->op, a.data, a.len, ret ? ret : &local, err);
	free(a.data);
	if (r == 0 && !ret)
		etcd_result_clear(&local);
	return r;
}

int etcd_range(struct etcd_client *c, const void *key, size_t key_len, bool prefix, struct etcd_result *ret,
	       struct cove_err *err)
{
	struct etcd_request_op op = { .op = ETCD_OP_RANGE, .key = key, .key_len = key_len, .prefix = prefix };
	return etcd_do(c, &op, ret, err);
}

int etcd_put(struct etcd_client *c, const void *key, size_t key_len, const void *value, size_t value_len, int64_t lease,
	     int64_t *revision, struct cove_err *err)
{
	struct etcd_request_op op = { .op = ETCD_OP_PUT,
				      .key = key,
				      .key_len = key_len,
				      .value = value,
				      .value_len = value_len,
				      .lease = lease };
	struct etcd_result res;
	int r = etcd_do(c, &op, &res, err);
	if (r == 0 && revision)
		*revision = res.header.revision;
	if (r == 0)
		etcd_result_clear(&res);
	return r;
}

int etcd_delete(struct etcd_client *c, const void *key, size_t key_len, bool prefix, int64_t *deleted,
		struct cove_err *err)
{
	struct etcd_request_op op = { .op = ETCD_OP_DELETE, .key = key, .key_len = key_len, .prefix = prefix };
	struct etcd_result res;
	int r = etcd_do(c, &op, &res, err);
	if (r == 0 && deleted)
		*deleted = res.count;
	if (r == 0)
		etcd_result_clear(&res);
	return r;
}

int etcd_txn(struct etcd_client *c, const struct etcd_txn_request *txn, struct etcd_txn_result *ret,
	     struct cove_err *err)
{
	_cleanup_free_ char *body = etcd_txn_encode(txn);
	struct answer a = { 0 };
	int r = call(c, "/v3/kv/txn", body, &a, err);
	if (r < 0)
		return r;
	r = etcd_txn_parse(a.data, a.len, ret, err);
	free(a.data);
	return r;
}

int etcd_compact(struct etcd_client *c, int64_t revision, struct cove_err *err)
{
	_cleanup_free_ char *body = etcd_compact_encode(revision);
	struct answer a = { 0 };
	int r = call(c, "/v3/kv/compaction", body, &a, err);
	free(a.data);
	return r;
}

/* A lease request: body to path; the answer's lease ID and TTL (0 when
 * absent) in *id and *ttl. */
static int lease_call(struct etcd_client *c, const char *path, char *body, int64_t *id, int64_t *ttl,
		      struct cove_err *err)
{
	_cleanup_free_ char *owned = body;
	struct answer a = { 0 };
	int r = call(c, path, owned, &a, err);
	if (r < 0)
		return r;
	struct etcd_lease l;
	r = etcd_lease_parse(a.data, a.len, &l, err);
	free(a.data);
	if (r < 0)
		return r;
	*id = l.id;
	*ttl = l.ttl;
	etcd_lease_clear(&l);
	return 0;
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl, struct cove_err *err)
{
	int64_t got_id, got_ttl;
	int r = lease_call(c, "/v3/lease/grant", etcd_lease_grant_encode(ttl), &got_id, &got_ttl, err);
	if (r < 0)
		return r;
	if (got_id == 0)
		return cove_errf(err, -EBADMSG, "etcd %s /v3/lease/grant: the answer has no lease ID",
				 etcd_client_endpoint(c));
	*id = got_id;
	if (granted_ttl)
		*granted_ttl = got_ttl;
	return 0;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl, struct cove_err *err)
{
	int64_t got_id, got_ttl;
	int r = lease_call(c, "/v3/lease/keepalive", etcd_lease_id_encode(id, false), &got_id, &got_ttl, err);
	if (r < 0)
		return r;
	/* An expired or revoked lease's keepalive answers 200 without a TTL. */
	if (got_ttl <= 0)
		return cove_errf(err, -ENOENT,
				 "etcd %s /v3/lease/keepalive: lease %" PRIx64 " lost (expired or revoked)",
				 etcd_client_endpoint(c), (uint64_t)id);
	if (ttl)
		*ttl = got_ttl;
	return 0;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id, struct cove_err *err)
{
	int64_t got_id, got_ttl;
	return lease_call(c, "/v3/lease/revoke", etcd_lease_id_encode(id, false), &got_id, &got_ttl, err);
}

int etcd_lease_ttl(struct etcd_client *c, int64_t id, int64_t *ttl, struct cove_err *err)
{
	int64_t got_id, got_ttl;
	int r = lease_call(c, "/v3/lease/timetolive", etcd_lease_id_encode(id, false), &got_id, &got_ttl, err);
	if (r < 0)
		return r;
	/* timetolive says -1 for a lease it no longer has. */
	if (got_ttl < 0)
		return cove_errf(err, -ENOENT, "etcd %s /v3/lease/timetolive: lease %" PRIx64 " is gone",
				 etcd_client_endpoint(c), (uint64_t)id);
	*ttl = got_ttl;
	return 0;
}
