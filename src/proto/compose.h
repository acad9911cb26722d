/* envd's POST /files/compose request (e2b-dev/infra envd spec, schema
 * ComposeRequest): {"source_paths": ["a", "b"], "destination": "c",
 * "username"?: "u"}, the files to concatenate in order into the destination.
 * Parsed here into a plain struct before the agent acts on it; fields it
 * does not know are ignored, as Go's decoder (envd's) ignores them. */
#ifndef COVE_PROTO_COMPOSE_H
#define COVE_PROTO_COMPOSE_H

#include <stddef.h>

#include "common/err.h"

/* Bounds on hostile input: a chunked upload of a large file stays far below
 * them (10 GiB in 10 MiB parts is 1024 sources). */
#define COMPOSE_MAX_SOURCES 10000
#define COMPOSE_MAX_PATH 4096

struct compose_request {
	char **sources; /* NULL-terminated, at least one */
	size_t nsources;
	char *destination;
	char *username; /* NULL: absent, null or "" (the request's user then) */
};

/* 0, or -EINVAL (-E2BIG past a bound, -ENOMEM) with err saying why in envd's
 * words where envd has them ("source_paths must not be empty", "destination
 * is required"). Paths are non-empty strings without NUL bytes. */
int compose_request_parse(const void *json, size_t len, struct compose_request *out, struct cove_err *err);
void compose_request_clear(struct compose_request *r);

#endif
