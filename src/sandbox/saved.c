/* Sandboxes saved whole: what pausing to disk leaves, and resuming brings
 * back.
 *
 * DIR holds:
 *   state        the VMM's device state and the guest's RAM: the pages that
 *                differ from memory (or, without it, are not zero)
 *   memory       the template snapshot's memory file the guest's RAM maps
 *                privately, hard-linked (so each sandbox saved holds only
 *                what it changed, and a resumed one shares the rest again);
 *                in a copy saved for a fork, all of the guest's RAM (the
 *                state has none), which the children map privately, so
 *                they share every page of it until they write it
 *   disk         the sandbox's own disk overlay, as it stood
 *   layer        the layer that overlay is over (a template snapshot's,
 *                hard-linked, so a template snapshot made again later does
 *                not pull it away); absent for an overlay over the image
 *   saved.conf   vCPUs, memory, and the image (by size and modification
 *                time) the layer is over: resuming over another is refused
 * The disk files are the VMM's, under its names (vmm_disk_name; the
 * default driver's are disk.qcow2 and layer.qcow2). It is made in DIR.tmp
 * and renamed, so DIR is whole or absent. A save of the disk alone (E2B's
 * filesystem-only pause) has no state and no memory: it is booted from,
 * not restored. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/internal.h"

/* What a save keeps. */
enum save_kind {
	SAVE_PAUSE, /* everything, made durable */
	SAVE_FORK,  /* everything, its RAM a file the children share */
	SAVE_DISK,  /* the disk alone, made durable */
};

/* How long the guest may take to write its file systems' dirty pages
 * before a save of its disk goes on without it. */
#define SYNC_TIMEOUT_S 10

/* Has the guest write what it holds of its files to its disk (sync(1)
 * through its agent): a save of the disk alone keeps no RAM, so what the
 * guest has not written would be lost. A guest that does not manage it in
 * SYNC_TIMEOUT_S is saved as it stands (as after a crash: the file
 * system's journal keeps it consistent), and that is logged. */
static void sync_guest(struct sandbox *sb)
{
	struct cove_err err = { 0 };
	int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = { .it_value = { .tv_sec = SYNC_TIMEOUT_S } };
	const char *argv[] = { "sync", NULL };
	struct agent_exec_request req = { .argv = argv };
	struct agent_exec_result res;
	struct agent_endpoint ep = { sandbox_netns_fd(sb), NET_GUEST_ADDR, ENVD_PORT, sb->token };
	int64_t t0 = now_us();
	int r = timer < 0 || timerfd_settime(timer, 0, &its, NULL) < 0
			? cove_errno(&err, -errno, "timerfd")
			: agent_exec(&ep, &req, &res, timer, &err);
	if (r == 0 && (!res.exited || res.exit_code != 0))
		r = cove_errf(&err, -EIO, "sync: %s", res.status);
	if (timer >= 0)
		close(timer);
	if (r < 0)
		log_warn("sandbox=%s op=save-disk msg=\"the guest's files are saved as they stand: %s\"", sb->id, err.msg);
	else
		log_debug("sandbox=%s op=sync ms=%.1f", sb->id, (double)(now_us() - t0) / 1000.0);
}

static int save_in(struct sandbox *sb, const struct sandbox_config *c, const char *tmp, enum save_kind kind,
		   struct cove_err *err)
{
	char conf[2 * PATH_MAX + 128], state[PATH_MAX + 32], disk[PATH_MAX + 32], layer[PATH_MAX + 32],
		memory[PATH_MAX + 32], path[PATH_MAX + 32];
	int r = sandbox_describe(c, false, conf, sizeof(conf), err);
	if (r < 0)
		return r;
	if (mkdir(tmp, 0700) < 0)
		return cove_errno(err, -errno, "create %s", tmp);
	snprintf(state, sizeof(state), "%s/" SAVED_STATE, tmp);
	snprintf(disk, sizeof(disk), "%s/%s", tmp, vmm_disk_name(c->vmm_driver, VMM_DISK_OWN));
	snprintf(layer, sizeof(layer), "%s/%s", tmp, vmm_disk_name(c->vmm_driver, VMM_DISK_LAYER));
	snprintf(memory, sizeof(memory), "%s/" SAVED_MEMORY, tmp);
	snprintf(path, sizeof(path), "%s/" SAVED_CONF, tmp);
	bool whole = kind != SAVE_DISK;
	struct vmm_save_paths paths = { whole ? state : NULL, disk, layer, whole ? memory : NULL, kind == SAVE_FORK };
	r = vmm_save(sb->vm, &paths, err);
	if (r == 0 && (r = sandbox_write_text(path, conf, err)) < 0) {
		/* Saved, but not whole: the guest goes on. */
		struct cove_err e = { 0 };
		if (vmm_resume(sb->vm, &e) < 0)
			log_warn("sandbox=%s op=save msg=\"resume after a failed save: %s\"", sb->id, e.msg);
	}
	return r;
}

