/* The VMM test doubles' HTTP/1.1 server (http.h). */
#include "http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fs.h"

struct conn {
	int fd;
	char *buf;
	size_t len;
};

static const char *header_value(const char *headers, const char *end, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	for (const char *line = headers; line < end;) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		line = eol + 2;
	}
	return NULL;
}

long http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	const char *head_end = memmem(buf, len, "\r\n\r\n", 4);
	if (!head_end)
		return len > HTTP_MAX_HEADER ? -E2BIG : 0;
	const char *eol = memmem(buf, (size_t)(head_end - buf) + 2, "\r\n", 2);
	const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || (size_t)(sp1 - buf) >= sizeof(req->method) || sp1 == buf)
		return -EINVAL;
	size_t plen = strcspn(sp1 + 1, "? ");
	if (plen == 0 || plen >= sizeof(req->path) || sp1[1] != '/')
		return -EINVAL;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return -EINVAL;
	memcpy(req->method, buf, (size_t)(sp1 - buf));
	req->method[sp1 - buf] = '\0';
	memcpy(req->path, sp1 + 1, plen);
	req->path[plen] = '\0';
	size_t vlen = 0;
	const char *v = header_value(eol + 2, head_end + 2, "Content-Length", &vlen);
	size_t body_len = 0;
	if (v) {
		char num[24];
		if (vlen == 0 || vlen >= sizeof(num))
			return -EINVAL;
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		char *end;
		unsigned long long n = strtoull(num, &end, 10);
		if (*end || num[0] == '-')
			return -EINVAL;
		if (n > HTTP_MAX_BODY)
			return -E2BIG;
		body_len = (size_t)n;
	} else if (header_value(eol + 2, head_end + 2, "Transfer-Encoding", &vlen)) {
		return -EINVAL; /* chunked bodies: no VMM client sends them */
	}
	v = header_value(eol + 2, head_end + 2, "Connection", &vlen);
	req->close = v && vlen == 5 && strncasecmp(v, "close", 5) == 0;
	size_t head_len = (size_t)(head_end + 4 - buf);
	if (len < head_len + body_len)
		return 0;
	req->body = buf + head_len;
	req->body_len = body_len;
	return (long)(head_len + body_len);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	default: return "Unknown";
	}
}

static int send_response(int fd, const struct http_response *resp)
{
	char head[256];
	size_t blen = resp->body ? strlen(resp->body) : 0;
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
			 "Connection: keep-alive\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			 resp->status, reason(resp->status),
			 resp->content_type ? resp->content_type : "application/json", blen);
	int r = sock_send_all(fd, head, (size_t)n);
	return r ?: (blen ? sock_send_all(fd, resp->body, blen) : 0);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	*c = (struct conn){ .fd = -1 };
}

/* Reads what the client sent and answers every whole request in it;
 * closes the connection on EOF, error or a malformed request. Returns
 * true when a response ended the loop. */
static bool conn_serve(struct conn *c, const struct http_loop_ops *ops, void *ctx)
{
	char *more = realloc(c->buf, HTTP_MAX_HEADER + HTTP_MAX_BODY + 1);
	if (!more)
		return conn_close(c), false;
	c->buf = more;
	ssize_t n = recv(c->fd, c->buf + c->len, HTTP_MAX_HEADER + HTTP_MAX_BODY - c->len, 0);
	if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
		return conn_close(c), false;
	c->len += n > 0 ? (size_t)n : 0;
	for (;;) {
		struct http_request req;
		long used = http_parse_request(c->buf, c->len, &req);
		if (used == 0)
			return false;
		if (used < 0) {
			struct http_response bad = { .status = used == -E2BIG ? 413 : 400 };
			send_response(c->fd, &bad);
			return conn_close(c), false;
		}
		struct http_response resp = { .status = 500 };
		ops->handle(ctx, &req, &resp);
		int r = send_response(c->fd, &resp);
		free(resp.body);
		memmove(c->buf, c->buf + used, c->len - (size_t)used);
		c->len -= (size_t)used;
		if (r < 0 || req.close || resp.end_loop) {
			conn_close(c);
			return resp.end_loop;
		}
	}
}

static void accept_client(int listen_fd, struct conn *conns)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < HTTP_MAX_CLIENTS; i++) {
		if (conns[i].fd < 0) {
			conns[i].fd = fd;
			return;
		}
	}
	close(fd); /* more clients than a VMM's API would see */
}

int http_listen_unix(const char *path, const char *what)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: %s: path too long\n", what, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		fprintf(stderr, "%s: %s: %m\n", what, path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int http_serve(int listen_fd, const struct http_loop_ops *ops, void *ctx)
{
	struct conn conns[HTTP_MAX_CLIENTS];
	for (int i = 0; i < HTTP_MAX_CLIENTS; i++)
		conns[i] = (struct conn){ .fd = -1 };
	int r = 0;
	for (bool done = false; !done;) {
		struct pollfd p[HTTP_MAX_CLIENTS + 2];
		p[0] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = ops->watch_fd ? ops->watch_fd(ctx) : -1, .events = POLLIN };
		for (int i = 0; i < HTTP_MAX_CLIENTS; i++)
			p[i + 2] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
		if (poll(p, HTTP_MAX_CLIENTS + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (p[1].fd >= 0 && p[1].revents)
			done = ops->on_event(ctx);
		for (int i = 0; !done && i < HTTP_MAX_CLIENTS; i++)
			if (p[i + 2].fd >= 0 && p[i + 2].revents)
				done = conn_serve(&conns[i], ops, ctx);
		if (!done && p[0].revents & POLLIN)
			accept_client(listen_fd, conns);
	}
	for (int i = 0; i < HTTP_MAX_CLIENTS; i++)
		conn_close(&conns[i]);
	return r;
}
