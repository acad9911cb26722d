/* Snapshots' records and files, and what holds them (see snapshots.c for
 * making, listing and deleting them): each is recorded before its files
 * are made; a deleted one's files go only once no sandbox uses them (a
 * sandbox made from one maps its RAM file and is over its disk layer).
 *
 * snapshots_dir/ID holds a sandbox saved for children (sandbox_save's
 * for_fork form, made durable here): its RAM whole in one file that
 * sandboxes created from it map privately, its device state, its disk
 * overlay, and the disk layer under that (hard-linked). */
#include "manager/internal.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "template/template.h"

void snap_path(const struct manager *m, const char *id, char path[PATH_MAX])
{
	path[0] = '\0';
	if (m->snapshots_dir[0])
		snprintf(path, PATH_MAX, "%s/%s", m->snapshots_dir, id);
}

void snap_names(const struct store_snapshot *rec, char id[64], char name[64])
{
	const char *tag = rec->tag[0] ? rec->tag : "default";
	name[0] = '\0';
	if (!rec->alias[0]) {
		snprintf(id, 64, "%s:default", rec->id);
		return;
	}
	snprintf(id, 64, "%s:%s", rec->alias, tag);
	/* A name without its tag is its default tag's: the name listed is
	 * always one that creates this snapshot. */
	snprintf(name, 64, "%s%s%s", rec->alias, rec->tag[0] ? ":" : "", rec->tag);
}

bool snap_matches(const struct store_snapshot *rec, const struct template_ref *ref, bool any_tag)
{
	if (!ref->tag[0] && strcmp(ref->alias, rec->id) == 0)
		return true;
	return rec->alias[0] && strcmp(ref->alias, rec->alias) == 0 &&
	       ((any_tag && !ref->tag[0]) || strcmp(ref->tag, rec->tag) == 0);
}

struct snap *snap_find(struct manager *m, const struct template_ref *ref)
{
	for (struct snap *s = m->snaps; s; s = s->next)
		if (s->rec.state == STORE_SNAPSHOT_READY && snap_matches(&s->rec, ref, false))
			return s;
	return NULL;
}

struct snap *snap_by_id(struct manager *m, const char *id)
{
	for (struct snap *s = m->snaps; s; s = s->next)
		if (strcmp(s->rec.id, id) == 0)
			return s;
	return NULL;
}

static bool snap_used(struct manager *m, const struct snap *s)
{
	if (s->pins)
		return true;
	for (struct entry *e = m->list; e; e = e->next)
		if (strcmp(e->snapshot, s->rec.id) == 0)
			return true;
	return false;
}

void snap_remove(struct manager *m, const char *id, const char *why)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 8];
	struct cove_err err = { 0 };
	snap_path(m, id, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dir);
	if (fs_remove_tree(dir, &err) < 0 || fs_remove_tree(tmp, &err) < 0)
		log_warn("snapshot=%s op=remove msg=\"%s\"", id, err.msg);
	if (store_snapshot_delete(m->c.store, id, &err) < 0)
		log_warn("snapshot=%s op=remove msg=\"%s\"", id, err.msg);
	log_info("snapshot=%s op=remove reason=%s", id, why);
}

void snap_collect(struct manager *m)
{
	for (;;) {
		struct snap *s = NULL;
		pthread_mutex_lock(&m->lock);
		for (struct snap **p = &m->snaps; *p; p = &(*p)->next)
			if ((*p)->rec.state == STORE_SNAPSHOT_DELETED && !snap_used(m, *p)) {
				s = *p;
				*p = s->next;
				break;
			}
		pthread_mutex_unlock(&m->lock);
		if (!s)
			return;
		snap_remove(m, s->rec.id, "deleted");
		free(s);
	}
}

int snap_pin(struct manager *m, const char *name, struct snap_pin *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct template_ref ref;
	if (!m->snapshots_dir[0] || !name || template_ref_parse(name, &ref, NULL) < 0)
		return 0;
	pthread_mutex_lock(&m->lock);
	struct snap *s = snap_find(m, &ref);
	if (s) {
		s->pins++;
		char unused[64];
		snprintf(ret->snapshot, sizeof(ret->snapshot), "%s", s->rec.id);
		snap_names(&s->rec, ret->id, unused);
		snprintf(ret->template_id, sizeof(ret->template_id), "%s", s->rec.template_id);
		snprintf(ret->token, sizeof(ret->token), "%s", s->rec.token);
		snap_path(m, s->rec.id, ret->dir);
		ret->vcpus = s->rec.vcpus;
		ret->mem_mib = s->rec.mem_mib;
	}
	pthread_mutex_unlock(&m->lock);
	return s ? 1 : 0;
}

int snap_envs(const struct snap_pin *p, const char *const *add, char **ret)
{
	*ret = NULL;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s", p->dir, SNAP_ENVS_FILE);
	json_t *base = json_load_file(path, 0, NULL), *out = json_array();
	int r = out ? 0 : -ENOMEM;
	size_t i;
	json_t *v;
	json_array_foreach(base, i, v) {
		const char *s = json_string_value(v);
		size_t n = s ? strcspn(s, "=") : 0;
		bool again = false;
		for (size_t k = 0; s && add && add[k] && !again; k++)
			again = strncmp(add[k], s, n) == 0 && add[k][n] == '=';
		if (r == 0 && s && !again && json_array_append(out, v) < 0)
			r = -ENOMEM;
	}
	for (size_t k = 0; r == 0 && add && add[k]; k++)
		if (json_array_append_new(out, json_string(add[k])) < 0)
			r = -ENOMEM;
	if (r == 0 && json_array_size(out) && !(*ret = json_dumps(out, JSON_COMPACT)))
		r = -ENOMEM;
	json_decref(base);
	json_decref(out);
	return r;
}

