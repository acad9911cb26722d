/* Starting the VMM process: the one place where Cove enters namespaces and
 * mounts on a VMM's behalf. Each privileged step is separate, checked, and
 * reported back to the parent by step number and errno over a CLOEXEC pipe
 * (bubblewrap's pattern), so a failure before exec reads as
 * "launch sb-1: mount tmpfs on /run/cove/sb-1/root: Operation not permitted".
 *
 * Everything the child needs (argv, paths) is prepared before fork: between
 * fork and exec the child makes only system calls. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/internal.h"

#define MAX_BINDS 8
#define MAX_PASS_FDS 8
/* Descriptors are first moved this high so that moving them down to 3, 4, ...
 * can never overwrite one not yet moved. */
#define FD_PARKING 512

enum launch_step {
	STEP_SETSID,
	STEP_PDEATHSIG,
	STEP_CGROUP,
	STEP_SETNS_NET,
	STEP_UNSHARE_MNT,
	STEP_MAKE_PRIVATE,
	STEP_HIDE_MOUNTS,
	STEP_MOUNT_TMPFS,
	STEP_BIND_TARGET,
	STEP_BIND,
	STEP_BIND_RDONLY,
	STEP_CHDIR,
	STEP_STDIO,
	STEP_FDS,
	STEP_EXEC,
};

struct launch_failure {
	int step;
	int index; /* which bind, for the bind steps */
	int err;
};

struct child_plan {
	const struct vmm_launch *spec;
	const char *work_dir;
	int netns_fd;
	int cgroup_fds[VMM_CGROUP_MAX_FDS];
	size_t ncgroup_fds;
	const char *hide_mounts;
	bool die_with_parent;
	int log_fd;
	int null_fd;
	int report_fd;
	char bind_targets[MAX_BINDS][PATH_MAX];
	char *const *envp;
};

static void __attribute__((noreturn)) child_fail(const struct child_plan *p, int step, int index)
{
	struct launch_failure f = { .step = step, .index = index, .err = errno };
	/* Best effort: the parent reads EOF as "exec succeeded" only if nothing came. */
	(void)!write(p->report_fd, &f, sizeof(f));
	_exit(127);
}

