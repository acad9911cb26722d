/* The egress proxy's relay: bytes between a guest's connection and its
 * upstream, with splice(2) through a pipe each way, so they never pass
 * through the proxy's memory. A flow reads while its pipe has room and
 * writes while it holds bytes; an end of stream is passed on (shutdown)
 * once the pipe is drained, and the connection ends when both flows have. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress/internal.h"

/* A pipe's capacity, asked for (F_SETPIPE_SZ): four times the default,
 * so a fast flow moves more per splice. Kept if the kernel refuses. */
#define PIPE_WANT (256 * 1024)

static void flow_pump(struct flow *f);

static bool flow_done(const struct flow *f)
{
	return f->eof && f->queued == 0;
}

static void check_done(struct conn *c)
{
	if (flow_done(&c->flows[0]) && flow_done(&c->flows[1]))
		c->end(c, false);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flow_pump(arg);
}

/* Moves what it can: from to the pipe, the pipe to `to`. Closes the
 * connection on an error (reset) or when both flows are done. */
static void flow_pump(struct flow *f)
{
	struct conn *c = f->c;
	for (;;) {
		bool moved = false;
		if (f->queued) {
			ssize_t n = splice(f->pipe[0], NULL, f->to, NULL, f->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0 && errno != EAGAIN) {
				c->end(c, true);
				return;
			}
			if (n > 0) {
				f->queued -= (size_t)n;
				moved = true;
			}
		}
		if (!f->eof && f->queued < f->room) {
			ssize_t n = splice(f->from, NULL, f->pipe[1], NULL, f->room - f->queued,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == 0) {
				f->eof = true;
			} else if (n < 0 && errno != EAGAIN) {
				c->end(c, true);
				return;
			} else if (n > 0) {
				f->queued += (size_t)n;
				moved = true;
			}
		}
		if (!moved)
			break;
	}
	if (flow_done(f))
		shutdown(f->to, SHUT_WR);
	/* Wait for what would let it move again. */
	if (f->queued)
		event_add(f->wr, NULL);
	else
		event_del(f->wr);
	if (!f->eof && f->queued < f->room)
		event_add(f->rd, NULL);
	else
		event_del(f->rd);
	check_done(c);
}

static int flow_init(struct conn *c, struct flow *f, int from, int to)
{
	f->c = c;
	f->from = from;
	f->to = to;
	if (pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		f->pipe[0] = f->pipe[1] = -1;
		return -errno;
	}
	int room = fcntl(f->pipe[1], F_SETPIPE_SZ, PIPE_WANT);
	if (room < 0)
		room = fcntl(f->pipe[1], F_GETPIPE_SZ);
	f->room = room > 0 ? (size_t)room : 65536;
	f->rd = event_new(c->e->base, from, EV_READ | EV_PERSIST, on_event, f);
	f->wr = event_new(c->e->base, to, EV_WRITE | EV_PERSIST, on_event, f);
	return f->rd && f->wr ? 0 : -ENOMEM;
}

int relay_start(struct conn *c)
{
	if (c->rule)
		return intercept_start(c);
	for (size_t i = 0; i < 2; i++)
		c->flows[i].pipe[0] = c->flows[i].pipe[1] = -1;
	c->relaying = true;
	int r = flow_init(c, &c->flows[0], c->client, c->up);
	if (r == 0)
		r = flow_init(c, &c->flows[1], c->up, c->client);
	if (r < 0)
		return r;
	/* What was read to find the name goes first (at most PEEK_MAX bytes:
	 * the empty pipe takes them whole). */
	if (c->head_len) {
		ssize_t n = write(c->flows[0].pipe[1], c->head, c->head_len);
		if (n != (ssize_t)c->head_len)
			return n < 0 ? -errno : -EIO;
		c->flows[0].queued = c->head_len;
	}
	event_add(c->flows[1].rd, NULL);
	/* Last: it may end the connection (an error at once). */
	flow_pump(&c->flows[0]);
	return 0;
}

void relay_free(struct conn *c)
{
	for (size_t i = 0; c->relaying && i < 2; i++) {
		struct flow *f = &c->flows[i];
		if (f->rd)
			event_free(f->rd);
		if (f->wr)
			event_free(f->wr);
		if (f->pipe[0] >= 0)
			close(f->pipe[0]);
		if (f->pipe[1] >= 0)
			close(f->pipe[1]);
	}
}
