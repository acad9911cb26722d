#include "agent/process_service.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/spawn.h"
#include "proto/envelope.h"
#include "proto/process.h"

/* envd's default Keepalive-Ping-Interval is 50 s; the SDK asks for 50. */
#define KEEPALIVE_MS 50000
#define CHUNK (32 * 1024)

enum stream_state { STREAM_START, STREAM_PUMP, STREAM_DONE };

struct start_stream {
	enum stream_state state;
	struct spawned proc;
	bool running;   /* the process has not been reaped */
	uint8_t *buf;   /* bytes ready for the client */
	size_t off, len, cap;
};

static int queue(struct start_stream *st, uint8_t flags, char *json)
{
	if (!json)
		return -ENOMEM;
	size_t n = strlen(json);
	if (st->len + ENVELOPE_HEADER_SIZE + n > st->cap) {
		size_t cap = st->cap ? st->cap : 4096;
		while (cap < st->len + ENVELOPE_HEADER_SIZE + n)
			cap *= 2;
		uint8_t *nb = realloc(st->buf, cap);
		if (!nb) {
			free(json);
			return -ENOMEM;
		}
		st->buf = nb;
		st->cap = cap;
	}
	envelope_header_encode(flags, (uint32_t)n, st->buf + st->len);
	memcpy(st->buf + st->len + ENVELOPE_HEADER_SIZE, json, n);
	st->len += ENVELOPE_HEADER_SIZE + n;
	free(json);
	return 0;
}

static int queue_end(struct start_stream *st, const char *code, const char *message)
{
	st->state = STREAM_DONE;
	return queue(st, ENVELOPE_FLAG_END, connect_end_encode(code, message));
}

/* Reads what one pipe has now into a data event; closes it at EOF. */
static int read_pipe(struct start_stream *st, int *fd, enum process_stream stream, bool *got)
{
	char data[CHUNK];
	ssize_t n = read(*fd, data, sizeof(data));
	if (n > 0) {
		*got = true;
		return queue(st, 0, process_event_encode_data(stream, (uint8_t *)data, (size_t)n));
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
	return 0;
}

static int wait_status(struct spawned *s)
{
	siginfo_t si = { 0 };
	while (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (si.si_code == CLD_EXITED)
		return W_EXITCODE(si.si_status, 0);
	return (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
}

/* After the exit, what the pipes already hold is still sent; a background
 * child that keeps them open does not hold the stream. */
static int finish(struct start_stream *st)
{
	int status = wait_status(&st->proc);
	st->running = false;
	for (int guard = 0; guard < 1024; guard++) {
		bool got = false;
		int r = 0;
		if (st->proc.stdout_fd >= 0)
			r = read_pipe(st, &st->proc.stdout_fd, PROCESS_STDOUT, &got);
		if (r == 0 && st->proc.stderr_fd >= 0)
			r = read_pipe(st, &st->proc.stderr_fd, PROCESS_STDERR, &got);
		if (r < 0)
			return r;
		if (!got)
			break;
	}
	int r = queue(st, 0, process_event_encode_end(status));
	return r < 0 ? r : queue_end(st, NULL, NULL);
}

/* Blocks until the process has something to say, then queues it. */
static int pump(struct start_stream *st)
{
	struct pollfd p[3] = {
		{ .fd = st->proc.stdout_fd, .events = POLLIN },
		{ .fd = st->proc.stderr_fd, .events = POLLIN },
		{ .fd = st->proc.pidfd, .events = POLLIN },
	};
	int r = poll(p, 3, KEEPALIVE_MS);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return queue(st, 0, process_event_encode_keepalive());
	bool got = false;
	if ((p[0].revents & (POLLIN | POLLHUP)) && (r = read_pipe(st, &st->proc.stdout_fd, PROCESS_STDOUT, &got)) < 0)
		return r;
	if ((p[1].revents & (POLLIN | POLLHUP)) && (r = read_pipe(st, &st->proc.stderr_fd, PROCESS_STDERR, &got)) < 0)
		return r;
	if (p[2].revents & POLLIN)
		return finish(st);
	return 0;
}

static ssize_t start_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct start_stream *st = cls;
	while (st->off == st->len) {
		st->off = st->len = 0;
		if (st->state == STREAM_DONE)
			return MHD_CONTENT_READER_END_OF_STREAM;
		int r = st->state == STREAM_START ? queue(st, 0, process_event_encode_start(st->proc.pid)) : pump(st);
		if (st->state == STREAM_START)
			st->state = STREAM_PUMP;
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(out, st->buf + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

/* The response is gone: the stream ended, or the client hung up. A process
 * still running has nobody to report to; until envd's Connect (reattach)
 * arrives, it goes with its client. */
static void start_free(void *cls)
{
	struct start_stream *st = cls;
	if (st->running) {
		kill(-st->proc.pid, SIGKILL);
		wait_status(&st->proc);
	}
	spawned_close(&st->proc);
	free(st->buf);
	free(st);
}

static enum MHD_Result stream_response(struct http_request *r, struct start_stream *st)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNK + 1024, start_reader, st,
								      start_free);
	if (!resp) {
		start_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/connect+json");
	enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The request is one envelope holding a StartRequest. */
static int parse_request(struct http_request *r, struct process_start *req, struct cove_err *err)
{
	struct envelope_decoder d;
	envelope_decoder_init(&d, r->route->body_limit);
	struct envelope env;
	int got = 0, ret = 0;
	for (size_t off = 0; ret == 0 && off < r->len; off += ENVELOPE_FEED_MAX) {
		size_t n = r->len - off < ENVELOPE_FEED_MAX ? r->len - off : ENVELOPE_FEED_MAX;
		ret = envelope_decoder_feed(&d, r->body + off, n);
	}
	if (ret == 0)
		got = envelope_decoder_next(&d, &env);
	if (ret < 0 || got <= 0)
		ret = cove_errf(err, -EINVAL, "request is not one Connect envelope");
	else
		ret = process_start_parse(env.data, env.len, req, err);
	envelope_decoder_free(&d);
	return ret;
}

enum MHD_Result process_start(struct http_request *r)
{
	const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!type || strncmp(type, "application/connect+json", 24) != 0)
		return http_reply_connect_error(r, "invalid_argument",
						"process.Process/Start is a server stream: Content-Type must be application/connect+json");
	struct start_stream *st = calloc(1, sizeof(*st));
	if (!st)
		return MHD_NO;
	st->proc = (struct spawned){ .pid = -1, .pidfd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	struct process_start req;
	struct cove_err err = { 0 };
	int rc = parse_request(r, &req, &err);
	if (rc < 0) {
		/* Connect streams report errors in the end-of-stream message. */
		rc = queue_end(st, "invalid_argument", err.msg);
		return rc < 0 ? MHD_NO : stream_response(r, st);
	}
	struct spawn_request sr = { .argv = req.argv, .envs = req.envs, .cwd = req.cwd };
	rc = spawn_command(&sr, &st->proc, &err);
	process_start_clear(&req);
	if (rc < 0)
		rc = queue_end(st, connect_code_for_errno(rc), err.msg);
	else
		st->running = true;
	return rc < 0 ? MHD_NO : stream_response(r, st);
}
