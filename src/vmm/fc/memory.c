/* The Firecracker driver's memory across saves and restores (fc_internal.h).
 *
 * A sandbox restored from a template's snapshot maps the template's memory
 * (mem_file) privately. Pausing it to disk then needs only the pages it
 * changed: the VM is loaded with track_dirty_pages, and a save is a Diff
 * snapshot (the pages dirtied since the load or the last snapshot; holes
 * elsewhere), applied onto RUN_DIR/ID/FC_DIRTY_NAME, the record of every
 * page that differs from mem_file, which is what the save keeps
 * (FC_STATE_DIFF beside the template's memory, a hard link). Applied at
 * every Diff, so a save that fails after Firecracker wrote its Diff (and
 * cleared its dirty bits) loses nothing; a Full snapshot (a fork's RAM)
 * may clear them too, so the record goes and later saves are whole.
 *
 * Restoring such a save needs the two files as one memory: with a Uffd
 * backend, cove-pager (src/pager, vmm/pager) answers each fault from the
 * Diff where it has data, else from mem_file, so nothing is copied; with a
 * File backend (no usable userfaultfd, or COVE_FIRECRACKER_MEMORY=file),
 * mem_file is copied beside the save and the Diff applied onto the copy
 * first; the copy is unlinked once loaded (the VMM's mapping holds it). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "vmm/cgroup.h"
#include "vmm/driver.h"
#include "vmm/fc/fc_internal.h"

#define PAGER_BINARY "cove-pager"
#define PAGER_DIRS "/usr/local/libexec/cove:/usr/libexec/cove:/usr/local/bin:/usr/bin"
#define PAGER_ACCEPT_TIMEOUT_MS "30000"

/* Whether the VMM can make a userfaultfd: through /dev/userfaultfd (its
 * jail gets one: *dev), as root, or where the kernel lets anyone. */
static bool uffd_usable(const struct vmm *vm, bool *dev)
{
	struct stat st;
	*dev = stat("/dev/userfaultfd", &st) == 0 && S_ISCHR(st.st_mode);
	if (*dev || !vm->confined)
		return true;
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "re");
	int v = 0;
	return f && fscanf(f, "%d", &v) == 1 && v == 1;
}

