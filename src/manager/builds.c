/* Template builds as the API sees them (manager.h): registering a build,
 * triggering it, its record, tags, upload tokens, removing a built
 * template, and what a template name with a tag means. The builder thread
 * (builder.c) runs them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/files.h"
#include "build/spec.h"
#include "common/fs.h"
#include "common/log.h"
#include "manager/internal.h"

/* Upload URLs are good for this long: the SDK puts its files right after
 * asking where. */
#define UPLOAD_TOKEN_MS (3600 * 1000)

void build_path(const struct manager *m, const char *id, char path[PATH_MAX])
{
	snprintf(path, PATH_MAX, "%s/" BUILDS_SUBDIR "/%s", m->templates_dir, id);
}

int builds_link_default(struct manager *m, const char *template_id, const char *build, struct cove_err *err)
{
	char target[128];
	snprintf(target, sizeof(target), BUILDS_SUBDIR "/%s", build);
	return template_link(m->templates_dir, template_id, target, err);
}

static int need_builds(const struct manager *m, struct cove_err *err)
{
	return m->build_dir[0] ? 0 : cove_errf(err, -ENOSYS, "template builds are off on this host (coved has no state directory for them)");
}

/* A random UUID (version 4), as E2B's build ids are. */
static int new_build_id(char id[40])
{
	uint8_t b[16];
	char hex[33];
	if (random_hex(hex, 16) < 0)
		return -EIO;
	for (int i = 0; i < 16; i++)
		sscanf(hex + 2 * i, "%2hhx", &b[i]);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(id, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
		 b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

static int has_build(void *ctx, const struct store_build *b)
{
	(void)ctx;
	(void)b;
	return 1;
}

bool manager_template_is_built(struct manager *m, const char *template_id)
{
	/* Its link and tags are made only for builds it has records of. */
	struct cove_err err = { 0 };
	return store_build_each(m->c.store, template_id, has_build, NULL, &err) == 1;
}

struct supersede {
	struct manager *m;
	const char *tags;
};

/* A waiting build of the same template and tags, never triggered, ends:
 * the newer one replaces it (as on E2B). */
static int supersede_one(void *ctx, const struct store_build *b)
{
	struct supersede *s = ctx;
	if (b->state != STORE_BUILD_WAITING || strcmp(b->tags, s->tags) != 0)
		return 0;
	struct store_build f = *b;
	f.state = STORE_BUILD_FAILED;
	f.finished_ms = wall_ms();
	snprintf(f.reason, sizeof(f.reason), "The build was canceled because it was superseded by a newer one.");
	struct cove_err err = { 0 };
	if (store_build_put(s->m->c.store, &f, &err) < 0)
		log_warn("build=%s op=supersede msg=\"%s\"", b->id, err.msg);
	return 0;
}

int manager_build_register(struct manager *m, const struct build_create *req, struct store_build *ret,
			   struct cove_err *err)
{
	if (need_builds(m, err) < 0)
		return -ENOSYS;
	const char *name = req->name.alias;
	if (template_name_check(name, err) < 0)
		return -EINVAL;
	char dir[PATH_MAX + 80];
	snprintf(dir, sizeof(dir), "%s/%s", m->templates_dir, name);
	struct stat st;
	if (!manager_template_is_built(m, name) && lstat(dir, &st) == 0)
		return cove_errf(err, -EEXIST, "template '%s' exists and was not made by a build (it is a recipe's); choose another name", name);
	struct store_build b = { .state = STORE_BUILD_WAITING, .vcpus = req->cpu_count, .mem_mib = req->memory_mib,
				 .min_free_mib = req->min_free_disk_mib, .created_ms = wall_ms() };
	snprintf(b.template_id, sizeof(b.template_id), "%s", name);
	size_t n = 0;
	for (size_t i = 0; i < req->tags.n; i++)
		n += (size_t)snprintf(b.tags + n, n < sizeof(b.tags) ? sizeof(b.tags) - n : 0, "%s%s", i ? "," : "",
				      req->tags.tag[i][0] ? req->tags.tag[i] : "default");
	if (n >= sizeof(b.tags))
		return cove_errf(err, -EINVAL, "tags: too many or too long together");
	if (new_build_id(b.id) < 0)
		return cove_errf(err, -EIO, "build id: no randomness");
	b.seq = now_us();
	struct supersede s = { m, b.tags };
	pthread_mutex_lock(&m->lock);
	int r = store_build_each(m->c.store, name, supersede_one, &s, err);
	r = r ?: store_build_put(m->c.store, &b, err);
	pthread_mutex_unlock(&m->lock);
	if (r < 0)
		return r;
	log_info("build=%s op=register template=%s tags=%s", b.id, name, b.tags);
	*ret = b;
	return 0;
}

int manager_build_get(struct manager *m, const char *template_id, const char *build_id, struct store_build *ret,
		      struct cove_err *err)
{
	if (need_builds(m, err) < 0)
		return -ENOSYS;
	int r = store_build_get(m->c.store, build_id, ret, err);
	if (r == 0 && template_id && strcmp(ret->template_id, template_id) != 0)
		r = -ENOENT;
	if (r == -ENOENT)
		return cove_errf(err, -ENOENT, "build '%s' of template '%s' not found", build_id, template_id ? template_id : "?");
	return r;
}

int manager_build_trigger(struct manager *m, const char *template_id, const char *build_id,
			  const struct build_trigger *t, const char *spec, struct cove_err *err)
{
	struct store_build b;
	int r = manager_build_get(m, template_id, build_id, &b, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < t->n_steps; i++)
		if (t->steps[i].type == BUILD_COPY && !files_has(m->files, t->steps[i].files_hash))
			return cove_errf(err, -EINVAL, "step %zu (COPY %s): its files (hash %s) were not uploaded", i + 1,
					 t->steps[i].args[0], t->steps[i].files_hash);
	pthread_mutex_lock(&m->lock);
	/* Read again under the lock: two triggers at once, one wins. */
	r = store_build_get(m->c.store, build_id, &b, err);
	if (r == 0 && b.state != STORE_BUILD_WAITING)
		r = cove_errf(err, -EINVAL, "build '%s' is not in waiting state (it is %s)", build_id,
			      store_build_state_name(b.state));
	if (r == 0)
		r = store_build_spec_set(m->c.store, build_id, spec, err);
	if (r == 0) {
		b.state = STORE_BUILD_QUEUED;
		r = store_build_put(m->c.store, &b, err);
	}
	if (r == 0)
		pthread_cond_broadcast(&m->build_wake);
	pthread_mutex_unlock(&m->lock);
	if (r == 0)
		log_info("build=%s op=trigger template=%s steps=%zu", build_id, template_id, t->n_steps);
	return r;
}

const struct files_store *manager_build_files(struct manager *m)
{
	return m->build_dir[0] ? m->files : NULL;
}

void manager_upload_token(struct manager *m, const char *template_id, const char *hash, char out[96])
{
	files_upload_token(m->build_secret, template_id, hash, wall_ms() + UPLOAD_TOKEN_MS, out);
}

int manager_upload_token_check(struct manager *m, const char *template_id, const char *hash, const char *token,
			       struct cove_err *err)
{
	return files_upload_token_check(m->build_secret, template_id, hash, token, wall_ms(), err);
}

int manager_template_dir(struct manager *m, const char *alias, const char *tag, char dir[PATH_MAX], char name[64],
			 struct cove_err *err)
{
	if (!tag || !*tag || strcmp(tag, "default") == 0) {
		snprintf(dir, PATH_MAX, "%s", m->templates_dir);
		snprintf(name, 64, "%s", alias);
		return 0;
	}
	struct store_tag t;
	int r = m->build_dir[0] ? store_tag_get(m->c.store, alias, tag, &t, err) : -ENOENT;
	if (r == -ENOENT)
		return cove_errf(err, -ENOENT, "template '%s:%s' not found", alias, tag);
	if (r < 0)
		return r;
	snprintf(dir, PATH_MAX, "%s/" BUILDS_SUBDIR, m->templates_dir);
	snprintf(name, 64, "%s", t.build);
	return 0;
}

int manager_tags_assign(struct manager *m, const struct build_tags_body *body, char build_id[40],
			struct cove_err *err)
{
	if (need_builds(m, err) < 0)
		return -ENOSYS;
	const char *tag = body->ref.tag[0] ? body->ref.tag : "default";
	struct store_tag target;
	int r = store_tag_get(m->c.store, body->ref.alias, tag, &target, err);
	if (r == -ENOENT)
		return cove_errf(err, -ENOENT, "template '%s:%s' not found (only builds' templates have tags)",
				 body->ref.alias, tag);
	if (r < 0)
		return r;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < body->tags.n && r == 0; i++) {
		struct store_tag t = target;
		snprintf(t.tag, sizeof(t.tag), "%s", body->tags.tag[i][0] ? body->tags.tag[i] : "default");
		t.created_ms = wall_ms();
		r = store_tag_put(m->c.store, &t, err);
		if (r == 0 && strcmp(t.tag, "default") == 0)
			r = builds_link_default(m, t.template_id, t.build, err);
	}
	pthread_mutex_unlock(&m->lock);
	snprintf(build_id, 40, "%s", target.build);
	return r;
}

int manager_tags_remove(struct manager *m, const struct build_tags_body *body, struct cove_err *err)
{
	if (need_builds(m, err) < 0)
		return -ENOSYS;
	pthread_mutex_lock(&m->lock);
	int r = 0;
	for (size_t i = 0; i < body->tags.n && r == 0; i++) {
		const char *tag = body->tags.tag[i][0] ? body->tags.tag[i] : "default";
		struct store_tag t;
		r = store_tag_get(m->c.store, body->ref.alias, tag, &t, err);
		if (r == -ENOENT)
			r = cove_errf(err, -ENOENT, "template '%s' has no tag '%s'", body->ref.alias, tag);
		else if (r == 0 && strcmp(tag, "default") == 0)
			r = cove_errf(err, -EINVAL, "the tag 'default' is what the name '%s' means; it moves with builds, it is not removed", body->ref.alias);
		else if (r == 0)
			r = store_tag_delete(m->c.store, body->ref.alias, tag, err);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_template_tags(struct manager *m, const char *template_id, store_tag_fn fn, void *ctx,
			  struct cove_err *err)
{
	if (need_builds(m, err) < 0)
		return -ENOSYS;
	if (!manager_template_is_built(m, template_id))
		return cove_errf(err, -ENOENT, "template '%s' not found among built templates", template_id);
	return store_tag_each(m->c.store, template_id, fn, ctx, err);
}

struct removal {
	struct manager *m;
	char (*ids)[40];
	size_t n, cap;
};

static int collect_build(void *ctx, const struct store_build *b)
{
	struct removal *rm = ctx;
	if (rm->n == rm->cap) {
		size_t cap = rm->cap ? rm->cap * 2 : 16;
		char(*ids)[40] = realloc(rm->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		rm->ids = ids;
		rm->cap = cap;
	}
	snprintf(rm->ids[rm->n++], 40, "%s", b->id);
	return 0;
}

int manager_build_template_delete(struct manager *m, const char *template_id, struct cove_err *err)
{
	if (!m->build_dir[0] || !manager_template_is_built(m, template_id))
		return cove_errf(err, -ENOENT, "template '%s' not found", template_id);
	struct removal rm = { m, NULL, 0, 0 };
	pthread_mutex_lock(&m->lock);
	int r = 0;
	for (struct entry *e = m->list; e && r == 0; e = e->next)
		if (strcmp(e->template_id, template_id) == 0)
			r = cove_errf(err, -EBUSY, "template '%s' has sandboxes (%s); kill them first", template_id, e->id);
	struct store_build b;
	if (r == 0 && m->building[0] && store_build_get(m->c.store, m->building, &b, err) == 0 &&
	    strcmp(b.template_id, template_id) == 0)
		r = cove_errf(err, -EBUSY, "template '%s' is building (build %s)", template_id, b.id);
	/* Its records go first: from here nothing names its files. */
	r = r ?: store_build_each(m->c.store, template_id, collect_build, &rm, err);
	r = r ?: store_tag_delete(m->c.store, template_id, NULL, err);
	for (size_t i = 0; i < rm.n && r == 0; i++)
		r = store_build_delete(m->c.store, rm.ids[i], err);
	char link[PATH_MAX + 80];
	snprintf(link, sizeof(link), "%s/%s", m->templates_dir, template_id);
	if (r == 0)
		unlink(link);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < rm.n && r == 0; i++) {
		char dir[PATH_MAX];
		build_path(m, rm.ids[i], dir);
		fs_remove_tree(dir, NULL);
		build_log_remove(m, rm.ids[i]);
	}
	free(rm.ids);
	if (r == 0)
		log_info("template=%s op=delete builds=%zu", template_id, rm.n);
	return r;
}
