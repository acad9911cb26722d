/* The volume server's processes: rpcbind and Ganesha in their namespaces,
 * watched, started again when either dies, ended with coved (see nfs.h).
 *
 * rpcbind is started first, into a new mount namespace (entered from the
 * server's network namespace) whose /run is a tmpfs of its own and holds,
 * at NFS_INSIDE_DIR, RUN_DIR/volume-server bound in; Ganesha then joins
 * both namespaces. Their pids and start times are kept in
 * RUN_DIR/volume-server/pids, so the next coved ends them whatever
 * happened to this one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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
#include "common/proc.h"
#include "common/spawn.h"
#include "net/net.h"
#include "nfs/nfs.h"

/* RUN_DIR/volume-server as the server's processes see it. */
#define NFS_INSIDE_DIR "/run/cove-volumes"
#define READY_TIMEOUT_MS 15000
#define STOP_GRACE_MS 5000
#define RESTART_MAX_DELAY_MS 30000
/* Ganesha's log (warnings and worse: a few lines a start) is set aside at
 * a start once it is this big, the one before it dropped. */
#define LOG_MAX_BYTES (1 << 20)

struct nfs_server {
	pthread_mutex_t lock;
	char dir[PATH_MAX];
	int netns_fd;
	char address[16];
	char ganesha[PATH_MAX], rpcbind[PATH_MAX];
	struct nfs_export *exports;
	size_t n, cap;
	unsigned next_export_id;
	/* Under lock. */
	bool running;
	struct spawn_child rpcb, gan;
	/* The watcher. */
	pthread_t watcher;
	bool watching, stopping;
	int wake[2]; /* a byte: look again (started, stopping) */
};

enum {
	STEP_SETNS_NET = SPAWN_STEP_CALLER,
	STEP_UNSHARE,
	STEP_SLAVE,
	STEP_TMPFS,
	STEP_MKDIR,
	STEP_BIND,
	STEP_SETNS_MNT,
	STEP_CHDIR,
};

struct child_plan {
	int netns_fd;
	int mntns_fd; /* Ganesha: rpcbind's mount namespace; -1 for rpcbind */
	const char *dir; /* RUN_DIR/volume-server (rpcbind) */
};

/* Where the child keeps RUN_DIR/volume-server open while /run is covered. */
#define DIR_FD 100
#define DIR_FD_PATH "/proc/self/fd/100"

static int failed(struct spawn_failure *f, int step)
{
	f->step = step;
	f->index = -1;
	return -errno;
}

