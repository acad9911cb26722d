/* libFuzzer target: the nameservers setting (--dns, COVE_DNS) and the
 * host's resolv.conf (src/net/dns.c). The first byte picks which parser
 * reads the rest. Whatever either accepts is at most NET_DNS_MAX
 * addresses, each its own dotted quad; a setting formatted and parsed
 * again is the same; the host's list holds no loopback address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"

static void check_list(const struct net_dns *d)
{
	if (d->count > NET_DNS_MAX)
		abort();
	for (unsigned i = 0; i < d->count; i++) {
		struct net_dns one;
		if (net_dns_parse(d->text[i], &one, NULL) < 0 || one.count != 1 || one.addr[0] != d->addr[i])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct net_dns d = { 0 }, again;
	struct cove_err err = { 0 };
	char buf[NET_DNS_MAX * 16 + 8];
	if (data[0] & 1) {
		net_dns_from_resolv_conf(text, &d);
		check_list(&d);
		for (unsigned i = 0; i < d.count; i++)
			if (d.addr[i] >> 24 == 127 || d.addr[i] >> 24 == 0)
				abort();
	} else if (net_dns_parse(text, &d, &err) == 0) {
		check_list(&d);
		net_dns_format(&d, buf, sizeof(buf));
		if (net_dns_parse(buf, &again, NULL) < 0 || again.count != d.count ||
		    memcmp(again.addr, d.addr, d.count * sizeof(d.addr[0])) != 0)
			abort();
	} else if (!err.msg[0]) {
		abort();
	}
	free(text);
	return 0;
}