static int merge(const char *base, const char *diff, const char *to, struct cove_err *err)
{
	int r = fs_copy_file(base, to, false, err);
	if (r < 0)
		return r;
	_cleanup_close_ int in = open(diff, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = open(to, O_WRONLY | O_CLOEXEC);
	r = in < 0 || out < 0 ? -errno : fs_overlay_fd(in, out);
	if (r < 0) {
		unlink(to);
		return cove_errno(err, r, "firecracker: apply %s onto a copy of %s", diff, base);
	}
	return 0;
}

int fc_restore_memory_prepare(struct vmm *vm, const char *diff, bool whole_memory, struct fc_restore_memory *m,
			      struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	*m = (struct fc_restore_memory){ .backend = FC_BACKEND_FILE };
	/* Tracked only over mem_file: a Diff is relative to what was loaded. */
	m->track = c->mem_file && !c->mem_shared && !whole_memory;
	char dirty[PATH_MAX + 32];
	fc_run_path(vm, FC_DIRTY_NAME, dirty);
	unlink(dirty);
	if (diff) {
		snprintf(m->diff, sizeof(m->diff), "%s", diff);
		if (!c->mem_file)
			return cove_errf(err, -EINVAL, "firecracker: restore from %s: its memory is a Diff over a "
						       "template's memory, and no memory file is given", c->restore_state);
		const char *setting = env_get(ENV_FIRECRACKER_MEMORY);
		bool dev;
		if (fc_backend_choose(setting, uffd_usable(vm, &dev), &m->backend) < 0)
			return cove_errf(err, -EINVAL, "COVE_FIRECRACKER_MEMORY=%s: expected uffd, file or auto", setting);
		vm->userfaultfd = m->backend == FC_BACKEND_UFFD && vm->confined && dev;
		if (m->backend == FC_BACKEND_FILE) {
			/* Beside the save, on its file system, not in the run
			 * directory: that is often a tmpfs, and this is all of
			 * the memory. */
			if (snprintf(m->merged, sizeof(m->merged), "%s" FC_MERGED_SUFFIX, c->restore_state) >=
			    (int)sizeof(m->merged))
				return cove_errf(err, -ENAMETOOLONG, "firecracker: %s: path too long", c->restore_state);
			unlink(m->merged);
			int64_t t0 = now_us();
			int r = merge(c->mem_file, diff, m->merged, err);
			if (r < 0)
				return r;
			log_info("vmm=%s op=restore msg=\"memory merged for a File backend: %s onto a copy of %s\" ms=%.1f",
				 c->id, diff, c->mem_file, (double)(now_us() - t0) / 1000.0);
		}
	}
	if (!m->track)
		return 0;
	if (diff)
		return fs_copy_file(diff, dirty, false, err);
	int fd = open(dirty, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "firecracker: create %s", dirty);
	close(fd);
	return 0;
}

/* --- the page server --- */

struct pager_setup {
	bool drop;
	uid_t uid;
	int cgroup_fds[VMM_CGROUP_MAX_FDS];
	size_t ncgroup_fds;
};

enum { STEP_CGROUP = SPAWN_STEP_CALLER, STEP_IDS, STEP_NNP };

/* In the child: into the VMM's cgroup (it counts there, and goes with
 * it), and the VMM's uid, no privileges. */
static int pager_child(void *data, struct spawn_failure *f)
{
	const struct pager_setup *s = data;
	for (size_t i = 0; i < s->ncgroup_fds; i++)
		if (write(s->cgroup_fds[i], "0", 1) != 1) {
			f->step = STEP_CGROUP;
			return -errno;
		}
	if (s->drop && (setgroups(0, NULL) < 0 || setresgid(s->uid, s->uid, s->uid) < 0 ||
			setresuid(s->uid, s->uid, s->uid) < 0)) {
		f->step = STEP_IDS;
		return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		f->step = STEP_NNP;
		return -errno;
	}
	return 0;
}

/* Next to this program first (the cove-pager built with it), else as
 * fs_find_executable finds it: PATH, then PAGER_DIRS. */
static int pager_binary(char *out, size_t len, struct cove_err *err)
{
	const char *set = env_get(ENV_PAGER);
	char exe[PATH_MAX];
	if (!set && env_exe_dir(exe, sizeof(exe)) == 0 && snprintf(out, len, "%s/" PAGER_BINARY, exe) < (int)len &&
	    access(out, X_OK) == 0)
		return 0;
	int r = fs_find_executable(set ? set : PAGER_BINARY, PAGER_DIRS, out, len);
	return r < 0 ? cove_errno(err, r, "firecracker: the page server %s (COVE_PAGER), next to this program, on "
					  "PATH or in %s", set ? set : PAGER_BINARY, PAGER_DIRS) : 0;
}

int fc_pager_start(struct vmm *vm, const struct fc_restore_memory *m, struct cove_err *err)
{
	if (m->backend != FC_BACKEND_UFFD)
		return 0;
	const struct vmm_config *c = &vm->cfg.c;
	struct fc *fcd = vm->driver_data;
	char binary[PATH_MAX], sock[PATH_MAX + 32], pid[24];
	int r = pager_binary(binary, sizeof(binary), err);
	if (r < 0)
		return r;
	fc_run_path(vm, FC_UFFD_SOCK, sock);
	_cleanup_close_ int listen_fd = -1;
	r = vmm_unix_listen(sock, &listen_fd, err);
	if (r < 0)
		return r;
	if (vm->confined && (chown(sock, vm->uid, vm->uid) < 0 || chmod(sock, 0600) < 0))
		return cove_errno(err, -errno, "firecracker: hand %s to uid %u", sock, (unsigned)vm->uid);
	_cleanup_close_ int top = open(m->diff, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int base = open(c->mem_file, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int log = open(vm->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (top < 0 || base < 0 || log < 0)
		return cove_errno(err, -errno, "firecracker: open %s, %s and %s for the page server", m->diff, c->mem_file,
				  vm->log_path);
	snprintf(pid, sizeof(pid), "%d", (int)vm->identity.pid);
	char *argv[] = { binary, "--vmm-pid", pid, "--layers", "2", "--accept-timeout-ms", PAGER_ACCEPT_TIMEOUT_MS, NULL };
	struct pager_setup setup = { .drop = vm->confined, .uid = vm->uid };
	if (vm->cgroup)
		setup.ncgroup_fds = vmm_cgroup_procs_fds(vm->cgroup, setup.cgroup_fds);
	int fds[] = { listen_fd, top, base };
	/* Its own session: it outlives this process, as the VMM does. */
	struct spawn_options o = {
		.path = binary,
		.argv = argv,
		.stdio = { { SPAWN_NULL }, { SPAWN_FD, log }, { SPAWN_FD, log } },
		.pass_fds = fds,
		.npass_fds = 3,
		.setsid = true,
		.setup = pager_child,
		.setup_data = &setup,
	};
	struct spawn_child child;
	struct spawn_failure fail = { 0 };
	r = spawn_start(&o, &child, &fail);
	if (r < 0)
		return cove_errno(err, r, "firecracker: start the page server %s (step %d)", binary, fail.step);
	fcd->pager_pid = child.pid;
	fcd->pager_pidfd = child.pidfd;
	log_info("vmm=%s op=restore msg=\"memory served by %s (pid %d): %s over %s\"", c->id, binary, (int)child.pid,
		 m->diff, c->mem_file);
	return 0;
}

void fc_pager_loaded(struct vmm *vm)
{
	char sock[PATH_MAX + 32];
	fc_run_path(vm, FC_UFFD_SOCK, sock);
	unlink(sock);
}

void fc_pager_release(struct vmm *vm, struct fc *f)
{
	if (f->pager_pidfd < 0)
		return;
	/* Reaped VMM: the server ends (it would by itself, seeing the VMM's
	 * exit). Else the VMM lives on, detached, and keeps its server. */
	if (vm->pidfd < 0) {
		syscall(SYS_pidfd_send_signal, f->pager_pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		while (waitid(P_PIDFD, (id_t)f->pager_pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
	}
	close(f->pager_pidfd);
	f->pager_pidfd = -1;
	f->pager_pid = -1;
}

/* --- the record of dirty pages --- */

bool fc_dirty_tracked(const struct vmm *vm)
{
	char dirty[PATH_MAX + 32];
	fc_run_path(vm, FC_DIRTY_NAME, dirty);
	return access(dirty, F_OK) == 0;
}

void fc_dirty_forget(const struct vmm *vm)
{
	char dirty[PATH_MAX + 32];
	fc_run_path(vm, FC_DIRTY_NAME, dirty);
	if (unlink(dirty) == 0)
		log_info("vmm=%s op=save msg=\"later saves keep all of its RAM: its record of dirty pages is gone\"",
			 vm->cfg.c.id);
}

int fc_dirty_record(struct vmm *vm, int diff_fd, const char *diff, struct cove_err *err)
{
	char dirty[PATH_MAX + 32];
	fc_run_path(vm, FC_DIRTY_NAME, dirty);
	_cleanup_close_ int out = open(dirty, O_WRONLY | O_CLOEXEC);
	int r = out < 0 ? -errno : fs_overlay_fd(diff_fd, out);
	if (r < 0) {
		fc_dirty_forget(vm);
		return cove_errno(err, r, "firecracker: apply the Diff %s onto %s", diff, dirty);
	}
	return 0;
}

int fc_dirty_copy(const struct vmm *vm, const char *to, struct cove_err *err)
{
	char dirty[PATH_MAX + 32];
	fc_run_path(vm, FC_DIRTY_NAME, dirty);
	return fs_copy_file(dirty, to, true, err);
}
