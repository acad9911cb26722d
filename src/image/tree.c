/* Cove's additions to an unpacked image: its static guest programs, a
 * resolv.conf when the image has none, and the directories cove-init mounts
 * on. The tree is the image author's: /sbin or /etc may be a symlink to
 * anywhere on the host, so every path is resolved by the kernel inside the
 * tree, and a file is replaced, never written through a link
 * (common/rootfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/rootfs.h"
#include "image/internal.h"

/* The tree's errors say so. */
static int tree_err(int r, struct cove_err *err)
{
	if (r < 0 && err)
		cove_err_prefix(err, "image tree");
	return r;
}

static int create_in_root(int root, const char *path, mode_t mode, struct cove_err *err)
{
	return tree_err(rootfs_create(root, path, mode, err), err);
}

static int install_file(int root, const char *from, const char *path, mode_t mode, struct cove_err *err)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cove_errno(err, -errno, "image: open %s", from);
	_cleanup_close_ int out = create_in_root(root, path, mode, err);
	if (out < 0)
		return out;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (fs_write_all(out, buf, (size_t)n) < 0)
			return cove_errno(err, -errno, "image tree: write /%s", path);
	if (n < 0)
		return cove_errno(err, -errno, "image: read %s", from);
	return 0;
}

/* The host's nameserver lines, as debootstrap.sh gives Cove's base template. */
static int add_resolv_conf(int root, struct cove_err *err)
{
	/* O_PATH: never opens what is there (a device node, a FIFO). */
	int fd = rootfs_open(root, "etc/resolv.conf", O_PATH, 0);
	struct stat st;
	bool keep = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	if (fd >= 0)
		close(fd);
	if (keep)
		return 0;
	char text[4096] = "", line[512];
	size_t len = 0;
	_cleanup_fclose_ FILE *host = fopen("/etc/resolv.conf", "re");
	while (host && fgets(line, sizeof(line), host))
		if (!strncmp(line, "nameserver", 10) && len + strlen(line) < sizeof(text))
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s", line);
	_cleanup_close_ int out = create_in_root(root, "etc/resolv.conf", 0644, err);
	if (out < 0)
		return out;
	return fs_write_all(out, text, len) < 0 ? cove_errno(err, -errno, "image tree: write /etc/resolv.conf") : 0;
}

static int add_dirs(int root, struct cove_err *err)
{
	static const char *const dirs[] = { "proc", "sys", "dev", "run", "tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		bool made;
		int r = rootfs_mkdir_p(root, dirs[i], 0755, &made, err);
		if (r < 0)
			return tree_err(r, err);
		if (made && !strcmp(dirs[i], "tmp")) {
			_cleanup_close_ int fd = rootfs_open(root, "tmp", O_RDONLY | O_DIRECTORY, 0);
			if (fd < 0 || fchmod(fd, 01777) < 0)
				return cove_errno(err, fd < 0 ? fd : -errno, "image tree: chmod /tmp");
		}
	}
	return 0;
}

int tree_add_cove(int root, const char *guest_bin, struct cove_err *err)
{
	char init[PATH_MAX], agent[PATH_MAX];
	if (snprintf(init, sizeof(init), "%s/cove-init", guest_bin) >= (int)sizeof(init) ||
	    snprintf(agent, sizeof(agent), "%s/cove-agent", guest_bin) >= (int)sizeof(agent))
		return cove_errf(err, -ENAMETOOLONG, "image: guest programs' directory %s: path too long", guest_bin);
	int r = add_dirs(root, err);
	if (r == 0)
		r = install_file(root, init, "sbin/cove-init", 0755, err);
	if (r == 0)
		r = install_file(root, agent, "usr/bin/cove-agent", 0755, err);
	/* Debian's static busybox: tar, chown, adduser... that work in any
	 * image, for the build steps run in it. */
	if (r == 0)
		r = install_file(root, "/bin/busybox", "usr/lib/cove/busybox", 0755, err);
	if (r == 0)
		r = add_resolv_conf(root, err);
	return r;
}
