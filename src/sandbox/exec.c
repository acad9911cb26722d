/* Running a command through the guest agent: one connection, a Start
 * request out, the event stream in (docs/agent-protocol.md). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "net/net.h"
#include "proto/envelope.h"
#include "sandbox/internal.h"

#define CONNECT_TIMEOUT_MS 5000

/* Maps the Connect error code of a failed start back to an errno. */
static int errno_for_code(const char *code)
{
	if (strcmp(code, "not_found") == 0)
		return -ENOENT;
	if (strcmp(code, "permission_denied") == 0)
		return -EACCES;
	if (strcmp(code, "invalid_argument") == 0)
		return -EINVAL;
	if (strcmp(code, "resource_exhausted") == 0)
		return -EAGAIN;
	if (strcmp(code, "deadline_exceeded") == 0)
		return -ETIMEDOUT;
	return -EIO;
}

struct stream_state {
	struct sandbox_exec_result *res;
	const struct sandbox_exec *req;
	bool ended;    /* got the end event */
	bool finished; /* got the end-of-stream envelope */
};

static int handle_event(struct stream_state *st, const struct envelope *env, struct cove_err *err)
{
	struct process_event ev;
	int r = process_event_parse(env->data, env->len, &ev, err);
	if (r < 0)
		return cove_err_prefix(err, "agent sent a bad event");
	switch (ev.kind) {
	case PROCESS_EVENT_START:
		st->res->pid = ev.pid;
		break;
	case PROCESS_EVENT_DATA:
		if (st->req->on_output)
			r = st->req->on_output(st->req->ctx, ev.stream, ev.data, ev.len);
		break;
	case PROCESS_EVENT_END:
		st->ended = true;
		st->res->exited = ev.exited;
		st->res->exit_code = ev.exit_code;
		st->res->signal = ev.exited ? 0 : process_status_signal(ev.status);
		snprintf(st->res->status, sizeof(st->res->status), "%s", ev.status);
		break;
	case PROCESS_EVENT_KEEPALIVE:
		break;
	}
	process_event_clear(&ev);
	return r;
}

static int handle_envelope(struct stream_state *st, const struct envelope *env, struct cove_err *err)
{
	if (!(env->flags & ENVELOPE_FLAG_END))
		return handle_event(st, env, err);
	char code[32], message[COVE_ERR_MAX - 64];
	if (connect_end_parse(env->data, env->len, code, sizeof(code), message, sizeof(message)) < 0)
		return cove_errf(err, -EPROTO, "agent sent a bad end-of-stream message");
	st->finished = true;
	if (code[0])
		return cove_errf(err, errno_for_code(code), "%s", message[0] ? message : code);
	if (!st->ended)
		return cove_errf(err, -EPROTO, "agent ended the stream without an exit status");
	return 0;
}

static int read_stream(int fd, int cancel_fd, struct stream_state *st, struct cove_err *err)
{
	struct envelope_decoder d;
	envelope_decoder_init(&d, ENVELOPE_MAX_MESSAGE);
	int r = 0;
	while (r == 0 && !st->finished) {
		struct envelope env;
		int got = envelope_decoder_next(&d, &env);
		if (got < 0) {
			r = cove_errf(err, got, "agent sent a malformed envelope");
			break;
		}
		if (got == 1) {
			r = handle_envelope(st, &env, err);
			continue;
		}
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = cancel_fd, .events = POLLIN } };
		if (poll(p, cancel_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno != EINTR)
				r = cove_errno(err, -errno, "poll agent connection");
			continue;
		}
		if (p[1].revents & POLLIN) {
			r = cove_errf(err, -ECANCELED, "cancelled");
			break;
		}
		char buf[ENVELOPE_FEED_MAX];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = cove_errf(err, -ECONNRESET, "guest agent closed the connection before the command ended");
			break;
		}
		r = envelope_decoder_feed(&d, buf, (size_t)n);
		if (r < 0)
			r = cove_errno(err, r, "agent stream");
	}
	envelope_decoder_free(&d);
	return r;
}

int agent_exec(int fd, const struct sandbox_exec *req, struct sandbox_exec_result *res, int cancel_fd,
	       struct cove_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!req->argv || !req->argv[0])
		return cove_errf(err, -EINVAL, "exec: no command given");
	_cleanup_free_ char *json = process_start_encode(req->argv, req->envs, req->cwd, false);
	if (!json)
		return cove_errf(err, -ENOMEM, "exec: encode request");
	int r = envelope_send(fd, 0, json, strlen(json));
	if (r < 0)
		return cove_errno(err, r, "exec: send request");
	struct stream_state st = { .res = res, .req = req };
	return read_stream(fd, cancel_fd, &st, err);
}

int sandbox_exec(struct sandbox *sb, const struct sandbox_exec *req, struct sandbox_exec_result *res,
		 struct cove_err *err)
{
	memset(res, 0, sizeof(*res));
	_cleanup_close_ int fd = net_connect_tcp(sandbox_netns_fd(sb), NET_GUEST_ADDR, SANDBOX_AGENT_PORT,
						  CONNECT_TIMEOUT_MS, err);
	if (fd < 0)
		return cove_err_prefix(err, "exec in %s: guest agent", sb->id);
	int r = agent_exec(fd, req, res, sb->cancel_fd, err);
	if (r < 0 && r != -ENOENT && r != -EACCES)
		cove_err_prefix(err, "exec in %s", sb->id);
	return r;
}
