/* Starting the VMM process: the one place where Cove enters namespaces and
 * mounts on a VMM's behalf, and confines it (jail.c's steps, last). Each
 * privileged step is separate, checked, and reported back to the parent by
 * step number and errno over a CLOEXEC pipe (bubblewrap's pattern), so a
 * failure before exec reads as
 * "launch sb-1: mount tmpfs on /run/cove/sb-1/root: Operation not permitted".
 *
 * The fork, the report pipe, the descriptors and the exec are spawn_start's
 * (common/spawn.h); the steps here are its setup callback, run after setsid
 * and the parent-death signal and before the descriptors are arranged. The
 * child enters its namespaces with setns() and unshare() rather than being
 * cloned into new ones, so a plain fork is all it needs. Everything the
 * child needs (argv, paths) is prepared before fork: between fork and exec
 * the child makes only system calls. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/spawn.h"
#include "vmm/internal.h"

#define MAX_BINDS 8
#define MAX_PASS_FDS SPAWN_MAX_PASS_FDS

/* The launcher's own steps, after spawn_start's setsid and parent-death
 * signal; spawn_start then arranges the descriptors, changes to the work
 * directory and execs. */
enum launch_step {
	STEP_CGROUP = SPAWN_STEP_CALLER,
	STEP_SETNS_NET,
	STEP_UNSHARE_MNT,
	STEP_MAKE_PRIVATE,
	STEP_HIDE_MOUNTS,
	STEP_MOUNT_TMPFS,
	STEP_BIND_TARGET,
	STEP_BIND,
	STEP_BIND_RDONLY,
};

struct child_plan {
	const struct vmm_launch *spec;
	const char *work_dir;
	int netns_fd;
	int cgroup_fds[VMM_CGROUP_MAX_FDS];
	size_t ncgroup_fds;
	const char *hide_mounts;
	char bind_targets[MAX_BINDS][PATH_MAX];
	bool bind_dirs[MAX_BINDS]; /* the source is a directory: bound on a directory */
	const struct vmm_jail_plan *jail; /* NULL: not confined */
};

static int step_failed(struct spawn_failure *f, int step, int index)
{
	f->step = step;
	f->index = index;
	return errno ? -errno : -EIO;
}

