/* IPv4 prefixes, names, the slot address plan and the parsing of slot names. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"

/* The netmask of a prefix length, host byte order. */
static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

int net_cidr_parse(const char *s, struct net_cidr *ret)
{
	char buf[32];
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	unsigned prefix = 32;
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash++ = '\0';
		char *end;
		errno = 0;
		unsigned long p = strtoul(slash, &end, 10);
		if (errno || end == slash || *end || p > 32 || slash[0] == '+' || slash[0] == '-' || slash[0] == ' ')
			return -EINVAL;
		prefix = (unsigned)p;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	uint32_t addr = ntohl(a.s_addr);
	if (addr & ~prefix_mask(prefix))
		return -EINVAL; /* host bits set: 10.0.0.1/8 is a typo more often than not */
	ret->addr = addr;
	ret->prefix = prefix;
	return 0;
}

void net_addr_format(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
}

int net_name_check(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > NET_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			return -EINVAL;
	return 0;
}

unsigned net_range_slots(const struct net_cidr *range)
{
	if (range->prefix >= 31)
		return 0;
	uint64_t n = (uint64_t)1 << (32 - range->prefix - 1);
	return n > 1u << 20 ? 1u << 20 : (unsigned)n;
}

int net_slot_addrs(const struct net_cidr *range, unsigned index, uint32_t *host_end, uint32_t *ns_end)
{
	if (index >= net_range_slots(range))
		return -ERANGE;
	*host_end = range->addr + 2 * index;
	*ns_end = *host_end + 1;
	return 0;
}

int net_volume_server_addrs(const struct net_cidr *range, uint32_t *host_end, uint32_t *ns_end)
{
	unsigned room = net_range_slots(range);
	return room < 2 ? -ERANGE : net_slot_addrs(range, room - 1, host_end, ns_end);
}

int slot_parse_index(const char *prefix, const char *s, unsigned *ret)
{
	size_t n = strlen(prefix);
	if (!s || strncmp(s, prefix, n) != 0)
		return -EINVAL;
	s += n;
	if (!*s || strlen(s) > 7 || (s[0] == '0' && s[1]))
		return -EINVAL;
	unsigned v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*ret = v;
	return 0;
}

const struct net_cidr net_blocked[] = {
	{ 0x00000000, 8 },  /* 0.0.0.0/8 */
	{ 0x7f000000, 8 },  /* 127.0.0.0/8 */
	{ 0xa9fe0000, 16 }, /* 169.254.0.0/16: link-local, cloud metadata */
	{ 0xe0000000, 3 },  /* 224.0.0.0/3: multicast and reserved */
	{ 0, 0 },
};

const struct net_cidr net_private[] = {
	{ 0x0a000000, 8 },  /* 10.0.0.0/8 */
	{ 0x64400000, 10 }, /* 100.64.0.0/10 */
	{ 0xac100000, 12 }, /* 172.16.0.0/12 */
	{ 0xc0000000, 24 }, /* 192.0.0.0/24 */
	{ 0xc0a80000, 16 }, /* 192.168.0.0/16 */
	{ 0xc6120000, 15 }, /* 198.18.0.0/15 */
	{ 0, 0 },
};

bool net_cidr_contains(const struct net_cidr *c, uint32_t addr)
{
	return (addr & prefix_mask(c->prefix)) == c->addr;
}
