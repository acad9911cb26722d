/* Copying into a volume's file system: the tree copy that moves a volume of the
 * previous layout (a plain directory) into its own file system: regular
 * files, directories and symlinks with their owners, modes and times.
 * Nothing is followed: every name is opened through its parent's
 * descriptor with O_NOFOLLOW. Hard links become separate files, extended
 * attributes are not copied, and FIFOs, sockets and device nodes are left
 * out (logged): the content API makes none of these. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "volume/internal.h"


/* --- a tree --- */

struct copy {
	char shown[VOLUME_PATH_MAX]; /* the path being copied, for errors */
	struct cove_err *err;
};

static int copy_fail(struct copy *c, int code, const char *what)
{
	return cove_errno(c->err, code, "%s '/%s'", what, c->shown);
}

/* Owner, then mode (a chown clears set-id bits), then times. */
static int copy_attrs(int fd, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0 || futimens(fd, times) < 0)
		return -errno;
	return 0;
}

static int copy_file(int from, int to, const char *name, const struct stat *st)
{
	_cleanup_close_ int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return -errno;
	_cleanup_close_ int out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	int r = fs_copy_fd(in, out, NULL);
	return r < 0 ? r : copy_attrs(out, st);
}

static int copy_symlink(int from, int to, const char *name, const struct stat *st)
{
	char target[VOLUME_PATH_MAX];
	ssize_t n = readlinkat(from, name, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(target) - 1)
		return -ENAMETOOLONG;
	target[n] = '\0';
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	if (symlinkat(target, to, name) < 0 || fchownat(to, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(to, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int copy_dir(struct copy *c, int from, int to);

static int copy_entry(struct copy *c, int from, int to, const char *name)
{
	struct stat st;
	if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, -errno, "stat");
	int r;
	if (S_ISREG(st.st_mode))
		r = copy_file(from, to, name, &st);
	else if (S_ISLNK(st.st_mode))
		r = copy_symlink(from, to, name, &st);
	else if (!S_ISDIR(st.st_mode)) {
		log_warn("op=volume-migrate path=\"/%s\" msg=\"not a file, directory or symlink: left out\"", c->shown);
		return 0;
	} else if (mkdirat(to, name, 0700) < 0)
		r = -errno;
	else {
		_cleanup_close_ int sub_from = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_close_ int sub_to = openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub_from < 0 || sub_to < 0)
			return copy_fail(c, -errno, "open");
		return copy_dir(c, sub_from, sub_to);
	}
	return r < 0 ? copy_fail(c, r, "copy") : 0;
}

/* A directory's names, read whole first so that no stream stays open
 * while its subdirectories are copied. NULL-terminated. */
static char **dir_names(int fd)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return NULL;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	bool ok = true;
	while (ok && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 16;
			char **p = realloc(names, cap * sizeof(*names));
			ok = p != NULL;
			names = p ? p : names;
		}
		if (ok && !(names[n++] = strdup(de->d_name)))
			ok = false, n--;
	}
	closedir(d);
	if (ok && !names)
		ok = (names = calloc(1, sizeof(*names))) != NULL;
	if (!ok) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return NULL;
	}
	names[n] = NULL;
	return names;
}

/* from's entries into to, then from's own owner, mode and times on to. */
static int copy_dir(struct copy *c, int from, int to)
{
	char **names = dir_names(from);
	if (!names)
		return copy_fail(c, -ENOMEM, "list");
	size_t len = strlen(c->shown);
	int r = 0;
	for (size_t i = 0; names[i]; i++) {
		if (r == 0 && (size_t)snprintf(c->shown + len, sizeof(c->shown) - len, "%s%s", len ? "/" : "",
					       names[i]) >= sizeof(c->shown) - len)
			r = cove_errf(c->err, -ENAMETOOLONG, "a path longer than %d bytes", VOLUME_PATH_MAX);
		if (r == 0)
			r = copy_entry(c, from, to, names[i]);
		c->shown[len] = '\0';
		free(names[i]);
	}
	free(names);
	struct stat st;
	if (r == 0 && fstat(from, &st) < 0)
		r = copy_fail(c, -errno, "stat");
	if (r == 0 && (r = copy_attrs(to, &st)) < 0)
		copy_fail(c, r, "set the owner, mode and times of");
	return r;
}

int volume_copy_tree(int from, int to, struct cove_err *err)
{
	struct copy c = { .shown = "", .err = err };
	return copy_dir(&c, from, to);
}