static int child_enter_namespaces(const struct child_plan *p, struct spawn_failure *f)
{
	/* Into its cgroup before exec, so all it allocates counts there
	 * ("0": the writing process). */
	for (size_t i = 0; i < p->ncgroup_fds; i++)
		if (write(p->cgroup_fds[i], "0", 1) != 1)
			return step_failed(f, STEP_CGROUP, (int)i);
	if (p->netns_fd >= 0 && setns(p->netns_fd, CLONE_NEWNET) < 0)
		return step_failed(f, STEP_SETNS_NET, 0);
	if (unshare(CLONE_NEWNS) < 0)
		return step_failed(f, STEP_UNSHARE_MNT, 0);
	/* Without this, the mounts below would propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return step_failed(f, STEP_MAKE_PRIVATE, 0);
	/* Not a mount point (nothing was ever mounted there) is fine. */
	if (p->hide_mounts && umount2(p->hide_mounts, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return step_failed(f, STEP_HIDE_MOUNTS, 0);
	/* Confined, it is the VMM's root: its uid must pass through it. The
	 * jailer runs the copy of Firecracker it puts there. */
	unsigned long flags = MS_NOSUID | MS_NODEV | (p->spec->jailer ? 0 : MS_NOEXEC);
	if (mount("tmpfs", p->work_dir, "tmpfs", flags, p->jail ? "mode=0711" : "mode=0700") < 0)
		return step_failed(f, STEP_MOUNT_TMPFS, 0);
	return 0;
}

static int child_bind_files(const struct child_plan *p, struct spawn_failure *f)
{
	for (size_t i = 0; i < p->spec->nbinds; i++) {
		const struct vmm_bind *b = &p->spec->binds[i];
		if (p->bind_dirs[i]) {
			if (mkdir(p->bind_targets[i], 0700) < 0)
				return step_failed(f, STEP_BIND_TARGET, (int)i);
		} else {
			int fd = open(p->bind_targets[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
			if (fd < 0)
				return step_failed(f, STEP_BIND_TARGET, (int)i);
			close(fd);
		}
		if (mount(b->source, p->bind_targets[i], NULL, MS_BIND, NULL) < 0)
			return step_failed(f, STEP_BIND, (int)i);
		if (b->access == VMM_BIND_READ && mount(NULL, p->bind_targets[i], NULL,
					  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
			return step_failed(f, STEP_BIND_RDONLY, (int)i);
	}
	return 0;
}

/* spawn_start's setup callback, in the child between fork and exec. */
static int child_setup(void *data, struct spawn_failure *f)
{
	const struct child_plan *p = data;
	int r = child_enter_namespaces(p, f);
	r = r ?: child_bind_files(p, f);
	return r ?: (p->jail ? vmm_jail_child(p->jail, f) : 0);
}

static int describe_failure(const struct vmm *vm, const struct child_plan *p, const struct spawn_failure *f,
			    struct cove_err *err)
{
	const char *id = vm->cfg.c.id;
	int e = -f->err;
	const struct vmm_bind *b = (f->index >= 0 && (size_t)f->index < p->spec->nbinds) ? &p->spec->binds[f->index] : NULL;
	switch (f->step) {
	case SPAWN_STEP_FORK: return cove_errno(err, e, "launch %s: fork", id);
	case SPAWN_STEP_PIPE: return cove_errno(err, e, "launch %s: pipe", id);
	case SPAWN_STEP_NULL: return cove_errno(err, e, "launch %s: open /dev/null", id);
	case SPAWN_STEP_BADFD: return cove_errno(err, e, "launch %s: redirect output to %s", id, vm->log_path);
	case SPAWN_STEP_PIDFD: return cove_errno(err, e, "launch %s: pidfd_open %d", id, (int)f->pid);
	case SPAWN_STEP_DIED:
		return cove_errf(err, -EIO, "launch %s: child died before exec (wait status 0x%x)", id, f->status);
	case SPAWN_STEP_SETSID: return cove_errno(err, e, "launch %s: setsid", id);
	case SPAWN_STEP_PDEATHSIG: return cove_errno(err, e, "launch %s: prctl(PR_SET_PDEATHSIG)", id);
	case STEP_CGROUP: return cove_errno(err, e, "launch %s: enter cgroup %s", id, vmm_cgroup_path(vm->cgroup));
	case STEP_SETNS_NET: return cove_errno(err, e, "launch %s: enter network namespace", id);
	case STEP_UNSHARE_MNT: return cove_errno(err, e, "launch %s: new mount namespace (needs root)", id);
	case STEP_MAKE_PRIVATE: return cove_errno(err, e, "launch %s: make mounts private", id);
	case STEP_HIDE_MOUNTS: return cove_errno(err, e, "launch %s: detach %s", id, p->hide_mounts);
	case STEP_MOUNT_TMPFS: return cove_errno(err, e, "launch %s: mount tmpfs on %s", id, p->work_dir);
	case STEP_BIND_TARGET: return cove_errno(err, e, "launch %s: create %s", id, b ? p->bind_targets[f->index] : "?");
	case STEP_BIND: return cove_errno(err, e, "launch %s: bind %s", id, b ? b->source : "?");
	case STEP_BIND_RDONLY: return cove_errno(err, e, "launch %s: make %s read-only", id, b ? b->source : "?");
	case SPAWN_STEP_CHDIR: return cove_errno(err, e, "launch %s: chdir %s", id, p->work_dir);
	case SPAWN_STEP_STDIO: return cove_errno(err, e, "launch %s: redirect output to %s", id, vm->log_path);
	case SPAWN_STEP_FDS: return cove_errno(err, e, "launch %s: pass file descriptors", id);
	case SPAWN_STEP_EXEC: return cove_errno(err, e, "launch %s: exec %s", id, p->spec->jailer ?: p->spec->binary);
	default:
		if (vmm_jail_step_name(f->step))
			return cove_errno(err, e, "launch %s: confine as uid %u: %s", id, (unsigned)vm->uid,
					  vmm_jail_step_name(f->step));
		return cove_errf(err, -EIO, "launch %s: child failed at unknown step %d", id, f->step);
	}
}

static int plan_binds(struct child_plan *p, struct cove_err *err)
{
	if (p->spec->nbinds > MAX_BINDS || p->spec->npass_fds > MAX_PASS_FDS)
		return cove_errf(err, -E2BIG, "launch: too many binds or file descriptors");
	for (size_t i = 0; i < p->spec->nbinds; i++) {
		const char *name = p->spec->binds[i].name;
		if (strchr(name, '/') || !*name || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
			return cove_errf(err, -EINVAL, "launch: bind name '%s' must be a plain file name", name);
		int n = snprintf(p->bind_targets[i], PATH_MAX, "%s/%s", p->work_dir, name);
		if (n < 0 || n >= PATH_MAX)
			return cove_errf(err, -ENAMETOOLONG, "launch: path %s/%s too long", p->work_dir, name);
		/* A directory (a driver's own, for files its VMM makes) is
		 * bound on a directory; the rest on files. */
		struct stat st;
		p->bind_dirs[i] = stat(p->spec->binds[i].source, &st) == 0 && S_ISDIR(st.st_mode);
	}
	return 0;
}

/* The child's environment: nothing of the caller's leaks into the VMM. TMPDIR
 * points into the work directory (its /var/tmp, confined) for programs that
 * honour it; QEMU 7.2 puts a throwaway disk overlay in /var/tmp whatever it
 * says, which confined is the work directory's too. COVE_VMM_DIR names its
 * run directory for people and tests looking for a host's VMMs (a confined
 * VMM's command line names only files in its own root). */
static void build_env(char env[][PATH_MAX + 16], char **envp, const char *tmp_dir, const char *run_dir)
{
	snprintf(env[0], PATH_MAX + 16, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	snprintf(env[1], PATH_MAX + 16, "TMPDIR=%s", tmp_dir);
	snprintf(env[2], PATH_MAX + 16, "COVE_VMM_DIR=%s", run_dir);
	envp[0] = env[0];
	envp[1] = env[1];
	envp[2] = env[2];
	envp[3] = NULL;
}

int vmm_root_path(const struct vmm *vm, const char *name, char buf[PATH_MAX])
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", vm->confined ? "" : vm->work_dir, name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int vmm_host_path(const struct vmm *vm, const char *name, char *out, size_t len, struct cove_err *err)
{
	if (snprintf(out, len, "/proc/%d/root%s/%s", (int)vm->identity.pid, vm->confined ? "" : vm->work_dir, name) >=
	    (int)len)
		return cove_errf(err, -ENAMETOOLONG, "path of %s in the VMM of %s too long", name, vm->cfg.c.id);
	return 0;
}

/* The files handed to a confined VMM made openable by it, and the plan of
 * its confinement. */
static int prepare_jail(struct vmm *vm, const struct vmm_launch *spec, struct vmm_jail_plan *jail,
			struct cove_err *err)
{
	for (size_t i = 0; i < spec->nbinds; i++) {
		int r = vmm_jail_prepare_file(vm, spec->binds[i].source, spec->binds[i].access, err);
		if (r < 0)
			return cove_err_prefix(err, "launch %s", vm->cfg.c.id);
	}
	return vmm_jail_plan(vm, spec->binary, spec->jailer != NULL, jail, err);
}

int vmm_launch(struct vmm *vm, const struct vmm_launch *spec, struct cove_err *err)
{
	struct child_plan plan = {
		.spec = spec,
		.work_dir = vm->work_dir,
		.netns_fd = vm->cfg.c.netns_fd,
		.hide_mounts = vm->cfg.c.hide_mounts,
	};
	int r = plan_binds(&plan, err);
	if (r < 0)
		return r;
	if (vm->cfg.c.cgroup && !vm->cgroup) {
		unsigned vcpus = vm->cfg.c.vcpus ? vm->cfg.c.vcpus : VMM_DEFAULT_VCPUS;
		unsigned mem = vm->cfg.c.mem_mib ? vm->cfg.c.mem_mib : VMM_DEFAULT_MEM_MIB;
		/* The throwaway disk overlay lives in the work directory's tmpfs,
		 * whose pages count as the VMM's memory: it may grow to the size
		 * of the disk, so that is part of the budget. */
		uint64_t overlay = 0;
		struct stat st;
		if (!vm->cfg.c.rootfs_persist && stat(vm->cfg.c.rootfs, &st) == 0)
			overlay = (uint64_t)st.st_size;
		struct vmm_cgroup_limits l = { vcpus * 100, ((uint64_t)(mem + VMM_MEMORY_OVERHEAD_MIB) << 20) + overlay,
					       VMM_MAX_PIDS };
		struct cove_err cerr = { 0 };
		r = vmm_cgroup_create(vm->cfg.c.id, &l, &vm->cgroup, &cerr);
		if (r == -EOPNOTSUPP) {
			static bool said; /* once, though boots run on many threads at once */
			if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
				log_warn("op=cgroup msg=\"VMMs run without resource limits: %s\"", cerr.msg);
		} else if (r < 0) {
			if (err)
				*err = cerr;
			return cove_err_prefix(err, "launch %s", vm->cfg.c.id);
		}
	}
	if (vm->cgroup)
		plan.ncgroup_fds = vmm_cgroup_procs_fds(vm->cgroup, plan.cgroup_fds);
	if (spec->jailer && !vm->confined)
		return cove_errf(err, -EINVAL, "launch %s: the jailer needs VMM ids of its own (COVE_VMM_IDS)", vm->cfg.c.id);
	struct vmm_jail_plan jail;
	if (vm->confined && (r = prepare_jail(vm, spec, &jail, err)) < 0)
		return r;
	plan.jail = vm->confined ? &jail : NULL;
	char env[3][PATH_MAX + 16];
	char *envp[4];
	build_env(env, envp, vm->confined ? "/var/tmp" : vm->work_dir, vm->dir);

	_cleanup_close_ int log_fd = -1;
	if (spec->output_fd < 0)
		log_fd = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	int out_fd = spec->output_fd >= 0 ? spec->output_fd : log_fd;
	if (out_fd < 0)
		return cove_errno(err, -errno, "launch %s: open log %s", vm->cfg.c.id, vm->log_path);
	struct spawn_options o = {
		.path = spec->jailer ?: (vm->confined ? jail.exec_path : spec->binary),
		.argv = spec->argv,
		.envp = envp,
		.stdio = { { SPAWN_NULL }, { SPAWN_FD, out_fd }, { SPAWN_FD, out_fd } },
		.pass_fds = spec->pass_fds,
		.npass_fds = spec->npass_fds,
		.cwd = vm->confined ? "/" : vm->work_dir,
		.setsid = true,
		.parent_death_signal = vm->cfg.c.die_with_parent ? SIGKILL : 0,
		.setup = child_setup,
		.setup_data = &plan,
	};
	vm->launch_us = now_us();
	struct spawn_child child;
	struct spawn_failure f;
	if (spawn_start(&o, &child, &f) < 0)
		return describe_failure(vm, &plan, &f, err);
	pid_t pid = child.pid;
	int pidfd = child.pidfd;
	vm->pidfd = pidfd;
	r = proc_identity_read(pid, &vm->identity, err);
	if (r < 0) {
		/* Cannot happen for an unreaped child short of /proc missing. */
		vm->identity.pid = pid;
		vm->identity.start_time = 0;
		log_warn("vmm=%s op=launch msg=\"%s\"", vm->cfg.c.id, err ? err->msg : "no identity");
	}
	log_debug("vmm=%s op=launch pid=%d binary=%s%s%s", vm->cfg.c.id, (int)pid, spec->binary,
		  spec->jailer ? " jailer=" : "", spec->jailer ?: "");
	/* Without this record a VMM that outlives us could not be told apart
	 * from a stale directory; a failure here is a failed launch. */
	return vmm_write_identity(vm->dir, "vmm", &vm->identity, err);
}
