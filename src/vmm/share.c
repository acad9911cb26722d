/* Shared host directories: a virtiofsd sidecar per config.shares entry, as
 * Cloud Hypervisor hosts run them (driver.h, vmm_sidecars_*).
 *
 * virtiofsd (QEMU 7.2's C one, /usr/lib/qemu/virtiofsd) runs as root in a
 * sandbox of its own (-o sandbox=namespace: mount, pid and net namespaces,
 * pivot_root into the shared tree, capabilities dropped to what it needs;
 * docs/security.md). What it is given is set up here, by the kernel's
 * interfaces alone:
 *  - its tree is a bind mount of the host directory on a staging directory
 *    in the VMM's run directory, made in a mount namespace of virtiofsd's
 *    own (so no mount is ever left on the host, whatever way it ends), and
 *    made read-only there for a read-only share: even the guest's root, or
 *    a bug in virtiofsd, cannot write through it. Not recursive: mounts
 *    under the host directory are not shared (they would keep their own
 *    read-write flag);
 *  - its vhost-user socket is a listening socket this process made, bound
 *    in the run directory (0700) and connected to by this process before
 *    virtiofsd starts, then unlinked: virtiofsd gets it as --fd, accepts
 *    that one connection, and nobody else can ever connect; the VMM gets
 *    the connected end as a descriptor, so its jail holds no socket path.
 *    A VMM that connects by path itself (Cloud Hypervisor's fs socket,
 *    VMM_FEATURE_SHARES_BY_PATH) gets the listening socket's path bound
 *    into its jail, owned by its uid alone (0600 in a 0700 run directory);
 *    virtiofsd accepts the one connection, and the path is removed once
 *    the VMM has booted;
 *  - it may not make device nodes (-o modcaps=-mknod): a guest's mknod of
 *    a device in a share fails with EPERM, so no device node the guest
 *    chose appears in a host directory.
 * It ends when the VMM closes the socket; vmm_sidecars_stop makes sure
 * (SIGTERM, then SIGKILL to its process group) and reaps it. Its output
 * goes to LOG_DIR/ID.virtiofsd-I.log, next to the VMM's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "vmm/driver.h"

#define VIRTIOFSD_BINARY "virtiofsd"
#define VIRTIOFSD_DIRS "/usr/lib/qemu:/usr/libexec:/usr/libexec/qemu:/usr/local/libexec"
/* virtiofsd accepts its connection within milliseconds of its start
 * (it parses options, then accepts, before its sandbox); seconds mean it
 * is stuck. */
#define ACCEPT_TIMEOUT_MS 5000
#define ACCEPT_POLL_MS 2
/* After the VMM has gone virtiofsd exits by itself; this long for SIGTERM. */
#define STOP_GRACE_MS 1000

enum share_step {
	STEP_UNSHARE = SPAWN_STEP_CALLER,
	STEP_PRIVATE,
	STEP_BIND,
	STEP_READ_ONLY,
};

struct vmm_sidecar {
	pid_t pid;
	int pidfd;
	int sock; /* the connected end, for the VMM; -1 once handed on */
	bool by_path; /* the VMM connects to path itself */
	char path[108]; /* the listening socket's path while it is bound */
};

struct vmm_sidecars {
	size_t n;
	struct vmm_sidecar s[VMM_MAX_SHARES];
};

/* What the child does before exec, prepared before fork. */
struct share_plan {
	const char *host_dir;
	const char *staging;
	bool read_only;
};

static int share_failed(struct spawn_failure *f, int step)
{
	f->step = step;
	f->index = 0;
	return errno ? -errno : -EIO;
}

/* spawn_start's setup callback: the share's tree in a private mount
 * namespace, seen by virtiofsd alone. */
