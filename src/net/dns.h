/* Nameservers for guests: the IPv4 resolvers a sandbox's /etc/resolv.conf
 * names, as coved (--dns) and `cove run` (--dns, COVE_DNS) are told them,
 * or, when not told, the host's own: the IPv4 nameserver lines of its
 * /etc/resolv.conf less the loopback ones (systemd-resolved's stub
 * 127.0.0.53 and the like answer on the host only, never to a sandbox).
 * Text is parsed into a struct net_dns before anything uses it; the guest
 * agent writes the list into the guest at /init (docs/agent-protocol.md). */
#ifndef COVE_NET_DNS_H
#define COVE_NET_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* glibc's and musl's MAXNS: a resolver reads no more nameserver lines. */
#define NET_DNS_MAX 3
/* The word for "no nameservers at all" (a guest's resolv.conf left alone). */
#define NET_DNS_NONE "none"
/* Where the host's resolvers are read from, in order: systemd-resolved's
 * list of its upstreams is the second, for a host whose /etc/resolv.conf
 * names only its stub (as Docker does). */
#define NET_DNS_HOST_FILES { "/etc/resolv.conf", "/run/systemd/resolve/resolv.conf" }

struct net_dns {
	unsigned count;
	uint32_t addr[NET_DNS_MAX]; /* host byte order */
	char text[NET_DNS_MAX][16]; /* dotted quads */
};

/* "none", or one to NET_DNS_MAX IPv4 addresses separated by commas
 * ("8.8.8.8,1.1.1.1"). -EINVAL (or -E2BIG: too many) with err naming the
 * entry; ret is written only on success. */
int net_dns_parse(const char *text, struct net_dns *ret, struct cove_err *err);

/* The IPv4 nameserver lines of a resolv.conf's text, in order, at most
 * NET_DNS_MAX, leaving out loopback and "this host" addresses (127/8,
 * 0/8). Returns how many nameserver lines were left out (those, IPv6 ones,
 * malformed ones, ones past the limit). */
unsigned net_dns_from_resolv_conf(const char *text, struct net_dns *ret);

/* The setting as coved and `cove run` take it: text as net_dns_parse
 * reads it, or NULL for the host's resolvers (NET_DNS_HOST_FILES: the
 * first file that names one; none when no file does), which it logs. */
int net_dns_setting(const char *text, struct net_dns *ret, struct cove_err *err);

/* The list as the rest of Cove passes it: NULL-terminated pointers into d
 * (which must outlive them). */
void net_dns_list(const struct net_dns *d, const char *list[NET_DNS_MAX + 1]);

/* "a,b,c", or "none". */
void net_dns_format(const struct net_dns *d, char *buf, size_t len);

#endif
