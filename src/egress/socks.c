/* The egress proxy's SOCKS5 client: a connection allowed by the policy of
 * a sandbox with an egressProxy is dialled through it. The greeting, the
 * username and password (when given) and the CONNECT go one at a time, each
 * answer read whole before the next; then the relay takes over. The whole
 * exchange gets the connect timeout. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "egress/internal.h"

enum step { GREETING, AUTH, CONNECTING };

static int say(struct conn *c, const uint8_t *msg, size_t len)
{
	/* A few hundred bytes on a socket just connected: the send buffer
	 * takes them whole. */
	ssize_t n = send(c->up, msg, len, MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int send_connect(struct conn *c)
{
	uint8_t msg[SOCKS5_MSG_MAX];
	size_t n = socks5_connect(msg, c->socks_by_name ? c->name : NULL, c->dst, c->port);
	c->socks_step = CONNECTING;
	return n ? say(c, msg, n) : -EINVAL;
}

static void fail(struct conn *c, const char *why)
{
	log_info("op=egress slot=%u name=\"%s\" msg=\"egress proxy: %s\"", c->slot, c->name, why);
	c->end(c, true);
}

/* One answer read (or the time up); the next message, or the relay. */
static void on_answer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (what & EV_TIMEOUT) {
		fail(c, "no answer in time");
		return;
	}
	ssize_t n = recv(fd, c->sbuf + c->slen, sizeof(c->sbuf) - c->slen, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		fail(c, n == 0 ? "it closed the connection" : strerror(errno));
		return;
	}
	c->slen += (size_t)n;
	struct cove_err err = { 0 };
	const struct net_egress_proxy *x = &c->policy.policy.proxy;
	int r;
	if (c->socks_step == GREETING)
		r = socks5_choice(c->sbuf, c->slen, x->username != NULL, &err);
	else if (c->socks_step == AUTH)
		r = socks5_auth_reply(c->sbuf, c->slen, &err);
	else
		r = socks5_connect_reply(c->sbuf, c->slen, &err);
	if (r == 0)
		return; /* more to come */
	if (r < 0) {
		fail(c, err.msg);
		return;
	}
	if (c->slen != (size_t)r) {
		fail(c, "it said more than its answer");
		return;
	}
	c->slen = 0;
	if (c->socks_step == GREETING && x->username) {
		uint8_t msg[SOCKS5_MSG_MAX];
		size_t len = socks5_auth(msg, x->username, x->password ? x->password : "");
		c->socks_step = AUTH;
		r = len ? say(c, msg, len) : -EINVAL;
	} else if (c->socks_step != CONNECTING) {
		r = send_connect(c);
	} else {
		event_free(c->ev);
		c->ev = NULL;
		if (relay_start(c) < 0)
			fail(c, "the relay did not start");
		return;
	}
	if (r < 0)
		fail(c, "it could not be written to");
}

int socks_begin(struct conn *c)
{
	uint8_t msg[SOCKS5_MSG_MAX];
	size_t n = socks5_greeting(msg, c->policy.policy.proxy.username != NULL);
	c->socks_step = GREETING;
	c->slen = 0;
	unsigned ms = c->e->c.connect_timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	c->ev = event_new(c->e->base, c->up, EV_READ | EV_PERSIST, on_answer, c);
	if (!c->ev || event_add(c->ev, &tv) < 0 || say(c, msg, n) < 0)
		return -1;
	return 0;
}
