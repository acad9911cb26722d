/* Port forwarding from the host into a sandbox: a listening socket in the
 * caller's network namespace whose connections are relayed, byte for byte in
 * both directions, to a TCP port of the guest reached from inside the
 * sandbox's namespace. The guest is never published on a host interface
 * other than the one asked for (loopback by default). Used by
 * `cove run --publish`, and the building block of `cove port-forward` and of
 * coved's routing to guest ports. */
#ifndef COVE_NET_FORWARD_H
#define COVE_NET_FORWARD_H

#include <stdint.h>

#include "common/err.h"

struct net_forward;

struct net_forward_config {
	int netns_fd;              /* the sandbox's namespace (-1: the caller's, for tests) */
	const char *target_addr;   /* IPv4 address of the guest */
	uint16_t target_port;
	const char *listen_addr;   /* IPv4 address on the host; NULL: 127.0.0.1 */
	uint16_t listen_port;      /* 0: any free port (see net_forward_port) */
	int connect_timeout_ms;    /* 0: 5000 */
};

/* Binds and starts relaying in a thread of its own; each connection gets a
 * thread. The namespace fd is duplicated, so the caller may close its own. */
int net_forward_start(const struct net_forward_config *c, struct net_forward **ret, struct cove_err *err);
/* The port actually bound. */
uint16_t net_forward_port(const struct net_forward *f);
/* Connections relayed so far (accepted and connected to the guest). */
unsigned long net_forward_count(const struct net_forward *f);
/* Stops listening, drops every open connection, joins all threads. NULL-safe. */
void net_forward_stop(struct net_forward *f);

#endif
