/* The code interpreter's request bodies as plain structs (parse, then act):
 * POST /execute and POST /contexts, in the JSON @e2b/code-interpreter
 * sends. Fuzzed by tests/fuzz/fuzz_interpreter_request.c. */
#ifndef COVE_INTERPRETER_REQUEST_H
#define COVE_INTERPRETER_REQUEST_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#include "common/err.h"

#define REQUEST_LANGUAGE_MAX 32
#define REQUEST_ID_MAX 64

struct execute_request {
	char *code;                              /* malloc'd */
	char context_id[REQUEST_ID_MAX + 1];     /* "": the language's default */
	char language[REQUEST_LANGUAGE_MAX + 1]; /* "": python (when no context) */
	json_t *env_vars;                        /* object of strings, or NULL */
};

/* -EINVAL with the reason: not a JSON object, code missing or not a
 * string, context_id and language both given, a field of the wrong type, an
 * env var name that is empty or holds '=' or NUL. null fields are absent. */
int execute_request_parse(const char *body, size_t len, struct execute_request *req, struct cove_err *err);
void execute_request_clear(struct execute_request *req);

struct context_request {
	char language[REQUEST_LANGUAGE_MAX + 1]; /* "": python */
	char cwd[PATH_MAX];                      /* "": the default (/home/user) */
};

/* An empty body is {}; cwd must be absolute. */
int context_request_parse(const char *body, size_t len, struct context_request *req, struct cove_err *err);

#endif
