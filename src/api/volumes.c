/* E2B's Volume API (the SDK's Volume.create, list, getInfo, connect,
 * destroy: /volumes, with the API key) and its volume content API (a
 * Volume's list, makeDir, getInfo, exists, updateMetadata, readFile,
 * writeFile, remove: /volumecontent/{id}/dir|path|file, with the volume's
 * own token as the bearer), served from the host's volumes
 * (volume/volume.h) the manager holds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/handlers.h"
#include "proto/utf8.h"
#include "volume/volume.h"

/* NULL when this coved keeps no volumes: each route is then 501. */
static struct volumes *volumes_of(struct http_request *r)
{
	struct manager *m = api_manager(r);
	return m ? manager_volumes(m) : NULL;
}

static json_t *volume_json(const struct volume_info *v, bool token)
{
	json_t *j = json_pack("{s:s, s:s}", "volumeID", v->id, "name", v->name);
	if (j && token)
		json_object_set_new(j, "token", json_string(v->token));
	return j;
}

enum MHD_Result api_volume_create(struct http_request *r)
{
	struct volumes *v = volumes_of(r);
	if (!v)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	char name[VOLUME_NAME_MAX + 1];
	struct volume_info info;
	int rc = api_volume_body_parse(r->body, r->len, name, &err);
	if (rc == 0)
		rc = volume_create(v, name, &info, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_json(r, 201, volume_json(&info, true));
}

static int add_volume(void *ctx, const struct volume_info *info)
{
	json_t *j = volume_json(info, false);
	return j && json_array_append_new(ctx, j) == 0 ? 0 : -ENOMEM;
}

enum MHD_Result api_volumes(struct http_request *r)
{
	struct volumes *v = volumes_of(r);
	if (!v)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	json_t *items = json_array();
	int rc = items ? volume_each(v, add_volume, items, &err) : -ENOMEM;
	if (rc == -ENOMEM)
		cove_errf(&err, rc, "out of memory");
	if (rc < 0) {
		json_decref(items);
		return api_reply_failure(r, rc, &err);
	}
	return http_reply_json(r, 200, items);
}

enum MHD_Result api_volume_info(struct http_request *r)
{
	struct volumes *v = volumes_of(r);
	if (!v)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	struct volume_info info;
	int rc = volume_get(v, r->params[0], &info, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_json(r, 200, volume_json(&info, true));
}

enum MHD_Result api_volume_destroy(struct http_request *r)
{
	struct volumes *v = volumes_of(r);
	if (!v)
		return api_not_supported(r);
	struct cove_err err = { 0 };
	char who[64] = "";
	struct manager *m = api_manager(r);
	int n = m ? manager_volume_users(m, r->params[0], who) : 0;
	int rc = n ? cove_errf(&err, -EBUSY, "volume %s is mounted by %d sandbox%s (%s): kill them first", r->params[0],
			       n, n == 1 ? "" : "es", who)
		   : volume_destroy(v, r->params[0], &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

/* --- the content API --- */

/* One request's: the volume opened by the token, its query, and the file
 * a PUT writes. */
struct content_ctx {
	struct volume_content *c;
	struct api_volume_query q;
	int query_rc;
	struct cove_err err;
	struct volume_write *w;
	int write_rc;
};

static unsigned content_status(int code)
{
	switch (code) {
	case -EACCES:
		return 401;
	case -EPERM:
		return 403;
	case -EXDEV:
	case -ENOTDIR:
	case -EISDIR:
	case -ELOOP:
	case -ENAMETOOLONG:
	case -E2BIG:
		return 400;
	default:
		return api_status_of(code);
	}
}

static enum MHD_Result content_failure(struct http_request *r, int code, const struct cove_err *err)
{
	return api_reply_error(r, content_status(code), "%s", err->msg[0] ? err->msg : strerror(-code));
}

int api_volume_content_authorize(struct http_request *r, char *why, size_t len)
{
	struct volumes *v = volumes_of(r);
	const char *auth = http_header(r, "Authorization");
	const char *token = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
	struct content_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	r->ctx = x;
	if (!v) {
		/* Let the handler answer 501. */
		return 0;
	}
	int rc = volume_open_content(v, r->params[0], token, &x->c, &x->err);
	if (rc < 0) {
		snprintf(why, len, "%s", token ? x->err.msg : "the volume's token is required: Authorization: Bearer TOKEN");
		return -EACCES;
	}
	struct api_query q = api_query_of(r);
	x->query_rc = api_volume_query_parse(&q, &x->q, &x->err);
	return 0;
}

void api_volume_content_cleanup(struct http_request *r)
{
	struct content_ctx *x = r->ctx;
	if (!x)
		return;
	volume_write_abort(x->w);
	volume_content_close(x->c);
	free(x);
	r->ctx = NULL;
}

/* The request's context once its query parsed; NULL after answering. */
static struct content_ctx *content_begin(struct http_request *r, enum MHD_Result *answer)
{
	struct content_ctx *x = r->ctx;
	if (!x || !x->c) {
		*answer = api_not_supported(r);
		return NULL;
	}
	if (x->query_rc < 0) {
		*answer = content_failure(r, x->query_rc, &x->err);
		return NULL;
	}
	return x;
}

static json_t *entry_json(const struct volume_entry *e)
{
	char at[32], mt[32], ct[32];
	api_iso8601((int64_t)e->atime.tv_sec * 1000 + e->atime.tv_nsec / 1000000, at);
	api_iso8601((int64_t)e->mtime.tv_sec * 1000 + e->mtime.tv_nsec / 1000000, mt);
	api_iso8601((int64_t)e->ctime.tv_sec * 1000 + e->ctime.tv_nsec / 1000000, ct);
	json_t *j = json_pack("{s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s}", "name", json_string_lossy(e->name),
			      "path", json_string_lossy(e->path), "type", volume_entry_type_name(e->type), "size",
			      (json_int_t)e->size, "mode", (json_int_t)e->mode, "uid", (json_int_t)e->uid, "gid",
			      (json_int_t)e->gid, "atime", at, "mtime", mt, "ctime", ct);
	if (j && e->target)
		json_object_set_new(j, "target", json_string_lossy(e->target));
	return j;
}

static enum MHD_Result reply_entry(struct http_request *r, unsigned status, int rc, struct volume_entry *e,
				   const struct cove_err *err)
{
	if (rc < 0)
		return content_failure(r, rc, err);
	json_t *j = entry_json(e);
	volume_entry_clear(e);
	return http_reply_json(r, status, j);
}

static int add_entry(void *ctx, const struct volume_entry *e)
{
	json_t *j = entry_json(e);
	return j && json_array_append_new(ctx, j) == 0 ? 0 : -ENOMEM;
}

/* GET /volumecontent/{id}/dir?path&depth */
enum MHD_Result api_volume_list(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	json_t *items = json_array();
	int rc = items ? volume_list(x->c, x->q.path, x->q.depth, add_entry, items, &x->err) : -ENOMEM;
	if (rc == -ENOMEM)
		cove_errf(&x->err, rc, "out of memory");
	if (rc < 0) {
		json_decref(items);
		return content_failure(r, rc, &x->err);
	}
	return http_reply_json(r, 200, items);
}

/* POST /volumecontent/{id}/dir?path&uid&gid&mode&force (force: parents) */
enum MHD_Result api_volume_mkdir(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	struct volume_entry e;
	int rc = volume_mkdir(x->c, x->q.path, &x->q.attrs, x->q.force, &e, &x->err);
	return reply_entry(r, 201, rc, &e, &x->err);
}

/* GET /volumecontent/{id}/path?path */
enum MHD_Result api_volume_stat(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	struct volume_entry e;
	int rc = volume_stat(x->c, x->q.path, &e, &x->err);
	return reply_entry(r, 200, rc, &e, &x->err);
}

/* PATCH /volumecontent/{id}/path?path, body {uid, gid, mode} */
enum MHD_Result api_volume_set_attrs(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	struct volume_attrs a;
	struct volume_entry e;
	int rc = api_volume_attrs_parse(r->body, r->len, &a, &x->err);
	if (rc == 0)
		rc = volume_set_attrs(x->c, x->q.path, &a, &e, &x->err);
	return reply_entry(r, 200, rc, &e, &x->err);
}

/* DELETE /volumecontent/{id}/path?path */
enum MHD_Result api_volume_remove(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	int rc = volume_remove(x->c, x->q.path, &x->err);
	return rc < 0 ? content_failure(r, rc, &x->err) : http_reply_empty(r, 204);
}

/* GET /volumecontent/{id}/file?path: the bytes, sent from the file. */
enum MHD_Result api_volume_read(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	int fd;
	uint64_t size;
	int rc = volume_open_file(x->c, x->q.path, &fd, &size, &x->err);
	if (rc < 0)
		return content_failure(r, rc, &x->err);
	struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
	if (!resp) {
		close(fd);
		return api_reply_error(r, 500, "out of memory");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	return http_queue(r, 200, resp);
}

/* PUT /volumecontent/{id}/file?path&uid&gid&mode&force: the body streamed
 * into a new file, put in place when it is whole. Without force the file
 * is replaced as the SDK's writeFile says; force=false keeps an existing
 * one (409). */
int api_volume_write_sink(struct http_request *r, const char *data, size_t len)
{
	struct content_ctx *x = r->ctx;
	if (!x || !x->c || x->query_rc < 0 || x->write_rc < 0)
		return x && x->write_rc < 0 ? x->write_rc : 0;
	if (!x->w) {
		bool replace = !x->q.has_force || x->q.force;
		x->write_rc = volume_write_begin(x->c, x->q.path, &x->q.attrs, replace, &x->w, &x->err);
	}
	if (x->write_rc == 0)
		x->write_rc = volume_write_data(x->w, data, len, &x->err);
	return x->write_rc;
}

enum MHD_Result api_volume_write(struct http_request *r)
{
	enum MHD_Result answer;
	struct content_ctx *x = content_begin(r, &answer);
	if (!x)
		return answer;
	/* An empty body: the sink never ran; an empty file all the same. */
	if (x->write_rc == 0 && !x->w)
		x->write_rc = api_volume_write_sink(r, "", 0);
	if (x->write_rc < 0)
		return content_failure(r, x->write_rc, &x->err);
	struct volume_entry e;
	int rc = volume_write_commit(x->w, &e, &x->err);
	x->w = NULL;
	return reply_entry(r, 200, rc, &e, &x->err);
}
