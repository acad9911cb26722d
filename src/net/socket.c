/* Sockets inside a slot's namespace: made by a short-lived thread that joins
 * the namespace; a socket stays in the namespace it was created in, so the
 * caller's threads never move. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "net/internal.h"

struct socket_job {
	int flags;
	int fd;
};

static int socket_inside(void *ctx)
{
	struct socket_job *job = ctx;
	job->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | job->flags, 0);
	return job->fd < 0 ? -errno : 0;
}

/* abortive: close() sends a reset and frees the socket at once. A socket
 * closed the usual way while its guest is being killed would linger in
 * FIN_WAIT, retransmitting to nobody, and keep the whole namespace (a
 * socket holds a reference to it) alive for minutes. */
static int socket_in_netns(int netns_fd, int flags, bool abortive)
{
	int fd;
	if (netns_fd < 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
		if (fd < 0)
			return -errno;
	} else {
		struct socket_job job = { flags, -1 };
		int r = net_run_in_netns(netns_fd, socket_inside, &job);
		if (r < 0)
			return r;
		fd = job.fd;
	}
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	if (abortive && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int net_tcp_socket_in(int netns_fd)
{
	return socket_in_netns(netns_fd, 0, true);
}

int net_connect_tcp(int netns_fd, const char *addr, uint16_t port, int timeout_ms, struct cove_err *err)
{
	return net_connect_tcp_abortive(netns_fd, addr, port, timeout_ms, false, err);
}

int net_connect_tcp_abortive(int netns_fd, const char *addr, uint16_t port, int timeout_ms, bool abortive,
			     struct cove_err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return cove_errf(err, -EINVAL, "connect: '%s' is not an IPv4 address", addr);
	_cleanup_close_ int fd = socket_in_netns(netns_fd, SOCK_NONBLOCK, abortive);
	if (fd < 0)
		return cove_errno(err, fd, "connect %s:%u: socket", addr, port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return cove_errno(err, -errno, "connect %s:%u", addr, port);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int pr;
	do
		pr = poll(&p, 1, timeout_ms);
	while (pr < 0 && errno == EINTR);
	if (pr == 0)
		return cove_errf(err, -ETIMEDOUT, "connect %s:%u: no answer within %d ms", addr, port, timeout_ms);
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return cove_errno(err, -errno, "connect %s:%u", addr, port);
	if (soerr)
		return cove_errno(err, -soerr, "connect %s:%u", addr, port);
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return cove_errno(err, -errno, "connect %s:%u: set blocking", addr, port);
	return TAKE_FD(fd);
}
