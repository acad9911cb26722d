/* A sandbox's network: its own network namespace holding a TAP device that
 * the VMM attaches to, as in the reference hosts (Firecracker's and E2B's
 * network slots). Every guest sees the same addresses, which is what later
 * lets many clones of one snapshot run side by side:
 *   guest eth0 169.254.0.21/30, MAC 06:00:ac:10:00:02
 *   TAP        169.254.0.22/30 (the guest's gateway)
 * The host reaches the guest only from inside the namespace (sockets created
 * by a helper thread after setns()), never through the host's interfaces.
 * Everything is set up through the kernel's interfaces: unshare for the
 * namespace, /dev/net/tun for the TAP, rtnetlink (libmnl) for links,
 * addresses and the guest's permanent neighbour entry. */
#ifndef COVE_NET_H
#define COVE_NET_H

#include <stdint.h>

#include "common/err.h"

#define NET_GUEST_ADDR "169.254.0.21"
#define NET_TAP_ADDR "169.254.0.22"
#define NET_NETMASK "255.255.255.252"
#define NET_PREFIX_LEN 30
#define NET_GUEST_MAC "06:00:ac:10:00:02"
#define NET_TAP_NAME "tap0"

struct net_sandbox;

/* Creates the namespace, the TAP inside it, and configures both. */
int net_sandbox_create(struct net_sandbox **ret, struct cove_err *err);
/* Closes the namespace and TAP; the kernel removes both once the VMM (which
 * holds its own references) has exited too. NULL-safe. */
struct net_sandbox *net_sandbox_free(struct net_sandbox *net);

int net_sandbox_netns_fd(const struct net_sandbox *net);
int net_sandbox_tap_fd(const struct net_sandbox *net);

/* A new TCP socket (O_CLOEXEC) that lives in the namespace netns_fd, or in
 * the caller's when netns_fd is -1. Returns it or a negative errno. */
int net_tcp_socket_in(int netns_fd);

/* Opens a TCP connection to addr:port from inside the namespace, waiting at
 * most timeout_ms. Returns the connected socket (O_CLOEXEC, blocking) or a
 * negative errno (-ECONNREFUSED, -ETIMEDOUT, ...) with err filled. */
int net_connect_tcp(int netns_fd, const char *addr, uint16_t port, int timeout_ms, struct cove_err *err);

#endif
