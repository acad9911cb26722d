/* Template builds as E2B's API takes them (what npm e2b's Template.build()
 * sends): the bodies of POST /v3/templates, of the build trigger POST
 * /v2/templates/{id}/builds/{build} and of the tag routes, and the status
 * query, parsed into plain values before anything acts on them; and the
 * cache keys a build's layers are found by. Pure: no I/O, no HTTP types.
 * A parser's error is -EINVAL with the message a client reads in the 400
 * reply (it names the field, the step by its 1-based number, and why), or
 * -ENOMEM. The rules are E2B's server's (e2b-dev/infra), so a template that
 * builds there parses here. */
#ifndef COVE_BUILD_SPEC_H
#define COVE_BUILD_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "template/template.h"

#define BUILD_MAX_TAGS 32      /* tags[] of a create or a tag route */
#define BUILD_MAX_STEPS 256
#define BUILD_MAX_CMD 65536    /* a RUN command: well under Linux's 128 KiB for one exec argument */
#define BUILD_MAX_ARG 4096     /* any other step argument: a path, user, ENV value (PATH_MAX) */
#define BUILD_MAX_ENVS 256     /* name/value pairs of one ENV step */
#define BUILD_MAX_START_CMD (sizeof(((struct template *)0)->start_cmd) - 1) /* startCmd, readyCmd */
#define BUILD_MAX_CPUS 64
#define BUILD_MIN_MEMORY_MIB 128
#define BUILD_MAX_MEMORY_MIB 65536
#define BUILD_MAX_FREE_DISK_MIB 1048576
#define BUILD_USER_MAX 32      /* a user name (useradd's limit) */
#define BUILD_HASH_HEX 64      /* a files hash or a cache key: SHA-256 in lower-case hex */
/* E2B's default base (what a Template() with no from* call means, when
 * neither fromImage nor fromTemplate is given): Cove's own template. */
#define BUILD_DEFAULT_TEMPLATE "base"

/* A tag list: lower-cased, checked as a tag (template_ref's rules),
 * deduplicated (first one kept). E2B's tag "default" is "" here, as in
 * struct template_ref. */
struct build_tags {
	size_t n;
	char tag[BUILD_MAX_TAGS][TEMPLATE_REF_MAX + 1];
};

/* POST /v3/templates: {"name": "[namespace/]alias[:tag]" (or the legacy
 * "alias"; one is required), "tags": [...], "cpuCount", "memoryMB",
 * "minFreeDiskMb"}. Unknown keys are ignored. */
struct build_create {
	struct template_ref name;
	/* The tags the build gets: name's tag and tags[], or "" (default) alone
	 * when neither gives one. Never empty. */
	struct build_tags tags;
	unsigned cpu_count;         /* 1..BUILD_MAX_CPUS; 0: not given */
	unsigned memory_mib;        /* BUILD_MIN..MAX_MEMORY_MIB; 0: not given */
	unsigned min_free_disk_mib; /* 0..BUILD_MAX_FREE_DISK_MIB; 0: not given */
};
int build_create_parse(const char *body, size_t len, struct build_create *ret, struct cove_err *err);

enum build_step_type { BUILD_RUN, BUILD_COPY, BUILD_ENV, BUILD_WORKDIR, BUILD_USER };
/* "RUN", "COPY", ... */
const char *build_step_type_name(enum build_step_type type);

/* One step; its strings point into its build_trigger's json. Arguments:
 *   RUN     cmd [user]            cmd non-empty, user "" (the current one) or a name
 *   COPY    src dest owner mode   src relative without "..", dest non-empty, owner
 *                                 "" or user[:group] (names or ids), mode "" or
 *                                 1-4 octal digits; files_hash required
 *   ENV     name value ...        pairs, names of [A-Za-z_][A-Za-z0-9_]*
 *   WORKDIR path
 *   USER    name [sudo]           sudo "true" or "false" */
struct build_step {
	enum build_step_type type;
	size_t n_args;
	const char **args;
	bool force;                          /* skip the cache for this step */
	char files_hash[BUILD_HASH_HEX + 1]; /* COPY: the upload's hash; "" otherwise */
};

