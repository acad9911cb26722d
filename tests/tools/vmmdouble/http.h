/* The VMM test doubles' HTTP/1.1 server on a listening unix socket: what
 * Firecracker and Cloud Hypervisor serve their APIs with. One thread, a poll
 * loop; requests with Content-Length bodies, keep-alive, handled one at a
 * time (a VMM's API thread is one too). The request parse is kept apart
 * (http_parse_request) and plain. */
#ifndef COVE_TESTS_VMMDOUBLE_HTTP_H
#define COVE_TESTS_VMMDOUBLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds on what a client sends: a VMM's requests are small. */
#define HTTP_MAX_HEADER (16 * 1024)
#define HTTP_MAX_BODY (1024 * 1024)
#define HTTP_MAX_CLIENTS 16

struct http_request {
	char method[16];
	char path[1024]; /* without the query */
	const char *body; /* into the connection's buffer; not NUL-terminated */
	size_t body_len;
	bool close;       /* Connection: close */
};

struct http_response {
	int status;
	const char *content_type; /* NULL: application/json */
	char *body;               /* malloc'd, owned by the server after the handler; NULL: none */
	bool end_loop;            /* once this is sent, http_serve returns (the VMM shuts down) */
};

/* Parses one request from buf. 0: more bytes needed; > 0: the request's
 * whole length, *req filled; < 0: a malformed request (-EINVAL) or one past
 * the bounds (-E2BIG). */
long http_parse_request(const char *buf, size_t len, struct http_request *req);

/* A listening unix socket bound at path: its descriptor, or -1 after a
 * line "<what>: path: reason" on stderr (the VMM's own words for it). */
int http_listen_unix(const char *path, const char *what);

struct http_loop_ops {
	void (*handle)(void *ctx, const struct http_request *req, struct http_response *resp);
	/* Another descriptor to watch (the VMM's child), -1 for none; on_event
	 * runs when it is readable and returns true to end the loop. */
	int (*watch_fd)(void *ctx);
	bool (*on_event)(void *ctx);
};

/* Serves on listen_fd until on_event says stop or a response ends the loop. Returns 0, or a negative
 * errno if polling itself fails. */
int http_serve(int listen_fd, const struct http_loop_ops *ops, void *ctx);

#endif
