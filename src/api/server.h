/* coved's HTTP/1.1 server: libmicrohttpd (Debian's shared library) with one
 * thread per connection, routes matched by method and path pattern
 * ("/sandboxes/{}/timeout": {} matches one segment, captured in order), the
 * API key checked on every route before any of the body is read, bodies
 * collected up to a per-route limit, and errors as the E2B API has them:
 * {"code": <status>, "message": "..."}. */
#ifndef COVE_API_SERVER_H
#define COVE_API_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define API_MAX_CONNECTIONS 1024
#define API_MAX_PARAMS 2
#define API_DEFAULT_BODY_LIMIT (64 * 1024)
/* The guest port a request for a sandbox reaches when it names none: envd's. */
#define API_DEFAULT_SANDBOX_PORT 49983

struct api_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *raw_uri;  /* the request target as sent (path and query, undecoded) */
	bool started;
	bool proxied;   /* goes to api_proxy_ops, not to a route */
	char sandbox_id[64]; /* the proxied request's sandbox and guest port */
	unsigned sandbox_port;
	void *proxy;    /* the proxy's own state */
	char params[API_MAX_PARAMS][128];
	char *body;
	size_t len, cap, limit;
	bool too_large;
	bool unauthorized;
	const struct api_route *route;
	void *app; /* the server's application context */
};

typedef enum MHD_Result (*api_handler)(struct api_request *r);

struct api_route {
	const char *method;
	const char *pattern;
	api_handler handler;
	size_t body_limit; /* 0: API_DEFAULT_BODY_LIMIT */
};

/* Requests for a sandbox go to these instead of the routes (without the API
 * key check: the guest's agent checks its own token): those that carry
 * E2b-Sandbox-Id (and E2b-Sandbox-Port, default 49983), and those whose Host
 * is PORT-SANDBOXID.DOMAIN (a server in the guest reached by URL). */
struct api_proxy_ops {
	/* With the headers. Errors are kept for finish to answer. */
	void (*begin)(struct api_request *r);
	/* Each piece of the request body, as it arrives. */
	void (*body)(struct api_request *r, const char *data, size_t len);
	/* The body is complete: queue the response. */
	enum MHD_Result (*finish)(struct api_request *r);
	/* The request is over, however it ended. */
	void (*cleanup)(struct api_request *r);
};

struct api_server;

struct api_server_config {
	const char *address; /* IPv4 */
	unsigned port;       /* 0: any free port */
	const char *api_key;
	const struct api_route *routes;
	size_t nroutes;
	void *app;
	const struct api_proxy_ops *proxy; /* may be NULL */
};

int api_server_start(const struct api_server_config *c, struct api_server **ret, struct cove_err *err);
unsigned api_server_port(const struct api_server *s);
void api_server_stop(struct api_server *s);

const char *api_header(struct api_request *r, const char *name);
const char *api_query(struct api_request *r, const char *name);
/* A JSON reply (takes j; NULL j: 500). extra_header may be NULL. */
enum MHD_Result api_reply_json(struct api_request *r, unsigned status, json_t *j, const char *extra_header,
			       const char *extra_value);
enum MHD_Result api_reply_empty(struct api_request *r, unsigned status);
/* {"code": status, "message": message}; 429 and 503 carry Retry-After. */
enum MHD_Result api_reply_error(struct api_request *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The body as a JSON object (empty body: {}); NULL with err filled. */
json_t *api_json_body(struct api_request *r, struct cove_err *err);

/* Exposed for tests: "PORT-ID.domain[:port]" -> id, port; false otherwise. */
bool api_sandbox_host(const char *host, char id[64], unsigned *port);

/* Exposed for tests: does path match pattern, capturing {} segments? */
bool api_match(const char *pattern, const char *path, char params[][128], size_t nparams);

#endif
