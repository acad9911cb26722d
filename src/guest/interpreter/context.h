/* Code contexts: each is one kernel (started lazily, restarted after it
 * dies) with a language and a working directory, identified by a UUID.
 * Each language has a default context, made on first use; others are made
 * by POST /contexts. Runs on one context take turns in the order they came,
 * as a Jupyter kernel would queue them: a ticket each, served in order. */
#ifndef COVE_INTERPRETER_CONTEXT_H
#define COVE_INTERPRETER_CONTEXT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "interpreter/kernel.h"

#define CONTEXT_ID_MAX 36

struct context;

/* How long a kernel may take to start (ipykernel under emulation is slow). */
void contexts_setup(const char *default_cwd, int kernel_start_ms);

/* A new context, its kernel started. -ENOENT: no kernel for language. */
int context_create(const char *language, const char *cwd, struct context **ret, struct cove_err *err);
/* The default context of language (made, with its kernel, if need be). */
int context_default(const char *language, struct context **ret, struct cove_err *err);
/* By id (a reference), or NULL. */
struct context *context_get(const char *id);
void context_put(struct context *c);
/* [{id, language, cwd}] of every context. */
json_t *contexts_list(void);
json_t *context_json(const struct context *c);
const char *context_language(const struct context *c);
/* Removes it: its kernel is killed (a run in progress ends with an error),
 * queued runs fail. -ENOENT. */
int context_remove(const char *id, struct cove_err *err);
/* Kills its kernel and starts a new one (state cleared), after the runs
 * queued before. -ENOENT. */
int context_restart(const char *id, struct cove_err *err);

/* Runs' turns. context_enqueue gives a ticket; context_wait_turn waits up to
 * timeout_ms for it: 1 it is ours, 0 not yet, -ENOENT the context was
 * removed (the ticket is spent). The holder ends with context_release. */
uint64_t context_enqueue(struct context *c);
int context_wait_turn(struct context *c, uint64_t ticket, int timeout_ms);
void context_release(struct context *c);
/* A ticket whose turn will not be waited for (the client left). */
void context_abandon(struct context *c, uint64_t ticket);
/* With the turn held: the kernel, started now when there is none or the
 * last one died. */
int context_kernel(struct context *c, struct kernel **ret, struct cove_err *err);
/* With the turn held: the kernel died under a run; the next run starts a
 * new one. */
void context_kernel_lost(struct context *c);

/* The sandbox's environment (GET /envs) as last applied to this context's
 * kernel ({} for a new kernel: it has none of it), so a run applies it
 * again only when it changed. With the turn held. */
json_t *context_applied_envs(struct context *c);
void context_set_applied_envs(struct context *c, json_t *envs);

#endif
