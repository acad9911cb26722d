/* Volumes: their rows in the store and their file systems (see volume.h;
 * storage.c makes, mounts and removes those).
 *
 * Order, so that a crash anywhere leaves something open() can finish: a
 * create writes the row, then makes the image, then mounts it; a destroy
 * deletes the row, then unmounts, then removes the image and the mount
 * point. At open, what no row names is what a destroy (or a failed create)
 * left, removed; every row's volume is brought to mounted, whatever is
 * missing (storage.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
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

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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

/* What open() keeps of STATE_DIR/volumes: the blank of this size, and a
 * row's directory and image. */
static bool keep_name(const struct volumes *v, const struct known *k, const char *name)
{
	char blank[64], id[VOLUME_ID_MAX];
	volume_blank_name(v->size_mib, blank, sizeof(blank));
	size_t n = strlen(name);
	if (strcmp(name, blank) == 0 || known_has(k, name))
		return true;
	if (n < 4 || n - 4 >= sizeof(id) || strcmp(name + n - 4, ".img") != 0)
		return false;
	memcpy(id, name, n - 4);
	id[n - 4] = '\0';
	return known_has(k, id);
}

static int remove_strays(struct volumes *v, const struct known *k, struct cove_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(v->dir);
	if (!d)
		return cove_errno(err, -errno, "volumes: open %s", v->dir);
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || keep_name(v, k, de->d_name))
			continue;
		log_info("op=volume-recover name=%s msg=\"no volume's (what a destroy, a failed create or another volume "
			 "size left): removed\"",
			 de->d_name);
		r = volume_storage_remove_name(v, de->d_name, err);
	}
	return r;
}

static int share_dir(const char *dir, struct cove_err *err);

static int volumes_share(struct volumes *v, struct cove_err *err)
{
	pthread_mutex_lock(&v->image_lock);
	int r = v->shared ? 0 : share_dir(v->dir, err);
	if (r == 0 && !v->shared) {
		/* The descriptor opened before is of the directory the bind now
		 * covers: the volumes are mounted in the bind. */
		int fd = open(v->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || dup3(fd, v->dir_fd, O_CLOEXEC) < 0)
			r = cove_errno(err, -errno, "volumes: open %s again", v->dir);
		if (fd >= 0)
			close(fd);
	}
	if (r == 0)
		v->shared = true;
	pthread_mutex_unlock(&v->image_lock);
	return r;
}

static int reconcile(struct volumes *v, struct cove_err *err)
{
	struct known k = { 0 };
	int r = store_volume_each(v->store, remember, &k, err);
	if (r == -ENOMEM)
		cove_errf(err, r, "volumes: out of memory");
	if (r == 0 && k.n)
		r = volumes_share(v, err);
	if (r == 0)
		r = remove_strays(v, &k, err);
	for (size_t i = 0; r == 0 && i < k.n; i++)
		r = volume_storage_ensure(v, k.ids[i], err);
	free(k.ids);
	return r;
}

/* STATE_DIR/volumes made and resolved: the kernel names a loop device's
 * backing file by its resolved path. */
/* Unmounts (lazily) whatever is mounted beneath dir: volumes mounted
 * before dir was made a mount of its own, which the bind would hide. */
static void detach_beneath(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	char line[8192], point[PATH_MAX];
	char(*found)[PATH_MAX] = calloc(64, PATH_MAX);
	size_t n = 0, len = strlen(dir);
	while (found && n < 64 && fgets(line, sizeof(line), f)) {
		/* Field 5, octal escapes (\040) undone. */
		char *p = line;
		for (int i = 0; i < 4 && p; i++)
			p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
		if (!p)
			continue;
		size_t k = 0;
		for (; *p && *p != ' ' && k + 1 < sizeof(point); p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
				point[k++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				point[k++] = *p;
			}
		}
		point[k] = '\0';
		if (strncmp(point, dir, len) == 0 && point[len] == '/')
			snprintf(found[n++], PATH_MAX, "%s", point);
	}
	fclose(f);
	while (n--)
		umount2(found[n], MNT_DETACH);
	free(found);
}

/* STATE_DIR/volumes becomes a shared mount of its own: volumes mounted in
 * it later propagate to the volume server's mount namespace (nfs/nfs.h),
 * which is a slave of this one. Only once there are volumes: a host that
 * has none keeps a plain directory (and its state directory removable as
 * one). */
