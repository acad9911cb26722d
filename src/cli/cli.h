/* The cove command: a table maps verbs to cmd_* functions (kvmtool's
 * builtin-*.c layout), one file per verb. */
#ifndef COVE_CLI_H
#define COVE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* -p [ADDR:]HOSTPORT:GUESTPORT (address default 127.0.0.1; host port 0: any). */
struct cli_publish {
	char addr[16];
	uint16_t host_port, guest_port;
};
int cli_parse_publish(const char *arg, struct cli_publish *p);

/* Default guest files: COVE_KERNEL / COVE_ROOTFS, else next to the binary
 * (build/bin/../guest/), else /usr/local/share/cove/. */
int cli_default_guest_file(const char *env, const char *name, char *out, size_t len);

#endif
