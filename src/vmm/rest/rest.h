/* A client of a VMM's REST API over its unix socket (Firecracker's
 * --api-sock, Cloud Hypervisor's --api-socket): JSON requests and replies
 * over HTTP/1.1, through libcurl, one connection kept per VMM. */
#ifndef COVE_VMM_REST_REST_H
#define COVE_VMM_REST_REST_H

#include <jansson.h>

#include "common/err.h"

/* Longest reply body kept; the VMMs' answers are a few KiB. */
#define REST_MAX_REPLY (1024 * 1024)

struct rest;

/* A client of the API at the unix socket path: waits (up to timeout_ms)
 * until the VMM listens there, giving up with -ECHILD as soon as pidfd
 * (may be -1) shows it exited. name ("firecracker") is for messages. */
int rest_open(const char *name, const char *path, int pidfd, int timeout_ms, struct rest **ret, struct cove_err *err);

/* METHOD path with body (borrowed; NULL: none) as JSON. A 2xx answer is 0
 * and *reply (may be NULL) gets its body parsed (NULL when empty);
 * another status is an errno (400 -EINVAL, 404 -ENOENT, 405 and 501
 * -EOPNOTSUPP, 409 -EBUSY, else -EIO) with the VMM's own words (its
 * fault_message or text). A connection the VMM broke is -ECONNRESET,
 * one it no longer takes -ENOTCONN, no answer within timeout_ms
 * -ETIMEDOUT. */
int rest_call(struct rest *c, const char *method, const char *path, json_t *body, json_t **reply, int timeout_ms,
	      struct cove_err *err);

/* Maps an HTTP status to the errno rest_call gives it (0 for 2xx). */
int rest_status_errno(long status);

struct rest *rest_close(struct rest *c);

#endif
