/* Small file-system helpers with Cove's error convention. */
#ifndef COVE_COMMON_FS_H
#define COVE_COMMON_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* mkdir -p with the given mode for every directory it creates. */
int fs_mkdir_p(const char *path, mode_t mode, struct cove_err *err);

/* Removes a directory tree without following symlinks or crossing mount
 * points (a mount left inside is an error, never a traversal). Missing is fine. */
int fs_remove_tree(const char *path, struct cove_err *err);
/* The same for entry name of the directory parent_fd (a file, symlink or
 * directory tree): a tree deeper than the descriptors this process may
 * open fails part way (-EMFILE), leaving the rest. */
int fs_remove_tree_at(int parent_fd, const char *name, struct cove_err *err);

/* in's content into out (empty), holes kept: a reflink (FICLONE) where
 * the file system shares blocks (*reflinked, may be NULL), else its data
 * extents copied (SEEK_DATA/SEEK_HOLE, copy_file_range), by hand between
 * file systems the kernel will not copy between. 0 or a negative errno. */
int fs_copy_fd(int in, int out, bool *reflinked);
/* in's data extents (SEEK_DATA) written over out at the same offsets, out
 * grown to in's size if shorter; out's other bytes stay as they are (a
 * sparse diff applied onto a file). 0 or a negative errno. */
int fs_overlay_fd(int in, int out);
/* Copies the file from to a new file to (mode 0600; an existing one is an
 * error) with fs_copy_fd; with durable, fsynced before it returns. */
int fs_copy_file(const char *from, const char *to, bool durable, struct cove_err *err);
/* The same from a descriptor already open on from (named for messages):
 * for a file opened with care (O_NOFOLLOW, checked to be regular). */
int fs_copy_fd_to(int in, const char *from, const char *to, bool durable, struct cove_err *err);

/* Whether two paths name one file (device and inode); false if either is
 * missing. */
bool fs_same_file(const char *a, const char *b);

/* fsyncs a directory, so that the entries made or renamed in it last
 * through a crash of the host. */
int fs_sync_dir(const char *path, struct cove_err *err);

/* Bytes a file, or every file in a directory tree, takes on disk (allocated
 * blocks: a sparse file counts what it holds). Missing: 0. With own_only,
 * files with more than one link (shared with a template, say) count 0. */
uint64_t fs_disk_usage(const char *path, bool own_only);

int fs_write_all(int fd, const void *buf, size_t len);
/* fs_write_all for sockets: MSG_NOSIGNAL, so a closed peer is -EPIPE, not SIGPIPE. */
int sock_send_all(int fd, const void *buf, size_t len);

/* Resolves an executable: a name with a '/' is taken as given, otherwise each
 * directory of PATH and then of extra_dirs (colon separated) is tried. */
int fs_find_executable(const char *name, const char *extra_dirs, char *out, size_t out_len);

/* Fills buf with hex digits from getrandom(); buf gets 2*bytes + 1 chars. */
int random_hex(char *buf, size_t bytes);

#endif
