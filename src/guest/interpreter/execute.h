/* POST /execute: one run of code on a context, streamed to the client as
 * E2B's code interpreter does, one JSON object per line: stdout, stderr,
 * result (a display or the cell's value, its MIME bundle as E2B's fields),
 * error, number_of_executions, keepalive (every 5 s without other output),
 * and end_of_execution last. The run waits for the runs queued on the
 * context before it; a client that leaves gets its run interrupted. */
#ifndef COVE_INTERPRETER_EXECUTE_H
#define COVE_INTERPRETER_EXECUTE_H

#include "http/http.h"
#include "interpreter/context.h"
#include "interpreter/request.h"

struct execute_options {
	const char *envd;  /* the agent's HOST:PORT, for GET /envs */
};

/* Answers r: a 200 stream, or a plain-text 400/401/404/500. Takes req. */
enum MHD_Result execute_serve(struct http_request *r, struct execute_request *req, const struct execute_options *o);

/* Runs code silently on c's kernel (with the turn held by the caller), up
 * to timeout_ms: for warm-up. -EIO when it raised (err has the error). */
int execute_silent(struct context *c, const char *code, int timeout_ms, struct cove_err *err);

#endif
