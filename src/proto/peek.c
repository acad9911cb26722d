/* The name a new connection asks for: TLS ClientHello server_name or HTTP/1
 * Host (what is accepted, and why: peek.h). Internally a step returns 0 when
 * done, -EAGAIN when it needs bytes not yet here, or -EPROTO. */
#include "proto/peek.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define TLS_RECORD_HEADER 5
#define TLS_RECORD_MAX 16384 /* RFC 8446 5.1: 2^14 */
#define TLS_CONTENT_HANDSHAKE 22
#define TLS_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0
#define TLS_SNI_HOST_NAME 0
#define TLS_SESSION_ID_MAX 32
#define DNS_LABEL_MAX 63
#define HTTP_METHOD_MAX 64

/* Copies the host name s[0..n) into out, lowercase, without one trailing
 * dot. NULL when it is a name, else what is wrong with it. */
static const char *name_copy(const char *s, size_t n, char out[PEEK_NAME_MAX + 1])
{
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0)
		return "is empty";
	if (n > PEEK_NAME_MAX)
		return "is longer than 253 bytes";
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (label == 0)
				return "has an empty label";
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-') {
			label++;
		} else if (ch >= 'A' && ch <= 'Z') {
			ch = (char)(ch - 'A' + 'a');
			label++;
		} else {
			return "has a byte outside [A-Za-z0-9.-]";
		}
		if (label > DNS_LABEL_MAX)
			return "has a label longer than 63 bytes";
		out[i] = ch;
	}
	if (label == 0)
		return "has an empty label";
	out[n] = '\0';
	return NULL;
}

/* ---- TLS ---- */

/* Reads the handshake stream: the payloads of consecutive handshake
 * records, joined, never past buf[len) nor past the message's end. */
struct hs_cursor {
	const uint8_t *buf;
	size_t len;
	size_t off;       /* next byte of buf */
	size_t in_record; /* payload bytes left in the current record */
	size_t msg_left;  /* bytes left in the handshake message */
	struct cove_err *err;
};

/* Steps over the record header at c->off, checking what of it is here. */
static int record_next(struct hs_cursor *c)
{
	const uint8_t *h = c->buf + c->off;
	size_t have = c->len - c->off;
	if (have >= 1 && h[0] != TLS_CONTENT_HANDSHAKE)
		return cove_errf(c->err, -EPROTO, "tls: a record of type %u inside the ClientHello", h[0]);
	if ((have >= 2 && h[1] != 3) || (have >= 3 && (h[2] < 1 || h[2] > 3)))
		return cove_errf(c->err, -EPROTO, "tls: record version is not TLS 1.0-1.3");
	if (have < TLS_RECORD_HEADER)
		return -EAGAIN;
	size_t n = (size_t)h[3] << 8 | h[4];
	if (n == 0 || n > TLS_RECORD_MAX)
		return cove_errf(c->err, -EPROTO, "tls: handshake record of %zu bytes (1 to 16384 allowed)", n);
	c->off += TLS_RECORD_HEADER;
	c->in_record = n;
	return 0;
}

/* Takes n bytes of the message into out (NULL: skips them). */
static int take(struct hs_cursor *c, uint8_t *out, size_t n)
{
	if (n > c->msg_left)
		return cove_errf(c->err, -EPROTO, "tls: a length runs past the end of the ClientHello");
	while (n > 0) {
		if (c->in_record == 0) {
			int r = record_next(c);
			if (r < 0)
				return r;
		}
		size_t k = c->len - c->off;
		if (k == 0)
			return -EAGAIN;
		if (k > n)
			k = n;
		if (k > c->in_record)
			k = c->in_record;
		if (out) {
			memcpy(out, c->buf + c->off, k);
			out += k;
		}
		c->off += k;
		c->in_record -= k;
		c->msg_left -= k;
		n -= k;
	}
	return 0;
}

/* A big-endian integer of size bytes (1-3). */
static int take_uint(struct hs_cursor *c, size_t size, size_t *ret)
{
	uint8_t b[3];
	int r = take(c, b, size);
	if (r < 0)
		return r;
	size_t v = 0;
	for (size_t i = 0; i < size; i++)
		v = v << 8 | b[i];
	*ret = v;
	return 0;
}

/* Skips a vector with a size-byte length prefix, the length in [min, max]. */
static int skip_vector(struct hs_cursor *c, size_t size, size_t min, size_t max, bool even, const char *what)
{
	size_t n;
	int r = take_uint(c, size, &n);
	if (r < 0)
		return r;
	if (n < min || n > max || (even && n % 2))
		return cove_errf(c->err, -EPROTO, "tls: %s of %zu bytes", what, n);
	return take(c, NULL, n);
}

