/* E2B's template build API (what npm e2b's Template.build() calls; see
 * docs/api.md): registering a build (POST /v3/templates), where a COPY's
 * files go (GET /templates/{id}/files/{hash}, answered with an upload URL
 * coved serves itself, PUT with a token in its query, as the SDK sends no
 * API key there), the trigger (POST /v2/templates/{id}/builds/{build}),
 * the status with the log by offset, and tags. Bodies are parsed whole
 * (build/spec.h) before the manager acts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "build/files.h"
#include "build/spec.h"

/* E2B's names for a build's states. */
static const char *status_name(enum store_build_state s)
{
	switch (s) {
	case STORE_BUILD_WAITING:
	case STORE_BUILD_QUEUED: return "waiting";
	case STORE_BUILD_BUILDING: return "building";
	case STORE_BUILD_READY: return "ready";
	case STORE_BUILD_FAILED: return "error";
	}
	return "error";
}

static json_t *tags_json(const char *tags)
{
	json_t *a = json_array();
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", tags);
	for (char *save, *t = strtok_r(copy, ",", &save); a && t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(t));
	return a;
}

enum MHD_Result api_build_register(struct http_request *r)
{
	struct build_create req;
	struct store_build b;
	struct cove_err err = { 0 };
	int rc = build_create_parse(r->body, r->len, &req, &err);
	rc = rc ?: manager_build_register(api_manager(r), &req, &b, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	char name[160];
	snprintf(name, sizeof(name), "%s", b.template_id);
	json_t *j = json_pack("{s:s, s:s, s:[s], s:[s], s:o, s:b}", "templateID", b.template_id, "buildID", b.id, "names",
			      name, "aliases", b.template_id, "tags", tags_json(b.tags), "public", 0);
	return http_reply_json(r, 202, j);
}

/* The scheme and host the client reached coved by, for URLs it is given. */
static void base_url(struct http_request *r, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const char *host = http_header(r, "Host");
	snprintf(buf, len, "%s://%s", ci && ci->tls_session ? "https" : "http", host && *host ? host : "127.0.0.1");
}

enum MHD_Result api_build_files(struct http_request *r)
{
	struct manager *m = api_manager(r);
	const char *tid = r->params[0], *hash = r->params[1];
	struct cove_err err = { 0 };
	const struct files_store *files = manager_build_files(m);
	char path[4096];
	if (!files)
		return api_reply_error(r, 501, "not supported by Cove here: template builds are off on this host");
	if (files_path(files, hash, path, &err) < 0)
		return api_reply_error(r, 400, "Invalid files hash '%s': 64 lower-case hex digits expected", hash);
	if (!manager_template_is_built(m, tid))
		return api_reply_error(r, 404, "template '%s' not found (register a build first: POST /v3/templates)", tid);
	char base[512], token[96], url[1024];
	base_url(r, base, sizeof(base));
	manager_upload_token(m, tid, hash, token);
	/* Always a URL, so that forceUpload can put it again. */
	snprintf(url, sizeof(url), "%s/cove/uploads/%s/%s?token=%s", base, tid, hash, token);
	return http_reply_json(r, 201, json_pack("{s:b, s:s}", "present", files_has(files, hash), "url", url));
}

/* PUT /cove/uploads/{template}/{hash}?token=T: a COPY's tar, streamed into
 * the store, checked whole before it counts. */
struct upload_ctx {
	struct files_upload *u;
	uint64_t got;
	struct cove_err err;
	int failed;
};

int api_upload_authorize(struct http_request *r, char *why, size_t len)
{
	struct cove_err err = { 0 };
	const char *token = http_query(r, "token");
	if (!token || manager_upload_token_check(api_manager(r), r->params[0], r->params[1], token, &err) < 0) {
		snprintf(why, len, "upload refused: %s", token ? err.msg : "no token (use the URL GET /templates/{id}/files/{hash} gave)");
		return -EACCES;
	}
	return 0;
}

int api_upload_sink(struct http_request *r, const char *data, size_t len)
{
	struct upload_ctx *c = r->ctx;
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return -ENOMEM;
		r->ctx = c;
		const struct files_store *files = manager_build_files(api_manager(r));
		c->failed = files ? files_begin(files, r->params[1], &c->u, &c->err) : -ENOSYS;
	}
	if (c->failed)
		return c->failed;
	c->got += len;
	c->failed = files_write(c->u, data, len, &c->err);
	return c->failed;
}

void api_upload_cleanup(struct http_request *r)
{
	struct upload_ctx *c = r->ctx;
	if (c)
		files_abort(c->u);
	free(c);
	r->ctx = NULL;
}

