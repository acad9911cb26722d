/* envd routing (see proxy.h). One upstream connection per request, closed
 * after its response ("Connection: close" upstream, abortive close), made from
 * inside the sandbox's slot by the manager, which shuts it down when the
 * sandbox ends. MHD runs a thread per connection, so this code blocks on the
 * guest's socket, watching the client's at the same time. */
#include "api/proxy.h"
#include "api/guest_tls.h"

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
#include "common/secret.h"
#include "manager/manager.h"
#include "proto/http1.h"
#include "proto/utf8.h"
#include "proto/version.h"

#define BUF_SIZE (64 * 1024)
/* Where a private sandbox's traffic access token comes (E2B's header). */
#define TRAFFIC_TOKEN_HEADER "e2b-traffic-access-token"

struct proxy {
	struct manager *m;
	char id[64];
	int fd;                /* to the guest; -1 before connect or when it failed */
	struct guest_tls *tls; /* over fd, to a port in httpsPorts; NULL: plain HTTP */
	int client_fd;         /* to watch for the client hanging up */
	bool chunked_up;       /* the request body goes upstream chunked */
	unsigned error_status; /* set: finish answers this instead */
	char error[256];
	bool not_found;        /* no such sandbox running: E2B's edge proxy's 502 */
	bool denied;           /* a private sandbox, without its traffic token: E2B's 403 */
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

/* Sends to the guest, over TLS to a port in httpsPorts. */
static int send_up(struct proxy *p, const void *buf, size_t len)
{
	return p->tls ? guest_tls_send_all(p->tls, buf, len) : sock_send_all(p->fd, buf, len);
}

/* Hop-by-hop headers, and the ones the proxy sets itself. */
static bool skip_header(const char *name)
{
	static const char *const names[] = { "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
					     "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
					     "Expect", "Date", "E2b-Sandbox-Id", "E2b-Sandbox-Port", "X-API-KEY",
					     TRAFFIC_TOKEN_HEADER };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

struct head_builder {
	char *buf;
	size_t len, cap;
	bool overflow;
	bool masked; /* the Host is the sandbox's mask: X-Forwarded-Host is the proxy's */
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
	if (h->masked && strcasecmp(name, "X-Forwarded-Host") == 0)
		return MHD_YES;
	if (!skip_header(name) && !strpbrk(value, "\r\n")) {
		put(h, name, ": ", value);
		put(h, "\r\n", "", "");
	}
	return MHD_YES;
}

/* E2B's orchestrator proxy's rule for a private sandbox: every port but
 * envd's (which checks its own access token) needs the traffic token in
 * e2b-traffic-access-token; its words for a request without it or with
 * another (traffic_access_token_error.go). */
static int traffic_check(struct proxy *p, const char *given, const char *token)
{
	if (!given || !*given) {
		fail(p, 403, "Sandbox is secured with traffic access token. Token header '%s' is missing",
		     TRAFFIC_TOKEN_HEADER);
		return -EACCES;
	}
	if (!secret_equal(given, token)) {
		fail(p, 403, "Sandbox is secured with traffic access token. Provided token in header '%s' is invalid",
		     TRAFFIC_TOKEN_HEADER);
		return -EACCES;
	}
	return 0;
}

static bool https_port(const struct manager_ingress *in, unsigned port)
{
	for (unsigned i = 0; i < in->n_https_ports; i++)
		if (in->https_ports[i] == port)
			return true;
	return false;
}

/* Connects to the guest's port, with TLS on top for one in httpsPorts
 * (E2B's proxy's hop to such a port: see guest_tls.h). */
static int connect_guest(struct proxy *p, unsigned port, const struct manager_ingress *in, struct cove_err *err)
{
	int rc = manager_connect(p->m, p->id, port, PROXY_CONNECT_TIMEOUT_MS, &p->fd, err);
	if (rc < 0 || !https_port(in, port))
		return rc;
	if ((rc = guest_tls_open(p->fd, PROXY_CONNECT_TIMEOUT_MS, &p->tls, err)) < 0)
		cove_err_prefix(err, "sandbox %s: port %u is in httpsPorts", p->id, port);
	return rc;
}

/* Finds the sandbox (resuming one paused with autoResume, as E2B's proxy
 * does, on envd's port for a request with its access token, on another of
 * a private one with its traffic token), checks the request may reach it,
 * and connects to its guest's port. mask: the Host its guest gets ("": the
 * routing's). */
static int reach(struct proxy *p, struct http_request *r, unsigned port, char mask[MANAGER_MASK_HOST_MAX])
{
	struct cove_err err = { 0 };
	struct manager_ingress in;
	char token[65];
	bool envd = port == ENVD_PORT;
	const char *given = http_header(r, TRAFFIC_TOKEN_HEADER);
	int rc = manager_wake(p->m, p->id, envd, http_header(r, "X-Access-Token"), given, &err);
	if (rc == 0)
		rc = manager_ingress(p->m, p->id, &in, token, &err);
	if (rc == 0 && !envd && token[0] && (rc = traffic_check(p, given, token)) < 0) {
		p->denied = true;
		return rc;
	}
	if (rc == 0)
		rc = connect_guest(p, port, &in, &err);
	if (rc < 0) {
		fail(p, rc == -EACCES ? 403 : 502, "%s", err.msg);
		p->denied = rc == -EACCES;
		p->not_found = rc == -ENOENT;
		return rc;
	}
	mask[0] = '\0';
	if (!envd && in.mask_host[0]) /* E2B masks the Host on every port but envd's */
		api_mask_host(in.mask_host, port, mask);
	return 0;
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
	snprintf(p->id, sizeof(p->id), "%s", t->id);
	if (rc < 0) {
		fail(p, rc == -EINVAL ? 400 : 502, "%s", bad->msg);
		p->not_found = rc == -ENOENT;
		return;
	}
	unsigned port = t->port;
	char mask[MANAGER_MASK_HOST_MAX];
	if (reach(p, r, port, mask) < 0)
		return;
	char head[16384];
	struct head_builder h = { head, 0, sizeof(head), false, mask[0] != '\0' };
	put(&h, r->method, " ", r->target);
	put(&h, " HTTP/1.1\r\n", "", "");
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, copy_header, &h);
	char host[64];
	snprintf(host, sizeof(host), "%s:%u", NET_GUEST_ADDR, port);
	const char *asked = http_header(r, MHD_HTTP_HEADER_HOST);
	if (h.masked && asked && !strpbrk(asked, "\r\n")) /* as E2B: the Host the client asked for */
		put(&h, "X-Forwarded-Host: ", asked, "\r\n");
	put(&h, "Host: ", h.masked ? mask : host, "\r\n");
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
	else if (send_up(p, head, h.len) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
}

static int body(struct http_request *r, const char *data, size_t len)
{
	struct proxy *p = r->ctx;
	if (!p || p->error_status)
		return 0; /* discarded: finish answers the error */
	char size[24];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	if ((p->chunked_up && send_up(p, size, (size_t)n) < 0) || send_up(p, data, len) < 0 ||
	    (p->chunked_up && send_up(p, "\r\n", 2) < 0))
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
	/* What TLS has read already would not wake poll. */
	bool pending = p->tls && guest_tls_pending(p->tls);
	if (!pending && wait_readable(p) < 0)
		return -1;
	if (p->tls)
		return guest_tls_recv(p->tls, buf, len);
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

/* E2B's proxies' answers of their own, {"message", "sandboxId", "code"}:
 * for a sandbox they cannot find, 502 (its e2e test host.test.ts checks
 * all three fields; the SDK's isRunning() reads it as false), and for a
 * private one without its traffic token, 403. */
static enum MHD_Result reply_edge(struct http_request *r, unsigned status, const char *message, const char *id)
{
	json_t *j = json_pack("{s:s, s:o, s:i}", "message", message, "sandboxId", json_string_lossy(id), "code",
			      (int)status);
	return http_reply_json(r, status, j);
}

static enum MHD_Result finish(struct http_request *r)
{
	struct proxy *p = r->ctx;
	if (!p)
		return api_reply_error(r, 500, "out of memory");
	if (!p->error_status && p->chunked_up && send_up(p, "0\r\n\r\n", 5) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
	int rc = p->error_status ? 0 : read_head(p);
	if (rc < 0)
		fail(p, 502, "sandbox %s: no valid answer from the guest", p->id);
	if (p->error_status && p->not_found)
		return reply_edge(r, 502, "The sandbox was not found", p->id);
	if (p->error_status && p->denied)
		return reply_edge(r, 403, p->error, p->id);
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
	p->tls = guest_tls_free(p->tls);
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
