#include "net/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net.h"

#define RELAY_BUF (64 * 1024)

struct conn {
	struct net_forward *f;
	int client;
	pthread_t thread;
	atomic_bool done;
	struct conn *next;
};

struct net_forward {
	struct net_forward_config c;
	char target_addr[INET_ADDRSTRLEN];
	int netns_fd;
	int listen_fd;
	int stop_fd; /* eventfd: readable once stopping; every thread polls it */
	uint16_t port;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	struct conn *conns;
	atomic_ulong count;
};

/* One direction of a connection: bytes read from `from` wait in buf until
 * `to` takes them; reading stops while the buffer is full (backpressure). */
struct pipe_half {
	int from, to;
	char *buf;
	size_t len, off;
	bool eof;  /* from said EOF: to gets SHUT_WR once buf is empty */
	bool shut; /* ... and has had it */
};

static int half_pump(struct pipe_half *h, short revents_from, short revents_to)
{
	if (!h->eof && h->len == 0 && (revents_from & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(h->from, h->buf, RELAY_BUF);
		if (n > 0) {
			h->len = (size_t)n;
			h->off = 0;
		} else if (n == 0) {
			h->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
	if (h->len > 0 && (revents_to & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = send(h->to, h->buf + h->off, h->len, MSG_NOSIGNAL);
		if (n > 0) {
			h->off += (size_t)n;
			h->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
	if (h->eof && h->len == 0 && !h->shut) {
		shutdown(h->to, SHUT_WR);
		h->shut = true;
	}
	return 0;
}

static void relay(int stop_fd, int a, int b)
{
	char *bufs = malloc(2 * RELAY_BUF);
	if (!bufs)
		return;
	fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
	fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
	struct pipe_half up = { a, b, bufs, 0, 0, false, false };
	struct pipe_half down = { b, a, bufs + RELAY_BUF, 0, 0, false, false };
	while (!(up.shut && down.shut)) {
		struct pollfd p[3] = { { .fd = stop_fd, .events = POLLIN }, { .fd = a }, { .fd = b } };
		/* a is read for up and written for down; b the other way round. */
		if (!up.eof && up.len == 0)
			p[1].events |= POLLIN;
		if (down.len > 0)
			p[1].events |= POLLOUT;
		if (!down.eof && down.len == 0)
			p[2].events |= POLLIN;
		if (up.len > 0)
			p[2].events |= POLLOUT;
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (half_pump(&up, p[1].revents, p[2].revents) < 0 || half_pump(&down, p[2].revents, p[1].revents) < 0)
			break;
	}
	free(bufs);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct net_forward *f = c->f;
	struct cove_err err = { 0 };
	int guest = net_connect_tcp(f->netns_fd, f->target_addr, f->c.target_port,
				    f->c.connect_timeout_ms > 0 ? f->c.connect_timeout_ms : 5000, &err);
	if (guest < 0) {
		log_warn("op=forward port=%u msg=\"%s\"", f->port, err.msg);
	} else {
		atomic_fetch_add(&f->count, 1);
		relay(f->stop_fd, c->client, guest);
		close(guest);
	}
	shutdown(c->client, SHUT_RDWR);
	atomic_store(&c->done, true);
	return NULL;
}

/* Joins and frees finished connections (all of them when `all`). */
static void reap(struct net_forward *f, bool all)
{
	pthread_mutex_lock(&f->lock);
	struct conn **pp = &f->conns;
	while (*pp) {
		struct conn *c = *pp;
		if (all || atomic_load(&c->done)) {
			*pp = c->next;
			pthread_join(c->thread, NULL);
			close(c->client);
			free(c);
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&f->lock);
}

static void *accept_main(void *arg)
{
	struct net_forward *f = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = f->stop_fd, .events = POLLIN }, { .fd = f->listen_fd, .events = POLLIN } };
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		reap(f, false);
		if (!(p[1].revents & POLLIN))
			continue;
		int client = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client < 0)
			continue; /* EAGAIN, ECONNABORTED, EMFILE: try again later */
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(client);
			continue;
		}
		c->f = f;
		c->client = client;
		pthread_mutex_lock(&f->lock);
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			pthread_mutex_unlock(&f->lock);
			close(client);
			free(c);
			continue;
		}
		c->next = f->conns;
		f->conns = c;
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

int net_forward_start(const struct net_forward_config *c, struct net_forward **ret, struct cove_err *err)
{
	*ret = NULL;
	struct sockaddr_in target, sa = { .sin_family = AF_INET, .sin_port = htons(c->listen_port) };
	const char *listen_addr = c->listen_addr ? c->listen_addr : "127.0.0.1";
	if (!c->target_addr || inet_pton(AF_INET, c->target_addr, &target.sin_addr) != 1)
		return cove_errf(err, -EINVAL, "forward: target '%s' is not an IPv4 address",
				 c->target_addr ? c->target_addr : "");
	if (inet_pton(AF_INET, listen_addr, &sa.sin_addr) != 1)
		return cove_errf(err, -EINVAL, "forward: listen address '%s' is not an IPv4 address", listen_addr);
	if (c->target_port == 0)
		return cove_errf(err, -EINVAL, "forward: target port 0");
	struct net_forward *f = calloc(1, sizeof(*f));
	if (!f)
		return cove_errf(err, -ENOMEM, "forward: out of memory");
	f->c = *c;
	snprintf(f->target_addr, sizeof(f->target_addr), "%s", c->target_addr);
	f->listen_fd = f->stop_fd = f->netns_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	int r = 0;
	if (c->netns_fd >= 0 && (f->netns_fd = fcntl(c->netns_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		r = cove_errno(err, -errno, "forward: dup namespace fd");
		goto fail;
	}
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->stop_fd < 0 || f->listen_fd < 0) {
		r = cove_errno(err, -errno, "forward: socket");
		goto fail;
	}
	int one = 1;
	setsockopt(f->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->listen_fd, 128) < 0) {
		r = cove_errno(err, -errno, "forward: listen on %s:%u", listen_addr, c->listen_port);
		goto fail;
	}
	socklen_t len = sizeof(sa);
	getsockname(f->listen_fd, (struct sockaddr *)&sa, &len);
	f->port = ntohs(sa.sin_port);
	if ((r = -pthread_create(&f->thread, NULL, accept_main, f)) < 0) {
		cove_errno(err, r, "forward: thread");
		goto fail;
	}
	f->thread_started = true;
	*ret = f;
	return 0;
fail:
	net_forward_stop(f);
	return r;
}

uint16_t net_forward_port(const struct net_forward *f)
{
	return f->port;
}

unsigned long net_forward_count(const struct net_forward *f)
{
	return atomic_load(&((struct net_forward *)f)->count);
}

void net_forward_stop(struct net_forward *f)
{
	if (!f)
		return;
	if (f->stop_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(f->stop_fd, &one, sizeof(one));
		(void)w;
	}
	if (f->thread_started)
		pthread_join(f->thread, NULL);
	reap(f, true);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	if (f->netns_fd >= 0)
		close(f->netns_fd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