enum MHD_Result api_upload(struct http_request *r)
{
	struct upload_ctx *c = r->ctx;
	if (!c) /* an empty body: the sink never ran */
		return api_reply_error(r, 400, "upload %s: empty body (a tar is expected)", r->params[1]);
	if (c->failed)
		return api_reply_failure(r, c->failed, &c->err);
	const char *cl = http_header(r, "Content-Length");
	uint64_t expected = cl ? strtoull(cl, NULL, 10) : c->got;
	int rc = files_commit(c->u, expected, &c->err);
	c->u = NULL;
	if (rc < 0)
		return api_reply_failure(r, rc, &c->err);
	return http_reply_empty(r, 200);
}

enum MHD_Result api_build_trigger(struct http_request *r)
{
	struct build_trigger t;
	struct cove_err err = { 0 };
	int rc = build_trigger_parse(r->body, r->len, &t, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	if (t.registry == BUILD_REGISTRY_AWS || t.registry == BUILD_REGISTRY_GCP) {
		build_trigger_clear(&t);
		return api_reply_error(r, 501, "not supported by Cove: fromImageRegistry of type '%s' (Cove logs in to "
					       "registries with a user name and password only)", t.registry_type);
	}
	rc = manager_build_trigger(api_manager(r), r->params[0], r->params[1], &t, r->body, &err);
	build_trigger_clear(&t);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	return http_reply_empty(r, 202);
}

struct entries {
	json_t *list;
	const char *step; /* only this step's (NULL: all) */
};

static int add_entry(void *ctx, const struct manager_log_entry *e)
{
	struct entries *es = ctx;
	if (es->step && strcmp(es->step, e->step) != 0)
		return 0;
	char ts[32];
	api_iso8601(e->ms, ts);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "timestamp", ts, "level",
			      build_log_level_name((enum build_log_level)e->level), "message", e->msg, "step", e->step);
	return j && json_array_append_new(es->list, j) == 0 ? 0 : -ENOMEM;
}

enum MHD_Result api_build_status(struct http_request *r)
{
	struct manager *m = api_manager(r);
	struct build_status_query q;
	struct store_build b;
	struct cove_err err = { 0 };
	int rc = build_status_query_parse(http_query(r, "logsOffset"), http_query(r, "limit"), http_query(r, "level"), &q,
					  &err);
	rc = rc ?: manager_build_get(m, r->params[0], r->params[1], &b, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	struct entries es = { json_array(), NULL };
	rc = manager_build_logs(m, b.id, q.logs_offset, q.limit, (int)q.min_level, add_entry, &es, &err);
	json_t *logs = json_array();
	for (size_t i = 0; logs && i < json_array_size(es.list); i++)
		json_array_append(logs, json_object_get(json_array_get(es.list, i), "message"));
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o}", "buildID", b.id, "templateID", b.template_id, "status",
			      status_name(b.state), "logEntries", es.list, "logs", logs);
	if (j && b.state == STORE_BUILD_FAILED) {
		/* The failing step's warnings and errors, as E2B gives them. */
		struct entries step = { json_array(), b.reason_step };
		manager_build_logs(m, b.id, 0, (size_t)-1, BUILD_LOG_WARN, add_entry, &step, &err);
		json_t *reason = json_pack("{s:s, s:o}", "message", b.reason, "logEntries", step.list);
		if (reason && b.reason_step[0])
			json_object_set_new(reason, "step", json_string(b.reason_step));
		json_object_set_new(j, "reason", reason);
	}
	return http_reply_json(r, 200, j);
}

enum MHD_Result api_tags_assign(struct http_request *r)
{
	struct build_tags_body body;
	struct cove_err err = { 0 };
	char build[40];
	int rc = build_tags_assign_parse(r->body, r->len, &body, &err);
	rc = rc ?: manager_tags_assign(api_manager(r), &body, build, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	json_t *tags = json_array();
	for (size_t i = 0; tags && i < body.tags.n; i++)
		json_array_append_new(tags, json_string(body.tags.tag[i][0] ? body.tags.tag[i] : "default"));
	return http_reply_json(r, 201, json_pack("{s:s, s:o}", "buildID", build, "tags", tags));
}

enum MHD_Result api_tags_remove(struct http_request *r)
{
	struct build_tags_body body;
	struct cove_err err = { 0 };
	int rc = build_tags_remove_parse(r->body, r->len, &body, &err);
	rc = rc ?: manager_tags_remove(api_manager(r), &body, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

static int add_tag(void *ctx, const struct store_tag *t)
{
	char ts[32];
	api_iso8601(t->created_ms, ts);
	json_t *j = json_pack("{s:s, s:s, s:s}", "tag", t->tag, "buildID", t->build, "createdAt", ts);
	return j && json_array_append_new(ctx, j) == 0 ? 0 : -ENOMEM;
}

enum MHD_Result api_template_tags(struct http_request *r)
{
	struct cove_err err = { 0 };
	json_t *list = json_array();
	int rc = manager_template_tags(api_manager(r), r->params[0], add_tag, list, &err);
	if (rc < 0) {
		json_decref(list);
		return api_reply_failure(r, rc, &err);
	}
	return http_reply_json(r, 200, list);
}
