/* A VMM's logs, capped and rotated, and the thread that writes them (see
 * console.h). */
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "vmm/driver.h"

/* In the run directory; as short as qmp.sock, whose length config.c checks. */
#define CONSOLE_SOCKET "tty.sock"
#define OUTPUT_FIFO "vmm.out"
#define READ_CHUNK (64 * 1024)
/* Stopping a live VMM's reader writes at most this much more of each stream. */
#define DRAIN_MAX (1u << 20)

enum { SRC_CONSOLE, SRC_OUTPUT, NSRC };

struct vmm_logs {
	int listen_fd, fifo_write_fd; /* until started: what the VMM is handed */
	int src[NSRC];                /* read ends, -1 once at their end */
	struct log_file file[NSRC];
	int stop_fd; /* eventfd: readable once asked to stop */
	bool exited; /* the VMM is gone: drain to the end */
	pthread_t thread;
	bool running;
	int64_t window_ms; /* the pacing's current second */
	uint64_t window_bytes;
	char id[VMM_ID_MAX];
};

static void rotated_path(const char *path, char out[PATH_MAX + 4])
{
	snprintf(out, PATH_MAX + 4, "%s" VMM_LOG_ROTATED_SUFFIX, path);
}

uint64_t log_file_cap(void)
{
	uint64_t cap = (uint64_t)env_unsigned(ENV_LOG_MAX_KIB) * 1024;
	if (!cap)
		cap = VMM_LOG_DEFAULT_MAX;
	return cap < VMM_LOG_MIN_MAX ? VMM_LOG_MIN_MAX : cap;
}

void log_file_remove(const char *path)
{
	char old[PATH_MAX + 4];
	rotated_path(path, old);
	unlink(path);
	unlink(old);
}

int log_file_open(struct log_file *f, const char *path, uint64_t cap, bool fresh, struct cove_err *err)
{
	*f = (struct log_file){ .fd = -1, .cap = cap ? cap : VMM_LOG_DEFAULT_MAX };
	if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path))
		return cove_errf(err, -ENAMETOOLONG, "log %s: path too long", path);
	if (fresh)
		log_file_remove(path);
	f->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f->fd < 0)
		return cove_errno(err, -errno, "open log %s", path);
	struct stat st;
	f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

/* PATH becomes PATH.1 and a new PATH is begun. */
static int log_file_rotate(struct log_file *f, struct cove_err *err)
{
	char old[PATH_MAX + 4];
	rotated_path(f->path, old);
	if (rename(f->path, old) < 0)
		return cove_errno(err, -errno, "rotate log %s", f->path);
	close(f->fd);
	f->size = 0;
	f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	return f->fd < 0 ? cove_errno(err, -errno, "open log %s", f->path) : 0;
}

int log_file_write(struct log_file *f, const void *buf, size_t len, struct cove_err *err)
{
	const char *p = buf;
	while (len > 0) {
		if (f->fd < 0)
			return cove_errf(err, -EBADF, "log %s: not open", f->path);
		int r = f->size >= f->cap ? log_file_rotate(f, err) : 0;
		if (r < 0)
			return r;
		size_t n = f->cap - f->size < len ? (size_t)(f->cap - f->size) : len;
		if ((r = fs_write_all(f->fd, p, n)) < 0)
			return cove_errno(err, r, "write log %s", f->path);
		f->size += n;
		p += n;
		len -= n;
	}
	return 0;
}

