/* A VMM process, for the generic code and the drivers alike: the record
 * of who it is in its run directory (read back by stale.c), reaping it
 * (its whole process group goes), releasing what was made for it, and,
 * when it died as it started, saying why from its log. Part of the
 * driver-support layer (driver.h): it calls nothing above it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/console.h"
#include "vmm/internal.h"

int vmm_write_identity(const char *dir, const char *name, const struct proc_identity *id, struct cove_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], text[64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(text, sizeof(text), "%d %" PRIu64 "\n", (int)id->pid, id->start_time);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "write %s", tmp);
	int r = fs_write_all(fd, text, (size_t)n);
	if (r < 0)
		return cove_errno(err, r, "write %s", tmp);
	if (rename(tmp, path) < 0)
		return cove_errno(err, -errno, "rename %s", tmp);
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
	/* With the VMM gone its shares' virtiofsd have no client left. */
	vmm_sidecars_stop(vm);
	/* Reaped: its logs' streams are at their end once read. */
	vmm_logs_stop(vm);
	if (vm->driver_data && vm->driver->release)
		vm->driver->release(vm);
	vm->cgroup = vmm_cgroup_remove(vm->cgroup);
	if (vm->launched_dir) {
		vmm_jail_release(vm);
		struct cove_err e = { 0 };
		/* The tmpfs work directory was only ever mounted in the VMM's own
		 * mount namespace, which died with it: here it is an empty dir. */
		if (fs_remove_tree(vm->dir, &e) < 0)
			log_warn("vmm=%s op=cleanup msg=\"%s\"", vm->cfg.c.id, e.msg);
		vm->launched_dir = false;
	}
	vm->state = VMM_STATE_STOPPED;
}

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
