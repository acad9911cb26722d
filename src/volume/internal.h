/* Inside the volume module: the state its files share, and their calls to
 * each other, which go one way: volumes.c -> storage.c -> attach.c,
 * image.c and copy.c; image.c -> copy.c.
 *
 * Names in STATE_DIR/volumes (all of them Cove's):
 *   ID                 a volume's mount point (ID.img mounted on it)
 *   ID.img             its image
 *   .blank-SIZEM.img   the blank image copies of SIZE MiB are made from
 *   NAME.tmp           an image being made
 *   .migrate-ID[.img]  a volume of the previous layout being copied
 *   .old-ID            its old directory, being removed */
#ifndef COVE_VOLUME_INTERNAL_H
#define COVE_VOLUME_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <sys/types.h>

#include "volume/volume.h"

struct store;

struct volumes {
	char dir[PATH_MAX]; /* STATE_DIR/volumes, resolved (as the kernel names a loop's backing file) */
	int dir_fd;
	dev_t dir_dev;	   /* its file system: a directory in it on another is a mount */
	uint64_t size_mib; /* of new volumes */
	struct store *store;
	pthread_mutex_t image_lock; /* one image made at a time (image.c); and shared, below */
	bool shared; /* the directory is a shared mount of its own (volumes.c) */
};

struct volume_content {
	char id[VOLUME_ID_MAX];
	int root;	   /* O_PATH of the volume's mounted root */
	uint64_t size_mib; /* its image's size */
};

/* image.c: a new image NAME (in STATE_DIR/volumes) for a volume: a sparse
 * copy of the blank of v->size_mib (made first if missing) with a fresh
 * UUID. Written as NAME.tmp, synced, then renamed. */
int volume_image_make(struct volumes *v, const char *name, struct cove_err *err);
/* The blank's name for a size. */
void volume_blank_name(uint64_t size_mib, char *buf, size_t len);

/* The entries of directory from into the empty directory to, and from's
 * owner, mode and times onto to. */
int volume_copy_tree(int from, int to, struct cove_err *err);

/* attach.c: image (a name in STATE_DIR/volumes) mounted at directory dir
 * there, through a loop device of its own; -EBUSY when the image is
 * attached already. */
int volume_mount(struct volumes *v, const char *image, const char *dir, struct cove_err *err);
enum { VOLUME_UNMOUNTED, VOLUME_MOUNTED, VOLUME_MOUNTED_OTHER };
/* What is at directory dir: VOLUME_MOUNTED (image, through a loop
 * device), VOLUME_MOUNTED_OTHER (another mount), VOLUME_UNMOUNTED (a plain
 * directory); -ENOENT, -ENOTDIR. */
int volume_mount_state(struct volumes *v, const char *dir, const char *image);
/* Takes every mount off directory dir (umount2 flags: MNT_DETACH, or 0 to
 * wait for the file system to be shut). Missing or no mount: 0. */
int volume_unmount(struct volumes *v, const char *dir, int flags, struct cove_err *err);

/* storage.c: a volume's file system, by id. */
/* Its image made, its directory made and the image mounted on it. */
int volume_storage_make(struct volumes *v, const char *id, struct cove_err *err);
/* Whatever state a crash or the previous layout left, made mounted. */
int volume_storage_ensure(struct volumes *v, const char *id, struct cove_err *err);
/* Unmounted (detached: a reader keeps what it has open), image and
 * directory removed; missing parts are fine. */
int volume_storage_remove(struct volumes *v, const char *id, struct cove_err *err);
/* The same for any name in STATE_DIR/volumes (a file or a directory
 * tree, unmounted first). */
int volume_storage_remove_name(struct volumes *v, const char *name, struct cove_err *err);

#endif
