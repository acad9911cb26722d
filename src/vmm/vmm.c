/* The VMM lifecycle shared by every driver: create, boot, pause, resume,
 * stop with escalation, death detection, and cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/internal.h"

static const struct vmm_driver *const drivers[] = { &vmm_driver_qemu };

static const struct vmm_driver *driver_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

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
	return 0;
}

static int set_path(char *dst, const char *fmt, const char *a, const char *b, struct cove_err *err)
{
	int n = snprintf(dst, PATH_MAX, fmt, a, b);
	if (n < 0 || n >= PATH_MAX)
		return cove_errf(err, -ENAMETOOLONG, "path under %s too long", a);
	return 0;
}

int vmm_create(const struct vmm_config *config, struct vmm **ret, struct cove_err *err)
{
	int r = vmm_config_validate(config, err);
	if (r < 0)
		return r;
	const struct vmm_driver *driver = driver_find(config->driver);
	if (!driver)
		return cove_errf(err, -EINVAL, "config: driver '%s' is unknown (known: qemu)", config->driver);
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
	return 0;
}

int vmm_boot(struct vmm *vm, struct cove_err *err)
{
	if (vm->state != VMM_STATE_CREATED)
		return cove_errf(err, -EALREADY, "boot %s: already %s", vm->cfg.c.id, vmm_state_name(vm->state));
	const char *reason;
	vm->accel = vmm_accel_resolve(vm->cfg.c.accel, &reason);
	int r = prepare_dirs(vm, err);
	if (r >= 0)
		r = vm->driver->boot(vm, err);
	if (r < 0) {
		cove_err_prefix(err, "boot %s", vm->cfg.c.id);
		if (vm->pidfd >= 0) {
			proc_pidfd_send_signal(vm->pidfd, SIGKILL);
			vmm_cleanup_after_exit(vm);
		} else if (vm->launched_dir) {
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
	if (!vm->driver->attach) {
		r = cove_errf(err, -EOPNOTSUPP, "driver %s cannot attach to a running VMM", vm->driver->name);
		goto fail;
	}
	/* By identity: a pid that was reused is never taken for the VMM. */
	r = proc_identity_pidfd(id, &vm->pidfd, err);
	if (r < 0)
		goto fail;
	vm->identity = *id;
	vm->launch_us = now_us();
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

/* Where a save's RAM goes besides the state: base_fd, the file the RAM is
 * a private mapping of (only the pages that differ from it are saved), or
 * ram_fd, a file that gets all of it. whole_in_state: the driver saved it
 * all into the state after all (a stream its filter does not know). */
struct ram_io {
	int base_fd, ram_fd;
	bool whole_in_state;
};

static int save_state_to(struct vmm *vm, const char *tmp, struct ram_io *io, struct cove_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "create %s", tmp);
	int r = vm->driver->snapshot(vm, fd, io->base_fd, io->ram_fd, err);
	if (r == -EPROTO && (io->base_fd >= 0 || io->ram_fd >= 0)) {
		/* A stream the filter does not know (another QEMU): all of the RAM. */
		log_warn("vmm=%s op=save msg=\"saving all of its RAM: %s\"", vm->cfg.c.id, err ? err->msg : "");
		io->whole_in_state = true;
		r = ftruncate(fd, 0) < 0 ? cove_errno(err, -errno, "truncate %s", tmp)
					 : vm->driver->snapshot(vm, fd, -1, -1, err);
	}
	if (r == 0 && fsync(fd) < 0)
		r = cove_errno(err, -errno, "write %s", tmp);
	close(fd);
	return r;
}

/* Writes the device state (and RAM unless it is in a shared file: see
 * struct ram_io) to state_path, aside and renamed. The VMM is left paused. */
