/* The egress proxy: judges sandboxes' web traffic by the name it asks for.
 *
 * A slot whose policy names domains (net.h) has its TCP to ports 80 and 443
 * redirected by Cove's nftables table to this proxy, on the host. For each
 * connection it finds the slot from the peer address and the original
 * destination from conntrack (SO_ORIGINAL_DST), reads the first bytes the
 * guest sends until the TLS ClientHello's SNI or the HTTP request's Host is
 * known (proto/peek.h), and asks the policy (net_egress_decide): refused
 * connections are reset at once; a name allowed by allow_out is resolved by
 * the proxy itself (through the sandboxes' nameservers) and dialled there,
 * whatever address the guest dialled; other allowed ones go on to their
 * destination. Addresses no policy opens (the host itself, loopback,
 * link-local, other sandboxes: net_egress_forbidden) are never dialled.
 *
 * Once connected, bytes move between the two sockets with splice(2)
 * through a pipe each way, never through the proxy's memory; the bytes it
 * read to find the name are written to the upstream first. Half-closes are
 * passed on; an error on either side resets both.
 *
 * A name with rules (network.rules) is dialled by name, and its connection
 * leaves the loop for threads of its own once dialled (intercept.h): its
 * requests get the rule's headers, over TLS ended by the proxy.
 *
 * One thread runs libevent's loop (and its asynchronous DNS, evdns) for
 * every other connection. */
#ifndef COVE_EGRESS_EGRESS_H
#define COVE_EGRESS_EGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct net_slots;
struct tls_minter;

struct egress_config {
	struct net_slots *slots;     /* whose slots' connections are judged */
	const char *const *dns;      /* nameservers for allowed names (IPv4), NULL-terminated;
				   * NULL or empty: the host's /etc/resolv.conf */
	uint16_t port;               /* 0: a free port */
	unsigned peek_timeout_ms;    /* wait for the name; then judged without one. 0: 5000 */
	unsigned connect_timeout_ms; /* 0: 10000 */
	/* Connections one sandbox (slot) may hold through the proxy at once,
	 * intercepted ones among them; more are reset when accepted, so a guest
	 * opening thousands holds no more of the proxy's memory, descriptors
	 * and threads than this. 0: no cap. */
	unsigned max_per_sandbox;
	/* For hosts with rules (network.rules): the authority whose
	 * certificates guests trust (borrowed; NULL: HTTPS to them is refused); the
	 * extra CA file upstream servers may be verified with, besides the
	 * host's trust store (NULL: none); and how a ${e2b.secrets.NAME} is
	 * filled in (malloc'd value, zeroed and freed by the proxy; NULL: no
	 * secrets). secret is called from the proxy's threads. */
	struct tls_minter *minter;
	const char *upstream_ca;
	int (*secret)(void *ctx, const char *name, char **value, size_t *len, struct cove_err *err);
	void *secret_ctx;
};

struct egress;

/* Binds, starts the thread, and points the slots' web traffic at the port
 * (net_slots_set_proxy). */
int egress_start(const struct egress_config *c, struct egress **ret, struct cove_err *err);

/* Stops the thread and resets every connection. The redirect stays, so
 * sandboxes left running (coved --live-restore) have their connections
 * refused, not let through unjudged, until the next coved's proxy takes
 * them. NULL-safe. */
void egress_stop(struct egress *e);

#endif
