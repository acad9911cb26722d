/* rtnetlink requests through libmnl. A handle talks to the network namespace
 * the calling thread was in when it was opened, wherever the thread moves
 * afterwards: slot set-up opens one handle in the host's namespace and one in
 * the slot's, from one thread. Calls return 0 or the kernel's negative errno;
 * callers name what failed. */
#ifndef COVE_NET_RTNL_H
#define COVE_NET_RTNL_H

#include <stdint.h>

#include "common/err.h"

struct rtnl;

int rtnl_open(struct rtnl **ret, struct cove_err *err);
struct rtnl *rtnl_close(struct rtnl *r);

/* The index of link name; -ENODEV when there is none. */
int rtnl_link_index(struct rtnl *r, const char *name, unsigned *ret);
int rtnl_link_up(struct rtnl *r, unsigned ifindex);
/* Brings link name up and sets its alias (ifalias), in one request. */
int rtnl_link_up_alias(struct rtnl *r, const char *name, const char *alias);
int rtnl_link_delete(struct rtnl *r, const char *name);
/* Makes a veth pair: name here, peer in the namespace peer_netns_fd. */
int rtnl_veth_create(struct rtnl *r, const char *name, const char *peer, int peer_netns_fd);
/* addr and gateway in network byte order. */
int rtnl_addr_add(struct rtnl *r, unsigned ifindex, uint32_t addr, unsigned prefix);
int rtnl_route_default(struct rtnl *r, unsigned ifindex, uint32_t gateway);
/* A permanent neighbour entry, so the first packet never waits for ARP
 * (whose retry interval is a whole second). */
int rtnl_neigh_add(struct rtnl *r, unsigned ifindex, uint32_t addr, const unsigned char mac[6]);

/* Calls fn for every link of the namespace; alias is "" when unset. When
 * links change during the dump it is taken again, so fn may see a link twice.
 * A negative return from fn stops the walk (after the dump is read) and is
 * returned. */
typedef int (*rtnl_link_fn)(void *ctx, const char *name, const char *alias);
int rtnl_link_each(struct rtnl *r, rtnl_link_fn fn, void *ctx);

int rtnl_parse_mac(const char *s, unsigned char mac[6]);

#endif