static int save_state(struct vmm *vm, const char *state_path, struct ram_io *io, struct cove_err *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", state_path) >= (int)sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "path %s too long", state_path);
	int r = 0;
	if (vm->state == VMM_STATE_RUNNING && (r = vm->driver->pause(vm, err)) < 0)
		return r;
	vm->state = VMM_STATE_PAUSED;
	r = save_state_to(vm, tmp, io, err);
	if (r == 0 && rename(tmp, state_path) < 0)
		r = cove_errno(err, -errno, "rename %s", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Copies the disk overlay the VMM writes to, as it stands, to path (aside
 * and renamed). The VMM must be paused with its disks flushed. */
static int save_disk(struct vmm *vm, const char *path, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char from[PATH_MAX], tmp[PATH_MAX];
	if (c->disk_overlay_copy)
		snprintf(from, sizeof(from), "%s/disk.qcow2", vm->dir);
	else
		snprintf(from, sizeof(from), "%s", c->disk_overlay);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "path %s too long", path);
	int r = fs_copy_file(from, tmp, true, err);
	if (r == 0 && rename(tmp, path) < 0)
		r = cove_errno(err, -errno, "rename %s", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The file the VMM has as name in its work directory, through its mount
 * namespace. */
static int vmm_file(struct vmm *vm, const char *name, char *out, size_t len, struct cove_err *err)
{
	if (snprintf(out, len, "/proc/%d/root%s/%s", (int)vm->identity.pid, vm->work_dir, name) >= (int)len)
		return cove_errf(err, -ENAMETOOLONG, "path of %s in the VMM of %s too long", name, vm->cfg.c.id);
	return 0;
}

/* Links path to the file the VMM has as name in its work directory, bound
 * there from host_path, when the file at host_path is still that one: it
 * costs nothing, and holds the file whatever becomes of the template's copy.
 * A negative errno (no message) when it cannot be (replaced meanwhile,
 * another file system: a link cannot cross mounts). */
static int link_vmm_file(struct vmm *vm, const char *name, const char *host_path, const char *path)
{
	char used[PATH_MAX + 64];
	if (vmm_file(vm, name, used, sizeof(used), NULL) < 0 || !host_path || !fs_same_file(used, host_path))
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
	int r = vmm_file(vm, name, used, sizeof(used), err);
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
	int r = require_live(vm, "snapshot", err);
	if (r < 0)
		return r;
	if (!vm->driver->snapshot)
		return cove_errf(err, -EOPNOTSUPP, "snapshot %s: driver %s has no snapshots", c->id, vm->driver->name);
	if (!c->mem_file || !c->mem_shared)
		return cove_errf(err, -EOPNOTSUPP, "snapshot %s: its memory is not in a shared file (mem_file)", c->id);
	bool was_running = vm->state == VMM_STATE_RUNNING;
	struct ram_io io = { -1, -1, false };
	r = save_state(vm, state_path, &io, err);
	if (r < 0) {
		cove_err_prefix(err, "snapshot %s", c->id);
		undo_pause(vm, was_running, r);
		return r;
	}
	log_info("vmm=%s op=snapshot state=%s", c->id, state_path);
	return 0;
}

/* A VMM whose RAM is a private mapping of a file: that file linked at
 * path and opened as io->base_fd, so that only the pages that differ from
 * it are saved. Where it cannot be linked (no such RAM, the file replaced,
 * the save on another file system) all of the RAM is saved: a copy of the
 * file would cost more than it saves. */
static int keep_base_memory(struct vmm *vm, const char *path, struct ram_io *io, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	if (!c->mem_file || c->mem_shared)
		return 0;
	int r = link_vmm_file(vm, VMM_MEMORY_NAME, c->mem_file, path);
	if (r < 0) {
		log_info("vmm=%s op=save msg=\"all of its RAM is saved: %s cannot be linked into %s: %s\"", c->id,
			 c->mem_file, path, strerror(-r));
		return 0;
	}
	if ((io->base_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = cove_errno(err, -errno, "open %s", path);
		unlink(path);
	}
	return r;
}

/* The file paths->memory, made for the RAM (memory_whole). */
static int open_ram_file(const char *path, struct ram_io *io, struct cove_err *err)
{
	io->ram_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return io->ram_fd < 0 ? cove_errno(err, -errno, "create %s", path) : 0;
}

int vmm_save(struct vmm *vm, const struct vmm_save_paths *paths, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	int r = require_live(vm, "save", err);
	if (r < 0)
		return r;
	if (!vm->driver->snapshot)
		return cove_errf(err, -EOPNOTSUPP, "save %s: driver %s has no snapshots", c->id, vm->driver->name);
	if (!c->disk_overlay)
		return cove_errf(err, -EOPNOTSUPP, "save %s: its disk writes go to a throwaway overlay", c->id);
	bool was_running = vm->state == VMM_STATE_RUNNING;
	int64_t t0 = now_us();
	struct ram_io io = { -1, -1, false };
	if (paths->memory && paths->memory_whole && !(c->mem_file && c->mem_shared))
		r = open_ram_file(paths->memory, &io, err);
	else if (paths->memory)
		r = keep_base_memory(vm, paths->memory, &io, err);
	bool memory = io.base_fd >= 0 || io.ram_fd >= 0, state = false, disk = false;
	if (r == 0)
		state = (r = save_state(vm, paths->state, &io, err)) == 0;
	if (io.base_fd >= 0)
		close(io.base_fd);
	if (io.ram_fd >= 0)
		close(io.ram_fd);
	if (memory && io.ram_fd >= 0 && io.whole_in_state) {
		unlink(paths->memory); /* half written, and not needed */
		memory = false;
	}
	int64_t t1 = now_us();
	if (r == 0)
		disk = (r = save_disk(vm, paths->disk, err)) == 0;
	if (r == 0 && paths->layer && (r = keep_file(vm, VMM_DISK_LAYER_NAME, c->disk_layer, paths->layer, err)) == -ENOENT)
		r = 0;
	if (r < 0) {
		/* Whatever was made goes: a failed save leaves nothing. */
		if (memory)
			unlink(paths->memory);
		if (state)
			unlink(paths->state);
		if (disk)
			unlink(paths->disk);
		cove_err_prefix(err, "save %s", c->id);
		undo_pause(vm, was_running, r);
		return r;
	}
	log_info("vmm=%s op=save state=%s state_ms=%.1f disk_ms=%.1f", c->id, paths->state,
		 (double)(t1 - t0) / 1000.0, (double)(now_us() - t1) / 1000.0);
	return 0;
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

void vmm_cleanup_after_exit(struct vmm *vm)
{
	if (vm->pidfd >= 0) {
		siginfo_t info = { 0 };
		/* The process group may hold helpers the VMM forked; none may outlive it. */
		kill(-vm->identity.pid, SIGKILL);
		while (waitid(P_PIDFD, (id_t)vm->pidfd, &info, WEXITED) < 0 && errno == EINTR)
			;
		vm->exit_status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
		close(vm->pidfd);
		vm->pidfd = -1;
	}
	if (vm->driver_data && vm->driver->release)
		vm->driver->release(vm);
	vm->cgroup = vmm_cgroup_remove(vm->cgroup);
	if (vm->launched_dir) {
		struct cove_err e = { 0 };
		/* The tmpfs work directory was only ever mounted in the VMM's own
		 * mount namespace, which died with it: here it is an empty dir. */
		if (fs_remove_tree(vm->dir, &e) < 0)
			log_warn("vmm=%s op=cleanup msg=\"%s\"", vm->cfg.c.id, e.msg);
		vm->launched_dir = false;
	}
	vm->state = VMM_STATE_STOPPED;
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
	if (vm->driver_data && vm->driver->release)
		vm->driver->release(vm);
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
	unlink(vm->log_path);
	unlink(vm->console_path);
}

const char *vmm_id(const struct vmm *vm) { return vm->cfg.c.id; }
const struct proc_identity *vmm_identity(const struct vmm *vm) { return &vm->identity; }
const char *vmm_log_path(const struct vmm *vm) { return vm->log_path; }
const char *vmm_console_path(const struct vmm *vm) { return vm->console_path; }
enum vmm_accel vmm_accel_used(const struct vmm *vm) { return vm->accel; }
int64_t vmm_launch_time_us(const struct vmm *vm) { return vm->launch_us; }
int vmm_exit_status(const struct vmm *vm) { return vm->exit_status; }

static int log_tail_line(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char tail[2048];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0;
	ssize_t n = pread(fd, tail, sizeof(tail) - 1, from);
	if (n <= 0)
		return -ENODATA;
	tail[n] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		tail[--n] = '\0';
	char *line = strrchr(tail, '\n');
	snprintf(buf, len, "%s", line ? line + 1 : tail);
	return 0;
}

int vmm_report_early_exit(struct vmm *vm, struct cove_err *err)
{
	vmm_cleanup_after_exit(vm);
	char last[512] = "";
	int st = vm->exit_status;
	char how[64];
	if (WIFEXITED(st))
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(st));
	else
		snprintf(how, sizeof(how), "signal %d", st);
	if (log_tail_line(vm->log_path, last, sizeof(last)) == 0 && last[0])
		return cove_errf(err, -ECHILD, "VMM exited immediately (%s): %s (log: %s)", how, last, vm->log_path);
	return cove_errf(err, -ECHILD, "VMM exited immediately (%s); see %s", how, vm->log_path);
}

int vmm_usage(const struct vmm *vm, uint64_t *cpu_usec, uint64_t *mem_bytes)
{
	return vm->cgroup ? vmm_cgroup_usage(vm->cgroup, cpu_usec, mem_bytes) : -ENODATA;
}
