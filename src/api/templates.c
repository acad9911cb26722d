/* GET /templates: the templates this host has, as E2B's API lists them. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/handlers.h"
#include "common/fs.h"
#include "proto/version.h"
#include "template/template.h"

static int template_json(void *ctx, const struct template *t)
{
	struct stat st;
	uint64_t size = stat(t->rootfs, &st) == 0 ? (uint64_t)st.st_size : 0;
	unsigned mem = t->memory_mib ? t->memory_mib : VMM_DEFAULT_MEM_MIB;
	unsigned cpus = t->vcpus ? t->vcpus : VMM_DEFAULT_VCPUS;
	/* Whether sandboxes of it are restored (cove template snapshot). */
	json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:I, s:b, s:[s], s:s, s:s, s:s, s:s, s:s, s:b}", "templateID",
			      t->name, "buildID", t->name, "cpuCount", (int)cpus, "memoryMB", (int)mem, "diskSizeMB",
			      (json_int_t)(size >> 20), "public", 0, "aliases", t->name, "envdVersion", ENVD_VERSION,
			      "buildStatus", "ready", "defaultUser", t->user[0] ? t->user : "root", "defaultWorkdir",
			      t->workdir, "suite", t->suite, "snapshot", access(t->snapshot, F_OK) == 0);
	/* Cove's own: what its image and snapshot take on the host's disk. */
	uint64_t image = fs_disk_usage(t->rootfs, false), snapshot = fs_disk_usage(t->snapshot, false);
	if (o) {
		json_object_set_new(o, "diskBytes", json_integer((json_int_t)(image + snapshot)));
		json_object_set_new(o, "snapshotBytes", json_integer((json_int_t)snapshot));
	}
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

enum MHD_Result api_templates(struct http_request *r)
{
	struct cove_err err = { 0 };
	json_t *list = json_array();
	int rc = list ? template_each(manager_templates_dir(api_manager(r)), template_json, list, &err)
		      : cove_errf(&err, -ENOMEM, "out of memory");
	if (rc < 0) {
		json_decref(list);
		return api_reply_error(r, 500, "%s", err.msg[0] ? err.msg : strerror(-rc));
	}
	return http_reply_json(r, 200, list);
}