/* The server_name extension's body (RFC 6066 3): exactly one host_name. */
static int server_name(struct hs_cursor *c, size_t ext_len, char name[PEEK_NAME_MAX + 1])
{
	size_t list;
	if (ext_len < 5)
		return cove_errf(c->err, -EPROTO, "tls: server_name extension of %zu bytes", ext_len);
	int r = take_uint(c, 2, &list);
	if (r < 0)
		return r;
	if (list != ext_len - 2)
		return cove_errf(c->err, -EPROTO, "tls: server_name list length disagrees with its extension's");
	size_t type, n;
	if ((r = take_uint(c, 1, &type)) < 0 || (r = take_uint(c, 2, &n)) < 0)
		return r;
	if (type != TLS_SNI_HOST_NAME)
		return cove_errf(c->err, -EPROTO, "tls: server_name of type %zu (only host_name is known)", type);
	if (n != list - 3)
		return cove_errf(c->err, -EPROTO, "tls: server_name list holds other than one host_name");
	if (n > PEEK_NAME_MAX + 1)
		return cove_errf(c->err, -EPROTO, "tls: server_name of %zu bytes (253 at most)", n);
	char raw[PEEK_NAME_MAX + 1];
	if ((r = take(c, (uint8_t *)raw, n)) < 0)
		return r;
	const char *bad = name_copy(raw, n, name);
	if (bad)
		return cove_errf(c->err, -EPROTO, "tls: server_name %s", bad);
	return 0;
}

