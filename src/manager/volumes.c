/* The volumes a sandbox mounts (E2B's volumeMounts): resolved from names
 * at its create, recorded with it as [{"id","name","path"}], handed to
 * every sandbox_config made of it (create, resume, fork, reboot, adoption),
 * shown as [{"name","path"}], and counted when a volume is to be
 * destroyed. */
#include "manager/internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "volume/volume.h"

void entry_volumes_free(struct entry *e)
{
	free(e->volumes_text);
	free(e->volumes);
	json_decref(e->volumes_json);
	e->volumes_text = NULL;
	e->volumes = NULL;
	e->volumes_json = NULL;
	e->nvolumes = 0;
}

int entry_set_volumes(struct entry *e, const char *text)
{
	entry_volumes_free(e);
	if (!text || !*text)
		return 0;
	json_t *a = json_loads(text, 0, NULL);
	size_t n = json_array_size(a);
	struct sandbox_volume *v = n && n <= MANAGER_MAX_VOLUMES ? calloc(n, sizeof(*v)) : NULL;
	char *copy = v ? strdup(text) : NULL;
	int r = copy ? 0 : (v && !copy ? -ENOMEM : -EINVAL);
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_t *o = json_array_get(a, i);
		v[i].id = json_string_value(json_object_get(o, "id"));
		v[i].path = json_string_value(json_object_get(o, "path"));
		if (!v[i].id || !v[i].path || !json_is_string(json_object_get(o, "name")))
			r = -EINVAL;
	}
	if (r < 0) {
		free(v);
		free(copy);
		json_decref(a);
		return r;
	}
	e->volumes_json = a;
	e->volumes = v;
	e->nvolumes = n;
	e->volumes_text = copy;
	return 0;
}

struct by_name {
	const char *name;
	char id[VOLUME_ID_MAX];
};

static int match_name(void *ctx, const struct volume_info *info)
{
	struct by_name *b = ctx;
	if (strcmp(info->name, b->name) != 0)
		return 0;
	snprintf(b->id, sizeof(b->id), "%s", info->id);
	return 0;
}

int entry_resolve_volumes(struct manager *m, struct entry *e, const struct manager_create *req, struct cove_err *err)
{
	if (!req->nvolumes)
		return 0;
	if (!m->c.volumes || !m->c.volume_access)
		return cove_errf(err, -ENOSYS, "volumeMounts: this coved has no volume server");
	if (req->nvolumes > MANAGER_MAX_VOLUMES)
		return cove_errf(err, -EINVAL, "volumeMounts: %zu volumes (at most %d)", req->nvolumes,
				 MANAGER_MAX_VOLUMES);
	json_t *a = json_array();
	int r = a ? 0 : cove_errf(err, -ENOMEM, "manager: out of memory");
	for (size_t i = 0; r == 0 && i < req->nvolumes; i++) {
		const struct manager_volume_mount *v = &req->volumes[i];
		struct by_name b = { v->name, "" };
		for (size_t j = 0; j < i; j++)
			if (strcmp(req->volumes[j].name, v->name) == 0 || strcmp(req->volumes[j].path, v->path) == 0)
				r = cove_errf(err, -EINVAL, "volumeMounts[%zu]: %s '%s' is given twice", i,
					      strcmp(req->volumes[j].name, v->name) == 0 ? "volume" : "path",
					      strcmp(req->volumes[j].name, v->name) == 0 ? v->name : v->path);
		if (r == 0 && (r = volume_each(m->c.volumes, match_name, &b, err)) >= 0) {
			r = b.id[0] ? 0 : cove_errf(err, -ENOENT, "volumeMounts[%zu]: no volume is named '%s'", i, v->name);
		}
		if (r == 0 && json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", b.id, "name", v->name, "path",
								 v->path)) < 0)
			r = cove_errf(err, -ENOMEM, "manager: out of memory");
	}
	char *text = r == 0 ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (r == 0 && !text)
		r = cove_errf(err, -ENOMEM, "manager: out of memory");
	if (r == 0 && entry_set_volumes(e, text) < 0)
		r = cove_errf(err, -ENOMEM, "manager: out of memory");
	free(text);
	return r;
}

int entry_volumes_info(const struct entry *e, struct manager_info *info)
{
	if (!e->nvolumes)
		return 0;
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->nvolumes; i++) {
		json_t *o = json_array_get(e->volumes_json, i);
		if (json_array_append_new(a, json_pack("{s:O, s:O}", "name", json_object_get(o, "name"), "path",
						       json_object_get(o, "path"))) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	info->volume_mounts = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return info->volume_mounts ? 0 : -ENOMEM;
}

int manager_volume_users(struct manager *m, const char *volume_id, char who[64])
{
	int n = 0;
	pthread_mutex_lock(&m->lock);
	for (struct entry *e = m->list; e; e = e->next)
		for (size_t i = 0; i < e->nvolumes; i++)
			if (strcmp(e->volumes[i].id, volume_id) == 0) {
				if (!n++ && who)
					snprintf(who, 64, "%s", e->id);
				break;
			}
	pthread_mutex_unlock(&m->lock);
	return n;
}
