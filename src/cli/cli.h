/* The cove command: a table maps verbs to cmd_* functions (kvmtool's
 * builtin-*.c layout), one file per verb. */
#ifndef COVE_CLI_H
#define COVE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

/* Exit codes of cove itself, as docker run uses them: 125 when cove failed,
 * 126 when the command cannot run, 127 when it was not found; otherwise the
 * command's own status (128+N for a signal). */
#define CLI_EXIT_FAILURE 125
#define CLI_EXIT_CANNOT_RUN 126
#define CLI_EXIT_NOT_FOUND 127
#define CLI_EXIT_USAGE 2

int cmd_run(int argc, char **argv);
int cmd_net(int argc, char **argv);
int cmd_port_forward(int argc, char **argv);
int cmd_template(int argc, char **argv);
/* cove template build with build steps (build.c); templates and kernel
 * are the absolute paths cmd_template found. */
int cli_template_build_steps(int argc, char **argv, const char *templates, const char *kernel);
/* cove template build --from-image (template_image.c): the image imported
 * into dir/name, whole or not at all. 0 or an exit status, said on stderr. */
#define CLI_MAX_INSECURE 16
struct cli_image_build {
	const char *ref, *username, *password;
	const char *start_cmd, *ready_cmd; /* NULL: none */
	const char *insecure[CLI_MAX_INSECURE + 1];
	unsigned max_disk_mib;
	const char *bin, *dir, *name;
};
int cli_template_from_image(const struct cli_image_build *ib);
/* cove template rm: dir/name removed whole. */
int cli_template_rm(const char *dir, const char *name);
/* Through coved's API (create.c, ls.c, exec.c, cp.c, lifecycle.c, fork.c,
 * snapshot.c, snapshots.c, logs.c, templates.c, host.c; what they share is in
 * remote.c). */
int cmd_create(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_fork(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_templates(int argc, char **argv);
int cmd_volume(int argc, char **argv);
/* cove host ls|drain|undrain|forget: a cluster's hosts (host.c). */
int cmd_host(int argc, char **argv);

/* --url and --api-key, which every verb that talks to coved takes. */
enum { CLI_OPT_URL = 200, CLI_OPT_API_KEY };
#define CLI_CLIENT_LONGOPTS \
	{ "url", required_argument, NULL, CLI_OPT_URL }, { "api-key", required_argument, NULL, CLI_OPT_API_KEY }
#define CLI_CLIENT_HELP \
	"  --url URL         coved's address (default $COVE_URL, else " CLIENT_DEFAULT_URL ")\n" \
	"  --api-key KEY     its API key (default $COVE_API_KEY, else $COVE_STATE_DIR/api-key)\n"
struct client_config;
struct client;
struct json_t;
/* Takes getopt's c when it is one of those; -1 when it is not. */
int cli_client_option(int c, struct client_config *cc);
/* The client, or NULL after saying why on stderr. */
struct client *cli_client(const char *verb, const struct client_config *cc);

/* client_call, a failure said on stderr as cove VERB; 0 or -1. */
int cli_call(struct client *cl, const char *verb, const char *method, const char *path, struct json_t *body,
	     struct json_t **reply);

/* GET base (a path with a query) and every further page of it (coved's
 * X-Next-Token, sent back as &nextToken=), into one array; NULL after
 * cli_call said why. */
struct json_t *cli_get_all(struct client *cl, const char *verb, const char *base);

/* How many --meta K=V a verb takes. */
#define CLI_MAX_META 64
/* How a verb that talks to coved is called, for cli_parse_verb. */
struct option;
struct cli_verb_syntax {
	const char *usage;     /* for --help (stdout) and usage errors (stderr) */
	const char *shortopts; /* NULL: "h" */
	const struct option *opts;
	int min_operands, max_operands; /* max -1: any number */
};
/* getopt for such a verb: --help prints the usage (1), --url and --api-key
 * go to cc, any other option (long, or short from shortopts) to fn (non-zero:
 * a bad value); a usage error, or operands too few or too many, prints the
 * usage to stderr (-1). 0: optind at the operands. */
int cli_parse_verb(const struct cli_verb_syntax *syn, int argc, char **argv, struct client_config *cc,
		   int (*fn)(void *ctx, int c), void *ctx);
/* The argument of option (--timeout, --limit): a whole number of at least
 * 1, else -1 after saying so as cove VERB ("expected a number of what"). */
int cli_parse_count(const char *verb, const char *option, const char *what, const char *arg, long *out);
/* /sandboxes/ID plus suffix into buf; -1 when id cannot name a sandbox
 * (ids are [a-z0-9-]) or buf is too small. */
int cli_sandbox_path(char *buf, size_t len, const char *id, const char *suffix);
/* 1.5K, 20M, 3.1G: what a file takes on disk. */
void cli_human_bytes(uint64_t b, char *buf, size_t len);

/* Seconds since the epoch of an ISO 8601 time as coved writes it (UTC), 0
 * when it is not one. */
int64_t cli_parse_time(const char *iso);
/* 45s, 12m, 3h; "-" when negative. */
void cli_human_duration(int64_t s, char *buf, size_t len);

/* How the agent of a running sandbox is reached through coved. */
struct cli_endpoint {
	char id[64];
	char token[128];
	struct agent_endpoint ep;
};
/* Looks the sandbox up (its token); -1 after saying why on stderr. */
int cli_sandbox_endpoint(struct client *cl, const char *verb, const char *id, struct cli_endpoint *ret);
/* Runs req through ep, output to stdout/stderr, reporting failures as cove
 * VERB; returns the exit code (cli_exit_code). */
int cli_exec_via(const struct agent_endpoint *ep, const struct agent_exec_request *req, int cancel_fd, const char *verb);
/* SIGINT, SIGTERM, SIGHUP (and SIGWINCH with winch) blocked and delivered on
 * the returned descriptor (readable: cancel), SIGPIPE ignored. Call before
 * any thread starts, so all inherit the mask. */
int cli_signal_fd(bool winch);
/* Output of a command to cove's stdout or stderr (agent_output_fn). */
int cli_write_output(void *ctx, enum process_stream stream, const uint8_t *data, size_t len);
/* cove's exit status for a command that ran (or not): its own, 128+N for a
 * signal, 127/126/125/130 as docker run has them. */
int cli_exit_code(int r, const struct agent_exec_result *res);

/* -p [ADDR:]HOSTPORT:GUESTPORT (address default 127.0.0.1; host port 0: any). */
struct cli_publish {
	char addr[16];
	uint16_t host_port, guest_port;
};
int cli_parse_publish(const char *arg, struct cli_publish *p);

#endif