int snap_volumes(const struct snap_pin *p, char **ret)
{
	*ret = NULL;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s", p->dir, SNAP_VOLUMES_FILE);
	json_t *a = json_load_file(path, 0, NULL);
	int r = 0;
	if (json_array_size(a) && !(*ret = json_dumps(a, JSON_COMPACT)))
		r = -ENOMEM;
	json_decref(a);
	return r;
}

void snap_unpin(struct manager *m, struct snap_pin *p)
{
	if (!p->snapshot[0])
		return;
	pthread_mutex_lock(&m->lock);
	struct snap *s = snap_by_id(m, p->snapshot);
	if (s && s->pins)
		s->pins--;
	pthread_mutex_unlock(&m->lock);
	p->snapshot[0] = '\0';
	snap_collect(m);
}

int entry_template_load(struct manager *m, const struct entry *e, struct template *tpl, struct cove_err *err)
{
	char name[64];
	snprintf(name, sizeof(name), "%s", e->template_id);
	if (e->snapshot[0]) {
		pthread_mutex_lock(&m->lock);
		struct snap *s = snap_by_id(m, e->snapshot);
		if (s)
			snprintf(name, sizeof(name), "%s", s->rec.template_id);
		pthread_mutex_unlock(&m->lock);
		if (!s)
			return cove_errf(err, -ENOENT, "sandbox '%s': its snapshot %s is gone", e->id, e->snapshot);
	}
	int r = template_load(m->c.templates_dir, name, tpl, err);
	if (r == 0 && e->snapshot[0])
		snap_path(m, e->snapshot, tpl->snapshot);
	return r;
}

int entry_use_snapshot(struct manager *m, const struct entry *e, struct cove_err *err)
{
	return e->snapshot[0] ? store_snapshot_use_put(m->c.store, e->id, e->snapshot, err) : 0;
}

int entry_snapshot_of(struct manager *m, struct entry *e, struct cove_err *err)
{
	int r = store_snapshot_use_get(m->c.store, e->id, e->snapshot, sizeof(e->snapshot), err);
	return r == -ENOENT ? 0 : r;
}

void entry_release_snapshot(struct manager *m, const struct entry *e)
{
	struct cove_err err = { 0 };
	if (!e->snapshot[0])
		return;
	if (store_snapshot_use_delete(m->c.store, e->id, &err) < 0)
		log_warn("sandbox=%s op=release-snapshot msg=\"%s\"", e->id, err.msg);
	snap_collect(m);
}

uint64_t snap_usage(const char *dir)
{
	char layer[PATH_MAX + 32];
	snprintf(layer, sizeof(layer), "%s/%s", dir, vmm_disk_name(NULL, VMM_DISK_LAYER));
	return fs_disk_usage(dir, false) - fs_disk_usage(layer, false) + fs_disk_usage(layer, true);
}

static int load_one(void *ctx, const struct store_snapshot *rec)
{
	struct snap ***tail = ctx;
	struct snap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rec = *rec;
	**tail = s;
	*tail = &s->next;
	return 0;
}

int snap_open(struct manager *m, struct cove_err *err)
{
	if (!m->snapshots_dir[0])
		return 0;
	int r = fs_mkdir_p(m->snapshots_dir, 0700, err);
	struct snap **tail = &m->snaps;
	if (r == 0 && (r = store_snapshot_each(m->c.store, load_one, &tail, err)) == -ENOMEM)
		cove_errf(err, r, "manager: out of memory");
	if (r < 0)
		return r;
	/* Half made when an earlier coved stopped: they go. */
	for (struct snap **p = &m->snaps; *p;) {
		struct snap *s = *p;
		if (s->rec.seq > m->snap_seq)
			m->snap_seq = s->rec.seq;
		if (s->rec.state != STORE_SNAPSHOT_MAKING) {
			p = &s->next;
			continue;
		}
		*p = s->next;
		snap_remove(m, s->rec.id, "cut-short");
		free(s);
	}
	return 0;
}

void snap_sweep(struct manager *m)
{
	struct cove_err err = { 0 };
	if (!m->snapshots_dir[0])
		return;
	if (store_snapshot_use_prune(m->c.store, &err) < 0)
		log_warn("op=sweep-snapshots msg=\"%s\"", err.msg);
	/* Directories no record names (a removal cut short). */
	DIR *d = opendir(m->snapshots_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || snap_by_id(m, de->d_name))
			continue;
		char dir[PATH_MAX];
		snap_path(m, de->d_name, dir);
		log_info("op=forget-snapshot dir=%s reason=unrecorded", dir);
		if (fs_remove_tree(dir, &err) < 0)
			log_warn("op=forget-snapshot msg=\"%s\"", err.msg);
	}
	if (d)
		closedir(d);
	for (struct snap *s = m->snaps; s; s = s->next) {
		char dir[PATH_MAX];
		snap_path(m, s->rec.id, dir);
		s->disk_bytes = snap_usage(dir);
	}
	snap_collect(m);
}

void snap_free_all(struct manager *m)
{
	while (m->snaps) {
		struct snap *s = m->snaps;
		m->snaps = s->next;
		free(s);
	}
}
