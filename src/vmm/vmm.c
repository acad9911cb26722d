/* The VMM lifecycle shared by every driver: create, boot, pause, resume,
 * saves (the files and their undoing; the driver writes them), stop with
 * escalation, death detection, and cleanup. It reaches the drivers through
 * drivers.c and struct vmm_driver only. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/console.h"
#include "vmm/internal.h"

const char *vmm_state_name(enum vmm_state state)
{
	switch (state) {
	case VMM_STATE_CREATED: return "created";
	case VMM_STATE_RUNNING: return "running";
	case VMM_STATE_PAUSED: return "paused";
	case VMM_STATE_STOPPED: return "stopped";
	}
	return "unknown";
}

static int copy_string(struct vmm_config_copy *cc, const char **field)
{
	if (!*field)
		return 0;
	if (cc->nstrings >= ARRAY_SIZE(cc->strings))
		return -E2BIG;
	char *s = strdup(*field);
	if (!s)
		return -ENOMEM;
	cc->strings[cc->nstrings++] = s;
	*field = s;
	return 0;
}

static int config_copy(struct vmm_config_copy *cc, const struct vmm_config *src)
{
	cc->c = *src;
	const char **fields[] = {
		&cc->c.driver, &cc->c.id, &cc->c.kernel, &cc->c.rootfs, &cc->c.init, &cc->c.hostname,
		&cc->c.extra_cmdline, &cc->c.run_dir, &cc->c.log_dir, &cc->c.vmm_binary, &cc->c.net.address,
		&cc->c.net.gateway, &cc->c.net.netmask, &cc->c.net.mac, &cc->c.hide_mounts, &cc->c.mem_file,
		&cc->c.restore_state, &cc->c.disk_overlay, &cc->c.disk_layer,
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int r = copy_string(cc, fields[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cc->c.nshares && i < VMM_MAX_SHARES; i++) {
		int r = copy_string(cc, &cc->c.shares[i].host_dir);
		r = r ?: copy_string(cc, &cc->c.shares[i].tag);
		if (r < 0)
			return r;
	}
	return 0;
}

static int set_path(char *dst, const char *fmt, const char *a, const char *b, struct cove_err *err)
{
	int n = snprintf(dst, PATH_MAX, fmt, a, b);
	if (n < 0 || n >= PATH_MAX)
		return cove_errf(err, -ENAMETOOLONG, "path under %s too long", a);
	return 0;
}

int vmm_run_dir(const char *run_dir, const char *id, char buf[PATH_MAX])
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", run_dir ? run_dir : VMM_DEFAULT_RUN_DIR, id);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int vmm_disk_path(const struct vmm_config *c, char buf[PATH_MAX])
{
	const char *own = vmm_disk_name(c->driver, VMM_DISK_OWN);
	if (!own)
		return -EOPNOTSUPP;
	char dir[PATH_MAX];
	int r = vmm_run_dir(c->run_dir, c->id, dir);
	if (r == 0 && snprintf(buf, PATH_MAX, "%s/%s", dir, own) >= PATH_MAX)
		r = -ENAMETOOLONG;
	return r;
}

/* What the config asks of its driver, the driver can do. */
static int check_features(const struct vmm_config *c, const struct vmm_driver *d, struct cove_err *err)
{
	const char *missing = NULL;
	if (c->mem_file && !(d->features & VMM_FEATURE_MEMORY_FILE))
		missing = "guest memory in a file (mem_file)";
	else if (c->restore_state && !(d->features & VMM_FEATURE_SNAPSHOTS))
		missing = "snapshots (restore_state)";
	else if (c->disk_overlay && !(d->features & VMM_FEATURE_DISK_LAYERS))
		missing = "disk layers (disk_overlay)";
	else if (c->nshares && !(d->features & VMM_FEATURE_SHARES))
		missing = "shared directories (shares)";
	if (missing)
		return cove_errf(err, -EOPNOTSUPP, "config: driver %s has no %s", d->name, missing);
	return 0;
}

