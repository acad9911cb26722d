/* Volumes: their rows in the store and their directories (see volume.h).
 *
 * Order, so that a crash anywhere leaves something open() can finish: a
 * create writes the row, then makes the directory; a destroy deletes the
 * row, then removes the directory. At open, a directory no row names is
 * what a destroy left (removed), and a row without a directory is a create
 * that died before it (the directory made, empty). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/secret.h"
#include "store/store.h"
#include "volume/internal.h"

#define ID_PREFIX "vol_"
#define TOKEN_PREFIX "vt_"

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool id_form(const char *id)
{
	size_t n = strlen(ID_PREFIX);
	if (strncmp(id, ID_PREFIX, n) != 0 || strlen(id) != n + 24)
		return false;
	for (const char *p = id + n; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* The volume's directory: owned by the sandboxes' default user. */
static int make_dir(struct volumes *v, const char *id, struct cove_err *err)
{
	if (mkdirat(v->dir_fd, id, 0755) < 0 && errno != EEXIST)
		return cove_errno(err, -errno, "volume %s: make its directory in %s", id, v->dir);
	if (fchownat(v->dir_fd, id, VOLUME_DEFAULT_UID, VOLUME_DEFAULT_GID, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(v->dir_fd, id, 0755, 0) < 0)
		return cove_errno(err, -errno, "volume %s: set its directory's owner", id);
	if (fsync(v->dir_fd) < 0)
		return cove_errno(err, -errno, "volume %s: sync %s", id, v->dir);
	return 0;
}

static void info_of(const struct store_volume *row, struct volume_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->id, sizeof(ret->id), "%s", row->id);
	snprintf(ret->name, sizeof(ret->name), "%s", row->name);
	snprintf(ret->token, sizeof(ret->token), "%s", row->token);
	ret->created_ms = row->created_ms;
}

/* --- open: finishing what a crash left --- */

struct known {
	char (*ids)[VOLUME_ID_MAX];
	size_t n, cap;
};

static int remember(void *ctx, const struct store_volume *row)
{
	struct known *k = ctx;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		void *p = realloc(k->ids, cap * sizeof(*k->ids));
		if (!p)
			return -ENOMEM;
		k->ids = p;
		k->cap = cap;
	}
	snprintf(k->ids[k->n++], VOLUME_ID_MAX, "%s", row->id);
	return 0;
}

static bool known_has(const struct known *k, const char *id)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->ids[i], id) == 0)
			return true;
	return false;
}

