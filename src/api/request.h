/* coved's requests as plain values (Firecracker's parsed_request): every
 * body and query string the control API's routes take, and the sandbox a
 * proxied request is for, parsed and checked here before any handler acts
 * on it. No HTTP library types and no manager calls: the inputs are bytes,
 * strings, or a lookup of query arguments; the errors are the messages a
 * client reads in the 400 reply (-EINVAL), or -ENOMEM. The fields, limits
 * and defaults are docs/api.md's. */
#ifndef COVE_API_REQUEST_H
#define COVE_API_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "manager/manager.h"
#include "secrets/secrets.h"
#include "template/template.h"
#include "volume/volume.h"

/* metadata and envVars of a create. */
#define API_MAX_METADATA 64
#define API_MAX_ENV_VARS 256
#define API_MAX_KEY 256
#define API_MAX_VALUE 4096
#define API_LIST_DEFAULT_LIMIT 100
#define API_LIST_MAX_LIMIT 100
#define API_LOGS_DEFAULT_LIMIT 1000
#define API_LOGS_MAX_LIMIT 100000
/* E2B's default refresh. */
#define API_REFRESH_DEFAULT_S 60
/* The most seconds a timeout field may say (E2B's int32); the host's own
 * longest (coved --max-timeout) is the manager's to check. */
#define API_MAX_SECONDS 2147483647L

/* A query string's arguments, decoded; get returns NULL for one absent. */
struct api_query {
	const char *(*get)(void *cls, const char *name);
	void *cls;
};

/* POST /sandboxes and /v2/sandboxes. The lifecycle fields are E2B's:
 * autoPause, autoPauseMemory (default true; false needs autoPause, and
 * cannot go with autoResume), autoResume {"enabled": bool}. The ingress,
 * req.ingress, is E2B's network.allowPublicTraffic (default true),
 * network.maskRequestHost (visible ASCII, under MANAGER_MASK_HOST_MAX
 * bytes; "" or null: none) and network.httpsPorts (distinct port numbers,
 * envd's excepted, at most MANAGER_MAX_HTTPS_PORTS). E2B's fields Cove has
 * nothing behind (volumeMounts, mcp, iam, network.rules) are -ENOSYS when
 * they ask for anything. */
struct api_create_body {
	struct manager_create req; /* what manager_create takes; points into the fields below */
	char *metadata;            /* metadata as compact JSON text, or NULL */
	char **envs;               /* envVars as "KEY=VALUE", NULL-terminated, or NULL */
	const char **allow_out, **deny_out; /* network.allowOut/denyOut, NULL-terminated, or NULL */
	struct net_rules_parsed rules;      /* network.rules */
	struct manager_volume_mount volumes[MANAGER_MAX_VOLUMES]; /* volumeMounts */
	json_t *json;              /* the body: owns the other strings req points at */
};
int api_create_body_parse(const char *body, size_t len, struct api_create_body *ret, struct cove_err *err);
void api_create_body_clear(struct api_create_body *b);

/* The bodies below hold only numbers: nothing to clear. */

/* POST /sandboxes/{id}/timeout: {"timeout": seconds}, required. */
struct api_timeout_body {
	long timeout_s;
};
int api_timeout_body_parse(const char *body, size_t len, struct api_timeout_body *ret, struct cove_err *err);

/* POST /sandboxes/{id}/refreshes: {"duration": seconds}; -1 when not
 * given (the handler's default: 60 s, within the host's longest). */
struct api_refresh_body {
	long duration_s;
};
int api_refresh_body_parse(const char *body, size_t len, struct api_refresh_body *ret, struct cove_err *err);

/* POST /sandboxes/{id}/connect: {"timeout": seconds (-1 when not given:
 * the handler's default, 300 s within the host's longest); "memory": false
 * to boot a paused sandbox from its saved disk}. */
struct api_connect_body {
	long timeout_s;
	bool memory;
};
int api_connect_body_parse(const char *body, size_t len, struct api_connect_body *ret, struct cove_err *err);

/* POST /sandboxes/{id}/pause: {"memory": false for a filesystem-only
 * pause}; the body is optional. */
struct api_pause_body {
	bool memory;
};
int api_pause_body_parse(const char *body, size_t len, struct api_pause_body *ret, struct cove_err *err);

