/* What the host tells the agent through POST /init: the access token that
 * every later request must present, environment variables for every
 * process, the default working directory, the host's clock, the guest's
 * nameservers (agent/resolv.h), the egress authority it is to trust
 * (agent/cacert.h) and the volumes to mount (agent/mounts.h). Shared by
 * all request threads under one lock. */
#ifndef COVE_AGENT_STATE_H
#define COVE_AGENT_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "proto/version.h"

/* set_clock: /init's timestamp may set the system clock (in a guest only:
 * an agent run on a host for tests must never touch the host's clock).
 * mount_volumes: /init's volumeMounts are mounted (in a guest only; an
 * agent without it answers an /init that has some with an error).
 * resolv_conf: the file /init's nameservers are written to (the guest's
 * /etc/resolv.conf; a test's file on a host); NULL: none is written.
 * ca_root: the tree whose trust store /init's caBundle goes into (the
 * guest's /; a test's directory); NULL: none is installed. */
void agent_state_setup(bool set_clock, bool mount_volumes, const char *resolv_conf, const char *ca_root);

/* True when no token is set, or presented equals it (constant time). */
bool agent_token_ok(const char *presented);

/* GET and POST /files take the token in X-Access-Token or, for URLs handed
 * to someone else, a signature in the query (envd's signed URLs):
 * signature = "v1_" + unpadded base64 of SHA-256 over
 * "path:operation:username:token" (":expiration" appended when given). */
struct agent_files_auth {
	const char *header_token; /* X-Access-Token, NULL when absent */
	const char *signature;    /* ?signature=, NULL when absent */
	const char *expiration;   /* ?signature_expiration= (Unix seconds), NULL when absent */
	const char *path;         /* ?path= as sent, NULL when absent */
	const char *user;         /* ?username= as sent, NULL when absent */
	const char *operation;    /* "read" (GET) or "write" (POST) */
};
/* 0 when allowed (always, while no token is set); -EACCES with why filled. */
int agent_files_authorize(const struct agent_files_auth *a, char *why, size_t len);

/* The envd version the agent implements, sent as X-Envd-Version by /init. */
#define AGENT_ENVD_VERSION ENVD_VERSION

/* Applies an /init body. Fields absent are left as they were. volumeMounts
 * are mounted first (agent/mounts.h), all or none; -EINVAL: a field is
 * malformed (nothing applied); -EOPNOTSUPP: volumeMounts given to an agent
 * without mount_volumes (nothing applied). */
int agent_init_apply(json_t *req, struct cove_err *err);

/* /init's defaultUser into buf ("" when unset). */
void agent_default_user(char *buf, size_t len);

/* /init's envVars as a JSON object NAME -> value (GET /envs), NULL when
 * out of memory. */
json_t *agent_envs_json(void);

/* Copies of the defaults, for one process start: a NULL-terminated
 * "KEY=VALUE" array (the trust store's variables, agent_ca_envs, that
 * envVars do not set, then envVars) and a directory (NULL when unset).
 * Free with agent_defaults_free. */
struct agent_defaults {
	char **envs;
	char *workdir;
};
void agent_defaults_get(struct agent_defaults *out);
void agent_defaults_free(struct agent_defaults *d);

#endif