static int child_setup(void *data, struct spawn_failure *f)
{
	const struct child_plan *p = data;
	if (setns(p->netns_fd, CLONE_NEWNET) < 0)
		return failed(f, STEP_SETNS_NET);
	if (p->mntns_fd >= 0) {
		if (setns(p->mntns_fd, CLONE_NEWNS) < 0)
			return failed(f, STEP_SETNS_MNT);
		return chdir("/") < 0 ? failed(f, STEP_CHDIR) : 0;
	}
	if (unshare(CLONE_NEWNS) < 0)
		return failed(f, STEP_UNSHARE);
	/* Slave, not private: volumes the host mounts later appear here. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return failed(f, STEP_SLAVE);
	/* Opened in this namespace (a bind from another one is EINVAL), and
	 * before the tmpfs hides it. */
	int fd = open(p->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || dup3(fd, DIR_FD, O_CLOEXEC) < 0)
		return failed(f, STEP_BIND);
	if (mount("cove-volumes", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16m") < 0)
		return failed(f, STEP_TMPFS);
	if (mkdir(NFS_INSIDE_DIR, 0700) < 0)
		return failed(f, STEP_MKDIR);
	if (mount(DIR_FD_PATH, NFS_INSIDE_DIR, NULL, MS_BIND, NULL) < 0)
		return failed(f, STEP_BIND);
	return 0;
}

static int describe(const char *what, const struct spawn_failure *f, struct cove_err *err)
{
	static const char *steps[] = { "enter the server's network namespace", "make a mount namespace",
				       "make mounts slaves", "mount a tmpfs on /run",
				       "make " NFS_INSIDE_DIR, "bind its directory",
				       "join rpcbind's mount namespace", "chdir /" };
	int e = -f->err;
	if (f->step >= SPAWN_STEP_CALLER && f->step < SPAWN_STEP_CALLER + (int)(sizeof(steps) / sizeof(steps[0])))
		return cove_errno(err, e, "volume server: start %s: %s", what, steps[f->step - SPAWN_STEP_CALLER]);
	if (f->step == SPAWN_STEP_EXEC)
		return cove_errno(err, e, "volume server: execute %s", what);
	return cove_errno(err, e, "volume server: start %s (step %d)", what, f->step);
}

static int find(const char *given, const char *name, char *out, size_t len, struct cove_err *err)
{
	if (given && *given) {
		if (access(given, X_OK) < 0)
			return cove_errno(err, -errno, "volume server: %s", given);
		snprintf(out, len, "%s", given);
		return 0;
	}
	if (fs_find_executable(name, "/usr/sbin:/sbin:/usr/bin", out, len) < 0)
		return cove_errf(err, -ENOENT,
				 "volume server: %s not found (Debian packages nfs-ganesha, nfs-ganesha-vfs and "
				 "rpcbind; `make deps` installs them)",
				 name);
	return 0;
}

/* --- the previous process's server --- */

static void end_identity(const struct proc_identity *id, const char *what)
{
	int fd;
	if (!proc_identity_matches(id) || proc_identity_pidfd(id, &fd, NULL) < 0)
		return;
	log_info("op=volume-server action=end-previous what=%s pid=%d", what, (int)id->pid);
	proc_pidfd_send_signal(fd, SIGTERM);
	if (proc_pidfd_wait(fd, STOP_GRACE_MS) != 1) {
		proc_pidfd_send_signal(fd, SIGKILL);
		proc_pidfd_wait(fd, STOP_GRACE_MS);
	}
	close(fd);
}

static void end_previous_in(const char *dir)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/pids", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char what[16];
	unsigned long start;
	struct proc_identity ids[2];
	int n = 0, pid;
	while (n < 2 && fscanf(f, "%15s %d %lu", what, &pid, &start) == 3)
		ids[n++] = (struct proc_identity){ pid, start };
	fclose(f);
	/* Ganesha first: rpcbind has nothing to serve once it is gone. */
	for (int i = n - 1; i >= 0; i--)
		end_identity(&ids[i], i ? "ganesha" : "rpcbind");
	unlink(path);
}

void nfs_end_previous(const char *run_dir)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/volume-server", run_dir) >= (int)sizeof(dir))
		return;
	end_previous_in(dir);
	fs_remove_tree(dir, NULL);
}

/* text as s->dir/name, replacing it whole (a new file renamed over it). */
static int write_whole(struct nfs_server *s, const char *name, const char *text, struct cove_err *err)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 24];
	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "volume server: create %s", tmp);
	int r = fs_write_all(fd, text, strlen(text));
	close(fd);
	if (r < 0 || rename(tmp, path) < 0)
		return cove_errno(err, r < 0 ? r : -errno, "volume server: write %s", path);
	return 0;
}

static void write_pids(struct nfs_server *s)
{
	char text[128];
	struct proc_identity a, b;
	struct cove_err err = { 0 };
	if (proc_identity_read(s->rpcb.pid, &a, NULL) < 0 || proc_identity_read(s->gan.pid, &b, NULL) < 0)
		return;
	snprintf(text, sizeof(text), "rpcbind %d %lu\nganesha %d %lu\n", (int)a.pid, (unsigned long)a.start_time,
		 (int)b.pid, (unsigned long)b.start_time);
	if (write_whole(s, "pids", text, &err) < 0)
		log_warn("op=volume-server msg=\"cannot record the server's pids: %s\"", err.msg);
}

/* --- starting and stopping (under lock) --- */

static void stop_child(struct spawn_child *c, int sig)
{
	if (c->pidfd < 0)
		return;
	proc_pidfd_send_signal(c->pidfd, sig);
	if (proc_pidfd_wait(c->pidfd, STOP_GRACE_MS) != 1)
		proc_pidfd_send_signal(c->pidfd, SIGKILL);
	spawn_wait(c, NULL);
	c->pidfd = -1;
	c->pid = 0;
}

static void stop_locked(struct nfs_server *s)
{
	stop_child(&s->gan, SIGTERM);
	stop_child(&s->rpcb, SIGTERM);
	s->running = false;
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/pids", s->dir);
	unlink(path);
}

