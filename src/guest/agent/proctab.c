#include "agent/proctab.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/spawn.h"
#include "agent/state.h"
#include "common/proc.h"
#include "proto/envelope.h"

/* A subscriber may hold this much unread before the pump waits for it. */
#define SUB_HIGH_WATER (1024 * 1024)
/* Bigger events cost the client less per byte (each is a JSON message with
 * base64 inside); pipes are widened to match. */
#define READ_CHUNK (256 * 1024)

struct proc_sub {
	struct proc *proc;
	uint8_t *buf;
	size_t off, len, cap;
	bool done; /* the end-of-stream envelope is queued: nothing more comes */
	struct proc_sub *next;
};

struct proc {
	int refs;               /* under table_lock */
	struct spawned s;
	bool pty;
	struct process_start config; /* what List reports */
	pthread_mutex_t lock;   /* subs, exited, stdin */
	pthread_cond_t changed; /* data queued, data consumed, subscriber gone */
	struct proc_sub *subs;
	bool exited;
	int64_t deadline;       /* now_ms() at which it is killed, 0: none */
	uint8_t *chunk;         /* the pump's read buffer, READ_CHUNK bytes */
	struct proc *next;      /* in the table, under table_lock */
};

/* The one table of the agent process, shared by the HTTP threads. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proc *table;
static unsigned table_count;

static void proc_free(struct proc *p)
{
	free(p->chunk);
	spawned_close(&p->s);
	process_start_clear(&p->config);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->changed);
	free(p);
}

void proc_unref(struct proc *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&table_lock);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&table_lock);
	if (last)
		proc_free(p);
}

static int sub_append(struct proc_sub *sub, const uint8_t *data, size_t n)
{
	if (sub->off && sub->off == sub->len)
		sub->off = sub->len = 0;
	if (sub->len + n > sub->cap) {
		size_t cap = sub->cap ? sub->cap : 4096;
		while (cap < sub->len + n)
			cap *= 2;
		uint8_t *nb = realloc(sub->buf, cap);
		if (!nb)
			return -ENOMEM;
		sub->buf = nb;
		sub->cap = cap;
	}
	memcpy(sub->buf + sub->len, data, n);
	sub->len += n;
	return 0;
}

/* Encodes json as one envelope and queues it for sub (or, with sub NULL, for
 * every subscriber). Called with p->lock held. Takes json. */
static void queue_locked(struct proc *p, struct proc_sub *only, uint8_t flags, char *json)
{
	if (!json)
		return;
	size_t n = strlen(json);
	uint8_t *env = malloc(ENVELOPE_HEADER_SIZE + n);
	if (env) {
		envelope_header_encode(flags, (uint32_t)n, env);
		memcpy(env + ENVELOPE_HEADER_SIZE, json, n);
		for (struct proc_sub *sub = only ? only : p->subs; sub; sub = only ? NULL : sub->next) {
			if (sub_append(sub, env, ENVELOPE_HEADER_SIZE + n) < 0)
				sub->done = true; /* out of memory: end this subscriber's stream */
			if (flags & ENVELOPE_FLAG_END)
				sub->done = true;
		}
	}
	free(env);
	free(json);
	pthread_cond_broadcast(&p->changed);
}

static bool backlogged_locked(struct proc *p)
{
	for (struct proc_sub *sub = p->subs; sub; sub = sub->next)
		if (sub->len - sub->off > SUB_HIGH_WATER)
			return true;
	return false;
}

static void publish(struct proc *p, enum process_stream stream, const uint8_t *data, size_t n)
{
	pthread_mutex_lock(&p->lock);
	while (backlogged_locked(p))
		pthread_cond_wait(&p->changed, &p->lock);
	if (p->subs)
		queue_locked(p, NULL, 0, process_event_encode_data(stream, data, n));
	pthread_mutex_unlock(&p->lock);
}

