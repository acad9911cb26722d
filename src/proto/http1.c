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

static int add_header(struct http1_response *r, char *name, char *value)
{
	if (!*name || r->nheaders >= HTTP1_MAX_HEADERS)
		return -EPROTO;
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p == ':' || *p >= 127)
			return -EPROTO;
	if (strcasecmp(name, "Content-Length") == 0) {
		int64_t n;
		if (parse_length(value, &n) < 0 || (r->content_length >= 0 && r->content_length != n))
			return -EPROTO;
		r->content_length = n;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		/* Only "chunked" (alone) is understood; anything else is refused. */
		if (strcasecmp(value, "chunked") != 0)
			return -EPROTO;
		r->chunked = true;
	}
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders++].value = value;
	return 0;
}

int http1_parse_response(char *buf, size_t len, struct http1_response *r)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
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
			if (parse_status_line(p, &r->status) < 0)
				return -EPROTO;
			first = false;
		} else {
			if (*p == ' ' || *p == '\t') /* obsolete line folding */
				return -EPROTO;
			char *colon = strchr(p, ':');
			if (!colon)
				return -EPROTO;
			*colon = '\0';
			if (add_header(r, p, trim(colon + 1, eol)) < 0)
				return -EPROTO;
		}
		p = eol + 2;
	}
	if (first)
		return -EPROTO;
	/* RFC 9112 6.3: both is an attack vector; refuse it. */
	if (r->chunked && r->content_length >= 0)
		return -EPROTO;
	return 0;
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