static int write_config(struct nfs_server *s, struct cove_err *err)
{
	_cleanup_free_ char *text = nfs_config_text(s->exports, s->n, NFS_INSIDE_DIR);
	if (!text)
		return cove_errf(err, -ENOMEM, "volume server: out of memory");
	return write_whole(s, "ganesha.conf", text, err);
}

static bool socket_there(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root/run/rpcbind.sock", (int)pid);
	return access(path, F_OK) == 0;
}

static int wait_ready(struct nfs_server *s, struct cove_err *err)
{
	int64_t deadline = now_ms() + READY_TIMEOUT_MS;
	struct cove_err e = { 0 };
	for (;;) {
		int fd = net_connect_tcp_abortive(s->netns_fd, s->address, NET_NFS_PORT, 500, true, &e);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (proc_pidfd_wait(s->gan.pidfd, 0) == 1)
			return cove_errf(err, -EIO, "volume server: Ganesha exited at its start (see %s/ganesha.log)",
					 s->dir);
		if (now_ms() > deadline)
			return cove_errf(err, -ETIMEDOUT, "volume server: Ganesha does not answer on %s:%d after %d ms: %s",
					 s->address, NET_NFS_PORT, READY_TIMEOUT_MS, e.msg);
		usleep(50 * 1000);
	}
}

static void rotate_log(struct nfs_server *s)
{
	char path[PATH_MAX + 16], old[PATH_MAX + 24];
	struct stat st;
	snprintf(path, sizeof(path), "%s/ganesha.log", s->dir);
	snprintf(old, sizeof(old), "%s.1", path);
	if (stat(path, &st) == 0 && st.st_size > LOG_MAX_BYTES)
		rename(path, old);
}

static int start_locked(struct nfs_server *s, struct cove_err *err)
{
	int r = write_config(s, err);
	if (r < 0)
		return r;
	rotate_log(s);
	struct child_plan rp = { s->netns_fd, -1, s->dir };
	char *rargv[] = { s->rpcbind, "-f", NULL };
	struct spawn_options o = { .path = s->rpcbind, .argv = rargv, .setsid = true, .setup = child_setup };
	for (int i = 0; i < 3; i++)
		o.stdio[i].mode = SPAWN_NULL;
	o.setup_data = &rp;
	struct spawn_failure f = { 0 };
	if ((r = spawn_start(&o, &s->rpcb, &f)) < 0)
		return describe("rpcbind", &f, err);
	int64_t t0 = now_ms();
	while (!socket_there(s->rpcb.pid) && now_ms() - t0 < READY_TIMEOUT_MS &&
	       proc_pidfd_wait(s->rpcb.pidfd, 20) == 0)
		;
	if (!socket_there(s->rpcb.pid)) {
		stop_locked(s);
		return cove_errf(err, -EIO, "volume server: rpcbind made no socket within %d ms", READY_TIMEOUT_MS);
	}
	char ns_path[64], conf[] = NFS_INSIDE_DIR "/ganesha.conf", logf[] = NFS_INSIDE_DIR "/ganesha.log",
			  pidf[] = NFS_INSIDE_DIR "/ganesha.pid";
	snprintf(ns_path, sizeof(ns_path), "/proc/%d/ns/mnt", (int)s->rpcb.pid);
	_cleanup_close_ int mntns_fd = open(ns_path, O_RDONLY | O_CLOEXEC);
	if (mntns_fd < 0) {
		r = cove_errno(err, -errno, "volume server: open %s", ns_path);
		stop_locked(s);
		return r;
	}
	struct child_plan gp = { s->netns_fd, mntns_fd, NULL };
	char *gargv[] = { s->ganesha, "-F", "-f", conf, "-L", logf, "-p", pidf, "-N", "NIV_WARN", NULL };
	o.path = s->ganesha;
	o.argv = gargv;
	o.setup_data = &gp;
	if ((r = spawn_start(&o, &s->gan, &f)) < 0) {
		describe("ganesha.nfsd", &f, err);
		stop_locked(s);
		return r;
	}
	if ((r = wait_ready(s, err)) < 0) {
		stop_locked(s);
		return r;
	}
	s->running = true;
	write_pids(s);
	log_info("op=volume-server action=start rpcbind=%d ganesha=%d ms=%lld", (int)s->rpcb.pid, (int)s->gan.pid,
		 (long long)(now_ms() - t0));
	return 0;
}

