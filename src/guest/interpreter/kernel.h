/* Jupyter kernels: found by their kernelspecs, started as child processes
 * with a connection file of our own (IPC sockets in a private directory,
 * a random HMAC key), and spoken to over ZeroMQ (Debian's libzmq): shell
 * and control as DEALER sockets, IOPub as SUB. No Jupyter Server.
 *
 * A kernel's sockets are used by one thread at a time: its context's
 * current run (context.h serialises them). kernel_interrupt and
 * kernel_alive may be called from any thread. */
#ifndef COVE_INTERPRETER_KERNEL_H
#define COVE_INTERPRETER_KERNEL_H

#include <stdbool.h>

#include "common/err.h"
#include "interpreter/wire.h"

#define KERNEL_LANGUAGE_MAX 32

/* A kernelspec (kernel.json in a jupyter/kernels directory). */
struct kernel_spec {
	char name[64];                     /* its directory's name: python3, ir */
	char language[KERNEL_LANGUAGE_MAX]; /* as runCode names it: python, r */
	char dir[512];
	json_t *argv; /* array of strings; "{connection_file}" is replaced */
	json_t *env;  /* object or NULL */
	bool interrupt_message; /* interrupt_mode "message" (else a SIGINT) */
};

/* The spec for a runCode language ("python", "r", "js", ...; NULL or "" is
 * python). -ENOENT with err naming the languages there are. */
int kernel_spec_find(const char *language, struct kernel_spec *spec, struct cove_err *err);
void kernel_spec_clear(struct kernel_spec *spec);
/* The languages installed kernelspecs serve, comma separated. */
void kernel_languages(char *buf, size_t len);

enum kernel_channel { KERNEL_SHELL, KERNEL_IOPUB, KERNEL_CONTROL };

struct kernel;

/* Starts a kernel of spec in cwd and waits (up to timeout_ms) until it
 * answers on shell and publishes on IOPub. The environment is ours plus the
 * spec's. */
int kernel_start(const struct kernel_spec *spec, const char *cwd, int timeout_ms, struct kernel **ret,
		 struct cove_err *err);
/* Asks it to shut down, then kills what is left; removes its files. NULL-safe. */
void kernel_stop(struct kernel *k);

/* Sends a request; its msg_id is in msg_id. */
int kernel_send(struct kernel *k, enum kernel_channel ch, const char *msg_type, json_t *content,
		char msg_id[WIRE_ID_MAX + 1], struct cove_err *err);
/* The next message on shell or IOPub, waiting up to timeout_ms: 1 with msg
 * filled, 0 on time-out, -ESRCH when the kernel process is gone, another
 * negative errno on failure. Messages that do not parse are logged and
 * skipped. */
int kernel_recv(struct kernel *k, int timeout_ms, enum kernel_channel *ch, struct wire_msg *msg);

/* Interrupts the code it runs (SIGINT to its process group, or an
 * interrupt_request on control for a message-mode kernel). */
int kernel_interrupt(struct kernel *k);
/* SIGKILL to its process group (restart, remove). */
void kernel_kill(struct kernel *k);
bool kernel_alive(struct kernel *k);
/* How it ended ("exit status 1", "signal 9"), for an error message. */
void kernel_status(struct kernel *k, char *buf, size_t len);
int kernel_pid(const struct kernel *k);

#endif
