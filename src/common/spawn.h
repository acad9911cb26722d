/* Starting child programs: fork, a few system calls in the child, execve.
 *
 * Every program Cove starts (qemu-img, a template's build steps, the VMM,
 * the guest agent, a client's command in the guest) goes through here, so
 * each gets the same care: an argv, never a shell string; default signal
 * handling and an empty signal mask; stdin/stdout/stderr as asked; extra
 * descriptors at fixed numbers (3, 4, ...) and nothing else of the parent's
 * (close_range() at exec); a failure before exec reported to the parent
 * with its errno over a CLOEXEC pipe (bubblewrap's pattern), so "not found"
 * is an error of the start and not an exit status 127; and a pidfd, so a
 * signal can never reach a process that inherited a recycled pid.
 *
 * Between fork and exec the child makes system calls only (no malloc, no
 * stdio): everything is prepared before fork. A caller with more to do there
 * (enter namespaces, switch user) gives a setup callback, held to the same
 * rule. */
#ifndef COVE_COMMON_SPAWN_H
#define COVE_COMMON_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum spawn_stdio_mode {
	SPAWN_INHERIT = 0, /* the parent's own */
	SPAWN_NULL,        /* /dev/null */
	SPAWN_FD,          /* the descriptor in fd (the parent's stays open) */
	SPAWN_PIPE,        /* a new pipe; the parent's end is in spawn_child.stdio[] */
};

struct spawn_stdio {
	enum spawn_stdio_mode mode;
	int fd; /* SPAWN_FD */
};

/* Where a start failed (spawn_failure.step). A setup callback numbers its
 * own steps from SPAWN_STEP_CALLER on. */
enum spawn_step {
	SPAWN_STEP_FORK = 1,
	SPAWN_STEP_SETSID,
	SPAWN_STEP_PDEATHSIG,
	SPAWN_STEP_STDIO,
	SPAWN_STEP_FDS,
	SPAWN_STEP_CHDIR,
	SPAWN_STEP_EXEC,
	SPAWN_STEP_PIPE,  /* the parent could not make its pipes */
	SPAWN_STEP_NULL,  /* the parent could not open /dev/null (for stdio[index]) */
	SPAWN_STEP_BADFD, /* stdio[index] is SPAWN_FD without a descriptor */
	SPAWN_STEP_PIDFD, /* the parent could not open the child's pidfd */
	SPAWN_STEP_DIED,  /* the child died before exec without saying why */
	SPAWN_STEP_CALLER = 100,
};

struct spawn_failure {
	int step;   /* enum spawn_step, or the setup callback's own */
	int index;  /* which descriptor, or which of the callback's items; -1: none */
	int err;    /* errno */
	pid_t pid;  /* the child, when there was one (reaped by now) */
	int status; /* its wait status, with SPAWN_STEP_DIED */
};

struct spawn_options {
	const char *path;   /* executed as given: no PATH search */
	char *const *argv;
	char *const *envp;  /* NULL: the parent's environment */
	struct spawn_stdio stdio[3];
	const int *pass_fds; /* become 3, 4, ... in the child */
	size_t npass_fds;
	const char *cwd;    /* changed to after setup (so as the user setup became) */
	bool setsid;        /* lead a new session (and process group) */
	int parent_death_signal; /* sent to the child when the parent (thread) dies; 0: none */
	/* Runs in the child after setsid and the parent-death signal, before
	 * the descriptors are arranged. Returns 0, or a negative errno after
	 * setting f->step (>= SPAWN_STEP_CALLER) and f->index. */
	int (*setup)(void *data, struct spawn_failure *f);
	void *setup_data;
};

#define SPAWN_MAX_PASS_FDS 16

struct spawn_child {
	pid_t pid;
	int pidfd;    /* O_CLOEXEC */
	int stdio[3]; /* the parent's ends of SPAWN_PIPE streams (stdin: the write end), O_CLOEXEC; else -1 */
};

/* Starts the program. Returns 0 once it has exec'd, or a negative errno;
 * then fail (may be NULL) says at which step, and no child is left. */
int spawn_start(const struct spawn_options *o, struct spawn_child *ret, struct spawn_failure *fail);

/* Waits for the child to exit (its wait status in *status, may be NULL),
 * then closes what the struct holds. */
int spawn_wait(struct spawn_child *c, int *status);

/* Closes what the struct holds without waiting (for a caller that reaps
 * its children otherwise). */
void spawn_child_close(struct spawn_child *c);

/* Bounded output of a child: at most size - 1 bytes kept, NUL-terminated;
 * the rest is read and dropped, so the child never blocks on a full pipe. */
struct spawn_capture {
	char *buf;
	size_t size;
	size_t len;
	bool truncated;
};

/* Starts the program, reads its SPAWN_PIPE stdout and stderr into out and
 * err (either may be NULL: read and dropped) until both end, and waits for
 * it. A SPAWN_PIPE stdin is closed at once (the child reads EOF). Returns
 * the wait status (>= 0), or a negative errno as spawn_start does. */
int spawn_run(const struct spawn_options *o, struct spawn_capture *out, struct spawn_capture *err,
	      struct spawn_failure *fail);
/* spawn_run that also watches cancel_fd (-1: none): once it is readable the
 * child is killed (SIGKILL through its pidfd), reaped, and the return is
 * -ECANCELED. */
int spawn_run_cancellable(const struct spawn_options *o, struct spawn_capture *out, struct spawn_capture *err,
			  int cancel_fd, struct spawn_failure *fail);

#endif