static int extensions(struct hs_cursor *c, char name[PEEK_NAME_MAX + 1])
{
	size_t total;
	int r = take_uint(c, 2, &total);
	if (r < 0)
		return r;
	if (total != c->msg_left)
		return cove_errf(c->err, -EPROTO, "tls: extensions length disagrees with the ClientHello's");
	bool seen = false;
	while (c->msg_left > 0) {
		size_t type, n;
		if ((r = take_uint(c, 2, &type)) < 0 || (r = take_uint(c, 2, &n)) < 0)
			return r;
		if (n > c->msg_left)
			return cove_errf(c->err, -EPROTO, "tls: extension %zu runs past the ClientHello", type);
		if (type != TLS_EXT_SERVER_NAME) {
			r = take(c, NULL, n);
		} else if (seen) {
			return cove_errf(c->err, -EPROTO, "tls: two server_name extensions");
		} else {
			seen = true;
			r = server_name(c, n, name);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* The ClientHello's body (RFC 8446 4.1.2, RFC 5246 7.4.1.2). */
static int client_hello(struct hs_cursor *c, char name[PEEK_NAME_MAX + 1])
{
	size_t version;
	int r = take_uint(c, 2, &version);
	if (r < 0)
		return r;
	if (version >> 8 != 3)
		return cove_errf(c->err, -EPROTO, "tls: ClientHello version 0x%04zx", version);
	if ((r = take(c, NULL, 32)) < 0 || /* random */
	    (r = skip_vector(c, 1, 0, TLS_SESSION_ID_MAX, false, "session id")) < 0 ||
	    (r = skip_vector(c, 2, 2, 0xfffe, true, "cipher suite list")) < 0 ||
	    (r = skip_vector(c, 1, 1, 0xff, false, "compression method list")) < 0)
		return r;
	name[0] = '\0';
	if (c->msg_left == 0)
		return 0; /* no extensions (allowed before TLS 1.3) */
	return extensions(c, name);
}

static int tls_name(const uint8_t *buf, size_t len, char name[PEEK_NAME_MAX + 1], struct cove_err *err)
{
	struct hs_cursor c = { .buf = buf, .len = len, .msg_left = 4, .err = err };
	size_t type, n;
	int r;
	if ((r = take_uint(&c, 1, &type)) < 0)
		return r;
	if (type != TLS_CLIENT_HELLO)
		return cove_errf(err, -EPROTO, "tls: handshake message of type %zu, not a ClientHello", type);
	if ((r = take_uint(&c, 3, &n)) < 0)
		return r;
	/* The fewest bytes that can carry it: full records and their headers. */
	size_t records = (4 + n + TLS_RECORD_MAX - 1) / TLS_RECORD_MAX;
	if (4 + n + records * TLS_RECORD_HEADER > PEEK_MAX)
		return cove_errf(err, -E2BIG, "tls: ClientHello of %zu bytes (more than the proxy reads)", n);
	c.msg_left = n;
	return client_hello(&c, name);
}

/* ---- HTTP/1 ---- */

struct http_head {
	bool complete_line; /* the line being read ended */
	unsigned minor;     /* HTTP/1.minor */
	bool host_seen;
	bool target_has_host;
	char host[PEEK_NAME_MAX + 1];
	char target_host[PEEK_NAME_MAX + 1];
	struct cove_err *err;
};

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(uint8_t ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch);
}

/* Finds the line starting at pos: *eol where its text ends (before CRLF or
 * LF), *next where the line after it starts. -EAGAIN with *eol = len when it
 * has not ended yet. A NUL or a CR not followed by LF is refused. */
static int line_end(const uint8_t *buf, size_t len, size_t pos, size_t *eol, size_t *next, struct cove_err *err)
{
	for (size_t i = pos; i < len; i++) {
		if (buf[i] == '\0')
			return cove_errf(err, -EPROTO, "http: a NUL byte in the head");
		if (buf[i] == '\r') {
			if (i + 1 == len) {
				*eol = i; /* its LF may come next */
				return -EAGAIN;
			}
			if (buf[i + 1] != '\n')
				return cove_errf(err, -EPROTO, "http: a bare CR in the head");
			*eol = i;
			*next = i + 2;
			return 0;
		}
		if (buf[i] == '\n') {
			*eol = i;
			*next = i + 1;
			return 0;
		}
	}
	*eol = len;
	return -EAGAIN;
}

/* How many of s[0..n) are in set. */
static size_t span(const char *s, size_t n, const char *set)
{
	size_t i = 0;
	while (i < n && s[i] && strchr(set, s[i]))
		i++;
	return i;
}

/* host [":" port] or "[" IPv6 "]" [":" port] (RFC 3986 3.2.2), into out. */
static const char *host_parse(const char *s, size_t n, char out[PEEK_NAME_MAX + 1])
{
	bool ipv6 = n > 0 && s[0] == '[';
	size_t end = ipv6 ? 1 + span(s + 1, n - 1, "0123456789abcdefABCDEF:.") : 0;
	if (ipv6) {
		if (end == n || s[end] != ']' || end < 3 || end > 46)
			return "is not a bracketed IPv6 literal";
		for (size_t i = 0; i <= end; i++)
			out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
		out[++end] = '\0';
	} else {
		const char *colon = memchr(s, ':', n);
		end = colon ? (size_t)(colon - s) : n;
	}
	if (end < n) {
		size_t digits = n - end - 1;
		unsigned port = 0;
		if (s[end] != ':' || digits > 5 || span(s + end + 1, digits, "0123456789") != digits)
			return "has a bad port";
		for (size_t i = end + 1; i < n; i++)
			port = port * 10 + (unsigned)(s[i] - '0');
		if (port > 65535)
			return "has a bad port";
	}
	return ipv6 ? NULL : name_copy(s, end, out);
}

/* The request target t[0..n) of method m[0..mlen): origin-form, "*" for
 * OPTIONS, or absolute-form, whose host h->target_host takes. */
static int request_target(struct http_head *h, const char *m, size_t mlen, const char *t, size_t n)
{
	if (mlen == 7 && memcmp(m, "CONNECT", 7) == 0)
		return cove_errf(h->err, -EPROTO, "http: a CONNECT request (this proxy is transparent)");
	if (t[0] == '/')
		return 0;
	if (n == 1 && t[0] == '*' && mlen == 7 && memcmp(m, "OPTIONS", 7) == 0)
		return 0;
	size_t scheme = 0;
	if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
		scheme = 7;
	else if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
		scheme = 8;
	if (!scheme)
		return cove_errf(h->err, -EPROTO, "http: request target is neither a path nor an http URL");
	size_t auth = scheme;
	while (auth < n && !strchr("/?#", t[auth]))
		auth++;
	if (memchr(t + scheme, '@', auth - scheme))
		return cove_errf(h->err, -EPROTO, "http: request target has userinfo ('@')");
	const char *bad = auth == scheme ? "is empty" : host_parse(t + scheme, auth - scheme, h->target_host);
	if (bad)
		return cove_errf(h->err, -EPROTO, "http: request target's host %s", bad);
	h->target_has_host = true;
	return 0;
}

/* The request line, or as much of it as has come (then -EAGAIN while what
 * is here can still start a valid one). */
static int request_line(const uint8_t *p, size_t n, struct http_head *h)
{
	size_t i = 0;
	while (i < n && i <= HTTP_METHOD_MAX && is_tchar(p[i]))
		i++;
	if (i > HTTP_METHOD_MAX)
		return cove_errf(h->err, -EPROTO, "http: method longer than %d bytes", HTTP_METHOD_MAX);
	if (i < n && (i == 0 || p[i] != ' '))
		return cove_errf(h->err, -EPROTO, "http: byte 0x%02x in the request method", p[i]);
	size_t method = i, target = i + 1;
	for (i = target; i < n && p[i] > ' ' && p[i] != 0x7f; i++)
		;
	if (i < n && (i == target || p[i] != ' '))
		return cove_errf(h->err, -EPROTO, "http: byte 0x%02x in the request target", p[i]);
	size_t target_len = i - target, version = i + 1;
	static const char proto[] = "HTTP/1.";
	for (i = version; i < n && i - version < 8; i++) {
		bool ok = i - version < 7 ? p[i] == (uint8_t)proto[i - version] : (p[i] >= '0' && p[i] <= '9');
		if (!ok)
			break;
	}
	if (i < n || (h->complete_line && i != version + 8))
		return cove_errf(h->err, -EPROTO, "http: request line does not end in HTTP/1.x");
	if (!h->complete_line)
		return -EAGAIN;
	h->minor = p[version + 7] - '0';
	return request_target(h, (const char *)p, method, (const char *)p + target, target_len);
}

/* A header line (or as much of it as has come). */
static int header_line(const uint8_t *p, size_t n, struct http_head *h)
{
	if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
		return cove_errf(h->err, -EPROTO, "http: a folded (obs-fold) header line");
	size_t colon = 0;
	while (colon < n && is_tchar(p[colon]))
		colon++;
	if ((colon < n && (colon == 0 || p[colon] != ':')) || (colon == n && h->complete_line))
		return cove_errf(h->err, -EPROTO, "http: a header line that is not 'name: value'");
	for (size_t i = colon + 1; i < n; i++)
		if ((p[i] < ' ' && p[i] != '\t') || p[i] == 0x7f)
			return cove_errf(h->err, -EPROTO, "http: control byte 0x%02x in a header value", p[i]);
	if (!h->complete_line)
		return -EAGAIN;
	if (colon != 4 || strncasecmp((const char *)p, "host", 4) != 0)
		return 0;
	if (h->host_seen)
		return cove_errf(h->err, -EPROTO, "http: two Host headers");
	h->host_seen = true;
	size_t a = colon + 1, b = n;
	while (a < b && (p[a] == ' ' || p[a] == '\t'))
		a++;
	while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
		b--;
	h->host[0] = '\0';
	const char *bad = a == b ? NULL : host_parse((const char *)p + a, b - a, h->host);
	if (bad)
		return cove_errf(h->err, -EPROTO, "http: Host %s", bad);
	return 0;
}

/* Which of the Host header and the target's host names the request. */
static int http_result(const struct http_head *h, char name[PEEK_NAME_MAX + 1])
{
	if (h->target_has_host && h->host_seen && strcmp(h->host, h->target_host) != 0)
		return cove_errf(h->err, -EPROTO, "http: Host names another host than the request target");
	if (!h->target_has_host && !h->host_seen && h->minor > 0)
		return cove_errf(h->err, -EPROTO, "http: an HTTP/1.1 request without Host");
	strcpy(name, h->target_has_host ? h->target_host : h->host);
	return 0;
}

static int http_name(const uint8_t *buf, size_t len, char name[PEEK_NAME_MAX + 1], struct cove_err *err)
{
	struct http_head h = { .err = err };
	size_t pos = 0;
	for (bool first = true;; first = false) {
		size_t eol = len, next = len;
		int r = line_end(buf, len, pos, &eol, &next, err);
		if (r < 0 && r != -EAGAIN)
			return r;
		h.complete_line = r == 0;
		if (!first && h.complete_line && eol == pos)
			return http_result(&h, name); /* the empty line ending the head */
		r = first ? request_line(buf + pos, eol - pos, &h) : header_line(buf + pos, eol - pos, &h);
		if (r < 0)
			return r;
		pos = next;
	}
}

int peek_name(const uint8_t *buf, size_t len, char name[PEEK_NAME_MAX + 1], struct cove_err *err)
{
	size_t n = len < PEEK_MAX ? len : PEEK_MAX;
	if (n == 0)
		return PEEK_MORE;
	char found[PEEK_NAME_MAX + 1];
	bool tls = buf[0] == TLS_CONTENT_HANDSHAKE;
	if (!tls && !is_tchar(buf[0]))
		return cove_errf(err, -EPROTO, "neither a TLS handshake nor an HTTP/1 request (first byte 0x%02x)",
				 buf[0]);
	int r = tls ? tls_name(buf, n, found, err) : http_name(buf, n, found, err);
	if (r == -EAGAIN && n == PEEK_MAX)
		return cove_errf(err, -E2BIG, "%s: no answer in the first %d bytes", tls ? "tls" : "http", PEEK_MAX);
	if (r == -EAGAIN)
		return PEEK_MORE;
	if (r < 0)
		return r;
	strcpy(name, found);
	return tls ? PEEK_TLS : PEEK_HTTP;
}
