/* Volumes as E2B has them (its Volume API: POST/GET/DELETE /volumes, and the
 * volume content API /volumecontent/{id}/... that reads and writes one with
 * no sandbox attached): storage that outlives sandboxes.
 *
 * A volume is a row of coved's state database (STATE_DIR/cove.db: id, name,
 * token) and a file system of its own: a sparse ext4 image,
 * STATE_DIR/volumes/ID.img, of a fixed size (volumes_config.size_mib when
 * it was made), mounted through a loop device at STATE_DIR/volumes/ID
 * (nodev, nosuid, noexec). Its root belongs to the sandboxes' default user
 * (uid and gid 1000, as in E2B's templates), mode 0755, and starts empty.
 * A file system per volume, not a directory of a shared one, because an
 * NFS server that exports a directory without subtree checking (as
 * nfs-ganesha's VFS backend does) lets a client with a forged file handle
 * reach any inode of the exported file system: here that is the volume
 * alone. A full volume is -ENOSPC. Its token is the content API's
 * credential for that volume alone (compared in constant time); the API
 * key lists and destroys volumes and shows their tokens.
 *
 * Content: every path is resolved beneath the volume's directory by the
 * kernel (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV),
 * so that no "..", symlink (absolute, or leading out) or mount a guest left in
 * a volume takes an operation outside it (-EXDEV, "the path leaves the
 * volume"); the last component of a path is never followed when it is a
 * symlink, except by reads, which follow it only beneath the volume. Only
 * regular files are read (a device node or FIFO a guest made is -EINVAL);
 * writes go to a new file beside the target, made durable, then renamed over
 * it, so a reader never sees half a file and a crash leaves the old one.
 *
 * Every function may be called from several threads at once. Paths are
 * absolute inside the volume ("/" is its root); a relative one is taken from
 * the root. */
#ifndef COVE_VOLUME_VOLUME_H
#define COVE_VOLUME_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/err.h"

#define VOLUME_ID_MAX 32   /* "vol_" + 24 hex digits + NUL */
#define VOLUME_NAME_MAX 63 /* letters, digits and '-' (E2B's rule) */
#define VOLUME_TOKEN_MAX 72
#define VOLUME_PATH_MAX 4096
#define VOLUME_LIST_DEPTH_MAX 32
/* What a volume's root belongs to: the sandboxes' default user. */
#define VOLUME_DEFAULT_UID 1000
#define VOLUME_DEFAULT_GID 1000

/* A new volume's size when none is configured: 16 GiB, sparse (it takes
 * what it holds). */
#define VOLUME_DEFAULT_SIZE_MIB 16384
#define VOLUME_SIZE_MIB_MIN 16
#define VOLUME_SIZE_MIB_MAX (16 * 1024 * 1024) /* 16 TiB */

struct volumes;

struct volumes_config {
	const char *state_dir;
	uint64_t size_mib; /* of new volumes; 0: VOLUME_DEFAULT_SIZE_MIB. Existing ones keep theirs. */
};

/* Opens the volumes of coved's state directory, making STATE_DIR/volumes
 * (0700) if needed, and brings every volume to mounted, finishing what a
 * crash interrupted: a create's missing image or mount, a destroy's
 * leftovers, a volume someone unmounted (or a reboot did), and moving a
 * volume of the previous layout (a plain directory) into a file system of
 * its own. -EINVAL for a size outside VOLUME_SIZE_MIB_MIN..MAX. Needs root
 * (loop devices, mount). Volumes stay mounted after close. */
int volumes_open(const struct volumes_config *c, struct volumes **ret, struct cove_err *err);
void volumes_close(struct volumes *v); /* NULL-safe */

struct volume_info {
	char id[VOLUME_ID_MAX];
	char name[VOLUME_NAME_MAX + 1];
	char token[VOLUME_TOKEN_MAX];
	int64_t created_ms;
};

/* -EINVAL (err says why) for a name outside the rule; -EEXIST when a volume
 * of that name exists. */
int volume_create(struct volumes *v, const char *name, struct volume_info *ret, struct cove_err *err);
/* -ENOENT when there is none. */
int volume_get(struct volumes *v, const char *id, struct volume_info *ret, struct cove_err *err);
/* Oldest first; a negative return of fn stops the walk and is returned. */
int volume_each(struct volumes *v, int (*fn)(void *ctx, const struct volume_info *info), void *ctx,
		struct cove_err *err);
