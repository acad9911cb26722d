/* process.Process messages in proto3 JSON, as E2B's envd defines them
 * (e2b-dev/infra packages/envd/spec/process/process.proto): the Start
 * request, the stream's events, and the Connect end-of-stream message.
 * Shared by the guest agent (which parses requests and writes events) and
 * the host (which does the reverse). */
#ifndef COVE_PROTO_PROCESS_H
#define COVE_PROTO_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Limits on what a request may carry (hostile input is bounded). */
#define PROCESS_MAX_ARGS 4096
#define PROCESS_MAX_ENVS 4096
#define PROCESS_MAX_STRING (128 * 1024)

struct process_start {
	char **argv;     /* cmd, then args; NULL-terminated */
	char **envs;     /* "KEY=VALUE"; NULL-terminated */
	char *cwd;       /* NULL: the default */
	char *tag;       /* NULL: none */
	bool stdin_open; /* proto default is true; the SDK sends false for commands.run */
	bool pty;        /* "pty": {"size": {"cols", "rows"}} was given */
	unsigned short cols, rows;
};

/* {"size":{"cols":C,"rows":R}}: both required, 1..4096. */
int process_pty_size_parse(const void *json_obj, unsigned short *cols, unsigned short *rows, struct cove_err *err);

int process_start_parse(const void *json, size_t len, struct process_start *out, struct cove_err *err);
void process_start_clear(struct process_start *s);
/* envs are "KEY=VALUE" strings; returns malloc'd JSON or NULL. */
char *process_start_encode(const char *const *argv, const char *const *envs, const char *cwd, bool stdin_open);
/* The same with a terminal of cols x rows (stdin open: input goes through
 * SendInput's "pty"). */
char *process_start_encode_pty(const char *const *argv, const char *const *envs, const char *cwd,
			       unsigned short cols, unsigned short rows);

enum process_event_kind { PROCESS_EVENT_START, PROCESS_EVENT_DATA, PROCESS_EVENT_END, PROCESS_EVENT_KEEPALIVE };
enum process_stream { PROCESS_STDOUT, PROCESS_STDERR, PROCESS_PTY };

struct process_event {
	enum process_event_kind kind;
	int pid;                    /* start */
	enum process_stream stream; /* data */
	uint8_t *data;              /* data, decoded; owned */
	size_t len;
	int exit_code;              /* end: -1 when killed by a signal, as Go reports it */
	bool exited;                /* end: false when killed by a signal */
	char status[64];            /* end: "exit status 3", "signal: killed" */
	char error[256];            /* end: optional error text */
};

char *process_event_encode_start(int pid);
char *process_event_encode_data(enum process_stream stream, const uint8_t *data, size_t len);
/* From a waitpid() status, with Go's os.ProcessState semantics (envd is Go). */
char *process_event_encode_end(int wait_status);
char *process_event_encode_keepalive(void);
int process_event_parse(const void *json, size_t len, struct process_event *ev, struct cove_err *err);
void process_event_clear(struct process_event *ev);

/* "exit status N" or "signal: <name>" the way Go prints a ProcessState. */
void process_status_text(int wait_status, char *buf, size_t len);
/* The signal number behind a "signal: <name>" status, or 0. */
int process_status_signal(const char *status);

/* Connect's end-of-stream message: "{}" or {"error":{"code","message"}}. */
char *connect_end_encode(const char *code, const char *message);
/* code gets "" when the stream ended without an error. */
int connect_end_parse(const void *json, size_t len, char *code, size_t code_len, char *message, size_t message_len);
/* Connect code for an errno from starting a process (ENOENT -> "not_found"). */
const char *connect_code_for_errno(int e);

#endif
