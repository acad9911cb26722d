/* HTTP/1.1 heads: the response side coved's envd proxy reads from a guest
 * agent (the status line and headers, and chunked transfer coding), and the
 * request side the egress proxy rewrites. The guest is not
 * trusted: every length is bounded and a malformed response is an error,
 * never an overflow. */
#ifndef COVE_PROTO_HTTP1_H
#define COVE_PROTO_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_MAX_HEAD 65536
#define HTTP1_MAX_HEADERS 64

struct http1_header {
	const char *name; /* points into the head buffer, NUL-terminated */
	const char *value;
};

struct http1_response {
	unsigned status;
	struct http1_header headers[HTTP1_MAX_HEADERS];
	size_t nheaders;
	int64_t content_length; /* -1: none given */
	bool chunked;
};

/* A request head, as the egress proxy reads a sandbox's requests to a host
 * with rules (net.h) before setting headers on them. */
struct http1_request {
	const char *method, *target; /* point into the head buffer */
	unsigned minor;              /* HTTP/1.minor */
	struct http1_header headers[HTTP1_MAX_HEADERS];
	size_t nheaders;
	const char *host; /* the Host header's value; NULL: none */
	int64_t content_length; /* -1: none given */
	bool chunked;
	bool tunnel; /* CONNECT, or an Upgrade: what follows is not HTTP/1 */
};

/* Where the head ends in buf (the offset just past "\r\n\r\n"), 0 when it has
 * not ended yet. */
size_t http1_head_end(const char *buf, size_t len);

/* Parses a complete head (buf[0..len), ending in "\r\n\r\n"), in place: names
 * and values are NUL-terminated inside buf. -EPROTO when it is not a valid
 * HTTP/1.x response head (or has more than HTTP1_MAX_HEADERS, or a bad or
 * conflicting length). */
int http1_parse_response(char *buf, size_t len, struct http1_response *ret);

/* A case-insensitive header lookup; NULL when absent. */
const char *http1_header(const struct http1_response *r, const char *name);

/* Parses a complete request head in place, as http1_parse_response does a
 * response's: -EPROTO for anything not plainly HTTP/1.x or framed
 * ambiguously (two Hosts, Content-Length and Transfer-Encoding together, a
 * transfer coding but chunked, conflicting lengths, bare LF, folding,
 * control bytes in a value). */
int http1_parse_request(char *buf, size_t len, struct http1_request *ret);
/* A case-insensitive header lookup (the first of the name); NULL when absent. */
const char *http1_request_header(const struct http1_request *r, const char *name);
/* The head again into out[0, cap), with set's headers: each replaces every
 * header of its name (case-insensitively) where the first one was, or is
 * added at the end. Its length, or -ENOSPC when cap is too small. */
long http1_request_compose(const struct http1_request *r, const struct http1_header *set, size_t nset, char *out,
			   size_t cap);

/* Chunked transfer coding, decoded incrementally. */
struct http1_chunked {
	int state;
	uint64_t remaining; /* bytes left in the current chunk */
	unsigned line_len;  /* length of the size or trailer line so far */
	bool done;
};

/* Decodes in[0..in_len) into out (data may shrink, never grow, so out may be
 * in). *consumed and *produced say how much; decoding stops at the end of the
 * body (c->done). -EPROTO on a malformed stream. */
int http1_chunked_decode(struct http1_chunked *c, const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t *consumed, size_t *produced);

#endif
