/* Starting a command for a client: argv, environment, working directory,
 * separate pipes for stdout and stderr. The command leads a new session (so
 * signals reach its whole tree) and is held by a pidfd. Kept apart from any
 * transport, so the envd API's process service uses the same code. */
#ifndef COVE_AGENT_SPAWN_H
#define COVE_AGENT_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/users.h"
#include "common/err.h"

struct spawn_request {
	char *const *argv;  /* argv[0] is looked up on the PATH of envs, like a shell */
	char *const *envs;  /* "KEY=VALUE" from the client, override the defaults */
	const char *cwd;    /* NULL: default_cwd, else the user's home */
	char *const *default_envs; /* from /init: below envs, above the built-in defaults */
	const char *default_cwd;   /* from /init */
	const struct user_info *user; /* run as this user (NULL: as the agent) */
	bool stdin_open;    /* a pipe for stdin (else /dev/null) */
	bool pty;           /* a pseudo-terminal for stdin, stdout and stderr */
	unsigned short cols, rows; /* its size */
};

struct spawned {
	pid_t pid;
	int pidfd;
	int stdin_fd;  /* write end of the stdin pipe, or the PTY master; -1 if none */
	int stdout_fd; /* read ends, O_CLOEXEC | O_NONBLOCK; with a PTY, the master */
	int stderr_fd; /* -1 with a PTY */
};

/* On failure to start (not found, not executable, bad cwd) returns the
 * negative errno and err names the command or directory. */
int spawn_command(const struct spawn_request *req, struct spawned *out, struct cove_err *err);
/* Closes whatever the struct still holds. */
void spawned_close(struct spawned *s);

#endif
