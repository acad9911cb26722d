/* E2B's Secret API (the SDK's Secret.create, update, getInfo, exists, list,
 * destroy): /secrets and /secrets/{id or name}, served from the host's
 * secrets (secrets/secrets.h) the manager holds. No reply carries a value. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "proto/utf8.h"
#include "secrets/secrets.h"

/* NULL when this coved keeps no secrets: each route is then 501. */
static struct secrets *secrets_of(struct http_request *r)
{
	return manager_secrets(api_manager(r));
}

/* E2B's Secret: metadata always an object. */
static json_t *secret_json(const struct secret_info *info)
{
	char created[32], updated[32];
	api_iso8601(info->created_ms, created);
	api_iso8601(info->updated_ms, updated);
	json_t *meta = info->metadata ? json_loads(info->metadata, 0, NULL) : NULL;
	return json_pack("{s:s, s:o, s:I, s:o, s:s, s:s}", "secretID", info->id, "name", json_string_lossy(info->name),
			 "currentVersion", (json_int_t)info->version, "metadata", meta ? meta : json_object(),
			 "createdAt", created, "updatedAt", updated);
}

static enum MHD_Result reply_secret(struct http_request *r, unsigned status, struct secret_info *info)
{
	json_t *j = secret_json(info);
	secret_info_clear(info);
	return http_reply_json(r, status, j);
}

/* POST /secrets and POST /secrets/{ref}: the body parsed, its raw text
 * zeroed (it holds the value), then the write. */
static enum MHD_Result write_secret(struct http_request *r, struct secrets *s, const char *ref)
{
	struct cove_err err = { 0 };
	struct api_secret_body b;
	int rc = api_secret_body_parse(r->body, r->len, !ref, &b, &err);
	if (r->body)
		explicit_bzero(r->body, r->len);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	struct secret_info info;
	rc = ref ? secrets_update(s, ref, &b.w, &info, &err) : secrets_create(s, &b.w, &info, &err);
	api_secret_body_clear(&b);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	return reply_secret(r, ref ? 200 : 201, &info);
}

enum MHD_Result api_secret_create(struct http_request *r)
{
	struct secrets *s = secrets_of(r);
	return s ? write_secret(r, s, NULL) : api_not_supported(r);
}

enum MHD_Result api_secret_update(struct http_request *r)
{
	struct secrets *s = secrets_of(r);
	return s ? write_secret(r, s, r->params[0]) : api_not_supported(r);
}

enum MHD_Result api_secret_info(struct http_request *r)
{
	struct secrets *s = secrets_of(r);
	if (!s)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	struct secret_info info;
	int rc = secrets_get(s, r->params[0], &info, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : reply_secret(r, 200, &info);
}

enum MHD_Result api_secret_destroy(struct http_request *r)
{
	struct secrets *s = secrets_of(r);
	if (!s)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	int rc = secrets_destroy(s, r->params[0], &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

struct secret_page {
	json_t *items;
	int64_t last_seq;
};

static int page_add(void *ctx, const struct secret_info *info)
{
	struct secret_page *p = ctx;
	p->last_seq = info->seq;
	json_t *j = secret_json(info);
	return j && json_array_append_new(p->items, j) == 0 ? 0 : -ENOMEM;
}

/* Newest first, a page at a time: X-Next-Token while older ones remain. */
enum MHD_Result api_secrets(struct http_request *r)
{
	struct secrets *s = secrets_of(r);
	if (!s)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	struct api_secret_query q;
	struct api_query in = api_query_of(r);
	int rc = api_secret_query_parse(&in, &q, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	struct secret_page p = { json_array(), 0 };
	bool more = false;
	rc = p.items ? secrets_list(s, q.before_seq, q.limit, page_add, &p, &more, &err)
		     : cove_errf(&err, -ENOMEM, "out of memory");
	if (rc < 0) {
		json_decref(p.items);
		return api_reply_failure(r, rc, &err);
	}
	char next[32];
	snprintf(next, sizeof(next), "%" PRId64, p.last_seq);
	return http_reply_json_with(r, 200, p.items, more ? "X-Next-Token" : NULL, more ? next : NULL);
}
