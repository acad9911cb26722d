/* Mounting a volume's image: a loop device through the kernel's own
 * interface (/dev/loop-control, LOOP_CONFIGURE), then mount(2), no losetup
 * or mount command. The loop device clears itself when the file system lets
 * go of it (LO_FLAGS_AUTOCLEAR), so unmounting is all a destroy does to it;
 * and an image is never attached twice (two ext4 instances over one image
 * would corrupt it), so a new attach first looks for one.
 *
 * A directory of STATE_DIR/volumes is a volume's mount when its device is
 * not the device of STATE_DIR/volumes; it is that volume's when the device
 * is a loop device whose backing file is the volume's image. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "volume/internal.h"

/* Loop devices taken by others between LOOP_CTL_GET_FREE and
 * LOOP_CONFIGURE before we give up. */
#define LOOP_TRIES 64
/* How long a loop device of the image may take to clear before a mount
 * gives up on it. */
#define ATTACHED_WAIT_MS 1000
/* Mounts stacked on one directory that an unmount takes off. */
#define UNMOUNT_MAX 8
/* The host never runs or opens devices from a volume. discard: what a
 * volume frees goes back to the host as holes in its image. */
#define MOUNT_FLAGS (MS_NODEV | MS_NOSUID | MS_NOEXEC)
#define MOUNT_DATA "discard"

/* The backing file of block device dev, when it is a loop device: 0, or
 * -ENOENT. */
static int loop_backing(dev_t dev, struct stat *ret)
{
	char path[96], file[PATH_MAX + 16];
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", major(dev), minor(dev));
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	ssize_t n = read(fd, file, sizeof(file) - 1);
	if (n <= 0)
		return -ENOENT;
	file[n] = '\0';
	file[strcspn(file, "\n")] = '\0';
	return stat(file, ret) == 0 ? 0 : -ENOENT;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int volume_mount_state(struct volumes *v, const char *dir, const char *image)
{
	struct stat st, img, backing;
	if (fstatat(v->dir_fd, dir, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_dev == v->dir_dev)
		return VOLUME_UNMOUNTED;
	if (image && fstatat(v->dir_fd, image, &img, 0) == 0 && loop_backing(st.st_dev, &backing) == 0 &&
	    same_file(&img, &backing))
		return VOLUME_MOUNTED;
	return VOLUME_MOUNTED_OTHER;
}

/* Whether some loop device has the image as its backing file. */
static bool image_attached(const struct stat *img, char *dev, size_t len)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		unsigned maj, min;
		char path[300], text[32];
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dev", de->d_name);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
		if (n <= 0)
			continue;
		text[n] = '\0';
		struct stat backing;
		if (sscanf(text, "%u:%u", &maj, &min) == 2 && loop_backing(makedev(maj, min), &backing) == 0 &&
		    same_file(img, &backing)) {
			snprintf(dev, len, "/dev/%s", de->d_name);
			return true;
		}
	}
	return false;
}

/* A free loop device bound to image_fd: its open descriptor, which holds
 * it until the mount does (closing it first would clear it at once). */
static int loop_attach(int image_fd, const char *image, char *dev, size_t len, struct cove_err *err)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return cove_errno(err, -errno, "volumes: open /dev/loop-control");
	/* Direct I/O: the volume's pages are cached once, by its own file
	 * system, not again as the image's. 4 KiB blocks, as the ext4 in it. */
	struct loop_config cfg = { .fd = (uint32_t)image_fd, .block_size = 4096 };
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
	for (int tries = 0; tries < LOOP_TRIES; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return cove_errno(err, -errno, "volumes: find a free loop device for %s", image);
		snprintf(dev, len, "/dev/loop%d", n);
		int fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return cove_errno(err, -errno, "volumes: open %s for %s", dev, image);
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
			return fd;
		int e = errno;
		close(fd);
		if (e == EINVAL && (cfg.info.lo_flags & LO_FLAGS_DIRECT_IO)) {
			/* The image's file system has no direct I/O. */
			cfg.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
			continue;
		}
		if (e != EBUSY) /* EBUSY: another process took it first */
			return cove_errno(err, -e, "volumes: bind %s to %s", dev, image);
	}
	return cove_errf(err, -EBUSY, "volumes: no free loop device for %s after %d tries", image, LOOP_TRIES);
}

int volume_mount(struct volumes *v, const char *image, const char *dir, struct cove_err *err)
{
	char image_path[PATH_MAX + 64], dir_path[PATH_MAX + 64], dev[64];
	snprintf(image_path, sizeof(image_path), "%s/%s", v->dir, image);
	snprintf(dir_path, sizeof(dir_path), "%s/%s", v->dir, dir);
	_cleanup_close_ int fd = openat(v->dir_fd, image, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cove_errno(err, -errno, "volumes: open %s", image_path);
	/* A loop device an unmount just let go of may take a moment to clear. */
	for (int i = 0; image_attached(&st, dev, sizeof(dev)); i++) {
		if (i == ATTACHED_WAIT_MS / 10)
			return cove_errf(err, -EBUSY, "volumes: %s is attached to %s already (mounted elsewhere?)",
					 image_path, dev);
		usleep(10 * 1000);
	}
	_cleanup_close_ int loop = loop_attach(fd, image_path, dev, sizeof(dev), err);
	if (loop < 0)
		return loop;
	if (mount(dev, dir_path, "ext4", MOUNT_FLAGS, MOUNT_DATA) < 0)
		return cove_errno(err, -errno, "volumes: mount %s (%s) at %s", image_path, dev, dir_path);
	return 0;
}

int volume_unmount(struct volumes *v, const char *dir, int flags, struct cove_err *err)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", v->dir, dir);
	for (int i = 0; i < UNMOUNT_MAX; i++) {
		int state = volume_mount_state(v, dir, NULL);
		if (state == -ENOENT || state == -ENOTDIR || state == VOLUME_UNMOUNTED)
			return 0;
		if (state < 0)
			return cove_errno(err, state, "volumes: look at %s", path);
		if (umount2(path, flags | UMOUNT_NOFOLLOW) < 0)
			return cove_errno(err, -errno, "volumes: unmount %s", path);
	}
	return cove_errf(err, -EBUSY, "volumes: %s: still a mount after %d unmounts", path, UNMOUNT_MAX);
}