static int reconcile(struct volumes *v, struct cove_err *err)
{
	struct known k = { 0 };
	int r = store_volume_each(v->store, remember, &k, err);
	if (r == -ENOMEM)
		cove_errf(err, r, "volumes: out of memory");
	DIR *d = r == 0 ? opendir(v->dir) : NULL;
	if (r == 0 && !d)
		r = cove_errno(err, -errno, "volumes: open %s", v->dir);
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || known_has(&k, de->d_name))
			continue;
		log_info("op=volume-recover volume=%s msg=\"removing the directory of a destroyed volume\"", de->d_name);
		r = fs_remove_tree_at(v->dir_fd, de->d_name, err);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; r == 0 && i < k.n; i++) {
		struct stat st;
		if (fstatat(v->dir_fd, k.ids[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		log_warn("op=volume-recover volume=%s msg=\"its directory is missing (a create that did not finish, or "
			 "removed by hand): made again, empty\"",
			 k.ids[i]);
		r = make_dir(v, k.ids[i], err);
	}
	free(k.ids);
	return r;
}

int volumes_open(const char *state_dir, struct volumes **ret, struct cove_err *err)
{
	struct volumes *v = calloc(1, sizeof(*v));
	if (!v)
		return cove_errf(err, -ENOMEM, "volumes: out of memory");
	v->dir_fd = -1;
	int r = 0;
	if (snprintf(v->dir, sizeof(v->dir), "%s/volumes", state_dir) >= (int)sizeof(v->dir))
		r = cove_errf(err, -ENAMETOOLONG, "volumes: state directory path too long: %s", state_dir);
	if (r == 0 && mkdir(v->dir, 0700) < 0 && errno != EEXIST)
		r = cove_errno(err, -errno, "volumes: make %s", v->dir);
	if (r == 0 && (v->dir_fd = open(v->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		r = cove_errno(err, -errno, "volumes: open %s", v->dir);
	if (r == 0)
		r = store_open(state_dir, &v->store, err);
	if (r == 0)
		r = reconcile(v, err);
	if (r < 0) {
		volumes_close(v);
		return r;
	}
	*ret = v;
	return 0;
}

void volumes_close(struct volumes *v)
{
	if (!v)
		return;
	store_close(v->store);
	if (v->dir_fd >= 0)
		close(v->dir_fd);
	free(v);
}

/* --- the API's operations --- */

int volume_create(struct volumes *v, const char *name, struct volume_info *ret, struct cove_err *err)
{
	int r = volume_name_check(name, err);
	if (r < 0)
		return r;
	struct store_volume row = { .created_ms = wall_ms() };
	char hex[49];
	if (random_hex(hex, 12) < 0)
		return cove_errno(err, -errno, "volumes: random id");
	snprintf(row.id, sizeof(row.id), ID_PREFIX "%s", hex);
	if (random_hex(hex, 24) < 0)
		return cove_errno(err, -errno, "volumes: random token");
	snprintf(row.token, sizeof(row.token), TOKEN_PREFIX "%s", hex);
	snprintf(row.name, sizeof(row.name), "%s", name);
	if ((r = store_volume_insert(v->store, &row, err)) < 0)
		return r;
	if ((r = make_dir(v, row.id, err)) < 0) {
		struct cove_err e2 = { 0 };
		if (store_volume_delete(v->store, row.id, &e2) < 0)
			log_warn("op=volume-create volume=%s msg=\"%s\"", row.id, e2.msg);
		unlinkat(v->dir_fd, row.id, AT_REMOVEDIR);
		return r;
	}
	log_info("op=volume-create volume=%s name=%s", row.id, row.name);
	info_of(&row, ret);
	return 0;
}

int volume_get(struct volumes *v, const char *id, struct volume_info *ret, struct cove_err *err)
{
	if (!id_form(id))
		return cove_errf(err, -ENOENT, "no volume '%s'", id);
	struct store_volume row;
	int r = store_volume_get(v->store, id, &row, err);
	if (r == 0)
		info_of(&row, ret);
	return r;
}

struct each_ctx {
	int (*fn)(void *ctx, const struct volume_info *info);
	void *ctx;
};

static int each_row(void *ctx, const struct store_volume *row)
{
	struct each_ctx *e = ctx;
	struct volume_info info;
	info_of(row, &info);
	return e->fn(e->ctx, &info);
}

int volume_each(struct volumes *v, int (*fn)(void *ctx, const struct volume_info *info), void *ctx,
		struct cove_err *err)
{
	struct each_ctx e = { fn, ctx };
	return store_volume_each(v->store, each_row, &e, err);
}

int volume_destroy(struct volumes *v, const char *id, struct cove_err *err)
{
	if (!id_form(id))
		return cove_errf(err, -ENOENT, "no volume '%s'", id);
	int r = store_volume_delete(v->store, id, err);
	if (r < 0)
		return r;
	/* Renamed aside first: a content request that still holds it works
	 * on what is going, and a crash leaves a name open() removes. */
	char aside[VOLUME_ID_MAX + 16];
	snprintf(aside, sizeof(aside), ".gone-%s", id);
	if (renameat(v->dir_fd, id, v->dir_fd, aside) < 0 && errno != ENOENT)
		return cove_errno(err, -errno, "volume %s: move its directory aside", id);
	r = fs_remove_tree_at(v->dir_fd, aside, err);
	if (r < 0)
		return cove_err_prefix(err, "volume %s: its row is gone, its files not all (removed at the next start)",
				       id);
	log_info("op=volume-destroy volume=%s", id);
	return 0;
}

/* --- content: the volume's directory, for content.c --- */

int volume_open_content(struct volumes *v, const char *id, const char *token, struct volume_content **ret,
			struct cove_err *err)
{
	struct store_volume row;
	struct cove_err ignored = { 0 };
	/* Either way the same answer: no volume is named to a wrong token. */
	if (!id_form(id) || !token || store_volume_get(v->store, id, &row, &ignored) < 0 ||
	    !secret_equal(token, row.token))
		return cove_errf(err, -EACCES, "no volume with that id and token");
	struct volume_content *c = calloc(1, sizeof(*c));
	if (!c)
		return cove_errf(err, -ENOMEM, "volumes: out of memory");
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->root = openat(v->dir_fd, id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->root < 0) {
		int e = -errno;
		free(c);
		return cove_errf(err, e == -ENOENT ? -EACCES : e, "volume %s: open its directory: %s", id, strerror(-e));
	}
	*ret = c;
	return 0;
}

void volume_content_close(struct volume_content *c)
{
	if (!c)
		return;
	if (c->root >= 0)
		close(c->root);
	free(c);
}
