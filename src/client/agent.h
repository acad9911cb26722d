/* A client of the guest agent (cove-agent, or any envd): the host's side of
 * the protocol in docs/agent-protocol.md, over HTTP/1.1 with libcurl. It
 * sets an agent up (/init), reads its metrics, runs commands in the guest
 * with their output streamed back, and sends them input, terminal sizes and
 * signals. An agent is reached inside a sandbox's network namespace, on the
 * host (tests), or through coved's envd routing (struct agent_endpoint).
 * The sandbox module and the cove command use it; it knows nothing of
 * sandboxes. */
#ifndef COVE_CLIENT_AGENT_H
#define COVE_CLIENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/process.h"
#include "proto/version.h"

/* Where a guest agent listens: an IPv4 address and port, inside a network
 * namespace (netns_fd) or, with -1, in the caller's (an agent run on the
 * host, for tests). Or, with via set, through coved's envd routing: via is
 * coved's base URL ("http://127.0.0.1:49982") and sandbox the id it routes
 * by (E2b-Sandbox-Id; port becomes E2b-Sandbox-Port). A guest's agent
 * listens on ENVD_PORT. */
struct agent_endpoint {
	int netns_fd;
	const char *address;
	unsigned port;
	const char *token; /* X-Access-Token, NULL for none */
	const char *via;
	const char *sandbox;
};

/* An NFSv3 export of the host's volume server for the guest to mount at
 * path (/init's volumeMounts; docs/agent-protocol.md says what the agent
 * accepts). port and mount_port 0: the agent's defaults, 2049 and 20048.
 * With tag instead: a virtiofs device of that tag (a shared host
 * directory), mounted read-only when read_only. */
struct agent_volume_mount {
	const char *path;   /* absolute, in the guest */
	const char *server; /* the server's IPv4 address as the guest reaches it */
	const char *export; /* "/vol_" and 24 hex digits */
	uint16_t port;
	uint16_t mount_port;
	const char *tag;    /* non-NULL: virtiofs, server and export unused */
	bool read_only;
};

/* What POST /init tells an agent, besides the host's clock (always sent). */
struct agent_init_request {
	const char *token;           /* the new access token; NULL: none */
	const char *default_user;    /* NULL: the agent's own (root) */
	const char *default_workdir; /* NULL: the user's home */
	const char *const *envs;     /* "KEY=VALUE" for every process, NULL-terminated; may be NULL */
	/* IPv4 addresses the guest's resolv.conf is to name, NULL-terminated;
	 * NULL or empty: the file stays as it is. */
	const char *const *nameservers;
	/* Certificates (PEM) the guest is to trust, in its system store and for
	 * its runtimes (coved's egress authority); NULL: none given. */
	const char *ca_bundle;
	/* Volumes the guest is to have mounted (all or none; those mounted by
	 * an earlier /init stay as they are); nmounts 0: none given. */
	const struct agent_volume_mount *mounts;
	size_t nmounts;
};

/* POST /init: sets the agent's access token, defaults and environment, the
 * guest's clock to the host's, its nameservers and the certificates it
 * trusts, and mounts its volumes (an /init with volumes may take over a
 * minute against a server that never answers). An agent's refusal is
 * -EPROTO (-EACCES: the token) with the agent's message. */
int agent_init(const struct agent_endpoint *ep, const struct agent_init_request *req, struct cove_err *err);

/* What the guest agent's GET /metrics reports of the guest. */
struct agent_metrics {
	unsigned cpu_count;
	double cpu_used_pct;
	uint64_t mem_total, mem_used, disk_total, disk_used; /* bytes */
	uint64_t mem_cache;          /* the page cache, bytes */
};
int agent_metrics(const struct agent_endpoint *ep, struct agent_metrics *ret, struct cove_err *err);

typedef int (*agent_output_fn)(void *ctx, enum process_stream stream, const uint8_t *data, size_t len);

struct agent_exec_request {
	const char *const *argv;
	const char *const *envs; /* "KEY=VALUE", NULL-terminated, may be NULL */
	const char *cwd;         /* NULL: the guest user's home */
	agent_output_fn on_output;
	void *ctx;
	/* A terminal of cols x rows: output arrives as PROCESS_PTY, input goes
	 * through agent_send_input. */
	bool pty;
	unsigned short cols, rows;
	void (*on_start)(void *ctx, int pid); /* may be NULL */
	const char *user; /* the guest user it runs as; NULL: the agent's default */
	unsigned timeout_ms; /* the agent kills it after this long (Connect-Timeout-Ms); 0: never */
};

struct agent_exec_result {
	int pid;
	bool exited;      /* false: killed by a signal */
	int exit_code;    /* when exited */
	int signal;       /* when killed */
	char status[64];  /* "exit status 3", "signal: killed" */
};

/* Runs a command in the guest and streams its output to on_output as it
 * arrives. A command that cannot start fails with the guest's errno
 * (-ENOENT: not found, -EACCES: not executable) and err says which.
 * cancel_fd: readable means give up; -1 for none. */
int agent_exec(const struct agent_endpoint *ep, const struct agent_exec_request *req, struct agent_exec_result *res,
	       int cancel_fd, struct cove_err *err);

/* POST /files: writes the host file `from` to guest_path in the guest (its
 * parents made), owned by user (NULL: the agent's default user), as envd's
 * upload of one application/octet-stream file does. cancel_fd as
 * agent_exec. */
int agent_upload(const struct agent_endpoint *ep, const char *from, const char *guest_path, const char *user,
		 int cancel_fd, struct cove_err *err);

/* Input for a process started with a terminal (agent_exec with pty), and
 * the terminal's new size. */
int agent_send_input(const struct agent_endpoint *ep, int pid, const uint8_t *data, size_t len, struct cove_err *err);
int agent_resize(const struct agent_endpoint *ep, int pid, unsigned short cols, unsigned short rows,
		 struct cove_err *err);
/* SIGKILL (force) or SIGTERM to a process the agent started. */
int agent_kill(const struct agent_endpoint *ep, int pid, bool force, struct cove_err *err);

#endif
