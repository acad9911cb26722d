/* Snapshots as E2B's API has them: POST /sandboxes/{id}/snapshots, GET
 * /snapshots, DELETE /templates/{snapshotID} (docs/api.md). A create with
 * a snapshot's id or name as templateID is manager_create's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/handlers.h"
#include "template/template.h"

/* E2B's SnapshotInfo ({snapshotID, names}), and Cove's own fields. */
static json_t *snapshot_json(const struct manager_snapshot *s)
{
	char created[32];
	api_iso8601(s->created_ms, created);
	json_t *names = json_array();
	if (names && s->name[0])
		json_array_append_new(names, json_string(s->name));
	return json_pack("{s:s, s:o, s:s, s:s, s:s, s:i, s:i, s:I}", "snapshotID", s->id, "names", names, "sandboxID",
			 s->sandbox, "templateID", s->template_id, "createdAt", created, "cpuCount", (int)s->vcpus,
			 "memoryMB", (int)s->mem_mib, "diskBytes", (json_int_t)s->disk_bytes);
}

enum MHD_Result api_snapshot_create(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_snapshot_body body;
	struct manager_snapshot snap;
	int rc = api_snapshot_body_parse(r->body, r->len, &body, &err);
	if (rc == 0)
		rc = manager_snapshot_create(api_manager(r), r->params[0], body.named ? &body.name : NULL, &snap, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	json_t *j = snapshot_json(&snap);
	return j ? http_reply_json(r, 201, j) : api_reply_error(r, 500, "out of memory");
}

struct snapshot_page {
	json_t *items;
	size_t limit;
	int64_t last_seq;
	bool more;
};

static int list_one(void *ctx, const struct manager_snapshot *s)
{
	struct snapshot_page *p = ctx;
	if (json_array_size(p->items) >= p->limit) {
		p->more = true;
		return 1; /* stop: one more exists */
	}
	p->last_seq = s->seq;
	json_t *j = snapshot_json(s);
	return j && json_array_append_new(p->items, j) == 0 ? 0 : -ENOMEM;
}

/* Newest first, a page at a time: X-Next-Token while more match. */
enum MHD_Result api_snapshots(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_snapshot_query q;
	struct api_query in = api_query_of(r);
	int rc = api_snapshot_query_parse(&in, &q, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	struct snapshot_page p = { json_array(), q.limit, 0, false };
	struct manager_snapshot_filter f = { q.sandbox[0] ? q.sandbox : NULL, q.named ? &q.name : NULL, q.before_seq };
	if (!p.items || manager_snapshots(api_manager(r), &f, list_one, &p) < 0) {
		json_decref(p.items);
		return api_reply_error(r, 500, "out of memory");
	}
	char next[32];
	snprintf(next, sizeof(next), "%" PRId64, p.last_seq);
	return http_reply_json_with(r, 200, p.items, p.more ? "X-Next-Token" : NULL, p.more ? next : NULL);
}

/* Whether name is one of this host's templates (a directory of files). */
static bool is_template(struct http_request *r, const char *name)
{
	char dir[4096];
	return template_name_check(name, NULL) == 0 &&
	       snprintf(dir, sizeof(dir), "%s/%s", manager_templates_dir(api_manager(r)), name) < (int)sizeof(dir) &&
	       access(dir, F_OK) == 0;
}

/* Deletes the snapshot of that id or name; a template is not deleted
 * through the API. */
static enum MHD_Result delete_named(struct http_request *r, const char *name)
{
	struct cove_err err = { 0 };
	struct template_ref ref;
	int rc = template_ref_parse(name, &ref, &err);
	/* A template a build made goes with its builds. */
	if (rc == 0 && !ref.tag[0] && manager_template_is_built(api_manager(r), ref.alias))
		rc = manager_build_template_delete(api_manager(r), ref.alias, &err);
	else if (rc == 0)
		rc = manager_snapshot_delete(api_manager(r), &ref, &err);
	if (rc == 0)
		return http_reply_empty(r, 204);
	if ((rc == -ENOENT || rc == -EINVAL) && is_template(r, rc == -ENOENT ? ref.alias : name))
		return api_reply_error(r, 501,
				       "not supported by Cove: '%s' is a template, whose files are on the host (%s/%s); "
				       "templates are not deleted through the API",
				       name, manager_templates_dir(api_manager(r)), name);
	return api_reply_failure(r, rc, &err);
}

enum MHD_Result api_template_delete(struct http_request *r)
{
	return delete_named(r, r->params[0]);
}

/* /templates/NAMESPACE/NAME: the path is decoded before it is matched, so
 * an id with an encoded '/' arrives in two parts. */
enum MHD_Result api_template_delete_namespaced(struct http_request *r)
{
	char name[2 * HTTP_MAX_PARAM];
	snprintf(name, sizeof(name), "%s/%s", r->params[0], r->params[1]);
	return delete_named(r, name);
}
