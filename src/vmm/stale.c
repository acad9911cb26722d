/* Run directories that outlived their sandbox.
 *
 * A `cove run` killed with SIGKILL takes its VMM with it (PR_SET_PDEATHSIG),
 * but its RUN_DIR/ID stays. Each run directory records who made it (`owner`)
 * and the VMM it holds (`vmm`), as pid plus start time; a directory whose owner
 * and VMM are both gone is stale and is removed by the next caller of
 * vmm_sweep_stale(). A VMM that outlived its owner (a daemon restarting) is
 * left alone, and so is any directory without an owner record: Cove removes
 * only what it made. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "vmm/cgroup.h"
#include "vmm/console.h"
#include "vmm/internal.h"

static int read_identity(int dirfd, const char *name, struct proc_identity *id)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	char text[64];
	ssize_t n = read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return -EINVAL;
	text[n] = '\0';
	int pid;
	uint64_t start;
	if (sscanf(text, "%d %" SCNu64, &pid, &start) != 2 || pid <= 0)
		return -EINVAL;
	id->pid = pid;
	id->start_time = start;
	return 0;
}

/* 1 when the directory is Cove's and nothing alive uses it any more. */
static int is_stale(int run_fd, const char *name)
{
	_cleanup_close_ int fd = openat(run_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct proc_identity owner, vmm;
	if (read_identity(fd, "owner", &owner) < 0)
		return 0;
	if (proc_identity_matches(&owner))
		return 0;
	if (read_identity(fd, "vmm", &vmm) == 0 && proc_identity_matches(&vmm))
		return 0;
	return 1;
}

int vmm_sweep_stale(const char *run_dir, struct cove_err *err)
{
	DIR *d = opendir(run_dir);
	if (!d)
		return errno == ENOENT ? 0 : cove_errno(err, -errno, "open %s", run_dir);
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !is_stale(dirfd(d), de->d_name))
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", run_dir, de->d_name);
		struct cove_err e = { 0 };
		if (fs_remove_tree(path, &e) < 0) {
			log_warn("op=sweep msg=\"%s\"", e.msg);
			continue;
		}
		log_info("op=sweep removed=%s msg=\"its owner and VMM are gone\"", path);
		removed++;
		/* And its cgroup, however young: nothing can enter it any more. */
		struct vmm_cgroup *cg = NULL;
		if (vmm_cgroup_open(de->d_name, &cg, NULL) == 0)
			vmm_cgroup_remove(cg);
	}
	closedir(d);
	/* And the cgroups of VMMs that are gone (a busy one stays). */
	int groups = vmm_cgroup_sweep();
	if (groups > 0)
		log_info("op=sweep cgroups=%d", groups);
	/* And the uid claims of run directories that are gone. */
	struct cove_err e = { 0 };
	int claims = vmm_jail_sweep(&e);
	if (claims < 0)
		log_warn("op=sweep msg=\"%s\"", e.msg);
	else if (claims > 0)
		log_info("op=sweep vmm_uid_claims=%d", claims);
	return removed;
}

static void kill_identity(const struct proc_identity *id)
{
	int fd;
	if (id->pid <= 0 || proc_identity_pidfd(id, &fd, NULL) < 0)
		return;
	/* Alive and the same process: its group (it leads its own session)
	 * holds whatever it forked. */
	kill(-id->pid, SIGKILL);
	proc_pidfd_send_signal(fd, SIGKILL);
	proc_pidfd_wait(fd, 2000);
	close(fd);
}

int vmm_end_orphan(const char *run_dir, const char *log_dir, const char *id, const struct proc_identity *known,
		   struct cove_err *err)
{
	char dir[PATH_MAX], log[PATH_MAX];
	if (vmm_run_dir(run_dir, id, dir) < 0)
		return cove_errf(err, -ENAMETOOLONG, "run directory of %s too long", id);
	if (!log_dir)
		log_dir = VMM_DEFAULT_LOG_DIR;
	if (snprintf(log, sizeof(log), "%s/%s.console.log", log_dir, id) < (int)sizeof(log))
		log_file_remove(log);
	if (snprintf(log, sizeof(log), "%s/%s.vmm.log", log_dir, id) < (int)sizeof(log))
		log_file_remove(log);
	if (known)
		kill_identity(known);
	struct proc_identity recorded;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && read_identity(fd, "vmm", &recorded) == 0)
		kill_identity(&recorded);
	/* And anything in its cgroup: a VMM whose launcher died before it
	 * recorded the VMM's identity is still there. */
	struct vmm_cgroup *cg = NULL;
	if (vmm_cgroup_open(id, &cg, NULL) == 0) {
		int64_t deadline = now_ms() + 2000;
		while (vmm_cgroup_kill(cg) > 0 && now_ms() < deadline)
			usleep(10000);
		cg = vmm_cgroup_remove(cg);
	}
	if (fd >= 0 && fs_remove_tree(dir, err) < 0)
		return -EIO;
	return 0;
}
