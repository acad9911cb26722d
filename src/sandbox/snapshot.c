/* Template snapshots: a template's guest booted once and saved, so that a
 * sandbox starts by restoring it instead of booting a kernel.
 *
 * DIR holds:
 *   memory         the guest's RAM (restores map it privately: pages load
 *                  lazily and are shared by every sandbox of the template)
 *   state          the VMM's device state
 *   layer.qcow2    what the guest wrote to its disk while it booted, over the
 *                  template's image (frozen from then on)
 *   overlay.qcow2  an empty overlay over the layer; each sandbox's disk is a
 *                  copy of it
 *   snapshot.conf  what it was made from (kernel and image by size and
 *                  modification time, memory, vCPUs): a snapshot that does
 *                  not match is not used
 * It is made in DIR.tmp and renamed, so DIR is whole or absent. */
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
#include "common/log.h"
#include "common/proc.h"
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
	const char *parts[] = { SNAPSHOT_MEMORY, SNAPSHOT_STATE, SNAPSHOT_LAYER, SNAPSHOT_OVERLAY };
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

static int make_in(const struct sandbox_config *c, const char *tmp, struct cove_err *err)
{
	char conf[2 * PATH_MAX + 128], path[PATH_MAX + 32];
	int r = sandbox_describe(c, true, conf, sizeof(conf), err);
	if (r < 0)
		return r;
	if (mkdir(tmp, 0755) < 0)
		return cove_errno(err, -errno, "create %s", tmp);
	struct stat st;
	if (stat(c->rootfs, &st) < 0)
		return cove_errno(err, -errno, "snapshot: image %s", c->rootfs);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_LAYER, tmp);
	if ((r = vmm_disk_create(path, VMM_DISK_ROOTFS_NAME, (uint64_t)st.st_size, err)) < 0)
		return r;
	struct sandbox *sb = NULL;
	int64_t t0 = now_us();
	r = sandbox_start_as(c, SANDBOX_BOOT_SNAPSHOT_SOURCE, tmp, NULL, &sb, err);
	if (r < 0)
		return r;
	int64_t t1 = now_us();
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_STATE, tmp);
	r = vmm_snapshot(sandbox_vmm(sb), path, err);
	int64_t t2 = now_us();
	/* Its disk layer is complete once QEMU has let go of it. */
	vmm_remove_logs(sandbox_vmm(sb));
	sandbox_free(sb);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_OVERLAY, tmp);
	if ((r = vmm_disk_create(path, VMM_DISK_LAYER_NAME, (uint64_t)st.st_size, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_MEMORY, tmp);
	_cleanup_close_ int mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0 || fsync(mem) < 0)
		return cove_errno(err, -errno, "write %s", path);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_CONF, tmp);
	if ((r = sandbox_write_text(path, conf, err)) < 0)
		return r;
	log_info("op=snapshot-template dir=%s boot_ms=%.1f save_ms=%.1f", tmp, (double)(t1 - t0) / 1000.0,
		 (double)(t2 - t1) / 1000.0);
	return 0;
}

int sandbox_snapshot_make(const struct sandbox_config *c, const char *dir, struct cove_err *err)
{
	char tmp[PATH_MAX], old[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dir) >= (int)sizeof(tmp) ||
	    snprintf(old, sizeof(old), "%s.old", dir) >= (int)sizeof(old))
		return cove_errf(err, -ENAMETOOLONG, "snapshot %s: path too long", dir);
	fs_remove_tree(tmp, NULL); /* a make that was cut short */
	int r = make_in(c, tmp, err);
	if (r == 0) {
		/* The old one, if any, goes only once the new one is whole. */
		fs_remove_tree(old, NULL);
		if (rename(dir, old) < 0 && errno != ENOENT)
			r = cove_errno(err, -errno, "snapshot: move %s aside", dir);
		else if (rename(tmp, dir) < 0)
			r = cove_errno(err, -errno, "snapshot: rename %s", tmp);
		fs_remove_tree(old, NULL);
	}
	if (r < 0) {
		fs_remove_tree(tmp, NULL);
		return cove_err_prefix(err, "snapshot %s", dir);
	}
	return 0;
}