/* --- the watcher: starts the server again when it dies --- */

static void kick(struct nfs_server *s)
{
	char b = 1;
	if (write(s->wake[1], &b, 1) < 0) {
		/* full: a wake-up is pending already */
	}
}

static bool has_clients(const struct nfs_server *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->exports[i].nclients)
			return true;
	return false;
}

static void *watch_main(void *arg)
{
	struct nfs_server *s = arg;
	int delay_ms = 500;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool stopping = s->stopping;
		struct pollfd p[3] = { { s->wake[0], POLLIN, 0 }, { s->running ? s->rpcb.pidfd : -1, POLLIN, 0 },
				       { s->running ? s->gan.pidfd : -1, POLLIN, 0 } };
		pthread_mutex_unlock(&s->lock);
		if (stopping)
			return NULL;
		if (poll(p, 3, -1) < 0)
			continue;
		if (p[0].revents) {
			char buf[64];
			while (read(s->wake[0], buf, sizeof(buf)) > 0)
				;
			continue;
		}
		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		bool died = s->running && (proc_pidfd_wait(s->rpcb.pidfd, 0) == 1 || proc_pidfd_wait(s->gan.pidfd, 0) == 1);
		if (died) {
			log_warn("op=volume-server msg=\"%s exited; starting the server again\"",
				 proc_pidfd_wait(s->gan.pidfd, 0) == 1 ? "Ganesha" : "rpcbind");
			stop_locked(s);
		}
		struct cove_err err = { 0 };
		int r = !s->running && has_clients(s) ? start_locked(s, &err) : 0;
		pthread_mutex_unlock(&s->lock);
		if (r < 0) {
			log_warn("op=volume-server action=restart retry_ms=%d msg=\"%s\"", delay_ms, err.msg);
			usleep((useconds_t)delay_ms * 1000);
			delay_ms = delay_ms * 2 > RESTART_MAX_DELAY_MS ? RESTART_MAX_DELAY_MS : delay_ms * 2;
			kick(s);
		} else {
			delay_ms = 500;
		}
	}
}

/* --- the interface --- */

int nfs_server_open(const struct nfs_config *c, struct nfs_server **ret, struct cove_err *err)
{
	struct nfs_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "volume server: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->netns_fd = c->netns_fd;
	s->rpcb.pidfd = s->gan.pidfd = -1;
	s->wake[0] = s->wake[1] = -1;
	s->next_export_id = 1;
	snprintf(s->address, sizeof(s->address), "%s", c->address);
	int r = 0;
	if (snprintf(s->dir, sizeof(s->dir), "%s/volume-server", c->run_dir) >= (int)sizeof(s->dir) - 32)
		r = cove_errf(err, -ENAMETOOLONG, "volume server: %s: path too long", c->run_dir);
	r = r ?: find(c->ganesha, "ganesha.nfsd", s->ganesha, sizeof(s->ganesha), err);
	r = r ?: find(c->rpcbind, "rpcbind", s->rpcbind, sizeof(s->rpcbind), err);
	r = r ?: fs_mkdir_p(s->dir, 0700, err);
	if (r == 0 && pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		r = cove_errno(err, -errno, "volume server: pipe");
	if (r == 0) {
		end_previous_in(s->dir);
		if ((r = -pthread_create(&s->watcher, NULL, watch_main, s)) < 0)
			cove_errno(err, r, "volume server: start its watcher");
		else
			s->watching = true;
	}
	if (r < 0) {
		nfs_server_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

void nfs_server_close(struct nfs_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->watching) {
		kick(s);
		pthread_join(s->watcher, NULL);
	}
	pthread_mutex_lock(&s->lock);
	if (s->running)
		stop_locked(s);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		free(s->exports[i].clients);
		free(s->exports[i].counts);
	}
	free(s->exports);
	fs_remove_tree(s->dir, NULL);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct nfs_export *find_export(struct nfs_server *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->exports[i].id, id) == 0)
			return &s->exports[i];
	return NULL;
}

static int address_check(const char *a, struct cove_err *err)
{
	unsigned x[4];
	char tail;
	if (!a || sscanf(a, "%u.%u.%u.%u%c", &x[0], &x[1], &x[2], &x[3], &tail) != 4 || x[0] > 255 || x[1] > 255 ||
	    x[2] > 255 || x[3] > 255 || strlen(a) >= 16)
		return cove_errf(err, -EINVAL, "volume server: '%s' is not an IPv4 address", a ? a : "(null)");
	return 0;
}