/* POST /sandboxes/{id}/fork: {"count": 1 to MANAGER_MAX_FORK (default 1),
 * "timeout": seconds, more than 0}; the body may be empty. */
struct api_fork_body {
	unsigned count;
	long timeout_s; /* 0: not given (the manager's default) */
};
int api_fork_body_parse(const char *body, size_t len, struct api_fork_body *ret, struct cove_err *err);

/* GET /sandboxes (v1: running only) and /v2/sandboxes (state filter, running
 * and paused by default): ?metadata=k%3Dv%26...&state=running,paused
 * &limit=N&nextToken=T, and on v2 also &template=NAME
 * &startedAfter=RFC3339&order=asc|desc. Sandboxes are listed in creation
 * order, newest first unless asc. */
struct api_list_query {
	json_t *metadata;   /* key -> value (strings) a listed sandbox's metadata has; NULL: any */
	bool running, paused; /* the states listed */
	char template_id[64]; /* "": any */
	bool started_after_set;
	int64_t started_after_ms; /* started at or after (ms since the epoch) */
	bool ascending;     /* order=asc: oldest first */
	/* nextToken: where the previous page ended (its last sandbox's creation
	 * order); 0: from the first. A token is only good for the order it was
	 * given in. */
	int64_t after_seq;
	size_t limit;
};
/* A list's "limit" (1 to max) and a "nextToken" that is a sequence number
 * (> 0) as this server gives it, as the snapshot and secret lists page:
 * into *limit and *before_seq, each left as it is when not asked. */
int api_query_page(const struct api_query *q, int max, size_t *limit, int64_t *before_seq, struct cove_err *err);
int api_list_query_parse(const struct api_query *q, bool v2, struct api_list_query *ret, struct cove_err *err);
void api_list_query_clear(struct api_list_query *q);
/* The nextToken of a page that ended at seq, in that order ("d123", "a123"). */
void api_list_token(bool ascending, int64_t seq, char buf[32]);

/* An RFC 3339 time (2006-01-02T15:04:05[.999999999](Z|+07:00)) as ms since
 * the epoch, finer digits cut off. -EINVAL for anything else. */
int api_time_parse(const char *text, int64_t *ms);

/* GET /sandboxes/{id}/metrics?start=S&end=S (Unix seconds): the range in
 * milliseconds as manager_metrics takes it, end covering its whole second;
 * 0: unbounded. */
struct api_metrics_range {
	int64_t start_ms, end_ms;
};
int api_metrics_range_parse(const struct api_query *q, struct api_metrics_range *ret, struct cove_err *err);

/* GET /sandboxes/{id}/logs?limit=N: the last N lines of each log. */
struct api_logs_query {
	size_t limit;
};
int api_logs_query_parse(const struct api_query *q, struct api_logs_query *ret, struct cove_err *err);

/* PUT /sandboxes/{id}/network (the SDK's updateNetwork): the sandbox's
 * whole egress policy, replaced (an omitted field is its default):
 * {"allow_internet_access" (or "allowInternetAccess"): bool, default true;
 * "allowOut", "denyOut": lists of IPv4 addresses, CIDRs or domain names}. "rules" and
 * "egressProxy" asking for anything are -ENOSYS. */
struct api_network_body {
	struct net_policy policy;           /* points into the fields below */
	const char **allow_out, **deny_out; /* NULL-terminated, or NULL */
	struct net_rules_parsed rules;
	json_t *json;                       /* the body: owns the strings */
};
int api_network_body_parse(const char *body, size_t len, struct api_network_body *ret, struct cove_err *err);
void api_network_body_clear(struct api_network_body *b);

/* POST /sandboxes/{id}/snapshots: {"name": "[NAMESPACE/]NAME[:TAG]"},
 * optional (E2B's names: template_ref). */
struct api_snapshot_body {
	bool named;
	struct template_ref name;
};
int api_snapshot_body_parse(const char *body, size_t len, struct api_snapshot_body *ret, struct cove_err *err);

/* GET /snapshots?sandboxID=ID&name=[NAMESPACE/]NAME[:TAG]&limit=N&nextToken=T
 * (empty values: absent). */
