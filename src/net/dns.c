/* Nameservers for guests: parsing the setting and the host's resolv.conf. */
#include "net/dns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "net/internal.h"

/* A resolv.conf past this is not one (glibc's are a few lines). */
#define RESOLV_CONF_MAX (64 * 1024)

/* One IPv4 address of len bytes at s (not NUL-terminated), through the
 * net module's parser: a dotted quad, no prefix. */
static int address_parse(const char *s, size_t len, uint32_t *ret)
{
	char buf[16];
	if (len == 0 || len >= sizeof(buf) || memchr(s, '/', len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	struct net_cidr c;
	if (net_cidr_parse(buf, &c) < 0)
		return -EINVAL;
	*ret = c.addr;
	return 0;
}

static void add(struct net_dns *d, uint32_t addr)
{
	d->addr[d->count] = addr;
	net_addr_format(addr, d->text[d->count]);
	d->count++;
}

int net_dns_parse(const char *text, struct net_dns *ret, struct cove_err *err)
{
	struct net_dns d = { 0 };
	if (!text || !*text)
		return cove_errf(err, -EINVAL, "nameservers: empty (give IPv4 addresses, or '%s')", NET_DNS_NONE);
	if (strcmp(text, NET_DNS_NONE) == 0) {
		*ret = d;
		return 0;
	}
	for (const char *p = text;; p++) {
		size_t len = strcspn(p, ",");
		uint32_t addr;
		if (d.count == NET_DNS_MAX)
			return cove_errf(err, -E2BIG, "nameservers '%.64s': at most %d (a resolver reads no more)", text,
					 NET_DNS_MAX);
		if (address_parse(p, len, &addr) < 0)
			return cove_errf(err, -EINVAL, "nameserver '%.*s': not an IPv4 address", (int)(len < 64 ? len : 64),
					 p);
		add(&d, addr);
		p += len;
		if (!*p)
			break;
	}
	*ret = d;
	return 0;
}

/* Loopback (127/8) and "this host" (0/8, which resolvers take as the
 * host itself): the host's own resolvers, out of a guest's reach. */
static bool host_local(uint32_t addr)
{
	return addr >> 24 == 127 || addr >> 24 == 0;
}

/* The address of a "nameserver ADDR" line (line, len bytes); false when
 * the line is another keyword. glibc matches the keyword at the start of
 * the line and takes the address up to the next blank. */
static bool nameserver_line(const char *line, size_t len, const char **addr, size_t *addr_len)
{
	static const char kw[] = "nameserver";
	if (len <= sizeof(kw) - 1 || memcmp(line, kw, sizeof(kw) - 1) != 0)
		return false;
	const char *p = line + sizeof(kw) - 1, *end = line + len;
	if (*p != ' ' && *p != '\t')
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *a = p;
	while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
		p++;
	*addr = a;
	*addr_len = (size_t)(p - a);
	return true;
}

unsigned net_dns_from_resolv_conf(const char *text, struct net_dns *ret)
{
	unsigned left_out = 0;
	*ret = (struct net_dns){ 0 };
	for (const char *line = text; line && *line;) {
		size_t len = strcspn(line, "\n");
		const char *addr;
		size_t addr_len;
		uint32_t a;
		if (nameserver_line(line, len, &addr, &addr_len)) {
			if (ret->count < NET_DNS_MAX && address_parse(addr, addr_len, &a) == 0 && !host_local(a))
				add(ret, a);
			else
				left_out++;
		}
		line += len;
		if (*line)
			line++;
	}
	return left_out;
}

/* The file's text into buf (NUL-terminated); -errno when unreadable. */
static int read_text(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n < size - 1) {
		ssize_t got = read(fd, buf + n, size - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	return 0;
}

int net_dns_setting(const char *text, struct net_dns *ret, struct cove_err *err)
{
	if (text)
		return net_dns_parse(text, ret, err);
	static const char *const files[] = NET_DNS_HOST_FILES;
	char list[NET_DNS_MAX * 16 + 8];
	_cleanup_free_ char *buf = malloc(RESOLV_CONF_MAX);
	if (!buf)
		return cove_errf(err, -ENOMEM, "nameservers: out of memory");
	*ret = (struct net_dns){ 0 };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		if (read_text(files[i], buf, RESOLV_CONF_MAX) < 0)
			continue;
		unsigned left_out = net_dns_from_resolv_conf(buf, ret);
		net_dns_format(ret, list, sizeof(list));
		log_info("op=dns source=%s nameservers=%s left_out=%u", files[i], list, left_out);
		if (ret->count)
			return 0;
	}
	log_warn("op=dns nameservers=none msg=\"the host names no nameserver a guest can reach (loopback ones are left "
		 "out); guests get none: give them some with --dns or COVE_DNS\"");
	return 0;
}

void net_dns_list(const struct net_dns *d, const char *list[NET_DNS_MAX + 1])
{
	unsigned i = 0;
	for (; i < d->count && i < NET_DNS_MAX; i++)
		list[i] = d->text[i];
	list[i] = NULL;
}

void net_dns_format(const struct net_dns *d, char *buf, size_t len)
{
	size_t n = 0;
	if (len)
		buf[0] = '\0';
	if (!d->count) {
		snprintf(buf, len, "%s", NET_DNS_NONE);
		return;
	}
	for (unsigned i = 0; i < d->count && n < len; i++) {
		int w = snprintf(buf + n, len - n, "%s%s", i ? "," : "", d->text[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}
