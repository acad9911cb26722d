/* Child processes and process identity.
 *
 * A pid alone is not an identity: pids are reused. Cove names a process by
 * its pid plus its start time (field 22 of /proc/PID/stat, in clock ticks
 * since boot), and holds a pidfd to every child it started, so a signal can
 * never reach a stranger that inherited a recycled pid. */
#ifndef COVE_COMMON_PROC_H
#define COVE_COMMON_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct proc_identity {
	pid_t pid;
	uint64_t start_time; /* clock ticks after boot, from /proc/PID/stat */
};

/* Parses the state (field 3) and start time (field 22) out of the text of a
 * /proc/PID/stat file. The comm field may hold spaces and parentheses, so
 * parsing starts after the last ')'. state may be NULL. */
int proc_stat_parse(const char *stat_text, char *state, uint64_t *start_time);
int proc_stat_parse_start_time(const char *stat_text, uint64_t *ret);

/* Reads the identity of a live process. -ESRCH when it does not exist. */
int proc_identity_read(pid_t pid, struct proc_identity *ret, struct cove_err *err);

/* True when a process with this pid exists, started at the same time, and
 * has not exited (a zombie has). */
bool proc_identity_matches(const struct proc_identity *id);

/* Opens a pidfd for the process and checks, after opening, that it is still
 * the same process (so the pidfd cannot refer to a successor). */
int proc_identity_pidfd(const struct proc_identity *id, int *ret_fd, struct cove_err *err);

int proc_pidfd_open(pid_t pid);
int proc_pidfd_send_signal(int pidfd, int sig);

/* Waits up to timeout_ms (-1: forever) for the process behind pidfd to exit.
 * Returns 1 when it has exited, 0 on time-out, negative errno on failure. */
int proc_pidfd_wait(int pidfd, int timeout_ms);

/* Monotonic clock in milliseconds and microseconds. */
int64_t now_ms(void);
int64_t now_us(void);
/* The wall clock (CLOCK_REALTIME) in milliseconds since the epoch. */
int64_t wall_now_ms(void);

#endif