/* Its row, then its file system: unmounted (detached: whoever has it open
 * keeps it until they close it), its image and mount point removed.
 * -ENOENT when there is none. */
int volume_destroy(struct volumes *v, const char *id, struct cove_err *err);
/* The directory an existing volume is mounted at, for exporting it: -ENOENT
 * when there is no such volume or it is not mounted; -ENAMETOOLONG when
 * buf is too small. */
int volume_path(struct volumes *v, const char *id, char *buf, size_t len, struct cove_err *err);
/* A volume name's rule: 1 to VOLUME_NAME_MAX of a-z, A-Z, 0-9 and '-'. */
int volume_name_check(const char *name, struct cove_err *err);

/* --- content --- */

/* An open volume, for the content operations: from volume_open_content,
 * which checks the token; closed with volume_content_close. */
struct volume_content;
/* -EACCES (err says so, naming neither) when no volume has that id and token. */
int volume_open_content(struct volumes *v, const char *id, const char *token, struct volume_content **ret,
			struct cove_err *err);
void volume_content_close(struct volume_content *c); /* NULL-safe */

enum volume_entry_type { VOLUME_ENTRY_UNKNOWN, VOLUME_ENTRY_FILE, VOLUME_ENTRY_DIRECTORY, VOLUME_ENTRY_SYMLINK };

/* E2B's VolumeEntryStat. */
struct volume_entry {
	char *name;   /* the last component; "/" for the root */
	char *path;   /* absolute inside the volume */
	char *target; /* a symlink's target as stored, else NULL */
	enum volume_entry_type type;
	int64_t size;
	uint32_t mode; /* permission bits (07777) */
	uint32_t uid, gid;
	struct timespec atime, mtime, ctime;
};
void volume_entry_clear(struct volume_entry *e);
const char *volume_entry_type_name(enum volume_entry_type t);

/* Ownership and mode for what a write makes or a metadata change sets:
 * unset fields are left (a change) or taken from the parent directory
 * (owner) and 0644 or 0755 (mode). */
struct volume_attrs {
	bool has_uid, has_gid, has_mode;
	uint32_t uid, gid, mode;
};

/* The entry at path, not following a final symlink. -ENOENT, -ENOTDIR,
 * -EXDEV (leaves the volume). */
int volume_stat(struct volume_content *c, const char *path, struct volume_entry *ret, struct cove_err *err);
/* The entries beneath directory path, depth levels deep (1: its own;
 * at most VOLUME_LIST_DEPTH_MAX), sorted by path, to fn; symlinks are not
 * followed. */
int volume_list(struct volume_content *c, const char *path, unsigned depth,
		int (*fn)(void *ctx, const struct volume_entry *e), void *ctx, struct cove_err *err);
/* Makes directory path (parents: its missing parents too, and an existing
 * directory is fine); -EEXIST otherwise when it exists, -ENOENT when its
 * parent does not. */
int volume_mkdir(struct volume_content *c, const char *path, const struct volume_attrs *a, bool parents,
		 struct volume_entry *ret, struct cove_err *err);
/* Changes owner and mode (a symlink's owner only). */
int volume_set_attrs(struct volume_content *c, const char *path, const struct volume_attrs *a,
		     struct volume_entry *ret, struct cove_err *err);
/* Removes path: a file or symlink, or a directory and everything in it.
 * -EINVAL for the root. */
int volume_remove(struct volume_content *c, const char *path, struct cove_err *err);
/* Opens regular file path for reading (following symlinks only beneath the
 * volume): an fd the caller closes, *size its length. -EISDIR, -EINVAL for
 * anything but a regular file. */
int volume_open_file(struct volume_content *c, const char *path, int *fd, uint64_t *size, struct cove_err *err);

/* A file being written: volume_write_begin makes the new file (missing
 * parents made too, as volume_mkdir with parents); volume_write_data adds
 * to it; volume_write_commit makes it durable and puts it in place (over
 * an existing file or symlink unless !replace: -EEXIST; never over a
 * directory: -EISDIR), and frees w whatever it returns;
 * volume_write_abort removes it and frees w. */
struct volume_write;
int volume_write_begin(struct volume_content *c, const char *path, const struct volume_attrs *a, bool replace,
		       struct volume_write **ret, struct cove_err *err);
int volume_write_data(struct volume_write *w, const void *data, size_t len, struct cove_err *err);
int volume_write_commit(struct volume_write *w, struct volume_entry *ret, struct cove_err *err);
void volume_write_abort(struct volume_write *w); /* NULL-safe; frees w */

#endif
