/* The HTTP/1.1 server both coved and the guest agent serve from:
 * libmicrohttpd with one thread per connection (a handler may block: on a
 * process's pipes, on a guest's socket), a table of routes matched by method
 * and path pattern ("/sandboxes/{}/timeout": {} or {name} matches one
 * segment, captured in order; the name only documents it), bodies collected up to a per-route limit or handed to a route's
 * sink as they arrive, and replies. What differs between the two servers is
 * policy, given as hooks: which requests bypass the routes, who may call,
 * how a refusal is worded, a header on every plain reply. */
#ifndef COVE_HTTP_HTTP_H
#define COVE_HTTP_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define HTTP_MAX_PARAMS 2
#define HTTP_MAX_PARAM 128

struct http_route;

/* Why the server answers a request itself; the fail hook words it. */
enum http_failure {
	HTTP_UNAUTHORIZED,       /* an authorize hook refused (why in auth_error) */
	HTTP_NOT_FOUND,          /* no route has this path */
	HTTP_METHOD_NOT_ALLOWED, /* a route has this path, none this method */
	HTTP_TOO_LARGE,          /* the body passed the route's limit (or its Content-Length
				  * says it will: answered before any of it is read) */
	HTTP_NO_MEMORY,          /* a reply could not be made */
	HTTP_BUSY,               /* over the connection cap, in all or from its address */
	HTTP_LOCKED,             /* its address failed authorization too often (retry_after_s) */
};

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;   /* decoded by MHD, without the query */
	char *target;       /* the request target as sent (path and query, undecoded) */
	char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM]; /* the pattern's {} segments */
	const struct http_route *route; /* NULL: no route matched */
	bool path_known;    /* without a route: some route has this path (405, not 404) */
	char *body;         /* the collected body, NUL-terminated; NULL when empty */
	size_t len, cap, limit;
	bool too_large;     /* more than limit came: the rest was discarded */
	bool unauthorized;  /* refused before any of the body was read */
	bool refused;       /* the server answers it itself (busy, locked), why in refusal */
	enum http_failure refusal;
	unsigned retry_after_s; /* HTTP_LOCKED: for how long still */
	bool streaming;     /* its reply is a stream: no idle timeout while it lasts */
	char auth_error[128]; /* why, when an authorize hook said */
	int body_error;     /* set by a body sink that failed: the handler reports it */
	void *ctx;          /* the route's own state for this request */
	void *app;          /* the server's application context */
	struct http_server *server; /* the one it came to (its policy) */
};

typedef enum MHD_Result (*http_handler)(struct http_request *r);

struct http_route {
	const char *method;
	const char *pattern;
	http_handler handler; /* runs once the body is complete */
	size_t body_limit;    /* 0: the server's default_body_limit */
	/* Optional: the body is handed over in pieces as it arrives instead of
	 * collected (uploads of any size, relays). Returns 0 or a negative
	 * errno; after a failure the rest is discarded. */
	int (*body_sink)(struct http_request *r, const char *data, size_t len);
	/* Optional: releases ctx when the request is over, however it ended. */
	void (*cleanup)(struct http_request *r);
	/* Reachable without the server's authorize hook. */
	bool open;
	/* Optional: decides instead of the server's authorize hook. Runs before
	 * any of the body is read; returns 0 or a negative errno with why filled. */
	int (*authorize)(struct http_request *r, char *why, size_t len);
};


/* HTTPS (libmicrohttpd on GnuTLS): TLS 1.2 and 1.3 only; ALPN offers
 * http/1.1 (and 1.0), so a client that offers h2 too falls back to it. */
struct http_tls {
	const char *cert, *key; /* PEM: the chain, and its key */
	/* Optional: chooses the certificate in each handshake instead (a
	 * gnutls_certificate_retrieve_function3, MHD's HTTPS_CERT_CALLBACK2);
	 * each connection's socket context points to select_cls: read it as
	 * *(void **)socket_context. */
	void *select;
	void *select_cls;
};

/* Connections MHD accepts past max_connections only to answer HTTP_BUSY. */
#define HTTP_EXTRA_CONNECTIONS(max) ((max) / 8 + 16)

