#include "proto/http1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE 1024 /* a chunk-size or trailer line */

size_t http1_head_end(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

static int parse_length(const char *v, int64_t *ret)
{
	if (!*v)
		return -EPROTO;
	int64_t n = 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (INT64_MAX - 9) / 10)
			return -EPROTO;
		n = n * 10 + (*v - '0');
	}
	*ret = n;
	return 0;
}

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	*end = '\0';
	return s;
}

static int parse_status_line(char *line, unsigned *status)
{
	/* HTTP/1.x SSS reason */
	if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
		return -EPROTO;
	const char *s = line + 9;
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
	    (s[3] != ' ' && s[3] != '\0'))
		return -EPROTO;
	*status = (unsigned)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
	return 0;
}

/* What a head's header lines fill in, of a response or a request. */
struct head {
	struct http1_header *headers;
	size_t *nheaders;
	int64_t *content_length;
	bool *chunked;
	const char **host; /* requests' only: NULL for responses */
};

static int add_header(struct head *h, char *name, char *value)
{
	if (!*name || *h->nheaders >= HTTP1_MAX_HEADERS)
		return -EPROTO;
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p == ':' || *p >= 127)
			return -EPROTO;
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < ' ' && *p != '\t') || *p == 127)
			return -EPROTO;
	if (strcasecmp(name, "Content-Length") == 0) {
		int64_t n;
		if (parse_length(value, &n) < 0 || (*h->content_length >= 0 && *h->content_length != n))
			return -EPROTO;
		*h->content_length = n;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		/* Only "chunked" (alone) is understood; anything else is refused. */
		if (strcasecmp(value, "chunked") != 0 || *h->chunked)
			return -EPROTO;
		*h->chunked = true;
	} else if (h->host && strcasecmp(name, "Host") == 0) {
		if (*h->host) /* two: which one the server takes is anyone's guess */
			return -EPROTO;
		*h->host = value;
	}
	h->headers[*h->nheaders].name = name;
	h->headers[(*h->nheaders)++].value = value;
	return 0;
}

/* The lines of a complete head, in place; first_line gets the first. */
static int parse_head(char *buf, size_t len, struct head *h, int (*first_line)(char *line, void *ctx), void *ctx)
{
	if (len < 4 || len > HTTP1_MAX_HEAD || http1_head_end(buf, len) != len || memchr(buf, '\0', len))
		return -EPROTO;
	char *p = buf, *end = buf + len - 2; /* the head's last "\r\n" */
	bool first = true;
	while (p < end) {
		char *eol = memchr(p, '\r', (size_t)(end - p));
		/* Lines end in CRLF only: a bare LF is how requests get smuggled. */
		if (!eol || eol[1] != '\n' || memchr(p, '\n', (size_t)(eol - p)))
			return -EPROTO;
		*eol = '\0';
		if (first) {
			if (first_line(p, ctx) < 0)
				return -EPROTO;
			first = false;
		} else {
			if (*p == ' ' || *p == '\t') /* obsolete line folding */
				return -EPROTO;
			char *colon = strchr(p, ':');
			if (!colon)
				return -EPROTO;
			*colon = '\0';
			if (add_header(h, p, trim(colon + 1, eol)) < 0)
				return -EPROTO;
		}
		p = eol + 2;
	}
	/* RFC 9112 6.3: both is an attack vector; refuse it. */
	if (first || (*h->chunked && *h->content_length >= 0))
		return -EPROTO;
	return 0;
}

static int status_line(char *line, void *ctx)
{
	return parse_status_line(line, ctx);
}

int http1_parse_response(char *buf, size_t len, struct http1_response *r)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	struct head h = { r->headers, &r->nheaders, &r->content_length, &r->chunked, NULL };
	return parse_head(buf, len, &h, status_line, &r->status);
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

/* METHOD SP target SP HTTP/1.d */
static int request_line(char *line, void *ctx)
{
	struct http1_request *r = ctx;
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp2 || strchr(sp2 + 1, ' '))
		return -EPROTO;
	*sp1 = *sp2 = '\0';
	const char *v = sp2 + 1;
	if (!is_token(line) || sp2 == sp1 + 1 || strncmp(v, "HTTP/1.", 7) != 0 || (v[7] != '0' && v[7] != '1') ||
	    v[8])
		return -EPROTO;
	for (const char *t = sp1 + 1; *t; t++)
		if ((unsigned char)*t <= ' ' || *t == 127)
			return -EPROTO;
	r->method = line;
	r->target = sp1 + 1;
	r->minor = (unsigned)(v[7] - '0');
	return 0;
}