struct api_snapshot_query {
	char sandbox[64];   /* made from it; "": any */
	bool named;
	struct template_ref name; /* its id or name; without a tag, every tag */
	int64_t before_seq; /* nextToken: only older than this; 0: from the newest */
	size_t limit;       /* 1 to API_LIST_MAX_LIMIT, default API_LIST_DEFAULT_LIMIT */
};
int api_snapshot_query_parse(const struct api_query *q, struct api_snapshot_query *ret, struct cove_err *err);

/* coved's domain (--domain): a host name without a port, its labels of
 * letters, digits and hyphens (1 to 63 each, 253 in all, the last not all
 * digits), lower-cased into out. */
#define API_DOMAIN_MAX 254
int api_domain_parse(const char *in, char out[API_DOMAIN_MAX], struct cove_err *err);

/* Which sandbox, and which port of its guest, a request is for: its
 * E2b-Sandbox-Id header (id_header) with E2b-Sandbox-Port (port_header,
 * default 49983), else a Host of PORT-ID.DOMAIN[:port] for coved's domain
 * (as api_domain_parse gives it; any case in host). Any other Host, api.DOMAIN
 * among them, is for the routes. Returns 0 when it is for none (the routes
 * serve it), 1 when it is for t, or a negative errno when it names one
 * wrongly, with t as far as it got and err saying how: -ENOENT for an id no
 * sandbox can have, -EINVAL for a port that is not one. */
struct api_sandbox_target {
	char id[64];
	unsigned port;
};
int api_sandbox_target_parse(const char *id_header, const char *port_header, const char *host, const char *domain,
			     struct api_sandbox_target *t, struct cove_err *err);

/* The Host a request to port of a sandbox made with maskRequestHost mask
 * carries to its guest: mask with every "${PORT}" replaced by the port
 * (E2B's orchestrator proxy's rule), into out. Never longer than mask. */
void api_mask_host(const char *mask, unsigned port, char out[MANAGER_MASK_HOST_MAX]);

/* POST /secrets (create: {"name", "value", "metadata"?}) and POST
 * /secrets/{id} ({"value", "metadata"?}): E2B's NewSecret and SecretUpdate,
 * checked by secrets/secrets.h's rules, the name lower-cased. The value
 * stays in json (w points into it); clearing zeroes it. */
struct api_secret_body {
	struct secret_write w;
	char name[SECRETS_NAME_MAX + 1];
	char *metadata; /* compact JSON text, or NULL when not given */
	json_t *json;
};
int api_secret_body_parse(const char *body, size_t len, bool create, struct api_secret_body *ret,
			  struct cove_err *err);
void api_secret_body_clear(struct api_secret_body *b);

/* GET /secrets?limit=N&nextToken=T: a page of at most limit (1 to
 * SECRETS_LIST_MAX, default API_LIST_DEFAULT_LIMIT) made before before_seq
 * (the token: where the last page ended; 0 from the newest). */
struct api_secret_query {
	int64_t before_seq;
	size_t limit;
};
int api_secret_query_parse(const struct api_query *q, struct api_secret_query *ret, struct cove_err *err);

/* POST /volumes: {"name": NAME}, NAME as volume_name_check has it. */
int api_volume_body_parse(const char *body, size_t len, char name[VOLUME_NAME_MAX + 1], struct cove_err *err);
/* The volume content API's query (/volumecontent/{id}/dir, /path, /file):
 * path (required; at most VOLUME_PATH_MAX - 2 bytes, no control
 * characters), depth (1 to VOLUME_LIST_DEPTH_MAX, default 1), uid and gid
 * (0 to 4294967294), mode (0 to 07777, as a decimal number: the SDK sends
 * 0o644 as 420), force ("true" or "false"). What a route does not use is
 * ignored. */
struct api_volume_query {
	char path[VOLUME_PATH_MAX];
	unsigned depth;
	struct volume_attrs attrs;
	bool has_force, force;
};
int api_volume_query_parse(const struct api_query *q, struct api_volume_query *ret, struct cove_err *err);
/* PATCH /volumecontent/{id}/path: {"uid", "gid", "mode"}, each optional (a
 * number in the ranges above, or null), at least one given. */
int api_volume_attrs_parse(const char *body, size_t len, struct volume_attrs *ret, struct cove_err *err);

#endif