static int share_setup(void *data, struct spawn_failure *f)
{
	const struct share_plan *p = data;
	if (unshare(CLONE_NEWNS) < 0)
		return share_failed(f, STEP_UNSHARE);
	/* Without this the bind mount would propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return share_failed(f, STEP_PRIVATE);
	if (mount(p->host_dir, p->staging, NULL, MS_BIND, NULL) < 0)
		return share_failed(f, STEP_BIND);
	if (p->read_only &&
	    mount(NULL, p->staging, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return share_failed(f, STEP_READ_ONLY);
	return 0;
}

int vmm_sidecar_log_path(const struct vmm *vm, size_t i, char buf[PATH_MAX])
{
	int n = snprintf(buf, PATH_MAX, "%s/%s.virtiofsd-%zu.log", vm->cfg.c.log_dir, vm->cfg.c.id, i);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* A listening socket at path and this process's connection to it (queued
 * until virtiofsd accepts it); the path is gone again on return. */
static int socket_pair_at(const char *path, int *listen_ret, int *conn_ret, struct cove_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return cove_errf(err, -ENAMETOOLONG, "socket path %s too long", path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0)
		return cove_errno(err, -errno, "socket for %s", path);
	unlink(path);
	int r = 0;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		r = cove_errno(err, -errno, "listen on %s", path);
	else if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		r = cove_errno(err, -errno, "connect to %s", path);
	unlink(path);
	if (r < 0)
		return r;
	*listen_ret = TAKE_FD(l);
	*conn_ret = TAKE_FD(c);
	return 0;
}

/* A listening socket at path for the VMM (uid) to connect to itself. */
static int socket_at(const char *path, uid_t uid, int *listen_ret, struct cove_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return cove_errf(err, -ENAMETOOLONG, "socket path %s too long", path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return cove_errno(err, -errno, "socket for %s", path);
	unlink(path);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		return cove_errno(err, -errno, "listen on %s", path);
	if (chown(path, uid, uid) < 0 || chmod(path, 0600) < 0) {
		int e = -errno;
		unlink(path);
		return cove_errno(err, e, "hand %s to VMM uid %u", path, (unsigned)uid);
	}
	*listen_ret = TAKE_FD(l);
	return 0;
}

static const char *step_name(int step)
{
	switch (step) {
	case STEP_UNSHARE: return "new mount namespace";
	case STEP_PRIVATE: return "make mounts private";
	case STEP_BIND: return "bind mount";
	case STEP_READ_ONLY: return "make the bind mount read-only";
	case SPAWN_STEP_EXEC: return "exec";
	default: return "start";
	}
}

/* Waits until virtiofsd has taken the connection off the listening socket
 * (then it serves it), or has died, or ACCEPT_TIMEOUT_MS. */
static int wait_accepted(int listen_fd, int pidfd, const char *log_path, struct cove_err *err)
{
	int64_t deadline = now_ms() + ACCEPT_TIMEOUT_MS;
	for (;;) {
		struct pollfd p[2] = { { listen_fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		if (poll(p, 2, 0) < 0 && errno != EINTR)
			return cove_errno(err, -errno, "poll");
		if (p[1].revents)
			return cove_errf(err, -ECHILD, "virtiofsd exited as it started (see %s)", log_path);
		if (!(p[0].revents & POLLIN))
			return 0;
		if (now_ms() > deadline)
			return cove_errf(err, -ETIMEDOUT, "virtiofsd did not accept its connection within %d ms (see %s)",
					 ACCEPT_TIMEOUT_MS, log_path);
		struct timespec pause = { 0, ACCEPT_POLL_MS * 1000000L };
		nanosleep(&pause, NULL);
	}
}

static int start_one(struct vmm *vm, const char *binary, size_t i, struct vmm_sidecar *sc, struct cove_err *err)
{
	const struct vmm_share *sh = &vm->cfg.c.shares[i];
	char staging[PATH_MAX], sock_path[PATH_MAX], log_path[PATH_MAX], source[PATH_MAX + 8];
	if (snprintf(staging, sizeof(staging), "%s/share-%zu", vm->dir, i) >= (int)sizeof(staging) ||
	    snprintf(sock_path, sizeof(sock_path), "%s/vfs-%zu.sock", vm->dir, i) >= (int)sizeof(sock_path) ||
	    vmm_sidecar_log_path(vm, i, log_path) < 0)
		return cove_errf(err, -ENAMETOOLONG, "paths under %s too long", vm->dir);
	snprintf(source, sizeof(source), "source=%s", staging);
	if (mkdir(staging, 0700) < 0)
		return cove_errno(err, -errno, "create %s", staging);
	_cleanup_close_ int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (log_fd < 0)
		return cove_errno(err, -errno, "open log %s", log_path);
	int listen_fd = -1;
	sc->by_path = vm->driver->features & VMM_FEATURE_SHARES_BY_PATH;
	int r = sc->by_path ? socket_at(sock_path, vm->uid, &listen_fd, err)
			    : socket_pair_at(sock_path, &listen_fd, &sc->sock, err);
	if (r < 0)
		return r;
	if (sc->by_path)
		snprintf(sc->path, sizeof(sc->path), "%s", sock_path);
	_cleanup_close_ int l = listen_fd;
	/* Its defaults said out loud: the modes measured with the guest. */
	char *const argv[] = { (char *)binary, "--fd=3", "-o", source, "-o", "cache=auto", "-o", "sandbox=namespace",
			       "-o", "modcaps=-mknod", "-o", "log_level=info", NULL };
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct share_plan plan = { sh->host_dir, staging, sh->read_only };
	struct spawn_options o = {
		.path = binary,
		.argv = argv,
		.envp = envp,
		.stdio = { { SPAWN_NULL }, { SPAWN_FD, log_fd }, { SPAWN_FD, log_fd } },
		.pass_fds = &listen_fd,
		.npass_fds = 1,
		.cwd = "/",
		.setsid = true,
		.parent_death_signal = vm->cfg.c.die_with_parent ? SIGKILL : 0,
		.setup = share_setup,
		.setup_data = &plan,
	};
	struct spawn_child child;
	struct spawn_failure f;
	if (spawn_start(&o, &child, &f) < 0)
		return cove_errno(err, -f.err, "virtiofsd for %s: %s", sh->host_dir, step_name(f.step));
	sc->pid = child.pid;
	sc->pidfd = child.pidfd;
	/* By path, the VMM's connection comes later: only an early death is seen. */
	r = sc->by_path ? (proc_pidfd_wait(sc->pidfd, 0) == 1
				   ? cove_errf(err, -ECHILD, "virtiofsd exited as it started (see %s)", log_path)
				   : 0)
			: wait_accepted(l, sc->pidfd, log_path, err);
	if (r < 0)
		return cove_err_prefix(err, "share %s", sh->host_dir);
	log_debug("vmm=%s op=share index=%zu pid=%d dir=%s tag=%s ro=%d", vm->cfg.c.id, i, (int)sc->pid, sh->host_dir,
		  sh->tag, sh->read_only);
	return 0;
}

int vmm_sidecars_start(struct vmm *vm, struct cove_err *err)
{
	if (!vm->cfg.c.nshares)
		return 0;
	char binary[PATH_MAX];
	if (fs_find_executable(VIRTIOFSD_BINARY, VIRTIOFSD_DIRS, binary, sizeof(binary)) < 0)
		return cove_errf(err, -ENOENT, "shares: virtiofsd not found on PATH or in %s; install it with "
					       "'apt-get install qemu-system-common'", VIRTIOFSD_DIRS);
	struct vmm_sidecars *all = calloc(1, sizeof(*all));
	if (!all)
		return cove_errf(err, -ENOMEM, "shares: out of memory");
	vm->sidecars = all;
	for (size_t i = 0; i < vm->cfg.c.nshares; i++) {
		all->s[i] = (struct vmm_sidecar){ .pid = 0, .pidfd = -1, .sock = -1, .by_path = false };
		all->n = i + 1;
		int r = start_one(vm, binary, i, &all->s[i], err);
		if (r < 0) {
			vmm_sidecars_stop(vm);
			return r;
		}
	}
	return 0;
}

int vmm_share_socket(const struct vmm *vm, size_t i)
{
	return vm->sidecars && i < vm->sidecars->n ? vm->sidecars->s[i].sock : -1;
}

int vmm_share_socket_path(const struct vmm *vm, size_t i, char buf[PATH_MAX])
{
	if (!vm->sidecars || i >= vm->sidecars->n || !vm->sidecars->s[i].path[0])
		return -ENOENT;
	snprintf(buf, PATH_MAX, "%s", vm->sidecars->s[i].path);
	return 0;
}

void vmm_sidecars_close_sockets(struct vmm *vm)
{
	for (size_t i = 0; vm->sidecars && i < vm->sidecars->n; i++) {
		struct vmm_sidecar *sc = &vm->sidecars->s[i];
		if (sc->sock >= 0)
			close(sc->sock);
		sc->sock = -1;
		if (sc->path[0])
			unlink(sc->path);
		sc->path[0] = '\0';
	}
}

static void stop_one(const struct vmm *vm, size_t i, struct vmm_sidecar *sc)
{
	if (sc->pidfd < 0)
		return;
	if (proc_pidfd_wait(sc->pidfd, 0) != 1) {
		proc_pidfd_send_signal(sc->pidfd, SIGTERM);
		if (proc_pidfd_wait(sc->pidfd, STOP_GRACE_MS) != 1)
			log_warn("vmm=%s op=share index=%zu msg=\"virtiofsd pid %d ignored SIGTERM: killed\"",
				 vm->cfg.c.id, i, (int)sc->pid);
	}
	/* Its sandboxed child is in its process group: none outlives it. */
	kill(-sc->pid, SIGKILL);
	siginfo_t info = { 0 };
	while (waitid(P_PIDFD, (id_t)sc->pidfd, &info, WEXITED) < 0 && errno == EINTR)
		;
	close(sc->pidfd);
	sc->pidfd = -1;
}

void vmm_sidecars_stop(struct vmm *vm)
{
	if (!vm->sidecars)
		return;
	vmm_sidecars_close_sockets(vm);
	for (size_t i = 0; i < vm->sidecars->n; i++)
		stop_one(vm, i, &vm->sidecars->s[i]);
	free(vm->sidecars);
	vm->sidecars = NULL;
}

void vmm_sidecars_release(struct vmm *vm)
{
	if (!vm->sidecars)
		return;
	vmm_sidecars_close_sockets(vm);
	for (size_t i = 0; i < vm->sidecars->n; i++)
		if (vm->sidecars->s[i].pidfd >= 0)
			close(vm->sidecars->s[i].pidfd);
	free(vm->sidecars);
	vm->sidecars = NULL;
}
