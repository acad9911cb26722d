/* The agent's HTTP/1.1 server: libmicrohttpd (built without TLS, see
 * scripts/build-microhttpd.sh) with one thread per connection, so a handler
 * that streams may block on its process's pipes. Requests are routed by exact
 * method and path; bodies (chunked or not) are collected up to a per-route
 * limit before the handler runs. */
#ifndef COVE_AGENT_HTTP_H
#define COVE_AGENT_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Most connections served at once; more wait in the listen backlog. */
#define HTTP_MAX_CONNECTIONS 256

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *body;
	size_t len, cap, limit;
	bool too_large;
	const struct http_route *route;
	void *ctx;       /* a streaming route's own state */
	bool unauthorized; /* no valid X-Access-Token: nothing of the body is read */
	char auth_error[128]; /* why, when a route's own authorize refused */
	int body_error;  /* set by a body sink that failed: the handler reports it */
};

typedef enum MHD_Result (*http_handler)(struct http_request *r);

struct http_route {
	const char *method;
	const char *path;
	size_t body_limit;
	http_handler handler;
	/* Optional: the body is handed over in pieces as it arrives instead of
	 * collected (uploads of any size). Returns 0 or a negative errno. */
	int (*body_sink)(struct http_request *r, const char *data, size_t len);
	/* Optional: releases ctx when the request is over, however it ended. */
	void (*cleanup)(struct http_request *r);
	/* Reachable without the access token (envd exempts /health). */
	bool open;
	/* Optional: decides instead of the X-Access-Token check (/files also
	 * takes signed URLs). Runs before any of the body is read; returns 0 or
	 * a negative errno with why filled. */
	int (*authorize)(struct http_request *r, char *why, size_t len);
};

/* Decides whether a request's X-Access-Token (NULL when absent) is good. */
typedef bool (*http_authorize)(const char *token);

/* A query-string argument, or NULL. */
const char *http_query(struct http_request *r, const char *name);

struct http_server;

int http_server_start(const struct sockaddr_in *addr, const struct http_route *routes, size_t nroutes,
		      http_authorize authorize, struct http_server **ret, struct cove_err *err);
/* The port actually bound (for --listen ...:0). */
unsigned http_server_port(const struct http_server *s);
void http_server_stop(struct http_server *s);

const char *http_header(struct http_request *r, const char *name);
enum MHD_Result http_reply(struct http_request *r, unsigned status, const char *content_type, const void *body,
			   size_t len);
/* 200 with a JSON body (takes j; a NULL j is an internal error). */
enum MHD_Result http_reply_json(struct http_request *r, json_t *j);
/* A unary call's body: Content-Type application/json holding an object
 * (an empty body is {}). NULL with err filled otherwise. */
json_t *http_json_body(struct http_request *r, struct cove_err *err);
/* A streamed 200 response of unknown length (chunked), produced by read;
 * done runs when it is over however it ended, and also on failure here. */
enum MHD_Result http_stream(struct http_request *r, const char *content_type, MHD_ContentReaderCallback read,
			    void *cls, MHD_ContentReaderFreeCallback done);

/* A Connect server stream that fails before it starts: HTTP 200 with only
 * the end-of-stream envelope, {"error":{"code","message"}}. */
enum MHD_Result http_stream_error(struct http_request *r, const char *code, const char *message);

/* A Connect unary error: {"code":"...","message":"..."} with the HTTP status
 * the Connect protocol assigns to the code. */
enum MHD_Result http_reply_connect_error(struct http_request *r, const char *code, const char *message);

#endif
