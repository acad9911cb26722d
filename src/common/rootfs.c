#include "common/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

int rootfs_open(int root, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* path's directory part and its last name ("etc/x" -> "etc", "x"; "x" -> ".", "x"). */
static void split(const char *path, char *dir, size_t size, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, size, ".");
		*base = path;
	} else {
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
		*base = slash + 1;
	}
}

int rootfs_mkdir_p(int root, const char *path, mode_t mode, bool *made, struct cove_err *err)
{
	char prefix[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(prefix))
		return cove_errf(err, -ENAMETOOLONG, "%s: path too long", path);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)i, path);
		*made = false;
		int fd = rootfs_open(root, prefix, O_PATH | O_DIRECTORY, 0);
		if (fd == -ENOENT) {
			char dir[PATH_MAX];
			const char *base;
			split(prefix, dir, sizeof(dir), &base);
			_cleanup_close_ int parent = rootfs_open(root, dir, O_PATH | O_DIRECTORY, 0);
			if (parent < 0)
				return cove_errno(err, parent, "/%s", dir);
			if (mkdirat(parent, base, mode) < 0)
				return cove_errno(err, -errno, "mkdir /%s", prefix);
			*made = true;
			fd = rootfs_open(root, prefix, O_PATH | O_DIRECTORY, 0);
		}
		if (fd < 0)
			return cove_errno(err, fd, "/%s", prefix);
		close(fd);
	}
	return 0;
}

int rootfs_create(int root, const char *path, mode_t mode, struct cove_err *err)
{
	char dir[PATH_MAX];
	const char *base;
	bool made;
	split(path, dir, sizeof(dir), &base);
	int r = strcmp(dir, ".") ? rootfs_mkdir_p(root, dir, 0755, &made, err) : 0;
	if (r < 0)
		return r;
	_cleanup_close_ int parent = rootfs_open(root, dir, O_PATH | O_DIRECTORY, 0);
	if (parent < 0)
		return cove_errno(err, parent, "/%s", dir);
	if (unlinkat(parent, base, 0) < 0 && errno != ENOENT)
		return cove_errno(err, -errno, "replace /%s", path);
	int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return cove_errno(err, -errno, "create /%s", path);
	if (fchown(fd, 0, 0) < 0 && geteuid() == 0) {
		r = -errno;
		close(fd);
		return cove_errno(err, r, "chown /%s", path);
	}
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		close(fd);
		return cove_errno(err, r, "chmod /%s", path);
	}
	return fd;
}
