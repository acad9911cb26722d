/* Files inside a tree that is not ours: an unpacked image, a guest's root
 * as its agent sees it. Any directory or file in it may be a symlink to
 * anywhere, so every path is resolved by the kernel inside the tree (openat2
 * with RESOLVE_IN_ROOT: "..", absolute symlinks and all stay in it), and a
 * file is replaced by unlinking what is there and creating a new one
 * (O_EXCL), never by writing through a link. Paths are relative to the
 * tree ("etc/resolv.conf"); errors name them as the tree has them
 * ("/etc/resolv.conf"). */
#ifndef COVE_COMMON_ROOTFS_H
#define COVE_COMMON_ROOTFS_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

/* openat2 of path inside the tree at root (O_CLOEXEC added): a descriptor,
 * or a negative errno. */
int rootfs_open(int root, const char *path, int flags, mode_t mode);
/* mkdir -p of path inside the tree; made: the last one was made now. */
int rootfs_mkdir_p(int root, const char *path, mode_t mode, bool *made, struct cove_err *err);
/* A new file at path in the tree (its parents made, what was there
 * unlinked first), root's, of mode; its descriptor, open for writing. */
int rootfs_create(int root, const char *path, mode_t mode, struct cove_err *err);

#endif