int http1_parse_request(char *buf, size_t len, struct http1_request *r)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	struct head h = { r->headers, &r->nheaders, &r->content_length, &r->chunked, &r->host };
	int rc = parse_head(buf, len, &h, request_line, r);
	if (rc < 0)
		return rc;
	r->tunnel = strcmp(r->method, "CONNECT") == 0 || http1_request_header(r, "Upgrade") != NULL;
	return 0;
}

const char *http1_request_header(const struct http1_request *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Appends s to out[*n...cap); false when it does not fit. */
static bool put(char *out, size_t cap, size_t *n, const char *s)
{
	size_t len = strlen(s);
	if (len > cap - *n)
		return false;
	memcpy(out + *n, s, len);
	*n += len;
	return true;
}

static bool put_header(char *out, size_t cap, size_t *n, const char *name, const char *value)
{
	return put(out, cap, n, name) && put(out, cap, n, ": ") && put(out, cap, n, value) && put(out, cap, n, "\r\n");
}

static const struct http1_header *find_set(const struct http1_header *set, size_t nset, const char *name)
{
	for (size_t i = 0; i < nset; i++)
		if (strcasecmp(set[i].name, name) == 0)
			return &set[i];
	return NULL;
}

long http1_request_compose(const struct http1_request *r, const struct http1_header *set, size_t nset, char *out,
			   size_t cap)
{
	size_t n = 0;
	char version[] = "HTTP/1.x\r\n";
	version[7] = (char)('0' + r->minor);
	bool ok = put(out, cap, &n, r->method) && put(out, cap, &n, " ") && put(out, cap, &n, r->target) &&
		  put(out, cap, &n, " ") && put(out, cap, &n, version);
	/* Headers in their order; one a rule sets takes the first of its
	 * name's place, and its other ones go. */
	for (size_t i = 0; ok && i < r->nheaders; i++) {
		const struct http1_header *h = &r->headers[i], *s = find_set(set, nset, h->name);
		if (!s)
			ok = put_header(out, cap, &n, h->name, h->value);
		else if (http1_request_header(r, h->name) == h->value)
			ok = put_header(out, cap, &n, s->name, s->value);
	}
	for (size_t i = 0; ok && i < nset; i++)
		if (!http1_request_header(r, set[i].name))
			ok = put_header(out, cap, &n, set[i].name, set[i].value);
	ok = ok && put(out, cap, &n, "\r\n");
	return ok ? (long)n : -ENOSPC;
}

const char *http1_header(const struct http1_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

enum {
	CH_SIZE,      /* hex digits */
	CH_EXT,       /* ;extensions up to CR */
	CH_SIZE_LF,   /* after CR of the size line */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,   /* a trailer line, or the empty line that ends the body */
	CH_TRAILER_LF,
};

static int hex(uint8_t c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int http1_chunked_decode(struct http1_chunked *c, const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t *consumed, size_t *produced)
{
	size_t i = 0, o = 0;
	while (i < in_len && !c->done) {
		uint8_t b = in[i];
		switch (c->state) {
		case CH_SIZE:
			if (hex(b) >= 0) {
				if (c->remaining >> 56 || ++c->line_len > 16)
					return -EPROTO;
				c->remaining = c->remaining * 16 + (uint64_t)hex(b);
			} else if (c->line_len && (b == ';' || b == ' ' || b == '\t')) {
				c->state = CH_EXT;
			} else if (c->line_len && b == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return -EPROTO;
			}
			i++;
			break;
		case CH_EXT:
			if (++c->line_len > MAX_LINE)
				return -EPROTO;
			if (b == '\r')
				c->state = CH_SIZE_LF;
			i++;
			break;
		case CH_SIZE_LF:
			if (b != '\n')
				return -EPROTO;
			i++;
			c->line_len = 0;
			c->state = c->remaining ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA: {
			size_t n = in_len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			memmove(out + o, in + i, n);
			i += n;
			o += n;
			c->remaining -= n;
			if (!c->remaining)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
		case CH_DATA_LF:
			if (b != (c->state == CH_DATA_CR ? '\r' : '\n'))
				return -EPROTO;
			i++;
			c->state = c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
			break;
		case CH_TRAILER:
			if (b == '\r') {
				c->state = CH_TRAILER_LF;
			} else if (++c->line_len > MAX_LINE) {
				return -EPROTO;
			}
			i++;
			break;
		case CH_TRAILER_LF:
			if (b != '\n')
				return -EPROTO;
			i++;
			/* An empty line ends the body; a trailer line is skipped. */
			if (c->line_len == 0)
				c->done = true;
			c->line_len = 0;
			c->state = CH_TRAILER;
			break;
		default:
			return -EPROTO;
		}
	}
	*consumed = i;
	*produced = o;
	return 0;
}