void log_file_close(struct log_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static struct vmm_logs *logs_new(const struct vmm *vm)
{
	struct vmm_logs *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->listen_fd = l->fifo_write_fd = l->stop_fd = -1;
	for (int i = 0; i < NSRC; i++) {
		l->src[i] = -1;
		l->file[i].fd = -1;
	}
	snprintf(l->id, sizeof(l->id), "%s", vm->cfg.c.id);
	return l;
}

static void logs_free(struct vmm_logs *l)
{
	close_fd(&l->listen_fd);
	close_fd(&l->fifo_write_fd);
	close_fd(&l->stop_fd);
	for (int i = 0; i < NSRC; i++) {
		close_fd(&l->src[i]);
		log_file_close(&l->file[i]);
	}
	free(l);
}

static int run_path(const struct vmm *vm, const char *name, char out[PATH_MAX], struct sockaddr_un *addr)
{
	if (snprintf(out, PATH_MAX, "%s/%s", vm->dir, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (addr) {
		*addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
		if (snprintf(addr->sun_path, sizeof(addr->sun_path), "%s", out) >= (int)sizeof(addr->sun_path))
			return -ENAMETOOLONG;
	}
	return 0;
}

static int listen_console(const struct vmm *vm, struct vmm_logs *l, struct cove_err *err)
{
	char path[PATH_MAX];
	struct sockaddr_un addr;
	if (run_path(vm, CONSOLE_SOCKET, path, &addr) < 0)
		return cove_errf(err, -ENAMETOOLONG, "console socket of %s: path too long", l->id);
	l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->listen_fd < 0 || bind(l->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(l->listen_fd, 1) < 0)
		return cove_errno(err, -errno, "console socket %s", path);
	return 0;
}

/* The FIFO's read end first (without blocking), so its write end opens
 * at once. */
static int open_fifo(const struct vmm *vm, struct vmm_logs *l, bool make, struct cove_err *err)
{
	char path[PATH_MAX];
	if (run_path(vm, OUTPUT_FIFO, path, NULL) < 0)
		return cove_errf(err, -ENAMETOOLONG, "output of %s: path too long", l->id);
	if (make && mkfifo(path, 0600) < 0)
		return cove_errno(err, -errno, "make FIFO %s", path);
	l->src[SRC_OUTPUT] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (l->src[SRC_OUTPUT] < 0)
		return cove_errno(err, -errno, "open FIFO %s", path);
	if (make && (l->fifo_write_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return cove_errno(err, -errno, "open FIFO %s", path);
	return 0;
}

int vmm_logs_prepare(struct vmm *vm, int *console_fd, int *output_fd, struct cove_err *err)
{
	struct vmm_logs *l = logs_new(vm);
	if (!l)
		return cove_errf(err, -ENOMEM, "logs of %s: out of memory", vm->cfg.c.id);
	int r = listen_console(vm, l, err);
	r = r ?: open_fifo(vm, l, true, err);
	if (r < 0) {
		logs_free(l);
		return r;
	}
	vm->logs = l;
	*console_fd = l->listen_fd;
	*output_fd = l->fifo_write_fd;
	return 0;
}

/* Waits for stop_fd, at most timeout_ms (-1: no limit); true when asked to stop. */
static bool wait_stop(struct vmm_logs *l, int timeout_ms)
{
	struct pollfd p = { l->stop_fd, POLLIN, 0 };
	return poll(&p, 1, timeout_ms) > 0;
}

/* At most VMM_LOG_RATE bytes a second: past that, the reader sleeps out
 * the second, and the guest waits on its full socket. */
static bool pace(struct vmm_logs *l, size_t n)
{
	int64_t now = now_ms();
	if (now - l->window_ms >= 1000) {
		l->window_ms = now;
		l->window_bytes = 0;
	}
	l->window_bytes += n;
	if (l->window_bytes < VMM_LOG_RATE)
		return false;
	return wait_stop(l, (int)(l->window_ms + 1000 - now));
}

/* Reads once from source i into its log: >0 bytes, 0 nothing for now,
 * -1 at its end (closed). */
static ssize_t pump(struct vmm_logs *l, int i, char *buf)
{
	ssize_t n = read(l->src[i], buf, READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close_fd(&l->src[i]);
		return -1;
	}
	struct cove_err err = { 0 };
	if (l->file[i].fd >= 0 && !l->file[i].failed && log_file_write(&l->file[i], buf, (size_t)n, &err) < 0) {
		l->file[i].failed = true;
		log_warn("vmm=%s op=log msg=\"%s; the rest is dropped\"", l->id, err.msg);
	}
	return n;
}

/* Asked to stop: what is pending goes to the logs (for a VMM that
 * exited, to the end of each stream). */
static void drain(struct vmm_logs *l, char *buf)
{
	for (int i = 0; i < NSRC; i++) {
		size_t total = 0;
		ssize_t n;
		bool all = __atomic_load_n(&l->exited, __ATOMIC_ACQUIRE);
		while (l->src[i] >= 0 && (all || total < DRAIN_MAX) && (n = pump(l, i, buf)) > 0)
			total += (size_t)n;
	}
}

static void *logs_main(void *arg)
{
	struct vmm_logs *l = arg;
	char *buf = malloc(READ_CHUNK);
	bool stop = !buf;
	while (!stop) {
		struct pollfd p[NSRC + 1] = { { l->stop_fd, POLLIN, 0 } };
		for (int i = 0; i < NSRC; i++)
			p[i + 1] = (struct pollfd){ l->src[i], POLLIN, 0 };
		if (poll(p, NSRC + 1, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			drain(l, buf);
			break;
		}
		for (int i = 0; i < NSRC && !stop; i++) {
			ssize_t n = p[i + 1].revents ? pump(l, i, buf) : 0;
			if (n > 0)
				stop = pace(l, (size_t)n);
		}
	}
	free(buf);
	return NULL;
}

static int logs_run(struct vmm *vm, struct vmm_logs *l, bool fresh, struct cove_err *err)
{
	uint64_t cap = log_file_cap();
	const char *paths[NSRC] = { vm->console_path, vm->log_path };
	int r = 0;
	for (int i = 0; i < NSRC && r == 0; i++)
		r = log_file_open(&l->file[i], paths[i], cap, fresh, err);
	if (r == 0 && (l->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		r = cove_errno(err, -errno, "logs of %s: eventfd", l->id);
	if (r == 0 && (r = -pthread_create(&l->thread, NULL, logs_main, l)) < 0)
		cove_errno(err, r, "logs of %s: start the reader", l->id);
	l->running = r == 0;
	return r;
}

static int connect_console(const struct vmm *vm, struct vmm_logs *l, struct cove_err *err)
{
	char path[PATH_MAX];
	struct sockaddr_un addr;
	if (run_path(vm, CONSOLE_SOCKET, path, &addr) < 0)
		return cove_errf(err, -ENAMETOOLONG, "console socket of %s: path too long", l->id);
	l->src[SRC_CONSOLE] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->src[SRC_CONSOLE] < 0)
		return cove_errno(err, -errno, "console socket of %s", l->id);
	/* A listening socket takes the connection into its backlog at once:
	 * no waiting for the VMM to accept it. */
	if (connect(l->src[SRC_CONSOLE], (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS)
		return cove_errno(err, -errno, "connect %s", path);
	return 0;
}

int vmm_logs_start(struct vmm *vm, struct cove_err *err)
{
	struct vmm_logs *l = vm->logs;
	if (!l)
		return cove_errf(err, -EINVAL, "logs of %s: not prepared", vm->cfg.c.id);
	int r = connect_console(vm, l, err);
	/* The VMM has its copies now. */
	close_fd(&l->listen_fd);
	close_fd(&l->fifo_write_fd);
	return r ?: logs_run(vm, l, true, err);
}

int vmm_logs_adopt(struct vmm *vm, struct cove_err *err)
{
	struct vmm_logs *l = logs_new(vm);
	if (!l)
		return cove_errf(err, -ENOMEM, "logs of %s: out of memory", vm->cfg.c.id);
	int r = open_fifo(vm, l, false, err);
	r = r ?: connect_console(vm, l, err);
	r = r ?: logs_run(vm, l, false, err);
	if (r < 0) {
		vm->logs = l;
		vmm_logs_stop(vm);
		return r;
	}
	vm->logs = l;
	return 0;
}

void vmm_logs_stop(struct vmm *vm)
{
	struct vmm_logs *l = vm->logs;
	if (!l)
		return;
	vm->logs = NULL;
	if (l->running) {
		__atomic_store_n(&l->exited, vm->pidfd < 0 || proc_pidfd_wait(vm->pidfd, 0) == 1, __ATOMIC_RELEASE);
		uint64_t one = 1;
		if (write(l->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("vmm=%s op=log msg=\"cannot stop the log reader: %s\"", l->id, strerror(errno));
		pthread_join(l->thread, NULL);
	}
	logs_free(l);
}
