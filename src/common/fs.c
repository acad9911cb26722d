#include "common/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

int fs_mkdir_p(const char *path, mode_t mode, struct cove_err *err)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return cove_errf(err, -ENAMETOOLONG, "mkdir %s: path too long", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return cove_errno(err, -errno, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return cove_errno(err, -errno, "mkdir %s", buf);
	return 0;
}

static int remove_at(int parent_fd, const char *name, dev_t dev, const char *top, struct cove_err *err)
{
	struct stat st;
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cove_errno(err, -errno, "stat %s/.../%s", top, name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
			return cove_errno(err, -errno, "remove %s/.../%s", top, name);
		return 0;
	}
	if (st.st_dev != dev)
		return cove_errf(err, -EBUSY, "remove %s: %s is a mount point", top, name);
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "open %s/.../%s", top, name);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cove_errno(err, -errno, "opendir %s/.../%s", top, name);
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = remove_at(dirfd(d), de->d_name, dev, top, err);
	}
	closedir(d);
	if (r == 0 && unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = cove_errno(err, -errno, "rmdir %s/.../%s", top, name);
	return r;
}

int fs_remove_tree_at(int parent_fd, const char *name, struct cove_err *err)
{
	struct stat st;
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cove_errno(err, -errno, "stat %s", name);
	return remove_at(parent_fd, name, st.st_dev, name, err);
}

int fs_remove_tree(const char *path, struct cove_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cove_errno(err, -errno, "stat %s", path);
	return remove_at(AT_FDCWD, path, st.st_dev, path, err);
}

static int write_loop(int fd, const void *buf, size_t len, bool socket)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, false);
}

int sock_send_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, true);
}

static int try_dir(const char *dir, size_t dir_len, const char *name, char *out, size_t out_len)
{
	if (dir_len == 0)
		return -ENOENT;
	int n = snprintf(out, out_len, "%.*s/%s", (int)dir_len, dir, name);
	if (n < 0 || (size_t)n >= out_len)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static int search_dirs(const char *dirs, const char *name, char *out, size_t out_len)
{
	for (const char *p = dirs; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		if (try_dir(p, len, name, out, out_len) == 0)
			return 0;
		p = colon ? colon + 1 : NULL;
	}
	return -ENOENT;
}

int fs_find_executable(const char *name, const char *extra_dirs, char *out, size_t out_len)
{
	if (strchr(name, '/')) {
		if ((size_t)snprintf(out, out_len, "%s", name) >= out_len)
			return -ENAMETOOLONG;
		return access(name, X_OK) == 0 ? 0 : -errno;
	}
	if (search_dirs(getenv("PATH"), name, out, out_len) == 0)
		return 0;
	return search_dirs(extra_dirs, name, out, out_len);
}

int random_hex(char *buf, size_t bytes)
{
	unsigned char raw[64];
	if (bytes > sizeof(raw))
		return -EINVAL;
	if (getrandom(raw, bytes, 0) != (ssize_t)bytes)
		return -errno;
	for (size_t i = 0; i < bytes; i++)
		sprintf(buf + 2 * i, "%02x", raw[i]);
	return 0;
}

#define COPY_CHUNK (8 << 20)

static int write_all_at(int fd, const char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, buf, len, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Bytes [off, end) of in to the same offsets of out: copy_file_range, by
 * hand where the kernel will not copy between the two file systems. */
static int copy_extent(int in, int out, off_t off, off_t end)
{
	while (off < end) {
		off_t o_in = off, o_out = off;
		size_t want = (size_t)(end - off) < COPY_CHUNK ? (size_t)(end - off) : COPY_CHUNK;
		ssize_t n = copy_file_range(in, &o_in, out, &o_out, want, 0);
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
			char buf[1 << 16];
			n = pread(in, buf, want < sizeof(buf) ? want : sizeof(buf), off);
			if (n > 0 && write_all_at(out, buf, (size_t)n, off) < 0)
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* in shrank under us */
		off += n;
	}
	return 0;
}

/* Each data extent of in (of size bytes) to the same offsets of out. */
static int copy_extents(int in, int out, off_t size)
{
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* ENXIO: only a hole is left */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		int r = copy_extent(in, out, data, hole);
		if (r < 0)
			return r;
		pos = hole;
	}
	return 0;
}

int fs_copy_fd(int in, int out, bool *reflinked)
{
	bool dummy;
	reflinked = reflinked ? reflinked : &dummy;
	*reflinked = ioctl(out, FICLONE, in) == 0;
	if (*reflinked)
		return 0;
	/* Not copy_file_range over the whole file: between two files of
	 * one ext4 it writes the holes out as zeros. */
	struct stat st;
	if (fstat(in, &st) < 0 || ftruncate(out, st.st_size) < 0)
		return -errno;
	return copy_extents(in, out, st.st_size);
}

int fs_overlay_fd(int in, int out)
{
	struct stat si, so;
	if (fstat(in, &si) < 0 || fstat(out, &so) < 0)
		return -errno;
	if (si.st_size > so.st_size && ftruncate(out, si.st_size) < 0)
		return -errno;
	return copy_extents(in, out, si.st_size);
}

int fs_copy_file(const char *from, const char *to, bool durable, struct cove_err *err)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cove_errno(err, -errno, "open %s", from);
	return fs_copy_fd_to(in, from, to, durable, err);
}

int fs_copy_fd_to(int in, const char *from, const char *to, bool durable, struct cove_err *err)
{
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return cove_errno(err, -errno, "create %s", to);
	int r = fs_copy_fd(in, out, NULL);
	if (r == 0 && durable && fsync(out) < 0)
		r = -errno;
	if (r < 0) {
		unlink(to);
		return cove_errno(err, r, "copy %s to %s", from, to);
	}
	return 0;
}

bool fs_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int fs_sync_dir(const char *path, struct cove_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "open %s", path);
	int r = fsync(fd) < 0 ? cove_errno(err, -errno, "sync %s", path) : 0;
	close(fd);
	return r;
}

uint64_t fs_disk_usage(const char *path, bool own_only)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	uint64_t sum = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return own_only && st.st_nlink > 1 ? 0 : sum;
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *de;
	char child[PATH_MAX];
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    snprintf(child, sizeof(child), "%s/%s", path, de->d_name) < (int)sizeof(child))
			sum += fs_disk_usage(child, own_only);
	return sum;
}