static int share_dir(const char *dir, struct cove_err *err)
{
	struct statx stx;
	if (statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return cove_errno(err, -errno, "volumes: stat %s", dir);
	bool root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	if (!root) {
		detach_beneath(dir);
		if (mount(dir, dir, NULL, MS_BIND, NULL) < 0)
			return cove_errno(err, -errno, "volumes: bind %s on itself", dir);
	}
	if (mount(NULL, dir, NULL, MS_SHARED, NULL) < 0)
		return cove_errno(err, -errno, "volumes: make %s a shared mount", dir);
	return 0;
}

static int open_dir(struct volumes *v, const char *state_dir, struct cove_err *err)
{
	char dir[PATH_MAX];
	struct stat st;
	if (snprintf(dir, sizeof(dir), "%s/volumes", state_dir) >= (int)sizeof(dir))
		return cove_errf(err, -ENAMETOOLONG, "volumes: state directory path too long: %s", state_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cove_errno(err, -errno, "volumes: make %s", dir);
	if (!realpath(dir, v->dir))
		return cove_errno(err, -errno, "volumes: resolve %s", dir);
	if ((v->dir_fd = open(v->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(v->dir_fd, &st) < 0)
		return cove_errno(err, -errno, "volumes: open %s", v->dir);
	v->dir_dev = st.st_dev;
	return 0;
}

int volumes_open(const struct volumes_config *c, struct volumes **ret, struct cove_err *err)
{
	uint64_t size = c->size_mib ? c->size_mib : VOLUME_DEFAULT_SIZE_MIB;
	if (size < VOLUME_SIZE_MIB_MIN || size > VOLUME_SIZE_MIB_MAX)
		return cove_errf(err, -EINVAL, "volumes: a volume size of %" PRIu64 " MiB: from %d to %d MiB", size,
				 VOLUME_SIZE_MIB_MIN, VOLUME_SIZE_MIB_MAX);
	struct volumes *v = calloc(1, sizeof(*v));
	if (!v)
		return cove_errf(err, -ENOMEM, "volumes: out of memory");
	v->dir_fd = -1;
	v->size_mib = size;
	pthread_mutex_init(&v->image_lock, NULL);
	int r = open_dir(v, c->state_dir, err);
	if (r == 0)
		r = store_open(c->state_dir, &v->store, err);
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
	pthread_mutex_destroy(&v->image_lock);
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
	if ((r = volumes_share(v, err)) < 0 || (r = store_volume_insert(v->store, &row, err)) < 0)
		return r;
	int64_t start = mono_ms();
	if ((r = volume_storage_make(v, row.id, err)) < 0) {
		struct cove_err e2 = { 0 };
		if (store_volume_delete(v->store, row.id, &e2) < 0)
			log_warn("op=volume-create volume=%s msg=\"%s\"", row.id, e2.msg);
		else if (volume_storage_remove(v, row.id, &e2) < 0)
			log_warn("op=volume-create volume=%s msg=\"%s\"", row.id, e2.msg);
		return cove_err_prefix(err, "volume %s", row.id);
	}
	log_info("op=volume-create volume=%s name=%s size_mib=%" PRIu64 " ms=%" PRId64, row.id, row.name, v->size_mib,
		 mono_ms() - start);
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
	r = volume_storage_remove(v, id, err);
	if (r < 0)
		return cove_err_prefix(err, "volume %s: its row is gone, its file system not all (removed at the next "
				       "start)", id);
	log_info("op=volume-destroy volume=%s", id);
	return 0;
}

int volume_path(struct volumes *v, const char *id, char *buf, size_t len, struct cove_err *err)
{
	struct volume_info info;
	char image[VOLUME_ID_MAX + 8];
	int r = volume_get(v, id, &info, err);
	if (r < 0)
		return r;
	snprintf(image, sizeof(image), "%s.img", id);
	if (volume_mount_state(v, id, image) != VOLUME_MOUNTED)
		return cove_errf(err, -ENOENT, "volume %s: its file system is not mounted", id);
	if ((size_t)snprintf(buf, len, "%s/%s", v->dir, id) >= len)
		return cove_errf(err, -ENAMETOOLONG, "volume %s: its path is longer than %zu bytes", id, len - 1);
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
	int e = c->root < 0 ? -errno : 0;
	struct stat st, img;
	if (e == 0 && fstat(c->root, &st) < 0)
		e = -errno;
	/* Never the mount point beneath: a destroy may have just unmounted it. */
	if (e == 0 && st.st_dev == v->dir_dev)
		e = -ENXIO;
	char image[VOLUME_ID_MAX + 8];
	snprintf(image, sizeof(image), "%s.img", id);
	if (e == 0 && fstatat(v->dir_fd, image, &img, 0) == 0)
		c->size_mib = (uint64_t)img.st_size >> 20;
	if (e < 0) {
		volume_content_close(c);
		if (e == -ENXIO)
			return cove_errf(err, -EIO, "volume %s: its file system is not mounted", id);
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
