/* envd routing (see proxy.h). One upstream connection per request, closed
 * after its response ("Connection: close" upstream, abortive close), made from
 * inside the sandbox's slot by the manager, which shuts it down when the
 * sandbox ends. MHD runs a thread per connection, so this code blocks on the
 * guest's socket, watching the client's at the same time. */
#include "api/proxy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "manager/manager.h"
#include "proto/http1.h"
#include "proto/utf8.h"
#include "proto/version.h"

#define BUF_SIZE (64 * 1024)

struct proxy {
	struct manager *m;
	char id[64];
	int fd;                /* to the guest; -1 before connect or after a failure */
	int client_fd;         /* to watch for the client hanging up */
	bool chunked_up;       /* the request body goes upstream chunked */
	unsigned error_status; /* set: finish answers this instead */
	char error[256];
	bool not_found;        /* no such sandbox running: E2B's edge proxy's 502 */
	/* the response */
	char head[HTTP1_MAX_HEAD];
	size_t head_len;
	struct http1_response resp;
	uint8_t buf[BUF_SIZE];
	size_t buf_pos, buf_len;   /* undelivered bytes read past the head */
	struct http1_chunked chunks;
	int64_t left;              /* Content-Length still to come; -1: none */
	bool body_done;
};

static void fail(struct proxy *p, unsigned status, const char *fmt, const char *arg)
{
	if (p->error_status)
		return;
	p->error_status = status;
	snprintf(p->error, sizeof(p->error), fmt, arg);
}

