#include "agent/session.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/spawn.h"
#include "proto/envelope.h"
#include "proto/process.h"

/* How long a client may take to send its request. */
#define REQUEST_TIMEOUT_MS 10000
/* envd's default Keepalive-Ping-Interval is 50 s; the SDK sends 50. */
#define KEEPALIVE_MS 50000
#define CHUNK (32 * 1024)
/* Requests are small; a start request is argv plus environment. */
#define REQUEST_MAX (1024 * 1024)

static int send_json(int fd, uint8_t flags, char *json)
{
	if (!json)
		return -ENOMEM;
	int r = envelope_send(fd, flags, json, strlen(json));
	free(json);
	return r;
}

static int send_end(int fd, const char *code, const char *message)
{
	return send_json(fd, ENVELOPE_FLAG_END, connect_end_encode(code, message));
}

static int read_request(int fd, struct process_start *req, struct cove_err *err)
{
	struct envelope_decoder d;
	envelope_decoder_init(&d, REQUEST_MAX);
	int r = 0;
	for (;;) {
		struct envelope env;
		r = envelope_decoder_next(&d, &env);
		if (r < 0) {
			r = cove_errf(err, r, r == -EMSGSIZE ? "request larger than %d bytes" : "malformed envelope",
				      REQUEST_MAX);
			break;
		}
		if (r == 1) {
			r = process_start_parse(env.data, env.len, req, err);
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, REQUEST_TIMEOUT_MS) <= 0) {
			r = cove_errf(err, -ETIMEDOUT, "no request within %d ms", REQUEST_TIMEOUT_MS);
			break;
		}
		char buf[ENVELOPE_FEED_MAX];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			r = cove_errf(err, -ECONNRESET, "client closed before sending a request");
			break;
		}
		if ((r = envelope_decoder_feed(&d, buf, (size_t)n)) < 0) {
			r = cove_errf(err, r, "request larger than %d bytes", REQUEST_MAX);
			break;
		}
	}
	envelope_decoder_free(&d);
	return r;
}

/* Reads what a pipe has now and streams it; returns bytes read, 0 at EOF or
 * when nothing is ready (*eof tells which), negative on a send failure. */
static ssize_t forward(int client, int *pipe_fd, enum process_stream stream)
{
	char buf[CHUNK];
	ssize_t n = read(*pipe_fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(*pipe_fd);
		*pipe_fd = -1;
		return 0;
	}
	if (n < 0)
		return 0;
	int r = send_json(client, 0, process_event_encode_data(stream, (uint8_t *)buf, (size_t)n));
	return r < 0 ? r : n;
}

/* After the process exits, what its pipes already hold is still sent; a
 * background child that keeps them open does not hold the stream. */
static int drain(int client, struct spawned *s)
{
	for (int guard = 0; guard < 1024 && (s->stdout_fd >= 0 || s->stderr_fd >= 0); guard++) {
		ssize_t a = s->stdout_fd >= 0 ? forward(client, &s->stdout_fd, PROCESS_STDOUT) : 0;
		ssize_t b = s->stderr_fd >= 0 ? forward(client, &s->stderr_fd, PROCESS_STDERR) : 0;
		if (a < 0 || b < 0)
			return -EPIPE;
		if (a == 0 && b == 0)
			break;
	}
	return 0;
}

static int wait_status(struct spawned *s)
{
	siginfo_t si = { 0 };
	while (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	return si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
}

/* Streams output until the process exits; -EPIPE when the client went away. */
static int pump(int client, struct spawned *s, int *status)
{
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = s->stdout_fd, .events = POLLIN },
			{ .fd = s->stderr_fd, .events = POLLIN },
			{ .fd = s->pidfd, .events = POLLIN },
			{ .fd = client, .events = POLLRDHUP },
		};
		int r = poll(p, 4, KEEPALIVE_MS);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0 && send_json(client, 0, process_event_encode_keepalive()) < 0)
			return -EPIPE;
		if (p[3].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return -EPIPE;
		if ((p[0].revents & (POLLIN | POLLHUP)) && forward(client, &s->stdout_fd, PROCESS_STDOUT) < 0)
			return -EPIPE;
		if ((p[1].revents & (POLLIN | POLLHUP)) && forward(client, &s->stderr_fd, PROCESS_STDERR) < 0)
			return -EPIPE;
		if (p[2].revents & POLLIN) {
			*status = wait_status(s);
			return drain(client, s);
		}
	}
}

static void run(int client, const struct process_start *req)
{
	struct cove_err err = { 0 };
	struct spawn_request sr = { .argv = req->argv, .envs = req->envs, .cwd = req->cwd };
	struct spawned s;
	int r = spawn_command(&sr, &s, &err);
	if (r < 0) {
		send_end(client, connect_code_for_errno(r), err.msg);
		return;
	}
	if (send_json(client, 0, process_event_encode_start(s.pid)) < 0) {
		r = -EPIPE;
	} else {
		int status = 0;
		r = pump(client, &s, &status);
		if (r == 0 && send_json(client, 0, process_event_encode_end(status)) == 0)
			send_end(client, NULL, NULL);
	}
	if (r < 0) {
		/* Nobody can reattach over this transport yet: the process goes
		 * with its client (reattaching comes with the envd API). */
		kill(-s.pid, SIGKILL);
		wait_status(&s);
	}
	spawned_close(&s);
}

void session_serve(int fd)
{
	struct process_start req;
	struct cove_err err = { 0 };
	if (read_request(fd, &req, &err) < 0) {
		send_end(fd, err.code == -ETIMEDOUT ? "deadline_exceeded" : "invalid_argument", err.msg);
	} else {
		run(fd, &req);
		process_start_clear(&req);
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}