static int save(struct sandbox *sb, const struct sandbox_config *c, const char *dir, enum save_kind kind,
		struct cove_err *err)
{
	bool durable = kind != SAVE_FORK;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dir) >= (int)sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "save %s: path %s too long", sb->id, dir);
	fs_remove_tree(tmp, NULL); /* a save that was cut short */
	int64_t t0 = now_us();
	int r = save_in(sb, c, tmp, kind, err);
	if (r < 0) {
		fs_remove_tree(tmp, NULL);
		return r;
	}
	/* A pause outlives a crash of the host: its files are synced, then
	 * their directory entries, then the rename (a fork's copy is for now). */
	if (durable)
		r = fs_sync_dir(tmp, err);
	if (r == 0 && rename(tmp, dir) < 0)
		r = cove_errno(err, -errno, "rename %s", tmp);
	if (r < 0) {
		struct cove_err e = { 0 };
		if (vmm_resume(sb->vm, &e) < 0)
			log_warn("sandbox=%s op=save msg=\"resume after a failed save: %s\"", sb->id, e.msg);
		fs_remove_tree(tmp, NULL);
		return r;
	}
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	struct cove_err e = { 0 };
	if (durable && slash && fs_sync_dir(parent, &e) < 0)
		log_warn("sandbox=%s op=save msg=\"saved, but a crash of the host could lose it: %s\"", sb->id, e.msg);
	struct stat st;
	char state[PATH_MAX + 32];
	snprintf(state, sizeof(state), "%s/" SAVED_STATE, dir);
	log_info("sandbox=%s op=save dir=%s%s state_mib=%.1f ms=%.1f", sb->id, dir, kind == SAVE_DISK ? " disk-only" : "",
		 stat(state, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0.0, (double)(now_us() - t0) / 1000.0);
	return 0;
}

int sandbox_save(struct sandbox *sb, const struct sandbox_config *c, const char *dir, bool for_fork,
		 struct cove_err *err)
{
	return save(sb, c, dir, for_fork ? SAVE_FORK : SAVE_PAUSE, err);
}

int sandbox_save_disk(struct sandbox *sb, const struct sandbox_config *c, const char *dir, struct cove_err *err)
{
	sync_guest(sb);
	return save(sb, c, dir, SAVE_DISK, err);
}

int sandbox_save_disk_synced(struct sandbox *sb, const struct sandbox_config *c, const char *dir,
			     struct cove_err *err)
{
	return save(sb, c, dir, SAVE_DISK, err);
}

static int start_saved(const struct sandbox_config *c, enum sandbox_boot how, const char *dir, const char *token,
		       struct sandbox **ret, struct cove_err *err)
{
	if (!c->id || !token || strlen(token) != 64)
		return cove_errf(err, -EINVAL, "resume: a sandbox id and the saved agent's 64-character token are needed");
	char want[2 * PATH_MAX + 128], path[PATH_MAX + 32];
	int r = sandbox_describe(c, false, want, sizeof(want), err);
	if (r < 0)
		return cove_err_prefix(err, "resume %s", c->id);
	snprintf(path, sizeof(path), "%s/" SAVED_CONF, dir);
	/* A reboot takes the disk alone: any VMM boots it. */
	if ((r = sandbox_conf_check(path, want, how != SANDBOX_BOOT_REBOOT, err)) < 0)
		return cove_err_prefix(err, "resume %s", c->id);
	return sandbox_start_as(c, how, dir, token, ret, err);
}

int sandbox_restore(const struct sandbox_config *c, const char *dir, const char *token, struct sandbox **ret,
		    struct cove_err *err)
{
	return start_saved(c, SANDBOX_BOOT_RESUME, dir, token, ret, err);
}

int sandbox_reboot(const struct sandbox_config *c, const char *dir, const char *token, struct sandbox **ret,
		   struct cove_err *err)
{
	return start_saved(c, SANDBOX_BOOT_REBOOT, dir, token, ret, err);
}

int sandbox_fork_child(const struct sandbox_config *c, const char *dir, const char *token, struct sandbox **ret,
		       struct cove_err *err)
{
	return start_saved(c, SANDBOX_BOOT_FORK, dir, token, ret, err);
}

bool sandbox_saved_complete(const char *dir)
{
	char conf[PATH_MAX + 32];
	return snprintf(conf, sizeof(conf), "%s/" SAVED_CONF, dir) < (int)sizeof(conf) && access(conf, F_OK) == 0;
}

bool sandbox_saved_has_memory(const char *dir)
{
	char state[PATH_MAX + 32];
	return snprintf(state, sizeof(state), "%s/" SAVED_STATE, dir) < (int)sizeof(state) && access(state, F_OK) == 0;
}
