/* [ADDR:]HOSTPORT:GUESTPORT, as cove run --publish and cove port-forward take it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int parse_port(const char *s, bool zero_ok, uint16_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || v > 65535 || (v == 0 && !zero_ok))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int cli_parse_publish(const char *arg, struct cli_publish *p)
{
	char buf[64];
	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	char *guest = strrchr(buf, ':');
	if (!guest)
		return -EINVAL;
	*guest++ = '\0';
	char *host = strrchr(buf, ':');
	const char *addr = "127.0.0.1";
	if (host) {
		*host++ = '\0';
		addr = buf;
	} else {
		host = buf;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, addr, &a) != 1 || strlen(addr) >= sizeof(p->addr))
		return -EINVAL;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	return parse_port(host, true, &p->host_port) < 0 || parse_port(guest, false, &p->guest_port) < 0 ? -EINVAL : 0;
}