int vmm_create(const struct vmm_config *config, struct vmm **ret, struct cove_err *err)
{
	int r = vmm_config_validate(config, err);
	if (r < 0)
		return r;
	const struct vmm_driver *driver = vmm_driver_find(config->driver);
	if (!driver) {
		char known[128];
		vmm_driver_names(known, sizeof(known));
		return cove_errf(err, -EINVAL, "config: driver '%s' is unknown (known: %s)", config->driver, known);
	}
	if ((r = check_features(config, driver, err)) < 0)
		return r;
	struct vmm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return cove_errf(err, -ENOMEM, "vmm %s: out of memory", config->id);
	vm->pidfd = -1;
	vm->driver = driver;
	vm->state = VMM_STATE_CREATED;
	r = config_copy(&vm->cfg, config);
	if (r < 0) {
		vmm_free(vm);
		return cove_errno(err, r, "vmm %s: copy config", config->id);
	}
	const struct vmm_config *c = &vm->cfg.c;
	if ((r = set_path(vm->dir, "%s/%s", c->run_dir, c->id, err)) < 0 ||
	    (r = set_path(vm->work_dir, "%s/%s/root", c->run_dir, c->id, err)) < 0 ||
	    (r = set_path(vm->log_path, "%s/%s.vmm.log", c->log_dir, c->id, err)) < 0 ||
	    (r = set_path(vm->console_path, "%s/%s.console.log", c->log_dir, c->id, err)) < 0) {
		vmm_free(vm);
		return r;
	}
	*ret = vm;
	return 0;
}

static int prepare_dirs(struct vmm *vm, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	int r = fs_mkdir_p(c->run_dir, 0711, err);
	if (r < 0)
		return r;
	r = fs_mkdir_p(c->log_dir, 0750, err);
	if (r < 0)
		return r;
	if (mkdir(vm->dir, 0700) < 0)
		return cove_errno(err, -errno, "create %s%s", vm->dir,
				  errno == EEXIST ? " (a sandbox with this id exists)" : "");
	vm->launched_dir = true;
	struct proc_identity self;
	r = proc_identity_read(getpid(), &self, err);
	if (r < 0)
		return r;
	r = vmm_write_identity(vm->dir, "owner", &self, err);
	if (r < 0)
		return r;
	if (mkdir(vm->work_dir, 0700) < 0)
		return cove_errno(err, -errno, "create %s", vm->work_dir);
	/* A uid of its own, unless VMMs run as root here (COVE_VMM_IDS=off). */
	struct vmm_jail_ids ids;
	r = vmm_jail_ids(&ids, err);
	return r < 0 || !ids.on ? r : vmm_jail_claim(vm, &ids, err);
}

int vmm_boot(struct vmm *vm, struct cove_err *err)
{
	if (vm->state != VMM_STATE_CREATED)
		return cove_errf(err, -EALREADY, "boot %s: already %s", vm->cfg.c.id, vmm_state_name(vm->state));
	const char *reason;
	vm->accel = vmm_accel_resolve(vm->cfg.c.accel, &reason);
	int r = prepare_dirs(vm, err);
	/* Shares' sidecars first: the VMM is handed their sockets. */
	if (r >= 0)
		r = vmm_sidecars_start(vm, err);
	if (r >= 0)
		r = vm->driver->boot(vm, err);
	vmm_sidecars_close_sockets(vm);
	/* The VMM holds its own TAP descriptor now (or opened it by name). */
	if (vm->cfg.c.tap_fd >= 0) {
		close(vm->cfg.c.tap_fd);
		vm->cfg.c.tap_fd = -1;
	}
	if (r < 0) {
		cove_err_prefix(err, "boot %s", vm->cfg.c.id);
		if (vm->pidfd >= 0) {
			proc_pidfd_send_signal(vm->pidfd, SIGKILL);
			vmm_cleanup_after_exit(vm);
		} else if (vm->launched_dir) {
			vmm_sidecars_stop(vm);
			vmm_logs_stop(vm);
			vmm_jail_release(vm);
			fs_remove_tree(vm->dir, NULL);
			vm->launched_dir = false;
		}
		vm->cgroup = vmm_cgroup_remove(vm->cgroup);
		vm->state = VMM_STATE_STOPPED;
		return r;
	}
	vm->state = VMM_STATE_RUNNING;
	return 0;
}

