/* The streaming relay (see relay.h). */
#include "api/relay.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/fs.h"

void relay_init(struct relay *rl, struct http_request *r)
{
	int client_fd = -1;
	if (r && r->conn) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		client_fd = ci ? ci->connect_fd : -1;
	}
	rl->fd = -1;
	rl->client_fd = client_fd;
	rl->t = (struct relay_transport){ 0 };
	rl->chunked_up = false;
	rl->head_len = rl->buf_pos = rl->buf_len = 0;
	rl->resp = (struct http1_response){ 0 };
	rl->chunks = (struct http1_chunked){ 0 };
	rl->left = -1;
	rl->body_done = false;
}

bool relay_hop_header(const char *name)
{
	static const char *const names[] = { "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
					     "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
					     "Expect", "Date" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

void relay_head_put(struct relay_head *h, const char *a, const char *b, const char *c)
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
	struct relay_head *h = cls;
	if (relay_hop_header(name) || (h->skip && h->skip(name, h->cls)) || strpbrk(value, "\r\n"))
		return MHD_YES;
	relay_head_put(h, name, ": ", value);
	relay_head_put(h, "\r\n", "", "");
	return MHD_YES;
}

void relay_head_begin(struct relay_head *h, struct http_request *r)
{
	relay_head_put(h, r->method, " ", r->target);
	relay_head_put(h, " HTTP/1.1\r\n", "", "");
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, copy_header, h);
}

void relay_head_end(struct relay_head *h, struct relay *rl, struct http_request *r)
{
	relay_head_put(h, "Connection: close\r\n", "", "");
	const char *length = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	rl->chunked_up = false;
	if (length && !strpbrk(length, "\r\n"))
		relay_head_put(h, "Content-Length: ", length, "\r\n");
	else if (http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		rl->chunked_up = true;
		relay_head_put(h, "Transfer-Encoding: chunked\r\n", "", "");
	}
	relay_head_put(h, "\r\n", "", "");
}

int relay_send(struct relay *rl, const void *buf, size_t len)
{
	int rc = rl->t.send ? rl->t.send(rl->t.cls, buf, len) : sock_send_all(rl->fd, buf, len);
	return rc < 0 ? -EPIPE : 0;
}

int relay_body(struct relay *rl, const char *data, size_t len)
{
	char size[24];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	if ((rl->chunked_up && relay_send(rl, size, (size_t)n) < 0) || relay_send(rl, data, len) < 0 ||
	    (rl->chunked_up && relay_send(rl, "\r\n", 2) < 0))
		return -EPIPE;
	return 0;
}

int relay_body_end(struct relay *rl)
{
	return rl->chunked_up ? relay_send(rl, "0\r\n\r\n", 5) : 0;
}

/* Waits for the upstream; -1 when the client hung up meanwhile. */
static int wait_readable(struct relay *rl)
{
	struct pollfd fds[2] = { { .fd = rl->fd, .events = POLLIN }, { .fd = rl->client_fd, .events = POLLRDHUP } };
	for (;;) {
		int n = poll(fds, rl->client_fd >= 0 ? 2 : 1, -1);
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

static ssize_t read_upstream(struct relay *rl, void *buf, size_t len)
{
	bool pending = rl->t.pending && rl->t.pending(rl->t.cls);
	if (!pending && wait_readable(rl) < 0)
		return -1;
	if (rl->t.recv)
		return rl->t.recv(rl->t.cls, buf, len);
	ssize_t n;
	do
		n = recv(rl->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

int relay_read_head(struct relay *rl)
{
	for (;;) {
		size_t end = http1_head_end(rl->head, rl->head_len);
		if (end) {
			/* What came after the head is body. */
			rl->buf_len = rl->head_len - end;
			memcpy(rl->buf, rl->head + end, rl->buf_len);
			rl->head_len = end;
			return http1_parse_response(rl->head, end, &rl->resp);
		}
		if (rl->head_len == sizeof(rl->head))
			return -EPROTO;
		ssize_t n = read_upstream(rl, rl->head + rl->head_len, sizeof(rl->head) - rl->head_len);
		if (n <= 0)
			return -EPIPE;
		rl->head_len += (size_t)n;
	}
}

/* Produces body bytes for MHD (blocking), undoing the upstream's framing. */
static ssize_t produce(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct relay *rl = cls;
	for (;;) {
		if (rl->body_done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (rl->buf_pos == rl->buf_len) {
			ssize_t n = read_upstream(rl, rl->buf, sizeof(rl->buf));
			if (n < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			if (n == 0) /* closed: the end only when not framed */
				return rl->resp.chunked || rl->left > 0 ? MHD_CONTENT_READER_END_WITH_ERROR
									: MHD_CONTENT_READER_END_OF_STREAM;
			rl->buf_pos = 0;
			rl->buf_len = (size_t)n;
		}
		size_t avail = rl->buf_len - rl->buf_pos, used = 0, made = 0;
		if (rl->resp.chunked) {
			size_t take = avail < max ? avail : max;
			if (http1_chunked_decode(&rl->chunks, rl->buf + rl->buf_pos, take, (uint8_t *)out, &used, &made) < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			rl->body_done = rl->chunks.done;
		} else {
			used = made = avail < max ? avail : max;
			if (rl->left >= 0 && (int64_t)made > rl->left)
				used = made = (size_t)rl->left;
			memcpy(out, rl->buf + rl->buf_pos, made);
			if (rl->left >= 0 && (rl->left -= (int64_t)made) == 0)
				rl->body_done = true;
		}
		rl->buf_pos += used;
		if (made)
			return (ssize_t)made;
	}
}

static void nothing(void *cls)
{
	(void)cls; /* the relay goes with the request (its route's cleanup) */
}

enum MHD_Result relay_reply(struct relay *rl, struct http_request *r, bool (*skip)(const char *name))
{
	rl->left = rl->resp.content_length;
	unsigned status = rl->resp.status;
	bool no_body = strcmp(r->method, "HEAD") == 0 || status == 204 || status == 304 ||
		       (status >= 100 && status < 200);
	if (no_body || rl->left == 0)
		rl->body_done = true;
	uint64_t size = no_body ? 0 : rl->left >= 0 ? (uint64_t)rl->left : MHD_SIZE_UNKNOWN;
	struct MHD_Response *resp = MHD_create_response_from_callback(size, RELAY_BUF_SIZE, produce, rl, nothing);
	if (!resp)
		return MHD_NO;
	for (size_t i = 0; i < rl->resp.nheaders; i++) {
		const char *name = rl->resp.headers[i].name;
		if (!relay_hop_header(name) && !(skip && skip(name)))
			MHD_add_response_header(resp, name, rl->resp.headers[i].value);
	}
	/* Its body comes when the upstream sends it: no idle timeout meanwhile. */
	r->streaming = true;
	return http_queue(r, status, resp);
}