enum build_base { BUILD_BASE_IMAGE, BUILD_BASE_TEMPLATE };
enum build_registry { BUILD_REGISTRY_NONE, BUILD_REGISTRY_BASIC, BUILD_REGISTRY_AWS, BUILD_REGISTRY_GCP };

/* POST /v2/templates/{id}/builds/{build}: {"fromImage" | "fromTemplate"
 * (at most one), "fromImageRegistry", "steps": [{"type", "args", "force",
 * "filesHash"}], "startCmd", "readyCmd", "force"}. Unknown keys, at the top
 * and in steps, are ignored. */
struct build_trigger {
	enum build_base base;
	const char *from;  /* the image reference, or the template's name */
	bool default_base; /* neither was given: from is BUILD_DEFAULT_TEMPLATE */
	struct template_ref template; /* BUILD_BASE_TEMPLATE: from, parsed */
	/* fromImageRegistry (only with fromImage; ignored otherwise, as the
	 * SDK leaves it set after a fromTemplate). AWS and GCP parse (their
	 * secrets are not kept) but Cove cannot log in to them: the API says
	 * 501 with registry_type. */
	enum build_registry registry;
	const char *registry_type; /* "registry", "aws", "gcp"; NULL for none */
	const char *username, *password; /* BUILD_REGISTRY_BASIC */
	size_t n_steps;
	struct build_step *steps;
	const char *start_cmd, *ready_cmd; /* NULL: none */
	bool force;                        /* rebuild every layer */
	json_t *json;                      /* the body: owns the strings */
};
int build_trigger_parse(const char *body, size_t len, struct build_trigger *ret, struct cove_err *err);
void build_trigger_clear(struct build_trigger *t);

/* POST /templates/tags {"target": "alias[:tag]", "tags": [...]} (the build
 * target names gets tags too) and DELETE /templates/tags {"name":
 * "alias", "tags": [...]}; at least one tag. */
struct build_tags_body {
	struct template_ref ref; /* target or name */
	struct build_tags tags;
};
int build_tags_assign_parse(const char *body, size_t len, struct build_tags_body *ret, struct cove_err *err);
int build_tags_remove_parse(const char *body, size_t len, struct build_tags_body *ret, struct cove_err *err);

/* GET /templates/{id}/builds/{build}/status?logsOffset=N&limit=N&level=L;
 * each argument NULL or "" when absent. */
enum build_log_level { BUILD_LOG_DEBUG, BUILD_LOG_INFO, BUILD_LOG_WARN, BUILD_LOG_ERROR };
#define BUILD_LOGS_MAX_LIMIT 100 /* E2B's page */
struct build_status_query {
	size_t logs_offset;             /* entries already read; default 0 */
	size_t limit;                   /* 0..BUILD_LOGS_MAX_LIMIT, default the most */
	enum build_log_level min_level; /* default debug: all */
};
int build_status_query_parse(const char *logs_offset, const char *limit, const char *level,
			     struct build_status_query *ret, struct cove_err *err);
/* "debug", "info", "warn", "error" */
const char *build_log_level_name(enum build_log_level level);

/* Layer cache keys, SHA-256 in hex (BUILD_HASH_HEX + 1 bytes with the NUL).
 * A layer's key is a function of its parent's and of what the step does
 * (type, arguments, files hash; not force), so a change to a step changes
 * the key of every layer after it. The base's key is the caller's (the
 * image's digest, or the template's id and build). The finalize phase's
 * adds the start and ready commands and the sandbox size. Each field is
 * length-prefixed: ["a b"] and ["a", "b"] differ. */
void build_layer_key(const char *parent_key, const struct build_step *step, char out[BUILD_HASH_HEX + 1]);
void build_finalize_key(const char *last_key, const char *start_cmd, const char *ready_cmd, unsigned cpu_count,
			unsigned memory_mib, char out[BUILD_HASH_HEX + 1]);

#endif