int vmm_adopt(const struct vmm_config *config, const struct proc_identity *id, struct vmm **ret,
	      struct cove_err *err)
{
	struct vmm *vm;
	int r = vmm_create(config, &vm, err);
	if (r < 0)
		return r;
	if (!(vm->driver->features & VMM_FEATURE_ADOPT)) {
		r = cove_errf(err, -EOPNOTSUPP, "driver %s cannot attach to a running VMM", vm->driver->name);
		goto fail;
	}
	/* By identity: a pid that was reused is never taken for the VMM. */
	r = proc_identity_pidfd(id, &vm->pidfd, err);
	if (r < 0)
		goto fail;
	vm->identity = *id;
	vm->launch_us = now_us();
	/* Confined when it runs as another user than root: its uid is the
	 * kernel's record, its claim still names this run directory. */
	uid_t uid = 0;
	if (vmm_jail_read_uid(id->pid, &uid) == 0 && uid != 0) {
		struct vmm_jail_ids ids;
		if (vmm_jail_ids(&ids, NULL) == 0)
			vm->shared_gid = ids.first;
		vm->uid = uid;
		vm->confined = true;
	}
	struct stat st;
	r = stat(vm->dir, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		cove_errno(err, r, "%s", vm->dir);
		goto fail;
	}
	/* The directory is this process's to remove now. */
	vm->launched_dir = true;
	struct proc_identity self;
	r = proc_identity_read(getpid(), &self, err);
	if (r == 0)
		r = vmm_write_identity(vm->dir, "owner", &self, err);
	if (r < 0)
		goto fail;
	r = vm->driver->attach(vm, err);
	if (r < 0)
		goto fail;
	if (vm->cfg.c.cgroup) {
		struct cove_err cerr = { 0 };
		if (vmm_cgroup_open(vm->cfg.c.id, &vm->cgroup, &cerr) < 0)
			log_warn("vmm=%s op=adopt msg=\"no usage figures: %s\"", vm->cfg.c.id, cerr.msg);
	}
	struct cove_err lerr = { 0 };
	if (vmm_logs_adopt(vm, &lerr) < 0)
		log_warn("vmm=%s op=adopt msg=\"its console and output are not logged: %s\"", vm->cfg.c.id, lerr.msg);
	log_info("vmm=%s op=adopt pid=%d state=%s", vm->cfg.c.id, (int)id->pid, vmm_state_name(vm->state));
	*ret = vm;
	return 0;
fail:
	cove_err_prefix(err, "adopt VMM %s (pid %d)", config->id, (int)id->pid);
	/* Leaves the VMM to the caller: only its own handles go. */
	if (vm->driver_data && vm->driver->release)
		vm->driver->release(vm);
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->launched_dir = false;
	vm->state = VMM_STATE_STOPPED;
	vmm_free(vm);
	return r;
}

/* QEMU will not migrate a VM with a vhost-user-fs device ("State blocked
 * by non-migratable device"), and a saved guest would come back with
 * virtiofs mounts whose server state is gone: refused before anything is
 * tried. */
static int refuse_shares(const struct vmm *vm, const char *op, struct cove_err *err)
{
	if (!vm->cfg.c.nshares)
		return 0;
	return cove_errf(err, -EOPNOTSUPP,
			 "%s %s: it has shared directories (virtiofs), and a VM with them cannot be saved, "
			 "snapshotted or forked (QEMU cannot migrate a vhost-user-fs device)",
			 op, vm->cfg.c.id);
}

static int require_live(struct vmm *vm, const char *op, struct cove_err *err)
{
	enum vmm_state s = vmm_state(vm);
	if (s == VMM_STATE_RUNNING || s == VMM_STATE_PAUSED)
		return 0;
	return cove_errf(err, -ESRCH, "%s %s: VMM is %s", op, vm->cfg.c.id, vmm_state_name(s));
}

int vmm_pause(struct vmm *vm, struct cove_err *err)
{
	int r = require_live(vm, "pause", err);
	if (r < 0)
		return r;
	r = vm->driver->pause(vm, err);
	if (r < 0)
		return cove_err_prefix(err, "pause %s", vm->cfg.c.id);
	vm->state = VMM_STATE_PAUSED;
	return 0;
}

/* Has the driver write the device state (and RAM unless it is in a shared
 * file: see struct vmm_snapshot_files) to state_path, aside and renamed.
 * The VMM is left paused. */
static int save_state(struct vmm *vm, const char *state_path, const struct vmm_snapshot_files *files,
		      struct vmm_snapshot_report *report, struct cove_err *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", state_path) >= (int)sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "path %s too long", state_path);
	int r = 0;
	if (vm->state == VMM_STATE_RUNNING && (r = vm->driver->pause(vm, err)) < 0)
		return r;
	vm->state = VMM_STATE_PAUSED;
	struct vmm_snapshot_files aside = *files;
	aside.state = tmp;
	*report = (struct vmm_snapshot_report){ 0 };
	r = vm->driver->snapshot(vm, &aside, report, err);
	if (r == 0 && rename(tmp, state_path) < 0) {
		r = cove_errno(err, -errno, "rename %s", tmp);
		/* The driver wrote the RAM file too: it goes with the state. */
		if (files->ram && !report->ram_in_state)
			unlink(files->ram);
	}
	if (r < 0)
		fs_remove_tree(tmp, NULL); /* a file, or a driver's directory */
	return r;
}

