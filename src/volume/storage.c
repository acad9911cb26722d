/* A volume's file system as a whole: its image STATE_DIR/volumes/ID.img
 * mounted at STATE_DIR/volumes/ID (names: internal.h). Making, removing,
 * and bringing back to mounted whatever a crash, a reboot or the previous
 * layout (a plain directory per volume) left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "volume/internal.h"

/* Room for ".migrate-" + an id + ".img.tmp". */
#define NAME_MAX_LEN (VOLUME_ID_MAX + 32)

static void image_of(const char *dir, char *buf)
{
	snprintf(buf, NAME_MAX_LEN, "%s.img", dir);
}

static int make_dir(struct volumes *v, const char *dir, struct cove_err *err)
{
	if (mkdirat(v->dir_fd, dir, 0755) < 0 && errno != EEXIST)
		return cove_errno(err, -errno, "volumes: make %s/%s", v->dir, dir);
	return 0;
}

int volume_storage_make(struct volumes *v, const char *id, struct cove_err *err)
{
	char image[NAME_MAX_LEN];
	image_of(id, image);
	int r = volume_image_make(v, image, err);
	if (r == 0)
		r = make_dir(v, id, err);
	if (r == 0)
		r = volume_mount(v, image, id, err);
	return r;
}

int volume_storage_remove_name(struct volumes *v, const char *name, struct cove_err *err)
{
	int r = volume_unmount(v, name, MNT_DETACH, err);
	if (r == 0)
		r = fs_remove_tree_at(v->dir_fd, name, err);
	return r;
}

int volume_storage_remove(struct volumes *v, const char *id, struct cove_err *err)
{
	char image[NAME_MAX_LEN];
	image_of(id, image);
	/* Unmounted first: the image stays whole while any reader (an NFS
	 * server, a content request) has the detached file system open. */
	int r = volume_unmount(v, id, MNT_DETACH, err);
	if (r == 0 && unlinkat(v->dir_fd, image, 0) < 0 && errno != ENOENT)
		r = cove_errno(err, -errno, "volumes: remove %s/%s", v->dir, image);
	if (r == 0)
		r = fs_remove_tree_at(v->dir_fd, id, err);
	return r;
}

static bool dir_empty(struct volumes *v, const char *dir)
{
	int fd = openat(v->dir_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* The volume's old directory copied into the mounted new file system:
 * everything synced before the image is named the volume's. */
static int copy_into(struct volumes *v, const char *id, const char *mnt, struct cove_err *err)
{
	_cleanup_close_ int from = openat(v->dir_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int to = openat(v->dir_fd, mnt, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (from < 0 || to < 0)
		return cove_errno(err, -errno, "open %s/%s", v->dir, from < 0 ? id : mnt);
	int r = volume_copy_tree(from, to, err);
	if (r == -ENOSPC)
		cove_err_prefix(err, "more than the volume size (%" PRIu64 " MiB; see --volume-size-mib)", v->size_mib);
	if (r == 0 && syncfs(to) < 0)
		r = cove_errno(err, -errno, "sync %s/%s", v->dir, mnt);
	return r;
}

static int sync_file(struct volumes *v, const char *name, struct cove_err *err)
{
	_cleanup_close_ int fd = openat(v->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return cove_errno(err, -errno, "sync %s/%s", v->dir, name);
	return 0;
}

/* A volume of the previous layout (a plain directory, no image) into a
 * file system of its own: a new image mounted aside, the tree copied and
 * synced, the image unmounted (wholly: it must not be attached twice) and
 * renamed to ID.img. That rename is the step a crash cannot undo: before
 * it, open() starts over (the aside names are strays); after it, the old
 * directory is an unmounted non-empty ID beside an image, which
 * volume_storage_ensure moves aside and removes once the image is mounted. */
static int migrate(struct volumes *v, const char *id, struct cove_err *err)
{
	char mnt[NAME_MAX_LEN], image[NAME_MAX_LEN], final[NAME_MAX_LEN];
	snprintf(mnt, sizeof(mnt), ".migrate-%s", id);
	image_of(mnt, image);
	image_of(id, final);
	log_info("op=volume-migrate volume=%s msg=\"a plain directory: copied into a file system of its own\"", id);
	int r = volume_storage_remove_name(v, mnt, err);
	if (r == 0)
		r = volume_image_make(v, image, err);
	if (r == 0 && mkdirat(v->dir_fd, mnt, 0700) < 0)
		r = cove_errno(err, -errno, "make %s/%s", v->dir, mnt);
	if (r == 0)
		r = volume_mount(v, image, mnt, err);
	if (r == 0)
		r = copy_into(v, id, mnt, err);
	if (r == 0)
		r = volume_unmount(v, mnt, 0, err);
	if (r == 0)
		r = sync_file(v, image, err);
	if (r == 0 && renameat(v->dir_fd, image, v->dir_fd, final) < 0)
		r = cove_errno(err, -errno, "rename %s/%s", v->dir, image);
	if (r == 0 && fsync(v->dir_fd) < 0)
		r = cove_errno(err, -errno, "sync %s", v->dir);
	struct cove_err ignored = { 0 };
	volume_storage_remove_name(v, mnt, &ignored);
	if (r < 0) {
		volume_storage_remove_name(v, image, &ignored);
		return cove_err_prefix(err, "volume %s: move into a file system of its own", id);
	}
	return volume_storage_ensure(v, id, err);
}

/* The image mounted at ID, made or missing: an unmounted ID that holds
 * anything is the old directory of a migrated volume (nothing else writes
 * beneath a mount point), removed once the image is mounted. */
static int mount_image(struct volumes *v, const char *id, const char *image, bool dir_missing, struct cove_err *err)
{
	char old[NAME_MAX_LEN];
	snprintf(old, sizeof(old), ".old-%s", id);
	bool aside = !dir_missing && !dir_empty(v, id);
	if (aside) {
		log_info("op=volume-recover volume=%s msg=\"the old directory of a migrated volume: removed\"", id);
		if (renameat(v->dir_fd, id, v->dir_fd, old) < 0)
			return cove_errno(err, -errno, "volume %s: move its old directory aside", id);
	}
	int r = make_dir(v, id, err);
	if (r == 0)
		r = volume_mount(v, image, id, err);
	if (r == 0 && aside)
		r = fs_remove_tree_at(v->dir_fd, old, err);
	return r < 0 ? cove_err_prefix(err, "volume %s", id) : 0;
}

int volume_storage_ensure(struct volumes *v, const char *id, struct cove_err *err)
{
	char image[NAME_MAX_LEN];
	image_of(id, image);
	struct stat st;
	bool has_image = fstatat(v->dir_fd, image, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	int state = volume_mount_state(v, id, image);
	if (state == VOLUME_MOUNTED)
		return 0;
	if (state == VOLUME_MOUNTED_OTHER)
		return cove_errf(err, -EBUSY, "volume %s: something else is mounted at %s/%s", id, v->dir, id);
	if (state < 0 && state != -ENOENT)
		return cove_errno(err, state, "volume %s: look at %s/%s", id, v->dir, id);
	if (!has_image && state == VOLUME_UNMOUNTED)
		return migrate(v, id, err);
	if (!has_image) {
		log_warn("op=volume-recover volume=%s msg=\"no image (a create that did not finish, or removed by "
			 "hand): made, empty\"",
			 id);
		int r = volume_storage_make(v, id, err);
		return r < 0 ? cove_err_prefix(err, "volume %s", id) : 0;
	}
	log_info("op=volume-mount volume=%s", id);
	return mount_image(v, id, image, state == -ENOENT, err);
}
