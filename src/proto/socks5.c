/* SOCKS5 client messages (see socks5.h). */
#include "proto/socks5.h"

#include <errno.h>
#include <string.h>

enum { VERSION = 5, NO_AUTH = 0, USER_PASS = 2, NONE_ACCEPTABLE = 0xff, CONNECT = 1, IPV4 = 1, NAME = 3, IPV6 = 4 };

size_t socks5_greeting(uint8_t out[SOCKS5_MSG_MAX], bool with_auth)
{
	out[0] = VERSION;
	out[1] = 1;
	out[2] = with_auth ? USER_PASS : NO_AUTH;
	return 3;
}

int socks5_choice(const uint8_t *buf, size_t len, bool with_auth, struct cove_err *err)
{
	if (len < 2)
		return 0;
	if (buf[0] != VERSION)
		return cove_errf(err, -EPROTO, "socks5: the proxy answered version %u, not 5", buf[0]);
	if (buf[1] == NONE_ACCEPTABLE || buf[1] != (with_auth ? USER_PASS : NO_AUTH))
		return cove_errf(err, -EACCES, "socks5: the proxy accepts no method offered (%s)",
				 with_auth ? "username and password" : "none");
	return 2;
}

size_t socks5_auth(uint8_t out[SOCKS5_MSG_MAX], const char *user, const char *pass)
{
	size_t u = strlen(user), p = strlen(pass);
	if (u > 255 || p > 255)
		return 0;
	out[0] = 1; /* RFC 1929's version */
	out[1] = (uint8_t)u;
	memcpy(out + 2, user, u);
	out[2 + u] = (uint8_t)p;
	memcpy(out + 3 + u, pass, p);
	return 3 + u + p;
}

int socks5_auth_reply(const uint8_t *buf, size_t len, struct cove_err *err)
{
	if (len < 2)
		return 0;
	if (buf[0] != 1)
		return cove_errf(err, -EPROTO, "socks5: authentication answered version %u, not 1", buf[0]);
	if (buf[1] != 0)
		return cove_errf(err, -EACCES, "socks5: the proxy refused the username and password");
	return 2;
}

size_t socks5_connect(uint8_t out[SOCKS5_MSG_MAX], const char *name, uint32_t addr, uint16_t port)
{
	size_t n = 0;
	out[n++] = VERSION;
	out[n++] = CONNECT;
	out[n++] = 0;
	if (name) {
		size_t l = strlen(name);
		if (l == 0 || l > 255)
			return 0;
		out[n++] = NAME;
		out[n++] = (uint8_t)l;
		memcpy(out + n, name, l);
		n += l;
	} else {
		out[n++] = IPV4;
		for (int i = 3; i >= 0; i--)
			out[n++] = (uint8_t)(addr >> (8 * i));
	}
	out[n++] = (uint8_t)(port >> 8);
	out[n++] = (uint8_t)port;
	return n;
}

static const char *reply_text(uint8_t code)
{
	static const char *const texts[] = { "succeeded", "general failure", "not allowed by its rules",
					     "network unreachable", "host unreachable", "connection refused",
					     "TTL expired", "command not supported", "address type not supported" };
	return code < sizeof(texts) / sizeof(texts[0]) ? texts[code] : "unknown reply";
}

static int reply_errno(uint8_t code)
{
	switch (code) {
	case 2: return -EACCES;
	case 3: return -ENETUNREACH;
	case 4: return -EHOSTUNREACH;
	case 5: return -ECONNREFUSED;
	case 6: return -ETIMEDOUT;
	default: return -EPROTO;
	}
}

int socks5_connect_reply(const uint8_t *buf, size_t len, struct cove_err *err)
{
	if (len < 2)
		return 0;
	if (buf[0] != VERSION)
		return cove_errf(err, -EPROTO, "socks5: the proxy answered version %u, not 5", buf[0]);
	if (buf[1] != 0)
		return cove_errf(err, reply_errno(buf[1]), "socks5: the proxy's CONNECT failed: %s (%u)",
				 reply_text(buf[1]), buf[1]);
	if (len < 5)
		return 0;
	if (buf[2] != 0)
		return cove_errf(err, -EPROTO, "socks5: a reserved byte of %u", buf[2]);
	/* The bound address, then the port. */
	size_t need;
	switch (buf[3]) {
	case IPV4: need = 4 + 4 + 2; break;
	case IPV6: need = 4 + 16 + 2; break;
	case NAME: need = 4 + 1 + (size_t)buf[4] + 2; break;
	default: return cove_errf(err, -EPROTO, "socks5: an address of type %u", buf[3]);
	}
	return len < need ? 0 : (int)need;
}