/* Copies the disk overlay the VMM writes to, as it stands, to path (aside
 * and renamed). The VMM must be paused with its disks flushed. */
static int save_disk(struct vmm *vm, const char *path, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char from[PATH_MAX], tmp[PATH_MAX];
	int r = c->disk_overlay_copy ? vmm_disk_path(c, from) : 0;
	if (r < 0)
		return cove_errno(err, r, "save %s: its disk", c->id);
	if (!c->disk_overlay_copy)
		snprintf(from, sizeof(from), "%s", c->disk_overlay);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "path %s too long", path);
	r = fs_copy_file(from, tmp, true, err);
	if (r == 0 && rename(tmp, path) < 0)
		r = cove_errno(err, -errno, "rename %s", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Links path to the file the VMM has as name in its work directory, bound
 * there from host_path, when the file at host_path is still that one: it
 * costs nothing, and holds the file whatever becomes of the template's copy.
 * A negative errno (no message) when it cannot be (replaced meanwhile,
 * another file system: a link cannot cross mounts). */
static int link_vmm_file(struct vmm *vm, const char *name, const char *host_path, const char *path)
{
	char used[PATH_MAX + 64];
	if (vmm_host_path(vm, name, used, sizeof(used), NULL) < 0 || !host_path || access(used, F_OK) < 0)
		return -ENOENT; /* the VMM has no such file (a CH restore reads its RAM in) */
	if (!fs_same_file(used, host_path))
		return -ESTALE;
	return link(host_path, path) == 0 ? 0 : -errno;
}

/* Keeps the file the VMM has as name in its work directory (a disk layer)
 * at path: linked, else copied (read through the VMM's mount namespace).
 * -ENOENT (no message) when the VMM has no such file. */
static int keep_file(struct vmm *vm, const char *name, const char *host_path, const char *path,
		     struct cove_err *err)
{
	char used[PATH_MAX + 64];
	int r = vmm_host_path(vm, name, used, sizeof(used), err);
	if (r < 0 || link_vmm_file(vm, name, host_path, path) == 0)
		return r;
	if (access(used, F_OK) < 0)
		return errno == ENOENT ? -ENOENT : cove_errno(err, -errno, "the VMM's %s %s", name, used);
	return fs_copy_file(used, path, true, err);
}

/* After a failed save: the guest runs again if it ran before. A control
 * connection that broke usually means the VMM died: that is noticed (the
 * exit takes a moment: its memory is being torn down), so that vmm_state
 * says stopped. */
static void undo_pause(struct vmm *vm, bool was_running, int r)
{
	struct cove_err e = { 0 };
	if ((r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -ECHILD) && vm->pidfd >= 0 &&
	    proc_pidfd_wait(vm->pidfd, 1000) == 1) {
		vmm_state(vm);
		return;
	}
	if (!was_running)
		return;
	if (vm->driver->resume(vm, &e) == 0)
		vm->state = VMM_STATE_RUNNING;
	else
		log_warn("vmm=%s op=resume msg=\"after a failed save: %s\"", vm->cfg.c.id, e.msg);
}

int vmm_snapshot(struct vmm *vm, const char *state_path, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	int r = refuse_shares(vm, "snapshot", err);
	r = r ?: require_live(vm, "snapshot", err);
	if (r < 0)
		return r;
	if (!(vm->driver->features & VMM_FEATURE_SNAPSHOTS))
		return cove_errf(err, -EOPNOTSUPP, "snapshot %s: driver %s has no snapshots", c->id, vm->driver->name);
	if (!c->mem_file || !c->mem_shared)
		return cove_errf(err, -EOPNOTSUPP, "snapshot %s: its memory is not in a shared file (mem_file)", c->id);
	bool was_running = vm->state == VMM_STATE_RUNNING;
	struct vmm_snapshot_files files = { 0 };
	struct vmm_snapshot_report report;
	r = save_state(vm, state_path, &files, &report, err);
	if (r < 0) {
		cove_err_prefix(err, "snapshot %s", c->id);
		undo_pause(vm, was_running, r);
		return r;
	}
	log_info("vmm=%s op=snapshot state=%s", c->id, state_path);
	return 0;
}

/* A VMM whose RAM is a private mapping of a file: that file linked at
 * path and handed to the driver as the base memory, so that only the pages
 * that differ from it are saved. Where it cannot be linked (no such RAM,
 * the file replaced, the save on another file system) all of the RAM is
 * saved: a copy of the file would cost more than it saves. */
static void keep_base_memory(struct vmm *vm, const char *path, struct vmm_snapshot_files *files)
{
	const struct vmm_config *c = &vm->cfg.c;
	if (!c->mem_file || c->mem_shared)
		return;
	int r = link_vmm_file(vm, VMM_MEMORY_NAME, c->mem_file, path);
	if (r < 0) {
		log_info("vmm=%s op=save msg=\"all of its RAM is saved: %s cannot be linked into %s: %s\"", c->id,
			 c->mem_file, path, strerror(-r));
		return;
	}
	files->base_memory = path;
}

int vmm_save(struct vmm *vm, const struct vmm_save_paths *paths, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	int r = refuse_shares(vm, "save", err);
	r = r ?: require_live(vm, "save", err);
	if (r < 0)
		return r;
	if (!(vm->driver->features & VMM_FEATURE_SNAPSHOTS))
		return cove_errf(err, -EOPNOTSUPP, "save %s: driver %s has no snapshots", c->id, vm->driver->name);
	if (!c->disk_overlay)
		return cove_errf(err, -EOPNOTSUPP, "save %s: its disk writes go to a throwaway overlay", c->id);
	bool was_running = vm->state == VMM_STATE_RUNNING;
	int64_t t0 = now_us();
	struct vmm_snapshot_files files = { 0 };
	struct vmm_snapshot_report report;
	if (paths->memory && paths->memory_whole && !(c->mem_file && c->mem_shared))
		files.ram = paths->memory;
	else if (paths->memory)
		keep_base_memory(vm, paths->memory, &files);
	/* A RAM file in the way fails the save before the guest is paused. */
	if (files.ram && access(files.ram, F_OK) == 0)
		r = cove_errno(err, -EEXIST, "create %s", files.ram);
	bool state = false, disk = false;
	if (r == 0 && paths->state)
		state = (r = save_state(vm, paths->state, &files, &report, err)) == 0;
	else if (r == 0 && was_running && (r = vm->driver->pause(vm, err)) == 0)
		vm->state = VMM_STATE_PAUSED; /* the disk alone: paused, which flushes it */
	/* The memory file is there: linked, or written whole by the driver. */
	bool memory = files.base_memory || (state && files.ram && !report.ram_in_state);
	int64_t t1 = now_us();
	if (r == 0)
		disk = (r = save_disk(vm, paths->disk, err)) == 0;
	if (r == 0 && paths->layer &&
	    (r = keep_file(vm, vm->driver->disk.layer, c->disk_layer, paths->layer, err)) == -ENOENT)
		r = 0;
	if (r < 0) {
		/* Whatever was made goes: a failed save leaves nothing. */
		if (memory)
			unlink(paths->memory);
		if (state)
			fs_remove_tree(paths->state, NULL);
		if (disk)
			unlink(paths->disk);
		cove_err_prefix(err, "save %s", c->id);
		undo_pause(vm, was_running, r);
		return r;
	}
	log_info("vmm=%s op=save state=%s state_ms=%.1f disk_ms=%.1f", c->id, paths->state ? paths->state : "none",
		 (double)(t1 - t0) / 1000.0, (double)(now_us() - t1) / 1000.0);
	return 0;
}

bool vmm_can_save(const struct vmm *vm)
{
	return (vm->driver->features & VMM_FEATURE_SNAPSHOTS) && vm->cfg.c.disk_overlay && !vm->cfg.c.nshares;
}

int vmm_resume(struct vmm *vm, struct cove_err *err)
{
	int r = require_live(vm, "resume", err);
	if (r < 0)
		return r;
	r = vm->driver->resume(vm, err);
	if (r < 0)
		return cove_err_prefix(err, "resume %s", vm->cfg.c.id);
	vm->state = VMM_STATE_RUNNING;
	return 0;
}

enum vmm_state vmm_state(struct vmm *vm)
{
	if ((vm->state == VMM_STATE_RUNNING || vm->state == VMM_STATE_PAUSED) && vm->pidfd >= 0 &&
	    proc_pidfd_wait(vm->pidfd, 0) == 1) {
		log_info("vmm=%s op=exit pid=%d msg=\"VMM process exited\"", vm->cfg.c.id, (int)vm->identity.pid);
		vmm_cleanup_after_exit(vm);
	}
	return vm->state;
}

static int wait_exit(struct vmm *vm, int timeout_ms)
{
	return proc_pidfd_wait(vm->pidfd, timeout_ms);
}

int vmm_stop(struct vmm *vm, int grace_ms, struct cove_err *err)
{
	if (vmm_state(vm) == VMM_STATE_STOPPED || vm->pidfd < 0) {
		vmm_cleanup_after_exit(vm);
		return 0;
	}
	const char *how = "powered off";
	struct cove_err perr = { 0 };
	/* A paused guest cannot act on a power-off request: skip straight on. */
	if (vm->state == VMM_STATE_RUNNING && vm->driver->request_poweroff(vm, &perr) == 0 &&
	    wait_exit(vm, grace_ms) == 1)
		goto done;
	if (perr.code)
		log_debug("vmm=%s op=stop msg=\"%s\"", vm->cfg.c.id, perr.msg);
	how = "terminated";
	kill(-vm->identity.pid, SIGTERM);
	if (wait_exit(vm, grace_ms) == 1)
		goto done;
	how = "killed";
	kill(-vm->identity.pid, SIGKILL);
	if (wait_exit(vm, 5000) != 1) {
		vmm_cleanup_after_exit(vm);
		return cove_errf(err, -ETIMEDOUT, "stop %s: VMM pid %d did not exit after SIGKILL", vm->cfg.c.id,
				 (int)vm->identity.pid);
	}
done:
	log_info("vmm=%s op=stop how=%s", vm->cfg.c.id, how);
	vmm_cleanup_after_exit(vm);
	return 0;
}

int vmm_kill(struct vmm *vm, struct cove_err *err)
{
	(void)err;
	if (vm->pidfd >= 0)
		proc_pidfd_send_signal(vm->pidfd, SIGKILL);
	vmm_cleanup_after_exit(vm);
	return 0;
}

struct vmm *vmm_free(struct vmm *vm)
{
	if (!vm)
		return NULL;
	vmm_kill(vm, NULL);
	vm->cgroup = vmm_cgroup_remove(vm->cgroup);
	for (size_t i = 0; i < vm->cfg.nstrings; i++)
		free(vm->cfg.strings[i]);
	free(vm);
	return NULL;
}

struct vmm *vmm_detach(struct vmm *vm)
{
	if (!vm)
		return NULL;
	vmm_logs_stop(vm);
	if (vm->driver_data && vm->driver->release)
		vm->driver->release(vm);
	/* Its shares' virtiofsd end with the VMM's connection to them; not
	 * ours to end here, nor (no identity is recorded) to adopt. */
	vmm_sidecars_release(vm);
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->cgroup = vmm_cgroup_close(vm->cgroup);
	for (size_t i = 0; i < vm->cfg.nstrings; i++)
		free(vm->cfg.strings[i]);
	free(vm);
	return NULL;
}

void vmm_remove_logs(const struct vmm *vm)
{
	log_file_remove(vm->log_path);
	log_file_remove(vm->console_path);
	for (size_t i = 0; i < vm->cfg.c.nshares; i++) {
		char path[PATH_MAX];
		if (vmm_sidecar_log_path(vm, i, path) == 0)
			log_file_remove(path);
	}
}

const char *vmm_id(const struct vmm *vm) { return vm->cfg.c.id; }
const struct proc_identity *vmm_identity(const struct vmm *vm) { return &vm->identity; }
const char *vmm_log_path(const struct vmm *vm) { return vm->log_path; }
const char *vmm_console_path(const struct vmm *vm) { return vm->console_path; }
enum vmm_accel vmm_accel_used(const struct vmm *vm) { return vm->accel; }
int64_t vmm_launch_time_us(const struct vmm *vm) { return vm->launch_us; }
int vmm_exit_status(const struct vmm *vm) { return vm->exit_status; }

int vmm_usage(const struct vmm *vm, uint64_t *cpu_usec, uint64_t *mem_bytes)
{
	return vm->cgroup ? vmm_cgroup_usage(vm->cgroup, cpu_usec, mem_bytes) : -ENODATA;
}