struct http_server_config {
	const struct sockaddr_in *addr; /* port 0: any free port */
	const struct http_tls *tls;     /* NULL: plain HTTP; kept, so it outlives the server */
	const struct http_route *routes;
	size_t nroutes;
	void *app;                  /* every request's app */
	/* Connections served at once, in all and from one client address (0:
	 * no cap by address); a request on one past a cap gets the fail hook's
	 * HTTP_BUSY and its connection is closed. Past max_connections +
	 * HTTP_EXTRA_CONNECTIONS MHD closes new connections unanswered. */
	unsigned max_connections;
	unsigned max_per_client;
	/* A connection that waits this long for its client (headers, a body,
	 * the next request, a reply not read) is closed; never while a handler
	 * works or a stream waits for what to send. 0: never. */
	unsigned idle_timeout_s;
	/* auth_failures failed authorizations from one address within
	 * auth_lockout_s seconds lock it out for auth_lockout_s (HTTP_LOCKED,
	 * without asking the hook); a good one resets its count. 0: never. */
	unsigned auth_failures;
	unsigned auth_lockout_s;
	size_t connection_memory;   /* MHD's per-connection buffer; 0: its default (32 KiB) */
	size_t default_body_limit;  /* for routes whose body_limit is 0 */
	/* Policy. cls is the hooks' first argument. */
	void *cls;
	/* Optional: with the headers, a route that takes the request instead
	 * of the table's (no route lookup, no 404/405), or NULL. */
	const struct http_route *(*intercept)(void *cls, struct http_request *r);
	/* Optional: who may call a route that is neither open nor has its own
	 * authorize (r->route may be NULL: an unknown path). Returns 0 or a
	 * negative errno with why filled. */
	int (*authorize)(void *cls, struct http_request *r, char *why, size_t len);
	/* Required: answers a request the server refuses, or a reply it could
	 * not make. Refusals are told in this order: busy, locked, too large by
	 * its Content-Length (at once, the body unread), unauthorized, no route,
	 * too large. */
	enum MHD_Result (*fail)(struct http_request *r, enum http_failure what);
	/* Optional: a header on every reply made by http_reply* (not streams). */
	const char *reply_header, *reply_header_value;
};

struct http_server;

int http_server_start(const struct http_server_config *c, struct http_server **ret, struct cove_err *err);
/* The port actually bound (for port 0). */
unsigned http_server_port(const struct http_server *s);
/* Waits for the requests in flight. NULL-safe. */
void http_server_stop(struct http_server *s);

/* Does path match pattern, capturing {} or {name} segments (1 to 127 bytes
 * each)? */
bool http_match(const char *pattern, const char *path, char params[][HTTP_MAX_PARAM], size_t nparams);

/* A request header or query-string argument (decoded), or NULL. */
const char *http_header(struct http_request *r, const char *name);
const char *http_query(struct http_request *r, const char *name);

/* Queues resp with status and releases it (NULL: MHD_NO). */
enum MHD_Result http_queue(struct http_request *r, unsigned status, struct MHD_Response *resp);
/* A reply of len bytes (copied); content_type may be NULL. */
enum MHD_Result http_reply(struct http_request *r, unsigned status, const char *content_type, const void *body,
			   size_t len);
/* The same, taking body (malloc'd; freed however it goes). */
enum MHD_Result http_reply_take(struct http_request *r, unsigned status, const char *content_type, void *body,
				size_t len);
enum MHD_Result http_reply_empty(struct http_request *r, unsigned status);
/* A text/plain (UTF-8) reply of msg and a newline. */
enum MHD_Result http_reply_text(struct http_request *r, unsigned status, const char *msg);
/* An application/json reply of j (taken; NULL j: the fail hook's
 * HTTP_NO_MEMORY), with one more header when name is not NULL. */
enum MHD_Result http_reply_json(struct http_request *r, unsigned status, json_t *j);
enum MHD_Result http_reply_json_with(struct http_request *r, unsigned status, json_t *j, const char *name,
				     const char *value);
/* The same with n more headers (a NULL name is skipped). */
enum MHD_Result http_reply_json_headers(struct http_request *r, unsigned status, json_t *j, const char *const *names,
					const char *const *values, size_t n);
/* A client address as the server counts it (IPv4, host byte order; 0 for
 * another family). */
uint32_t http_client_addr(struct http_request *r);

/* A streamed 200 reply of unknown length (chunked), produced by read; done
 * runs when it is over however it ended, and also on failure here. */
enum MHD_Result http_stream(struct http_request *r, const char *content_type, MHD_ContentReaderCallback read,
			    void *cls, MHD_ContentReaderFreeCallback done);

#endif
