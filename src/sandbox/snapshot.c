/* Template snapshots: a template's guest booted once and saved, so that a
 * sandbox starts by restoring it instead of booting a kernel.
 *
 * DIR holds:
 *   memory         the guest's RAM (restores map it privately: pages load
 *                  lazily and are shared by every sandbox of the template)
 *   state          the VMM's device state
 *   layer          what the guest wrote to its disk while it booted, over the
 *                  template's image (frozen from then on)
 *   overlay        an empty overlay over the layer; each sandbox's disk is a
 *                  copy of it
 *   snapshot.conf  what it was made from (kernel and image by size and
 *                  modification time, memory, vCPUs): a snapshot that does
 *                  not match is not used
 * The disk files are the VMM's, under its names (vmm_disk_name; the
 * default driver's are layer.qcow2 and overlay.qcow2). It is made in
 * DIR.tmp and renamed, so DIR is whole or absent. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/internal.h"

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
	snprintf(path, sizeof(path), "%s/%s", tmp, vmm_disk_name(NULL, VMM_DISK_LAYER));
	if ((r = vmm_disk_create(NULL, path, VMM_DISK_LAYER, (uint64_t)st.st_size, err)) < 0)
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
	/* Its disk layer is complete once the VMM has let go of it. */
	vmm_remove_logs(sandbox_vmm(sb));
	sandbox_free(sb);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", tmp, vmm_disk_name(NULL, VMM_DISK_OVERLAY));
	if ((r = vmm_disk_create(NULL, path, VMM_DISK_OVERLAY, (uint64_t)st.st_size, err)) < 0)
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
