/* The agent's processes: every command started through the API, from start
 * until exit, whether or not a client is watching. A pump thread per process
 * reads its output and hands each event, encoded once as a Connect envelope,
 * to every subscriber (a Start or Connect stream); a client that hangs up
 * only unsubscribes, and a later Connect picks the process up again, as
 * envd does. Output with nobody subscribed is read and dropped; a slow
 * subscriber holds the pump back (the process then blocks on its pipe, as it
 * would writing to a terminal) rather than growing memory without bound. */
#ifndef COVE_AGENT_PROCTAB_H
#define COVE_AGENT_PROCTAB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/users.h"
#include "common/err.h"
#include "proto/process.h"

/* Processes alive at once (beyond it: resource_exhausted). */
#define PROCTAB_MAX 1024

struct proc;
struct proc_sub;

/* Starts a command and registers it, and returns the starting client's
 * subscription: attached before the pump runs, so not even the output of a
 * command that exits at once is missed. A positive deadline_ms (the client's
 * Connect-Timeout-Ms) kills the process group with SIGKILL when it has run
 * that long. */
int proctab_start(const struct process_start *req, const struct user_info *user, int64_t deadline_ms,
		  struct proc_sub **ret, struct cove_err *err);
/* By pid (when pid > 0) or tag; NULL if no such running process. Returns a reference. */
struct proc *proctab_find(uint32_t pid, const char *tag);
void proc_unref(struct proc *p);
/* {"processes":[{"config":{cmd,args,envs,cwd},"pid":N,"tag":"..."}]} */
json_t *proctab_list(void);

int proc_send_input(struct proc *p, const uint8_t *data, size_t len, struct cove_err *err);
int proc_close_stdin(struct proc *p, struct cove_err *err);
int proc_signal(struct proc *p, int sig, struct cove_err *err);
int proc_resize(struct proc *p, unsigned short cols, unsigned short rows, struct cove_err *err);

/* A subscriber receives a start event first, then what the process says from
 * now on, then its end event and the end-of-stream envelope. */
struct proc_sub *proc_subscribe(struct proc *p);
/* Blocks until bytes are ready (a keepalive event after keepalive_ms of
 * silence). Returns how many were copied, 0 once the stream is over. */
size_t proc_sub_read(struct proc_sub *s, uint8_t *buf, size_t max, int keepalive_ms);
void proc_unsubscribe(struct proc_sub *s);

#endif