static void child_enter_namespaces(const struct child_plan *p)
{
	if (setsid() < 0)
		child_fail(p, STEP_SETSID, 0);
	if (p->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(p, STEP_PDEATHSIG, 0);
	/* Into its cgroup before exec, so all it allocates counts there
	 * ("0": the writing process). */
	for (size_t i = 0; i < p->ncgroup_fds; i++)
		if (write(p->cgroup_fds[i], "0", 1) != 1)
			child_fail(p, STEP_CGROUP, (int)i);
	if (p->netns_fd >= 0 && setns(p->netns_fd, CLONE_NEWNET) < 0)
		child_fail(p, STEP_SETNS_NET, 0);
	if (unshare(CLONE_NEWNS) < 0)
		child_fail(p, STEP_UNSHARE_MNT, 0);
	/* Without this, the mounts below would propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(p, STEP_MAKE_PRIVATE, 0);
	/* Not a mount point (nothing was ever mounted there) is fine. */
	if (p->hide_mounts && umount2(p->hide_mounts, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		child_fail(p, STEP_HIDE_MOUNTS, 0);
	if (mount("tmpfs", p->work_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		child_fail(p, STEP_MOUNT_TMPFS, 0);
}

static void child_bind_files(const struct child_plan *p)
{
	for (size_t i = 0; i < p->spec->nbinds; i++) {
		const struct vmm_bind *b = &p->spec->binds[i];
		int fd = open(p->bind_targets[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			child_fail(p, STEP_BIND_TARGET, (int)i);
		close(fd);
		if (mount(b->source, p->bind_targets[i], NULL, MS_BIND, NULL) < 0)
			child_fail(p, STEP_BIND, (int)i);
		if (b->read_only && mount(NULL, p->bind_targets[i], NULL,
					  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
			child_fail(p, STEP_BIND_RDONLY, (int)i);
	}
	if (chdir(p->work_dir) < 0)
		child_fail(p, STEP_CHDIR, 0);
}

static void child_arrange_fds(struct child_plan *p)
{
	if (dup2(p->null_fd, 0) < 0 || dup2(p->log_fd, 1) < 0 || dup2(p->log_fd, 2) < 0)
		child_fail(p, STEP_STDIO, 0);
	int parked[MAX_PASS_FDS];
	for (size_t i = 0; i < p->spec->npass_fds; i++) {
		parked[i] = fcntl(p->spec->pass_fds[i], F_DUPFD_CLOEXEC, FD_PARKING);
		if (parked[i] < 0)
			child_fail(p, STEP_FDS, (int)i);
	}
	int report = fcntl(p->report_fd, F_DUPFD_CLOEXEC, FD_PARKING);
	if (report < 0)
		child_fail(p, STEP_FDS, -1);
	p->report_fd = report;
	for (size_t i = 0; i < p->spec->npass_fds; i++)
		if (dup2(parked[i], 3 + (int)i) < 0) /* dup2 clears CLOEXEC on the copy */
			child_fail(p, STEP_FDS, (int)i);
	/* Everything else closes at exec; the report pipe stays open until then. */
	unsigned first = 3 + (unsigned)p->spec->npass_fds;
	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(p, STEP_FDS, -1);
}

/* The VMM starts with default signal handling: a caller that blocks SIGINT
 * and SIGTERM for a signalfd (cove run does) must not pass that on, or the
 * SIGTERM step of stopping would be ignored; and no handler of the caller's
 * may run in the child before exec. */
static void child_reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn)) child_main(struct child_plan *p)
{
	child_reset_signals();
	child_enter_namespaces(p);
	child_bind_files(p);
	child_arrange_fds(p);
	execve(p->spec->binary, p->spec->argv, p->envp);
	child_fail(p, STEP_EXEC, 0);
}

static int describe_failure(const struct vmm *vm, const struct child_plan *p, const struct launch_failure *f,
			    struct cove_err *err)
{
	const char *id = vm->cfg.c.id;
	int e = -f->err;
	const struct vmm_bind *b = (f->index >= 0 && (size_t)f->index < p->spec->nbinds) ? &p->spec->binds[f->index] : NULL;
	switch (f->step) {
	case STEP_SETSID: return cove_errno(err, e, "launch %s: setsid", id);
	case STEP_PDEATHSIG: return cove_errno(err, e, "launch %s: prctl(PR_SET_PDEATHSIG)", id);
	case STEP_CGROUP: return cove_errno(err, e, "launch %s: enter cgroup %s", id, vmm_cgroup_path(vm->cgroup));
	case STEP_SETNS_NET: return cove_errno(err, e, "launch %s: enter network namespace", id);
	case STEP_UNSHARE_MNT: return cove_errno(err, e, "launch %s: new mount namespace (needs root)", id);
	case STEP_MAKE_PRIVATE: return cove_errno(err, e, "launch %s: make mounts private", id);
	case STEP_HIDE_MOUNTS: return cove_errno(err, e, "launch %s: detach %s", id, p->hide_mounts);
	case STEP_MOUNT_TMPFS: return cove_errno(err, e, "launch %s: mount tmpfs on %s", id, p->work_dir);
	case STEP_BIND_TARGET: return cove_errno(err, e, "launch %s: create %s", id, b ? p->bind_targets[f->index] : "?");
	case STEP_BIND: return cove_errno(err, e, "launch %s: bind %s", id, b ? b->source : "?");
	case STEP_BIND_RDONLY: return cove_errno(err, e, "launch %s: make %s read-only", id, b ? b->source : "?");
	case STEP_CHDIR: return cove_errno(err, e, "launch %s: chdir %s", id, p->work_dir);
	case STEP_STDIO: return cove_errno(err, e, "launch %s: redirect output to %s", id, vm->log_path);
	case STEP_FDS: return cove_errno(err, e, "launch %s: pass file descriptors", id);
	case STEP_EXEC: return cove_errno(err, e, "launch %s: exec %s", id, p->spec->binary);
	default: return cove_errf(err, -EIO, "launch %s: child failed at unknown step %d", id, f->step);
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
	}
	return 0;
}

/* The child's environment: nothing of the caller's leaks into the VMM. TMPDIR
 * points into the work directory so QEMU's throwaway disk overlay lives there. */
static void build_env(char env[][PATH_MAX + 16], char **envp, const char *work_dir)
{
	snprintf(env[0], PATH_MAX + 16, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	snprintf(env[1], PATH_MAX + 16, "TMPDIR=%s", work_dir);
	envp[0] = env[0];
	envp[1] = env[1];
	envp[2] = NULL;
}

int vmm_launch(struct vmm *vm, const struct vmm_launch *spec, struct cove_err *err)
{
	struct child_plan plan = {
		.spec = spec,
		.work_dir = vm->work_dir,
		.netns_fd = vm->cfg.c.netns_fd,
		.hide_mounts = vm->cfg.c.hide_mounts,
		.die_with_parent = vm->cfg.c.die_with_parent,
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
	char env[2][PATH_MAX + 16];
	char *envp[3];
	build_env(env, envp, vm->work_dir);
	plan.envp = envp;

	_cleanup_close_ int log_fd = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (log_fd < 0)
		return cove_errno(err, -errno, "launch %s: open log %s", vm->cfg.c.id, vm->log_path);
	_cleanup_close_ int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return cove_errno(err, -errno, "launch %s: open /dev/null", vm->cfg.c.id);
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cove_errno(err, -errno, "launch %s: pipe", vm->cfg.c.id);
	_cleanup_close_ int report_read = pipefd[0];
	_cleanup_close_ int report_write = pipefd[1];
	plan.log_fd = log_fd;
	plan.null_fd = null_fd;
	plan.report_fd = report_write;

	vm->launch_us = now_us();
	pid_t pid = fork();
	if (pid < 0)
		return cove_errno(err, -errno, "launch %s: fork", vm->cfg.c.id);
	if (pid == 0)
		child_main(&plan);

	/* The child is ours and unreaped, so its pid cannot be reused yet:
	 * opening the pidfd now is race-free. */
	int pidfd = proc_pidfd_open(pid);
	close(TAKE_FD(report_write));
	struct launch_failure f;
	ssize_t n;
	do
		n = read(report_read, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n != 0 || pidfd < 0) {
		if (pidfd >= 0)
			close(pidfd);
		else
			kill(pid, SIGKILL);
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof(f))
			return describe_failure(vm, &plan, &f, err);
		if (pidfd < 0)
			return cove_errno(err, pidfd, "launch %s: pidfd_open %d", vm->cfg.c.id, (int)pid);
		return cove_errf(err, -EIO, "launch %s: child died before exec (wait status 0x%x)", vm->cfg.c.id, status);
	}
	vm->pidfd = pidfd;
	r = proc_identity_read(pid, &vm->identity, err);
	if (r < 0) {
		/* Cannot happen for an unreaped child short of /proc missing. */
		vm->identity.pid = pid;
		vm->identity.start_time = 0;
		log_warn("vmm=%s op=launch msg=\"%s\"", vm->cfg.c.id, err ? err->msg : "no identity");
	}
	log_debug("vmm=%s op=launch pid=%d binary=%s", vm->cfg.c.id, (int)pid, spec->binary);
	/* Without this record a VMM that outlives us could not be told apart
	 * from a stale directory; a failure here is a failed launch. */
	return vmm_write_identity(vm->dir, "vmm", &vm->identity, err);
}
