/* A client of coved's API, for the cove command: where coved is and its key,
 * JSON calls to the control plane, and files to and from a sandbox through
 * coved's envd routing. libcurl underneath. */
#ifndef COVE_CLIENT_H
#define COVE_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/env.h"
#include "common/err.h"

#define CLIENT_DEFAULT_URL COVE_DEFAULT_URL

struct client_config {
	const char *url;     /* NULL: $COVE_URL, else CLIENT_DEFAULT_URL */
	const char *api_key; /* NULL: $COVE_API_KEY, else STATE_DIR/api-key ($COVE_STATE_DIR or the default) */
};

struct client;

/* Resolves the address and key; does not connect. -ENOKEY (err says where
 * it looked) when there is no key. */
int client_open(const struct client_config *c, struct client **ret, struct cove_err *err);
void client_close(struct client *c);
const char *client_url(const struct client *c);

/* Whether coved answers at the client's address within timeout_ms. */
bool client_reachable(struct client *c, int timeout_ms);

/* METHOD path with body (may be NULL; borrowed) as JSON. *reply (may be NULL)
 * gets the answer's JSON (NULL when it had none). An error status becomes
 * a negative errno (404 -ENOENT, 400 -EINVAL, 401 -EACCES, 409 -EALREADY,
 * 429 -EAGAIN, else -EIO) with coved's message in err. */
int client_call(struct client *c, const char *method, const char *path, json_t *body, long *status,
		json_t **reply, struct cove_err *err);

/* The X-Next-Token of the last client_call's answer ("" when none): where a
 * paged listing goes on. */
const char *client_next_token(const struct client *c);

/* A sandbox's file: GET /files to fd, or POST /files from fd, through coved
 * with the sandbox's access token. */
int client_download(struct client *c, const char *sandbox, const char *token, const char *guest_path, int fd,
		    struct cove_err *err);
int client_upload(struct client *c, const char *sandbox, const char *token, int fd, const char *guest_path,
		  struct cove_err *err);

#endif
