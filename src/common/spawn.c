#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/proc.h"

extern char **environ;

/* What the child is handed, all made before fork. */
struct plan {
	const struct spawn_options *o;
	int stdio[3]; /* what becomes 0, 1, 2; -1: left as inherited */
	int report;   /* the write end of the CLOEXEC report pipe */
	pid_t parent;
};

static void __attribute__((noreturn)) child_fail(const struct plan *p, int step, int index, int e)
{
	struct spawn_failure f = { .step = step, .index = index, .err = e };
	/* Best effort: the parent reads EOF as "exec succeeded" only if nothing came. */
	(void)!write(p->report, &f, sizeof(f));
	_exit(127);
}

/* Default signal handling: a caller that blocks SIGINT and SIGTERM for a
 * signalfd (cove run, coved) must not pass that on, or the child would
 * ignore the SIGTERM meant to stop it; and no handler of the caller's may
 * run in the child before exec. */
static void child_reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Every descriptor that is to land on 0, 1, 2, 3, ... is first copied above
 * the highest of those numbers, so that moving one down can never overwrite
 * another not yet moved; the report pipe is moved up there too. dup2 clears
 * CLOEXEC on the copies it makes; everything else is marked CLOEXEC and so
 * closes at exec (the report pipe stays open until then). */
static void child_arrange_fds(struct plan *p)
{
	const struct spawn_options *o = p->o;
	int first_free = 3 + (int)o->npass_fds;
	int parked[3 + SPAWN_MAX_PASS_FDS];
	int report = fcntl(p->report, F_DUPFD_CLOEXEC, first_free);
	if (report < 0)
		child_fail(p, SPAWN_STEP_FDS, -1, errno);
	p->report = report;
	for (int i = 0; i < 3; i++) {
		parked[i] = p->stdio[i] >= 0 ? fcntl(p->stdio[i], F_DUPFD_CLOEXEC, first_free) : -1;
		if (p->stdio[i] >= 0 && parked[i] < 0)
			child_fail(p, SPAWN_STEP_STDIO, i, errno);
	}
	for (size_t i = 0; i < o->npass_fds; i++)
		if ((parked[3 + i] = fcntl(o->pass_fds[i], F_DUPFD_CLOEXEC, first_free)) < 0)
			child_fail(p, SPAWN_STEP_FDS, (int)i, errno);
	for (int i = 0; i < 3; i++)
		if (parked[i] >= 0 && dup2(parked[i], i) < 0)
			child_fail(p, SPAWN_STEP_STDIO, i, errno);
	for (size_t i = 0; i < o->npass_fds; i++)
		if (dup2(parked[3 + i], 3 + (int)i) < 0)
			child_fail(p, SPAWN_STEP_FDS, (int)i, errno);
	if (syscall(SYS_close_range, (unsigned)first_free, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(p, SPAWN_STEP_FDS, -1, errno);
}

static void __attribute__((noreturn)) child_main(struct plan *p)
{
	const struct spawn_options *o = p->o;
	child_reset_signals();
	if (o->setsid && setsid() < 0)
		child_fail(p, SPAWN_STEP_SETSID, -1, errno);
	if (o->parent_death_signal) {
		if (prctl(PR_SET_PDEATHSIG, o->parent_death_signal) < 0)
			child_fail(p, SPAWN_STEP_PDEATHSIG, -1, errno);
		/* A parent gone before the prctl would never send it. */
		if (getppid() != p->parent)
			raise(o->parent_death_signal);
	}
	if (o->setup) {
		struct spawn_failure f = { .step = SPAWN_STEP_CALLER, .index = -1 };
		int r = o->setup(o->setup_data, &f);
		if (r < 0)
			child_fail(p, f.step, f.index, -r);
	}
	child_arrange_fds(p);
	if (o->cwd && chdir(o->cwd) < 0)
		child_fail(p, SPAWN_STEP_CHDIR, -1, errno);
	execve(o->path, o->argv, o->envp ? o->envp : environ);
	child_fail(p, SPAWN_STEP_EXEC, -1, errno);
}

/* The parent's side of one of stdin, stdout, stderr; *step says which
 * step failed. */
static int prepare_stdio(const struct spawn_stdio *s, int i, int *child_src, int *child_end, int *parent_end,
			 int *null_fd, int *step)
{
	int pp[2];
	switch (s->mode) {
	case SPAWN_INHERIT:
		return 0;
	case SPAWN_FD:
		*child_src = s->fd;
		*step = SPAWN_STEP_BADFD;
		return s->fd >= 0 ? 0 : -EBADF;
	case SPAWN_NULL:
		*step = SPAWN_STEP_NULL;
		if (*null_fd < 0 && (*null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			return -errno;
		*child_src = *null_fd;
		return 0;
	case SPAWN_PIPE:
		*step = SPAWN_STEP_PIPE;
		if (pipe2(pp, O_CLOEXEC) < 0)
			return -errno;
		*child_end = i == 0 ? pp[0] : pp[1];
		*parent_end = i == 0 ? pp[1] : pp[0];
		*child_src = *child_end;
		return 0;
	}
	return -EINVAL;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* After fork: EOF on the report pipe means the exec happened; a report, a
 * failed step. Returns 0 or the failure's negative errno (the child reaped). */
static int await_exec(pid_t pid, int report, int pidfd, struct spawn_failure *f)
{
	struct spawn_failure got;
	ssize_t n;
	do
		n = read(report, &got, sizeof(got));
	while (n < 0 && errno == EINTR);
	if (n == 0 && pidfd >= 0)
		return 0;
	if (n == 0 || n < 0)
		kill(pid, SIGKILL); /* exec'd (no pidfd to hold it by) or unknown: not left running */
	int status = 0;
	reap(pid, &status);
	if (n == (ssize_t)sizeof(got))
		*f = got;
	else if (n == 0)
		*f = (struct spawn_failure){ .step = SPAWN_STEP_PIDFD, .index = -1, .err = -pidfd };
	else
		*f = (struct spawn_failure){ .step = SPAWN_STEP_DIED, .index = -1, .err = n < 0 ? errno : EIO };
	f->pid = pid;
	f->status = status;
	return f->err > 0 ? -f->err : -EIO;
}

int spawn_start(const struct spawn_options *o, struct spawn_child *ret, struct spawn_failure *fail)
{
	struct spawn_failure f = { .index = -1 };
	struct spawn_child c = { .pid = -1, .pidfd = -1, .stdio = { -1, -1, -1 } };
	struct plan p = { .o = o, .stdio = { -1, -1, -1 }, .report = -1, .parent = getpid() };
	int child_end[3] = { -1, -1, -1 }, null_fd = -1, report[2] = { -1, -1 };
	int r = 0;
	if (o->npass_fds > SPAWN_MAX_PASS_FDS) {
		f.step = SPAWN_STEP_FDS;
		r = -E2BIG;
		goto out;
	}
	for (int i = 0; i < 3 && r == 0; i++)
		if ((r = prepare_stdio(&o->stdio[i], i, &p.stdio[i], &child_end[i], &c.stdio[i], &null_fd, &f.step)) < 0)
			f.index = i;
	if (r < 0)
		goto out;
	if (pipe2(report, O_CLOEXEC) < 0) {
		r = -errno;
		f.step = SPAWN_STEP_PIPE;
		goto out;
	}
	p.report = report[1];
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		f.step = SPAWN_STEP_FORK;
		goto out;
	}
	if (pid == 0)
		child_main(&p);
	/* The child is ours and unreaped, so its pid cannot be reused yet:
	 * opening the pidfd now is race-free. */
	c.pid = pid;
	c.pidfd = proc_pidfd_open(pid);
	close_fds(&report[1], 1);
	r = await_exec(pid, report[0], c.pidfd, &f);
out:
	close_fds(child_end, 3);
	close_fds(&null_fd, 1);
	close_fds(report, 2);
	if (r < 0) {
		if (f.err == 0)
			f.err = -r;
		spawn_child_close(&c);
		if (fail)
			*fail = f;
		return r;
	}
	*ret = c;
	return 0;
}

void spawn_child_close(struct spawn_child *c)
{
	close_fds(&c->pidfd, 1);
	close_fds(c->stdio, 3);
}

int spawn_wait(struct spawn_child *c, int *status)
{
	int st = 0, r = 0;
	while (waitpid(c->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			break;
		}
	}
	spawn_child_close(c);
	if (status)
		*status = st;
	return r;
}

/* One read from a captured stream into its buffer, or dropped once the
 * buffer is full. False at its end. */
static bool capture_some(int fd, struct spawn_capture *cap)
{
	char drop[4096];
	char *dst = drop;
	size_t room = sizeof(drop);
	bool keep = cap && cap->buf && cap->len + 1 < cap->size;
	if (keep) {
		dst = cap->buf + cap->len;
		room = cap->size - 1 - cap->len;
	}
	ssize_t n = read(fd, dst, room);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (keep) {
		cap->len += (size_t)n;
		cap->buf[cap->len] = '\0';
	} else if (cap) {
		cap->truncated = true;
	}
	return true;
}

/* Reads the child's streams until both end. A readable cancel_fd (>= 0)
 * kills the child (its streams then end); returns whether it did. */
static bool capture_streams(struct spawn_child *c, struct spawn_capture *caps[3], int cancel_fd)
{
	bool killed = false;
	for (;;) {
		struct pollfd pfd[3];
		int which[3];
		nfds_t n = 0;
		for (int i = 1; i < 3; i++)
			if (c->stdio[i] >= 0) {
				pfd[n] = (struct pollfd){ .fd = c->stdio[i], .events = POLLIN };
				which[n++] = i;
			}
		if (n == 0)
			return killed;
		if (cancel_fd >= 0 && !killed) {
			pfd[n] = (struct pollfd){ .fd = cancel_fd, .events = POLLIN };
			which[n++] = -1;
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* Not read any more: closed, so a child writing gets EPIPE
			 * instead of blocking the wait below for ever. */
			close_fds(&c->stdio[1], 2);
			return killed;
		}
		for (nfds_t k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (which[k] < 0)
				killed = proc_pidfd_send_signal(c->pidfd, SIGKILL) == 0;
			else if (!capture_some(pfd[k].fd, caps[which[k]]))
				close_fds(&c->stdio[which[k]], 1);
		}
	}
}

int spawn_run(const struct spawn_options *o, struct spawn_capture *out, struct spawn_capture *err,
	      struct spawn_failure *fail)
{
	return spawn_run_cancellable(o, out, err, -1, fail);
}

int spawn_run_cancellable(const struct spawn_options *o, struct spawn_capture *out, struct spawn_capture *err,
			  int cancel_fd, struct spawn_failure *fail)
{
	struct spawn_capture *caps[3] = { NULL, out, err };
	for (int i = 1; i < 3; i++)
		if (caps[i]) {
			caps[i]->len = 0;
			caps[i]->truncated = false;
			if (caps[i]->buf && caps[i]->size)
				caps[i]->buf[0] = '\0';
		}
	struct spawn_child c;
	int r = spawn_start(o, &c, fail);
	if (r < 0)
		return r;
	close_fds(&c.stdio[0], 1);
	bool killed = capture_streams(&c, caps, cancel_fd);
	int status;
	r = spawn_wait(&c, &status);
	return r < 0 ? r : killed ? -ECANCELED : status;
}
