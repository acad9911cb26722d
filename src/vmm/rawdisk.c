/* Raw disk layers, for VMMs whose drives are raw files only (Firecracker;
 * driver.h): every file of a chain is a whole raw image. One made empty
 * (vmm_raw_disk_create) has no bytes and stands for the image it is over;
 * a VMM's disk is a copy of the first file of its chain that has bytes,
 * made with FICLONE (a reflink: instant, sharing blocks, on XFS and btrfs)
 * or, where the file system cannot, copied extent by extent
 * (SEEK_DATA/SEEK_HOLE), holes kept. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/driver.h"

int vmm_raw_clone(const char *from, const char *to, bool durable, struct cove_err *err)
{
	int64_t t0 = now_us();
	int r = fs_copy_file(from, to, durable, err);
	if (r == 0)
		log_debug("op=disk-copy from=%s to=%s ms=%.1f", from, to, (double)(now_us() - t0) / 1000.0);
	return r;
}

int vmm_raw_disk_create(const char *path, struct cove_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cove_errno(err, -errno, "disk %s: create", path);
	close(fd);
	return 0;
}

const char *vmm_raw_disk_image(const char *const *chain, size_t n)
{
	struct stat st;
	for (size_t i = 0; i < n; i++)
		if (chain[i] && stat(chain[i], &st) == 0 && st.st_size > 0)
			return chain[i];
	return NULL;
}

int vmm_raw_disk_flatten(const char *rootfs, const char *layer, const char *own, const char *out,
			 struct cove_err *err)
{
	const char *chain[] = { own, layer, rootfs };
	const char *image = vmm_raw_disk_image(chain, 3);
	if (!image)
		return cove_errf(err, -ENOENT, "flatten %s: no file of its chain has any bytes", own);
	return vmm_raw_clone(image, out, false, err);
}

int vmm_raw_disk_fill(const char *path, const char *const *under, size_t n, struct cove_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return cove_errno(err, -errno, "disk %s", path);
	if (st.st_size > 0)
		return 0;
	const char *image = vmm_raw_disk_image(under, n);
	if (!image)
		return cove_errf(err, -ENOENT, "disk %s: empty, and nothing under it has any bytes", path);
	_cleanup_close_ int in = open(image, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = open(path, O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0)
		return cove_errno(err, -errno, "disk %s: open it or %s", path, image);
	bool reflinked;
	int r = fs_copy_fd(in, out, &reflinked);
	if (r < 0) {
		if (ftruncate(out, 0) < 0)
			log_warn("op=disk-fill msg=\"%s half filled: truncate: %s\"", path, strerror(errno));
		return cove_errno(err, r, "disk %s: fill from %s", path, image);
	}
	return 0;
}
