/* What the files of src/build/ share and nobody else uses: the checks
 * the parsers share; the context build steps run in (user, working
 * directory, environment), kept with each cached layer; and the step
 * runner (steps.c) that runner.c calls with a build VM. */
#ifndef COVE_BUILD_INTERNAL_H
#define COVE_BUILD_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "build/runner.h"
#include "common/err.h"
#include "sandbox/sandbox.h"

/* s is BUILD_HASH_HEX lower-case hex digits (E2B's ^[0-9a-f]{64}$). */
bool build_hash_ok(const char *s);

/* A user name as useradd takes it by default: [a-z_][a-z0-9_-]*, at most
 * BUILD_USER_MAX, optionally ending in '$'. */
bool build_user_ok(const char *s);

/* p does not start with '/' and has no ".." component. */
bool build_relative_ok(const char *p);

/* n bytes as 2n lower-case hex digits and a NUL. */
void build_hex(const uint8_t *d, size_t n, char *out);

#define BUILD_ENV_MAX 256

struct build_ctx {
	char user[33];          /* "" : root */
	char workdir[PATH_MAX]; /* "" : the user's home */
	char *env[BUILD_ENV_MAX + 1]; /* "KEY=VALUE", owned, NULL-terminated */
	size_t nenv;
};

void build_ctx_clear(struct build_ctx *c);
int build_ctx_copy(struct build_ctx *to, const struct build_ctx *from, struct cove_err *err);
/* Sets KEY to VALUE (replacing an earlier KEY). */
int build_ctx_setenv(struct build_ctx *c, const char *key, const char *value, struct cove_err *err);
/* As text (template.conf's keys user=, workdir=, env=), and back. */
int build_ctx_write(const struct build_ctx *c, const char *path, struct cove_err *err);
int build_ctx_read(struct build_ctx *c, const char *path, struct cove_err *err);

/* One build: the plan, the host, the VM and the log. */
struct build {
	const struct build_plan *p;
	const struct build_host *h;
	struct sandbox_config sc;
	struct sandbox *sb;
	const char *step; /* the log's step label now */
};

void build_log(struct build *b, enum build_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Runs step i (0-based) in b->sb, changing ctx as the step does; *synced
 * when the step's command also had the guest write out its files. */
int build_step_run(struct build *b, size_t i, struct build_ctx *ctx, bool *synced, struct cove_err *err);
/* Has the guest write what it holds of its files to its disk. */
int build_guest_sync(struct build *b, const struct build_ctx *ctx, struct cove_err *err);
/* The base phase: Cove's busybox into the guest, and with
 * p->user_create the context's user added when missing. */
int build_prepare_guest(struct build *b, struct build_ctx *ctx, struct cove_err *err);

#endif
