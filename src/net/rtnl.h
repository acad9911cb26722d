/* rtnetlink requests (through libmnl) for the calling thread's namespace. */
#ifndef COVE_NET_RTNL_H
#define COVE_NET_RTNL_H

#include "common/err.h"

/* Brings lo up; gives ifname the address addr/prefix and brings it up; adds a
 * permanent neighbour entry guest_addr -> guest_mac on it, so the first packet
 * to the guest never waits for ARP (whose retry interval is a whole second). */
int rtnl_configure_slot(const char *ifname, const char *addr, int prefix, const char *guest_addr,
			const char *guest_mac, struct cove_err *err);

#endif