/* Reads what fd has now; closes it at EOF. Returns bytes published. */
static ssize_t drain_once(struct proc *p, int *fd, enum process_stream stream)
{
	uint8_t *data = p->chunk;
	ssize_t n = read(*fd, data, READ_CHUNK);
	if (n > 0) {
		publish(p, stream, data, (size_t)n);
		return n;
	}
	/* EOF, or EIO on a PTY master once the last slave is closed. */
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
	return 0;
}

static int reap(struct proc *p)
{
	siginfo_t si = { 0 };
	while (waitid(P_PIDFD, (id_t)p->s.pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (si.si_code == CLD_EXITED)
		return W_EXITCODE(si.si_status, 0);
	return (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
}

static void table_remove(struct proc *p)
{
	pthread_mutex_lock(&table_lock);
	for (struct proc **pp = &table; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			table_count--;
			break;
		}
	pthread_mutex_unlock(&table_lock);
}

static void *pump(void *arg)
{
	struct proc *p = arg;
	enum process_stream out_stream = p->pty ? PROCESS_PTY : PROCESS_STDOUT;
	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = p->s.stdout_fd, .events = POLLIN },
			{ .fd = p->s.stderr_fd, .events = POLLIN },
			{ .fd = p->s.pidfd, .events = POLLIN },
		};
		int timeout = -1;
		if (p->deadline) {
			int64_t left = p->deadline - now_ms();
			if (left <= 0) {
				/* The client's deadline: the whole group goes, as envd's
				 * context cancellation does. Output until then still flows. */
				kill(-p->s.pid, SIGKILL);
				p->deadline = 0;
				continue;
			}
			timeout = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		if (poll(fds, 3, timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
			drain_once(p, &p->s.stdout_fd, out_stream);
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
			drain_once(p, &p->s.stderr_fd, PROCESS_STDERR);
		if (fds[2].revents & POLLIN)
			break;
	}
	int status = reap(p);
	/* What the pipes already hold is still sent; a background child that
	 * keeps them open does not hold the stream. */
	for (int guard = 0; guard < 4096; guard++) {
		ssize_t a = p->s.stdout_fd >= 0 ? drain_once(p, &p->s.stdout_fd, out_stream) : 0;
		ssize_t b = p->s.stderr_fd >= 0 ? drain_once(p, &p->s.stderr_fd, PROCESS_STDERR) : 0;
		if (a <= 0 && b <= 0)
			break;
	}
	table_remove(p);
	pthread_mutex_lock(&p->lock);
	p->exited = true;
	queue_locked(p, NULL, 0, process_event_encode_end(status));
	queue_locked(p, NULL, ENVELOPE_FLAG_END, connect_end_encode(NULL, NULL));
	pthread_mutex_unlock(&p->lock);
	proc_unref(p); /* the pump's own reference */
	return NULL;
}

static int copy_config(const struct process_start *req, struct process_start *out)
{
	memset(out, 0, sizeof(*out));
	size_t na = 0, ne = 0;
	while (req->argv[na])
		na++;
	while (req->envs && req->envs[ne])
		ne++;
	out->argv = calloc(na + 1, sizeof(char *));
	out->envs = calloc(ne + 1, sizeof(char *));
	if (!out->argv || !out->envs)
		return -ENOMEM;
	for (size_t i = 0; i < na; i++)
		if (!(out->argv[i] = strdup(req->argv[i])))
			return -ENOMEM;
	for (size_t i = 0; i < ne; i++)
		if (!(out->envs[i] = strdup(req->envs[i])))
			return -ENOMEM;
	if ((req->cwd && !(out->cwd = strdup(req->cwd))) || (req->tag && !(out->tag = strdup(req->tag))))
		return -ENOMEM;
	out->stdin_open = req->stdin_open;
	return 0;
}

int proctab_start(const struct process_start *req, const struct user_info *user, int64_t deadline_ms,
		  struct proc_sub **ret, struct cove_err *err)
{
	pthread_mutex_lock(&table_lock);
	bool full = table_count >= PROCTAB_MAX;
	pthread_mutex_unlock(&table_lock);
	if (full)
		return cove_errf(err, -EAGAIN, "more than %d processes are running", PROCTAB_MAX);
	struct proc *p = calloc(1, sizeof(*p));
	if (!p)
		return cove_errf(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	p->chunk = malloc(READ_CHUNK);
	p->s = (struct spawned){ .pid = -1, .pidfd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	p->pty = req->pty;
	p->deadline = deadline_ms > 0 ? now_ms() + deadline_ms : 0;
	if (!p->chunk || copy_config(req, &p->config) < 0) {
		proc_free(p);
		return cove_errf(err, -ENOMEM, "out of memory");
	}
	struct agent_defaults defaults;
	agent_defaults_get(&defaults);
	struct spawn_request sr = { .argv = req->argv, .envs = req->envs, .cwd = req->cwd,
				    .default_envs = defaults.envs, .default_cwd = defaults.workdir, .user = user,
				    .stdin_open = req->stdin_open, .pty = req->pty, .cols = req->cols, .rows = req->rows };
	int r = spawn_command(&sr, &p->s, err);
	agent_defaults_free(&defaults);
	if (r < 0) {
		proc_free(p);
		return r;
	}
	/* The pump's. The table holds none: the pump takes the process out of
	 * it before dropping its own. The subscription below adds one. */
	p->refs = 1;
	struct proc_sub *sub = proc_subscribe(p);
	if (!sub) {
		kill(-p->s.pid, SIGKILL);
		reap(p);
		proc_free(p);
		return cove_errf(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&table_lock);
	p->next = table;
	table = p;
	table_count++;
	pthread_mutex_unlock(&table_lock);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&t, &attr, pump, p);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		kill(-p->s.pid, SIGKILL);
		reap(p);
		table_remove(p);
		proc_unsubscribe(sub);
		proc_unref(p); /* the pump's, which never ran (a finder may still hold one) */
		return cove_errno(err, -r, "start %s: pump thread", req->argv[0]);
	}
	*ret = sub;
	return 0;
}

struct proc *proctab_find(uint32_t pid, const char *tag)
{
	pthread_mutex_lock(&table_lock);
	struct proc *found = NULL;
	for (struct proc *p = table; p && !found; p = p->next)
		if ((pid > 0 && (uint32_t)p->s.pid == pid) || (pid == 0 && tag && p->config.tag && strcmp(tag, p->config.tag) == 0))
			found = p;
	if (found)
		found->refs++;
	pthread_mutex_unlock(&table_lock);
	return found;
}

static json_t *config_json(const struct process_start *c)
{
	json_t *args = json_array(), *envs = json_object();
	for (size_t i = 1; c->argv[i]; i++)
		json_array_append_new(args, json_string(c->argv[i]));
	for (size_t i = 0; c->envs[i]; i++) {
		const char *eq = strchr(c->envs[i], '=');
		char key[256];
		size_t kl = eq ? (size_t)(eq - c->envs[i]) : 0;
		if (!eq || kl >= sizeof(key))
			continue;
		memcpy(key, c->envs[i], kl);
		key[kl] = '\0';
		json_object_set_new(envs, key, json_string(eq + 1));
	}
	json_t *j = json_pack("{s:s, s:o, s:o}", "cmd", c->argv[0], "args", args, "envs", envs);
	if (j && c->cwd)
		json_object_set_new(j, "cwd", json_string(c->cwd));
	return j;
}

json_t *proctab_list(void)
{
	json_t *list = json_array();
	pthread_mutex_lock(&table_lock);
	for (struct proc *p = table; p; p = p->next) {
		json_t *item = json_pack("{s:o, s:i}", "config", config_json(&p->config), "pid", p->s.pid);
		if (item && p->config.tag)
			json_object_set_new(item, "tag", json_string(p->config.tag));
		json_array_append_new(list, item);
	}
	pthread_mutex_unlock(&table_lock);
	return json_pack("{s:o}", "processes", list);
}

int proc_send_input(struct proc *p, const uint8_t *data, size_t len, struct cove_err *err)
{
	pthread_mutex_lock(&p->lock);
	int fd = p->s.stdin_fd;
	int r = 0;
	if (fd < 0)
		r = cove_errf(err, -EPIPE, "process %d has no open stdin", p->s.pid);
	while (r == 0 && len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = cove_errno(err, -errno, "write to the stdin of process %d", p->s.pid);
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int proc_close_stdin(struct proc *p, struct cove_err *err)
{
	pthread_mutex_lock(&p->lock);
	int r = 0;
	if (p->pty)
		r = cove_errf(err, -EINVAL, "process %d has a terminal, not a stdin pipe", p->s.pid);
	else if (p->s.stdin_fd >= 0) {
		close(p->s.stdin_fd);
		p->s.stdin_fd = -1;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int proc_signal(struct proc *p, int sig, struct cove_err *err)
{
	pthread_mutex_lock(&p->lock);
	int r = p->exited ? cove_errf(err, -ESRCH, "process %d has exited", p->s.pid) : 0;
	int e = r == 0 ? proc_pidfd_send_signal(p->s.pidfd, sig) : 0;
	if (e < 0)
		r = cove_errno(err, e, "signal process %d", p->s.pid);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int proc_resize(struct proc *p, unsigned short cols, unsigned short rows, struct cove_err *err)
{
	if (!p->pty)
		return cove_errf(err, -EINVAL, "process %d has no terminal to resize", p->s.pid);
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	pthread_mutex_lock(&p->lock);
	int r = p->s.stdin_fd >= 0 && ioctl(p->s.stdin_fd, TIOCSWINSZ, &ws) == 0 ? 0
			: cove_errno(err, -errno, "resize the terminal of process %d", p->s.pid);
	pthread_mutex_unlock(&p->lock);
	return r;
}

struct proc_sub *proc_subscribe(struct proc *p)
{
	struct proc_sub *sub = calloc(1, sizeof(*sub));
	if (!sub)
		return NULL;
	pthread_mutex_lock(&table_lock);
	p->refs++;
	pthread_mutex_unlock(&table_lock);
	sub->proc = p;
	pthread_mutex_lock(&p->lock);
	queue_locked(p, sub, 0, process_event_encode_start(p->s.pid));
	if (p->exited) {
		/* Too late to see it run: say so and end, as a not-found would. */
		queue_locked(p, sub, ENVELOPE_FLAG_END, connect_end_encode("not_found", "the process has exited"));
	} else {
		sub->next = p->subs;
		p->subs = sub;
	}
	pthread_mutex_unlock(&p->lock);
	return sub;
}

size_t proc_sub_read(struct proc_sub *sub, uint8_t *buf, size_t max, int keepalive_ms)
{
	struct proc *p = sub->proc;
	pthread_mutex_lock(&p->lock);
	while (sub->off == sub->len && !sub->done) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += keepalive_ms / 1000;
		until.tv_nsec += (long)(keepalive_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&p->changed, &p->lock, &until) == ETIMEDOUT && sub->off == sub->len && !sub->done)
			queue_locked(p, sub, 0, process_event_encode_keepalive());
	}
	size_t n = sub->len - sub->off < max ? sub->len - sub->off : max;
	memcpy(buf, sub->buf + sub->off, n);
	sub->off += n;
	pthread_cond_broadcast(&p->changed); /* room for a waiting pump */
	pthread_mutex_unlock(&p->lock);
	return n;
}

void proc_unsubscribe(struct proc_sub *sub)
{
	if (!sub)
		return;
	struct proc *p = sub->proc;
	pthread_mutex_lock(&p->lock);
	for (struct proc_sub **pp = &p->subs; *pp; pp = &(*pp)->next)
		if (*pp == sub) {
			*pp = sub->next;
			break;
		}
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	free(sub->buf);
	free(sub);
	proc_unref(p);
}