/* Hop-by-hop headers, and the ones the proxy sets itself. */
static bool skip_header(const char *name)
{
	static const char *const names[] = { "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
					     "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
					     "Expect", "Date", "E2b-Sandbox-Id", "E2b-Sandbox-Port", "X-API-KEY" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

struct head_builder {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static void put(struct head_builder *h, const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c);
	if (h->len + n + 1 > h->cap) {
		h->overflow = true;
		return;
	}
	h->len += (size_t)snprintf(h->buf + h->len, h->cap - h->len, "%s%s%s", a, b, c);
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
	(void)kind;
	struct head_builder *h = cls;
	if (!skip_header(name) && !strpbrk(value, "\r\n")) {
		put(h, name, ": ", value);
		put(h, "\r\n", "", "");
	}
	return MHD_YES;
}

static void begin(struct http_request *r, const struct api_sandbox_target *t, int rc, const struct cove_err *bad)
{
	struct proxy *p = calloc(1, sizeof(*p));
	r->ctx = p;
	if (!p)
		return;
	p->fd = -1;
	p->left = -1;
	p->m = r->app;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	p->client_fd = ci ? ci->connect_fd : -1;
	if (rc < 0) {
		fail(p, rc == -EINVAL ? 400 : 502, "%s", bad->msg);
		snprintf(p->id, sizeof(p->id), "%s", t->id);
		p->not_found = rc == -ENOENT;
		return;
	}
	snprintf(p->id, sizeof(p->id), "%s", t->id);
	unsigned port = t->port;
	struct cove_err err = { 0 };
	/* A sandbox paused with autoResume is resumed first (on envd's port,
	 * for a request with its access token), as E2B's proxy does. */
	int r2 = manager_wake(p->m, p->id, port == ENVD_PORT, http_header(r, "X-Access-Token"), &err);
	if (r2 == 0)
		r2 = manager_connect(p->m, p->id, port, PROXY_CONNECT_TIMEOUT_MS, &p->fd, &err);
	if (r2 < 0) {
		fail(p, 502, "%s", err.msg);
		p->not_found = r2 == -ENOENT;
		p->fd = -1;
		return;
	}
	char head[16384];
	struct head_builder h = { head, 0, sizeof(head), false };
	put(&h, r->method, " ", r->target);
	put(&h, " HTTP/1.1\r\n", "", "");
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, copy_header, &h);
	char host[64];
	snprintf(host, sizeof(host), "%s:%u", NET_GUEST_ADDR, port);
	put(&h, "Host: ", host, "\r\n");
	put(&h, "Connection: close\r\n", "", "");
	const char *length = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length)
		put(&h, "Content-Length: ", length, "\r\n");
	else if (http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		p->chunked_up = true;
		put(&h, "Transfer-Encoding: chunked\r\n", "", "");
	}
	put(&h, "\r\n", "", "");
	if (h.overflow)
		fail(p, 431, "%s", "request headers too large to relay");
	else if (sock_send_all(p->fd, head, h.len) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
}

static int body(struct http_request *r, const char *data, size_t len)
{
	struct proxy *p = r->ctx;
	if (!p || p->error_status)
		return 0; /* discarded: finish answers the error */
	char size[24];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	if ((p->chunked_up && sock_send_all(p->fd, size, (size_t)n) < 0) || sock_send_all(p->fd, data, len) < 0 ||
	    (p->chunked_up && sock_send_all(p->fd, "\r\n", 2) < 0))
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
	return 0;
}

/* Waits for the guest's socket; -1 when the client hung up meanwhile. */
static int wait_readable(struct proxy *p)
{
	struct pollfd fds[2] = { { .fd = p->fd, .events = POLLIN }, { .fd = p->client_fd, .events = POLLRDHUP } };
	for (;;) {
		int n = poll(fds, p->client_fd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (fds[0].revents)
			return 0;
		if (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return -1;
	}
}

static ssize_t read_upstream(struct proxy *p, void *buf, size_t len)
{
	if (wait_readable(p) < 0)
		return -1;
	ssize_t n;
	do
		n = recv(p->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

static int read_head(struct proxy *p)
{
	for (;;) {
		size_t end = http1_head_end(p->head, p->head_len);
		if (end) {
			/* What came after the head is body. */
			p->buf_len = p->head_len - end;
			memcpy(p->buf, p->head + end, p->buf_len);
			p->head_len = end;
			return http1_parse_response(p->head, end, &p->resp);
		}
		if (p->head_len == sizeof(p->head))
			return -EPROTO;
		ssize_t n = read_upstream(p, p->head + p->head_len, sizeof(p->head) - p->head_len);
		if (n <= 0)
			return -EPIPE;
		p->head_len += (size_t)n;
	}
}

/* Produces body bytes for MHD (blocking), undoing the guest's framing. */
static ssize_t produce(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct proxy *p = cls;
	for (;;) {
		if (p->body_done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (p->buf_pos == p->buf_len) {
			ssize_t n = read_upstream(p, p->buf, sizeof(p->buf));
			if (n < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			if (n == 0) /* the guest closed: the end only when not framed */
				return p->resp.chunked || p->left > 0 ? MHD_CONTENT_READER_END_WITH_ERROR
								      : MHD_CONTENT_READER_END_OF_STREAM;
			p->buf_pos = 0;
			p->buf_len = (size_t)n;
		}
		size_t avail = p->buf_len - p->buf_pos, used = 0, made = 0;
		if (p->resp.chunked) {
			size_t take = avail < max ? avail : max;
			if (http1_chunked_decode(&p->chunks, p->buf + p->buf_pos, take, (uint8_t *)out, &used, &made) < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			p->body_done = p->chunks.done;
		} else {
			used = made = avail < max ? avail : max;
			if (p->left >= 0 && (int64_t)made > p->left)
				used = made = (size_t)p->left;
			memcpy(out, p->buf + p->buf_pos, made);
			if (p->left >= 0 && (p->left -= (int64_t)made) == 0)
				p->body_done = true;
		}
		p->buf_pos += used;
		if (made)
			return (ssize_t)made;
	}
}

static void nothing(void *cls)
{
	(void)cls; /* the proxy state goes with the request (cleanup) */
}

/* What E2B's edge proxy answers for a sandbox it cannot find (its e2e test
 * host.test.ts checks all three fields); the SDK's isRunning() reads the
 * 502 as false. */
static enum MHD_Result reply_not_found(struct http_request *r, const char *id)
{
	json_t *j = json_pack("{s:s, s:o, s:i}", "message", "The sandbox was not found", "sandboxId",
			      json_string_lossy(id), "code", 502);
	return http_reply_json(r, 502, j);
}

static enum MHD_Result finish(struct http_request *r)
{
	struct proxy *p = r->ctx;
	if (!p)
		return api_reply_error(r, 500, "out of memory");
	if (!p->error_status && p->chunked_up && sock_send_all(p->fd, "0\r\n\r\n", 5) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
	int rc = p->error_status ? 0 : read_head(p);
	if (rc < 0)
		fail(p, 502, "sandbox %s: no valid answer from the guest", p->id);
	if (p->error_status && p->not_found)
		return reply_not_found(r, p->id);
	if (p->error_status)
		return api_reply_error(r, p->error_status, "%s", p->error);
	p->left = p->resp.content_length;
	bool no_body = strcmp(r->method, "HEAD") == 0 || p->resp.status == 204 || p->resp.status == 304 ||
		       (p->resp.status >= 100 && p->resp.status < 200);
	if (no_body || p->left == 0)
		p->body_done = true;
	uint64_t size = no_body ? 0 : p->left >= 0 ? (uint64_t)p->left : MHD_SIZE_UNKNOWN;
	struct MHD_Response *resp = MHD_create_response_from_callback(size, BUF_SIZE, produce, p, nothing);
	if (!resp)
		return MHD_NO;
	for (size_t i = 0; i < p->resp.nheaders; i++)
		if (!skip_header(p->resp.headers[i].name))
			MHD_add_response_header(resp, p->resp.headers[i].name, p->resp.headers[i].value);
	return http_queue(r, p->resp.status, resp);
}

static void cleanup(struct http_request *r)
{
	struct proxy *p = r->ctx;
	if (!p)
		return;
	if (p->fd >= 0) {
		manager_disconnect(p->m, p->id, p->fd);
		close(p->fd);
	}
	free(p);
	r->ctx = NULL;
}

/* Open: the guest's agent checks its own token. */
static const struct http_route route = {
	.method = "*", .pattern = "*", .handler = finish, .body_sink = body, .cleanup = cleanup, .open = true
};

const struct api_proxy_ops proxy_ops = { begin, &route };
