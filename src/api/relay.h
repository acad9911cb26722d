/* A streaming HTTP/1.1 relay of one request over an upstream connection,
 * shared by the envd proxy (proxy.h: to a guest's port through its slot) and
 * the cluster gateway (gateway/gateway.h: to another host's coved). The
 * caller connects and owns the upstream socket; the relay writes the request
 * head (the method and target as sent, the client's headers but hop-by-hop
 * ones and those the caller sets itself, "Connection: close"), the body as it
 * arrives (chunked upstream when the client sent it so), reads the response
 * head (proto/http1.h: bounded, the upstream is not trusted), and queues a
 * response whose body is read from upstream as MHD asks for it, undoing its
 * framing, without buffering whole bodies. MHD runs a thread per
 * connection, so reads block on the upstream, watching the client's socket
 * for a hang-up at the same time. */
#ifndef COVE_API_RELAY_H
#define COVE_API_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/http.h"
#include "proto/http1.h"

#define RELAY_BUF_SIZE (64 * 1024)

/* How bytes cross the upstream when not plainly over fd (TLS): each NULL
 * means the socket itself. pending: bytes read already that poll would not
 * show. */
struct relay_transport {
	int (*send)(void *cls, const void *buf, size_t len);
	ssize_t (*recv)(void *cls, void *buf, size_t len);
	bool (*pending)(void *cls);
	void *cls;
};

struct relay {
	int fd;        /* the upstream, the caller's; -1: none yet */
	int client_fd; /* watched for the client hanging up; -1: not watched */
	struct relay_transport t;
	bool chunked_up; /* the request body goes upstream chunked */
	/* the response */
	char head[HTTP1_MAX_HEAD];
	size_t head_len;
	struct http1_response resp;
	uint8_t buf[RELAY_BUF_SIZE];
	size_t buf_pos, buf_len; /* undelivered bytes read past the head */
	struct http1_chunked chunks;
	int64_t left; /* Content-Length still to come; -1: none */
	bool body_done;
};

/* No upstream yet (fd -1, plain transport: set t after), the client's
 * socket watched. Call again to start over on another upstream. */
void relay_init(struct relay *rl, struct http_request *r);

/* Headers the relay never passes on (either way): hop-by-hop ones, the
 * framing it sets itself (Content-Length, Transfer-Encoding, Expect), Date. */
bool relay_hop_header(const char *name);

/* A request head being built into buf (of cap bytes); overflow: it did not
 * fit. skip(name, cls) leaves out more of the client's headers. */
struct relay_head {
	char *buf;
	size_t len, cap;
	bool overflow;
	bool (*skip)(const char *name, void *cls);
	void *cls;
};
void relay_head_put(struct relay_head *h, const char *a, const char *b, const char *c);
/* The request line (method and target as sent) and the client's headers
 * that pass (values with CR or LF never do). */
void relay_head_begin(struct relay_head *h, struct http_request *r);
/* The framing of the body as the client sent it (Content-Length, else
 * chunked when it had a Transfer-Encoding: rl->chunked_up), then
 * "Connection: close" and the blank line. */
void relay_head_end(struct relay_head *h, struct relay *rl, struct http_request *r);

/* Sends bytes upstream as they are: 0 or -EPIPE. */
int relay_send(struct relay *rl, const void *buf, size_t len);
/* A piece of the request body, framed as the head said; and its end. */
int relay_body(struct relay *rl, const char *data, size_t len);
int relay_body_end(struct relay *rl);
/* Reads and parses the response head: 0, -EPIPE (closed or failed before
 * it ended, or the client hung up) or -EPROTO (not a valid one). */
int relay_read_head(struct relay *rl);
/* Queues the response read by relay_read_head, its body streamed from
 * upstream; headers that skip(name) says (besides relay_hop_header's) are
 * left out. rl must live until the request's cleanup. */
enum MHD_Result relay_reply(struct relay *rl, struct http_request *r, bool (*skip)(const char *name));

#endif
