/* What template snapshots and saved sandboxes were made from, and whether
 * one fits a sandbox's config: the text of their conf files
 * (snapshot.conf, saved.conf), written last so that a directory with one
 * is whole, and compared before a restore. The lowest file of the module:
 * snapshot.c, saved.c and sandbox.c use it, and it uses none of them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/internal.h"

int sandbox_describe(const struct sandbox_config *c, bool with_kernel, char *buf, size_t len, struct cove_err *err)
{
	/* Files by their canonical paths: the same file named two ways (a
	 * relative path, a symlink, "bin/../guest") is the same file. */
	struct stat k, r;
	char kernel[PATH_MAX], rootfs[PATH_MAX];
	if (with_kernel && (!realpath(c->kernel, kernel) || stat(kernel, &k) < 0))
		return cove_errno(err, -errno, "snapshot: kernel %s", c->kernel);
	if (!realpath(c->rootfs, rootfs) || stat(rootfs, &r) < 0)
		return cove_errno(err, -errno, "snapshot: image %s", c->rootfs);
	int n = snprintf(buf, len, "vcpus=%u\nmem_mib=%u\n", c->vcpus ? c->vcpus : VMM_DEFAULT_VCPUS,
			 c->mem_mib ? c->mem_mib : VMM_DEFAULT_MEM_MIB);
	if (with_kernel && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "kernel=%s %" PRIu64 " %" PRId64 "\n", kernel,
			      (uint64_t)k.st_size, (int64_t)k.st_mtime);
	if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "rootfs=%s %" PRIu64 " %" PRId64 "\n", rootfs,
			      (uint64_t)r.st_size, (int64_t)r.st_mtime);
	if (n < 0 || (size_t)n >= len)
		return cove_errf(err, -ENAMETOOLONG, "snapshot: paths too long");
	return 0;
}

int sandbox_conf_check(const char *path, const char *want, struct cove_err *why)
{
	char have[2 * PATH_MAX + 128];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(why, -errno, "%s", path);
	ssize_t n = read(fd, have, sizeof(have) - 1);
	have[n > 0 ? n : 0] = '\0';
	if (strcmp(have, want) != 0)
		return cove_errf(why, -ESTALE, "%s was made for another kernel, image, memory size or vCPU count", path);
	return 0;
}

int sandbox_snapshot_check(const struct sandbox_config *c, const char *dir, struct cove_err *why)
{
	char want[2 * PATH_MAX + 128], path[PATH_MAX + 32];
	int r = sandbox_describe(c, true, want, sizeof(want), why);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_CONF, dir);
	if ((r = sandbox_conf_check(path, want, why)) < 0)
		return r == -ESTALE ? cove_errf(why, r, "%s was made for another kernel, image, memory size or vCPU count", dir) : r;
	const char *parts[] = { SNAPSHOT_MEMORY, SNAPSHOT_STATE, vmm_disk_name(NULL, VMM_DISK_LAYER),
				vmm_disk_name(NULL, VMM_DISK_OVERLAY) };
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, parts[i]);
		if (access(path, R_OK) < 0)
			return cove_errno(why, -errno, "%s", path);
	}
	return 0;
}

int sandbox_write_text(const char *path, const char *text, struct cove_err *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cove_errno(err, -errno, "create %s", path);
	int r = fs_write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	return r < 0 ? cove_errno(err, r, "write %s", path) : 0;
}
