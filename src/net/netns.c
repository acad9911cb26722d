#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "net/net.h"
#include "net/rtnl.h"

struct net_sandbox {
	int netns_fd;
	int tap_fd;
};

int net_sandbox_netns_fd(const struct net_sandbox *net) { return net->netns_fd; }
int net_sandbox_tap_fd(const struct net_sandbox *net) { return net->tap_fd; }

static int tap_open(const char *name, struct cove_err *err)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "open /dev/net/tun%s", errno == ENOENT ? " (no TUN/TAP support)" : "");
	struct ifreq ifr = { 0 };
	/* VNET_HDR lets virtio-net pass checksum and segmentation offloads through. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return cove_errno(err, -errno, "create TAP %s", name);
	return TAKE_FD(fd);
}

struct setup_job {
	struct net_sandbox *net;
	struct cove_err err;
	int r;
};

/* Runs on a thread of its own: unshare(CLONE_NEWNET) moves only this thread,
 * and the thread's end drops nothing but its own reference. */
static void *setup_thread(void *arg)
{
	struct setup_job *job = arg;
	struct cove_err *err = &job->err;
	if (unshare(CLONE_NEWNET) < 0) {
		job->r = cove_errno(err, -errno, "create network namespace%s", errno == EPERM ? " (needs root)" : "");
		return NULL;
	}
	job->net->netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (job->net->netns_fd < 0) {
		job->r = cove_errno(err, -errno, "open /proc/thread-self/ns/net");
		return NULL;
	}
	job->net->tap_fd = tap_open(NET_TAP_NAME, err);
	if (job->net->tap_fd < 0) {
		job->r = job->net->tap_fd;
		return NULL;
	}
	job->r = rtnl_configure_slot(NET_TAP_NAME, NET_TAP_ADDR, NET_PREFIX_LEN, NET_GUEST_ADDR, NET_GUEST_MAC, err);
	return NULL;
}

int net_sandbox_create(struct net_sandbox **ret, struct cove_err *err)
{
	struct net_sandbox *net = calloc(1, sizeof(*net));
	if (!net)
		return cove_errf(err, -ENOMEM, "net: out of memory");
	net->netns_fd = net->tap_fd = -1;
	struct setup_job job = { .net = net };
	pthread_t t;
	int r = pthread_create(&t, NULL, setup_thread, &job);
	if (r != 0) {
		net_sandbox_free(net);
		return cove_errno(err, -r, "net: start set-up thread");
	}
	pthread_join(t, NULL);
	if (job.r < 0) {
		if (err)
			*err = job.err;
		net_sandbox_free(net);
		return job.r;
	}
	*ret = net;
	return 0;
}

struct net_sandbox *net_sandbox_free(struct net_sandbox *net)
{
	if (!net)
		return NULL;
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	if (net->netns_fd >= 0)
		close(net->netns_fd);
	free(net);
	return NULL;
}

struct socket_job {
	int netns_fd;
	int flags;
	int fd;
};

static void *socket_thread(void *arg)
{
	struct socket_job *job = arg;
	if (setns(job->netns_fd, CLONE_NEWNET) < 0) {
		job->fd = -errno;
		return NULL;
	}
	/* A socket stays in the namespace it was created in. */
	job->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | job->flags, 0);
	if (job->fd < 0)
		job->fd = -errno;
	return NULL;
}

static int socket_in_netns(int netns_fd, int flags)
{
	struct socket_job job = { .netns_fd = netns_fd, .flags = flags, .fd = -1 };
	pthread_t t;
	int r = pthread_create(&t, NULL, socket_thread, &job);
	if (r != 0)
		return -r;
	pthread_join(t, NULL);
	return job.fd;
}

int net_tcp_socket_in(int netns_fd)
{
	if (netns_fd < 0) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	return socket_in_netns(netns_fd, 0);
}

int net_connect_tcp(int netns_fd, const char *addr, uint16_t port, int timeout_ms, struct cove_err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return cove_errf(err, -EINVAL, "connect: '%s' is not an IPv4 address", addr);
	_cleanup_close_ int fd = netns_fd >= 0 ? socket_in_netns(netns_fd, SOCK_NONBLOCK)
					      : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return cove_errno(err, netns_fd >= 0 ? fd : -errno, "connect %s:%u: socket", addr, port);
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