/* The export of id, made (without clients) if there is none. */
static int export_of(struct nfs_server *s, const char *id, const char *path, struct nfs_export **ret,
		     struct cove_err *err)
{
	struct nfs_export *e = find_export(s, id);
	if (e) {
		*ret = e;
		return 0;
	}
	if (strlen(id) >= sizeof(e->id) || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(id))
		return cove_errf(err, -EINVAL, "volume server: '%s' is not a volume id", id);
	int r = nfs_path_check(path, err);
	if (r < 0)
		return r;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		void *p = realloc(s->exports, cap * sizeof(*s->exports));
		if (!p)
			return cove_errf(err, -ENOMEM, "volume server: out of memory");
		s->exports = p;
		s->cap = cap;
	}
	e = &s->exports[s->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->export_id = s->next_export_id;
	s->next_export_id = s->next_export_id == 65535 ? 1 : s->next_export_id + 1;
	*ret = e;
	return 0;
}

static void drop_export(struct nfs_server *s, struct nfs_export *e)
{
	free(e->clients);
	free(e->counts);
	*e = s->exports[--s->n];
}

/* The configuration written and in force: Ganesha started, or told to
 * read it again. */
static int apply_locked(struct nfs_server *s, struct cove_err *err)
{
	if (!s->running)
		return has_clients(s) ? (start_locked(s, err) ?: (kick(s), 0)) : write_config(s, err);
	int r = write_config(s, err);
	if (r == 0 && proc_pidfd_send_signal(s->gan.pidfd, SIGHUP) < 0)
		r = cove_errno(err, -errno, "volume server: signal Ganesha to read its configuration");
	return r;
}

int nfs_allow(struct nfs_server *s, const char *id, const char *path, const char *address, struct cove_err *err)
{
	int r = address_check(address, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	struct nfs_export *e = NULL;
	r = export_of(s, id, path, &e, err);
	size_t i = 0;
	while (r == 0 && i < e->nclients && strcmp(e->clients[i], address) != 0)
		i++;
	if (r == 0 && i < e->nclients) {
		e->counts[i]++;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (r == 0 && e->nclients == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4;
		void *c = realloc(e->clients, cap * sizeof(*e->clients));
		if (c)
			e->clients = c;
		void *n = c ? realloc(e->counts, cap * sizeof(*e->counts)) : NULL;
		if (n)
			e->counts = n;
		if (!c || !n)
			r = cove_errf(err, -ENOMEM, "volume server: out of memory");
		else
			e->cap = cap;
	}
	if (r == 0) {
		snprintf(e->clients[e->nclients], sizeof(e->clients[0]), "%s", address);
		e->counts[e->nclients++] = 1;
		if ((r = apply_locked(s, err)) < 0) {
			e->nclients--;
			if (!e->nclients)
				drop_export(s, e);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		log_debug("op=volume-allow volume=%s client=%s", id, address);
	return r;
}

void nfs_revoke(struct nfs_server *s, const char *id, const char *address)
{
	if (!s || !id || !address)
		return;
	pthread_mutex_lock(&s->lock);
	struct nfs_export *e = find_export(s, id);
	size_t i = 0;
	while (e && i < e->nclients && strcmp(e->clients[i], address) != 0)
		i++;
	if (e && i < e->nclients && --e->counts[i] == 0) {
		e->nclients--;
		memmove(&e->clients[i], &e->clients[i + 1], (e->nclients - i) * sizeof(e->clients[0]));
		memmove(&e->counts[i], &e->counts[i + 1], (e->nclients - i) * sizeof(e->counts[0]));
		if (!e->nclients)
			drop_export(s, e);
		struct cove_err err = { 0 };
		if (apply_locked(s, &err) < 0)
			log_warn("op=volume-revoke volume=%s client=%s msg=\"%s\"", id, address, err.msg);
		else
			log_debug("op=volume-revoke volume=%s client=%s", id, address);
	}
	pthread_mutex_unlock(&s->lock);
}

unsigned nfs_clients(struct nfs_server *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	struct nfs_export *e = find_export(s, id);
	unsigned n = e ? (unsigned)e->nclients : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}
