/* GET /templates: the templates this host has, as E2B's API lists them
 * (its Template: every field the SDK's types name); GET
 * /templates/aliases/{alias}: whether one exists (Template.exists). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/handlers.h"
#include "common/fs.h"
#include "proto/version.h"
#include "template/template.h"

/* When path was made (its birth time where the file system keeps one, else
 * its last change) and last changed, ms since the epoch; 0 when missing. */
static void file_times(const char *path, int64_t *born_ms, int64_t *changed_ms)
{
	struct statx st;
	*born_ms = *changed_ms = 0;
	if (statx(AT_FDCWD, path, 0, STATX_BTIME | STATX_MTIME, &st) < 0)
		return;
	*changed_ms = st.stx_mtime.tv_sec * 1000 + st.stx_mtime.tv_nsec / 1000000;
	*born_ms = st.stx_mask & STATX_BTIME ? st.stx_btime.tv_sec * 1000 + st.stx_btime.tv_nsec / 1000000
					      : *changed_ms;
}

static json_t *time_json(int64_t ms)
{
	char buf[32];
	if (!ms)
		return json_null();
	api_iso8601(ms, buf);
	return json_string(buf);
}

struct template_listing {
	struct manager *m;
	json_t *list;
};

/* Made when its image was (`make` builds it whole), changed when its image
 * or snapshot last was; one build each; spawns as the manager counts them. */
static int template_usage_json(struct manager *m, const struct template *t, json_t *o)
{
	int64_t created, image_changed, snapshot_born, snapshot_changed, last_spawn = 0;
	file_times(t->rootfs, &created, &image_changed);
	file_times(t->snapshot, &snapshot_born, &snapshot_changed);
	uint64_t spawns = 0;
	struct cove_err err = { 0 };
	if (manager_template_spawns(m, t->name, &spawns, &last_spawn, &err) < 0)
		return -EIO;
	int64_t updated = snapshot_changed > image_changed ? snapshot_changed : image_changed;
	int r = json_object_set_new(o, "createdAt", time_json(created)) |
		json_object_set_new(o, "updatedAt", time_json(updated)) |
		json_object_set_new(o, "lastSpawnedAt", time_json(last_spawn)) |
		json_object_set_new(o, "spawnCount", json_integer((json_int_t)spawns)) |
		json_object_set_new(o, "buildCount", json_integer(1)) | json_object_set_new(o, "createdBy", json_null());
	return r ? -ENOMEM : 0;
}

static int template_json(void *ctx, const struct template *t)
{
	struct template_listing *l = ctx;
	unsigned mem = t->memory_mib ? t->memory_mib : VMM_DEFAULT_MEM_MIB;
	unsigned cpus = t->vcpus ? t->vcpus : VMM_DEFAULT_VCPUS;
	/* Whether sandboxes of it are restored (cove template snapshot). */
	json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:I, s:b, s:[s], s:[s], s:s, s:s, s:s, s:s, s:s, s:b}", "templateID",
			      t->name, "buildID", t->name, "cpuCount", (int)cpus, "memoryMB", (int)mem, "diskSizeMB",
			      (json_int_t)template_image_mib(t), "public", 0, "aliases", t->name, "names", t->name,
			      "envdVersion", ENVD_VERSION, "buildStatus", "ready", "defaultUser",
			      t->user[0] ? t->user : "root", "defaultWorkdir", t->workdir, "suite", t->suite, "snapshot",
			      access(t->snapshot, F_OK) == 0);
	if (!o)
		return -ENOMEM;
	int r = template_usage_json(l->m, t, o);
	/* Cove's own: what its image and snapshot take on the host's disk. */
	uint64_t image = fs_disk_usage(t->rootfs, false), snapshot = fs_disk_usage(t->snapshot, false);
	json_object_set_new(o, "diskBytes", json_integer((json_int_t)(image + snapshot)));
	json_object_set_new(o, "snapshotBytes", json_integer((json_int_t)snapshot));
	json_object_set_new(o, "source", json_string(t->source)); /* "" when unknown */
	if (r < 0) {
		json_decref(o);
		return r;
	}
	return json_array_append_new(l->list, o) == 0 ? 0 : -ENOMEM;
}

enum MHD_Result api_templates(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct template_listing l = { api_manager(r), json_array() };
	int rc = l.list ? template_each(manager_templates_dir(l.m), template_json, &l, &err)
			: cove_errf(&err, -ENOMEM, "out of memory");
	if (rc < 0) {
		json_decref(l.list);
		return api_reply_error(r, 500, "%s", err.msg[0] ? err.msg : strerror(-rc));
	}
	return http_reply_json(r, 200, l.list);
}

/* 200 {templateID, public: false} for a template of this host, else 404
 * (the SDK's Template.exists reads 404 as false). Every template is the
 * caller's: there are no teams, so never E2B's 403. */
enum MHD_Result api_template_alias(struct http_request *r)
{
	const char *alias = r->params[0];
	struct template t;
	struct cove_err err = { 0 };
	int rc = template_load(manager_templates_dir(api_manager(r)), alias, &t, &err);
	if (rc == -ENOENT || (rc < 0 && template_name_check(alias, NULL) < 0))
		return api_reply_error(r, 404, "template alias '%s' not found", alias);
	if (rc < 0)
		return api_reply_error(r, 500, "%s", err.msg);
	return http_reply_json(r, 200, json_pack("{s:s, s:b}", "templateID", t.name, "public", 0));
}
