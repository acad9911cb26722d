/* coved's HTTP policy over the shared server (http/http.h; Debian's
 * libmicrohttpd): the API key checked on every route before any of the body
 * is read, bodies up to 64 KiB unless a route says otherwise, errors as the
 * E2B API has them ({"code": <status>, "message": "..."}), and requests for a
 * sandbox handed to the envd proxy instead of the routes. */
#ifndef COVE_API_SERVER_H
#define COVE_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/request.h"
#include "common/err.h"
#include "http/http.h"

#define API_DEFAULT_BODY_LIMIT (64 * 1024)
/* MHD's buffer per connection, which the request line and headers must
 * fit in (a request whose do not gets MHD's 431). */
#define API_CONNECTION_MEMORY (32 * 1024)

/* What one client, or all of them, can make coved hold (coved's flags of
 * the same names; docs/api.md). Past a connection cap a request gets 503
 * and its connection is closed; an address whose authentications failed
 * auth_failures times within auth_lockout_s seconds gets 429 (with
 * Retry-After) for auth_lockout_s, whatever key it sends; a connection
 * waiting idle_timeout_s for its client is closed. 0: no such limit. */
struct api_limits {
	unsigned max_connections;
	unsigned max_per_client;
	unsigned idle_timeout_s;
	unsigned auth_failures;
	unsigned auth_lockout_s;
};
#define API_MAX_CONNECTIONS 1024
/* Half: one address (a NAT, a script gone wrong) leaves room for others. */
#define API_MAX_PER_CLIENT 512
/* Clients' own keep-alive pools let go sooner (Node's 4 s, httpx's 5 s). */
#define API_IDLE_TIMEOUT_S 30
/* An E2B key is 160 random bits: the lockout is for keys people chose. */
#define API_AUTH_FAILURES 10
#define API_AUTH_LOCKOUT_S 60
#define API_LIMITS_DEFAULT                                                                             \
	{ API_MAX_CONNECTIONS, API_MAX_PER_CLIENT, API_IDLE_TIMEOUT_S, API_AUTH_FAILURES, API_AUTH_LOCKOUT_S }

/* Requests for a sandbox go to the proxy instead of the routes (without the
 * API key check: the guest's agent checks its own token): those that carry
 * E2b-Sandbox-Id (and E2b-Sandbox-Port, default 49983), and those whose Host
 * is PORT-SANDBOXID.DOMAIN for coved's domain (a server in the guest reached
 * by URL); any other Host, api.DOMAIN among them, is for the routes. See
 * api_sandbox_target_parse. */
struct api_proxy_ops {
	/* With the headers: sets up r->ctx for t's sandbox, or, when rc < 0 (the
	 * request names one wrongly, err says how), keeps the error for the
	 * route's handler to answer. */
	void (*begin)(struct http_request *r, const struct api_sandbox_target *t, int rc, const struct cove_err *err);
	/* Serves it from then on: the body as it arrives (body_sink), the
	 * response (handler), the end however it came (cleanup). */
	const struct http_route *route;
};

/* A cluster gateway's routing (gateway/gateway.h), consulted first with the
 * headers of every request: a route that takes it (relayed to the host that
 * owns its sandbox, placed, listed from the cluster's catalog), which sets
 * up r->ctx itself, or NULL to serve it here as a single host does. */
struct api_gateway_ops {
	const struct http_route *(*route)(void *ctx, struct http_request *r);
};

struct api_server;

#define API_DEFAULT_DOMAIN "localhost"

/* Plain HTTP on address:port, and with tls HTTPS on tls_address:tls_port
 * too, both serving the same routes and sandboxes: E2B's SDK reaches the API
 * (api.DOMAIN) and the sandboxes (PORT-ID.DOMAIN) on one HTTPS port, and
 * local tools keep plain HTTP. */
struct api_server_config {
	const char *address; /* IPv4 */
	unsigned port;       /* 0: any free port */
	const char *domain;  /* NULL: API_DEFAULT_DOMAIN */
	const struct http_tls *tls; /* NULL: no HTTPS */
	const char *tls_address;
	unsigned tls_port;
	const char *api_key;
	const struct api_limits *limits; /* NULL: API_LIMITS_DEFAULT */
	const struct http_route *routes;
	size_t nroutes;
	void *app;
	const struct api_proxy_ops *proxy; /* may be NULL */
	const struct api_gateway_ops *gateway; /* may be NULL: a single host */
	void *gateway_ctx;
};

int api_server_start(const struct api_server_config *c, struct api_server **ret, struct cove_err *err);
unsigned api_server_port(const struct api_server *s);
/* The HTTPS port (0: none). */
unsigned api_server_tls_port(const struct api_server *s);
void api_server_stop(struct api_server *s);

/* {"code": status, "message": message}; 429 and 503 carry Retry-After. */
enum MHD_Result api_reply_error(struct http_request *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
