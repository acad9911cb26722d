/* Parsing coved's queries, times and host names (see request.h); the
 * request bodies are bodies.c's. */
#include "api/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/utf8.h"
#include "proto/version.h"

/* --- list --- */

static int hex_value(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* application/x-www-form-urlencoded decoding, in place. */
static void form_decode(char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (*p == '+') {
			*w++ = ' ';
		} else if (*p == '%' && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
			*w++ = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

/* "k=v&k2=v2", each side form-encoded once more (the SDK encodes the pairs,
 * then the whole argument). */
static int parse_metadata_filter(const char *text, struct api_list_query *q, struct cove_err *err)
{
	if (!text || !*text)
		return 0;
	char *copy = strdup(text);
	q->metadata = json_object();
	if (!copy || !q->metadata) {
		free(copy);
		return cove_errf(err, -ENOMEM, "out of memory");
	}
	char *save = NULL;
	for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		if (!eq) {
			/* Told before pair goes with copy. */
			int r = cove_errf(err, -EINVAL, "metadata filter: '%s' is not key=value", pair);
			free(copy);
			return r;
		}
		*eq = '\0';
		form_decode(pair);
		form_decode(eq + 1);
		json_object_set_new(q->metadata, pair, json_string_lossy(eq + 1));
	}
	free(copy);
	return 0;
}

static int parse_state_filter(const char *state, struct api_list_query *q, struct cove_err *err)
{
	q->running = q->paused = false;
	char buf[64];
	/* running,paused is all there is: anything longer is not a filter
	 * (and cut short it could read as one). */
	if (strlen(state) >= sizeof(buf))
		return cove_errf(err, -EINVAL, "state filter: '%.32s...' is neither running nor paused", state);
	snprintf(buf, sizeof(buf), "%s", state);
	char *save = NULL;
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (strcmp(s, "running") == 0)
			q->running = true;
		else if (strcmp(s, "paused") == 0)
			q->paused = true;
		else
			return cove_errf(err, -EINVAL, "state filter: '%s' is neither running nor paused", s);
	}
	return 0;
}

void api_list_token(bool ascending, int64_t seq, char buf[32])
{
	snprintf(buf, 32, "%c%lld", ascending ? 'a' : 'd', (long long)seq);
}

/* A list's "limit": 1 to max. */
static int parse_limit(const char *text, int max, size_t *ret, struct cove_err *err)
{
	char *end;
	long v = strtol(text, &end, 10);
	if (*end || end == text || v < 1 || v > max)
		return cove_errf(err, -EINVAL, "limit must be 1 to %d", max);
	*ret = (size_t)v;
	return 0;
}

int api_query_page(const struct api_query *q, int max, size_t *limit, int64_t *before_seq, struct cove_err *err)
{
	const char *l = q->get(q->cls, "limit"), *next = q->get(q->cls, "nextToken");
	int r = l ? parse_limit(l, max, limit, err) : 0;
	if (r < 0 || !next || !*next)
		return r;
	char *end;
	errno = 0;
	long long v = strtoll(next, &end, 10);
	if (errno || *end || end == next || v <= 0)
		return cove_errf(err, -EINVAL, "nextToken '%.64s' is not one this server gave", next);
	*before_seq = v;
	return 0;
}

/* "d123" or "a123", only for the order asked now. */
static int parse_token(const char *next, struct api_list_query *q, struct cove_err *err)
{
	if (!next || !*next)
		return 0;
	char *end;
	errno = 0;
	long long v = (next[0] == 'a' || next[0] == 'd') && next[1] >= '1' && next[1] <= '9' ? strtoll(next + 1, &end, 10)
											   : 0;
	if (v <= 0 || errno || *end)
		return cove_errf(err, -EINVAL, "nextToken '%.64s' is not one this server gave", next);
	if ((next[0] == 'a') != q->ascending)
		return cove_errf(err, -EINVAL, "nextToken '%.64s' was given for order=%s, not %s", next,
				 next[0] == 'a' ? "asc" : "desc", q->ascending ? "asc" : "desc");
	q->after_seq = v;
	return 0;
}

/* template, startedAfter, order: v2's. */
static int parse_v2_filters(const struct api_query *in, struct api_list_query *q, struct cove_err *err)
{
	const char *tpl = in->get(in->cls, "template"), *after = in->get(in->cls, "startedAfter"),
		   *order = in->get(in->cls, "order");
	if (tpl && strlen(tpl) >= sizeof(q->template_id))
		return cove_errf(err, -EINVAL, "template filter: '%.32s...' is longer than a template name", tpl);
	snprintf(q->template_id, sizeof(q->template_id), "%s", tpl ? tpl : "");
	if (after && *after) {
		if (api_time_parse(after, &q->started_after_ms) < 0)
			return cove_errf(err, -EINVAL, "startedAfter '%.64s' is not an RFC 3339 time (2006-01-02T15:04:05Z)",
					 after);
		q->started_after_set = true;
	}
	if (order && *order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
		return cove_errf(err, -EINVAL, "order '%.32s' is neither asc nor desc", order);
	q->ascending = order && strcmp(order, "asc") == 0;
	return 0;
}

static int parse_list(const struct api_query *in, bool v2, struct api_list_query *q, struct cove_err *err)
{
	const char *state = in->get(in->cls, "state"), *limit = in->get(in->cls, "limit");
	int r;
	if (v2 && state && *state && (r = parse_state_filter(state, q, err)) < 0)
		return r;
	if (v2 && (r = parse_v2_filters(in, q, err)) < 0)
		return r;
	if (limit && (r = parse_limit(limit, API_LIST_MAX_LIMIT, &q->limit, err)) < 0)
		return r;
	if ((r = parse_token(in->get(in->cls, "nextToken"), q, err)) < 0)
		return r;
	return parse_metadata_filter(in->get(in->cls, "metadata"), q, err);
}

int api_list_query_parse(const struct api_query *in, bool v2, struct api_list_query *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->limit = API_LIST_DEFAULT_LIMIT;
	ret->running = true;
	ret->paused = v2;
	int r = parse_list(in, v2, ret, err);
	if (r < 0)
		api_list_query_clear(ret);
	return r;
}

/* --- times --- */

/* n decimal digits at *p (advanced past them); -1 when they are not. */
static int digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Past c at *p, if it is there. */
static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int api_time_parse(const char *text, int64_t *ms)
{
	static const int month_days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = text;
	int y = digits(&p, 4);
	int mo = y >= 0 && expect(&p, '-') ? digits(&p, 2) : -1;
	int d = mo >= 0 && expect(&p, '-') ? digits(&p, 2) : -1;
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] + (mo == 2 && leap_year(y)))
		return -EINVAL;
	if (!expect(&p, 'T') && !expect(&p, 't'))
		return -EINVAL;
	int h = digits(&p, 2);
	int mi = h >= 0 && expect(&p, ':') ? digits(&p, 2) : -1;
	int sec = mi >= 0 && expect(&p, ':') ? digits(&p, 2) : -1;
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return -EINVAL;
	int frac_ms = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		for (; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		if (n == 0 || n > 9)
			return -EINVAL;
		for (; n < 3; n++)
			frac_ms *= 10;
	}
	int offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-' || *p == ' ') {
		/* ' ': a '+' that a query string's decoding made a space. */
		int sign = *p++ == '-' ? -1 : 1;
		int oh = digits(&p, 2);
		int om = oh >= 0 && expect(&p, ':') ? digits(&p, 2) : -1;
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		offset_min = sign * (oh * 60 + om);
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
	*ms = (secs - (int64_t)offset_min * 60) * 1000 + frac_ms;
	return 0;
}

void api_list_query_clear(struct api_list_query *q)
{
	json_decref(q->metadata);
	q->metadata = NULL;
}

/* --- metrics and logs --- */

static int unix_seconds(const struct api_query *in, const char *name, int64_t *ms, struct cove_err *err)
{
	const char *v = in->get(in->cls, name);
	*ms = 0;
	if (!v || !*v)
		return 0;
	char *end;
	long long s = strtoll(v, &end, 10);
	if (*end || s < 0 || s > 100000000000LL)
		return cove_errf(err, -EINVAL, "%s must be a time in seconds since the epoch", name);
	*ms = s * 1000;
	return 0;
}

int api_metrics_range_parse(const struct api_query *in, struct api_metrics_range *ret, struct cove_err *err)
{
	ret->end_ms = 0;
	int r = unix_seconds(in, "start", &ret->start_ms, err);
	if (r == 0)
		r = unix_seconds(in, "end", &ret->end_ms, err);
	if (ret->end_ms)
		ret->end_ms += 999;
	return r;
}

int api_logs_query_parse(const struct api_query *in, struct api_logs_query *ret, struct cove_err *err)
{
	const char *v = in->get(in->cls, "limit");
	ret->limit = API_LOGS_DEFAULT_LIMIT;
	return v && *v ? parse_limit(v, API_LOGS_MAX_LIMIT, &ret->limit, err) : 0;
}

/* --- snapshots --- */

int api_snapshot_query_parse(const struct api_query *in, struct api_snapshot_query *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->limit = API_LIST_DEFAULT_LIMIT;
	const char *sandbox = in->get(in->cls, "sandboxID"), *name = in->get(in->cls, "name");
	if (sandbox && strlen(sandbox) >= sizeof(ret->sandbox))
		return cove_errf(err, -EINVAL, "sandboxID is longer than %zu characters", sizeof(ret->sandbox) - 1);
	if (sandbox)
		snprintf(ret->sandbox, sizeof(ret->sandbox), "%s", sandbox);
	int r;
	if (name && *name) {
		if ((r = template_ref_parse(name, &ret->name, err)) < 0)
			return r;
		ret->named = true;
	}
	return api_query_page(in, API_LIST_MAX_LIMIT, &ret->limit, &ret->before_seq, err);
}

/* --- the sandbox of a proxied request --- */

int api_domain_parse(const char *in, char out[API_DOMAIN_MAX], struct cove_err *err)
{
	size_t n = strlen(in);
	if (n == 0 || n >= API_DOMAIN_MAX)
		return cove_errf(err, -EINVAL, "domain '%.64s': expected a host name of 1 to 253 characters", in);
	if (strchr(in, ':'))
		return cove_errf(err, -EINVAL, "domain '%s': a host name without a port (E2B_DOMAIN carries the port)",
				 in);
	size_t label = 0;
	bool digits = true;
	for (size_t i = 0; i <= n; i++) {
		char c = (char)tolower((unsigned char)in[i]);
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || out[i - 1] == '-')
				return cove_errf(err, -EINVAL, "domain '%s': a label is empty, longer than 63 or ends in '-'",
						 in);
			if (c == '\0' && digits)
				return cove_errf(err, -EINVAL, "domain '%s': a host name, not an IP address", in);
			label = 0;
			digits = true;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
			digits = digits && c >= '0' && c <= '9';
		} else {
			return cove_errf(err, -EINVAL, "domain '%s': only letters, digits, '-' and '.' may be in it", in);
		}
		out[i] = c;
	}
	return 0;
}

/* What follows PORT-ID.: the domain in any case, then perhaps a final dot,
 * then perhaps :port. */
static bool our_domain(const char *s, const char *domain)
{
	size_t n = strlen(domain);
	if (strncasecmp(s, domain, n) != 0)
		return false;
	s += n;
	if (*s == '.')
		s++;
	if (*s == ':') {
		size_t digits = strspn(++s, "0123456789");
		if (digits == 0 || digits > 5)
			return false;
		s += digits;
	}
	return *s == '\0';
}

/* "PORT-ID.domain[:port]": a server in a guest reached by URL. */
static bool sandbox_host(const char *host, const char *domain, struct api_sandbox_target *t)
{
	if (!host || !domain)
		return false;
	unsigned p = 0;
	size_t i = 0;
	for (; host[i] >= '0' && host[i] <= '9' && i < 5; i++)
		p = p * 10 + (unsigned)(host[i] - '0');
	if (i == 0 || host[i] != '-' || p == 0 || p > 65535)
		return false;
	const char *s = host + i + 1;
	size_t n = 0;
	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9'))
		n++;
	if (n == 0 || n >= sizeof(t->id) || s[n] != '.' || !our_domain(s + n + 1, domain))
		return false;
	memcpy(t->id, s, n);
	t->id[n] = '\0';
	t->port = p;
	return true;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

int api_sandbox_target_parse(const char *id_header, const char *port_header, const char *host, const char *domain,
			     struct api_sandbox_target *t, struct cove_err *err)
{
	memset(t, 0, sizeof(*t));
	if (!id_header)
		return sandbox_host(host, domain, t) ? 1 : 0;
	/* A longer id is cut, and then names no sandbox. */
	snprintf(t->id, sizeof(t->id), "%s", id_header);
	if (!valid_id(t->id))
		return cove_errf(err, -ENOENT, "'%s' is not a sandbox id", t->id);
	char *end = NULL;
	unsigned long v = port_header ? strtoul(port_header, &end, 10) : ENVD_PORT;
	if (port_header && (*end || end == port_header || v > 65535 || v == 0))
		return cove_errf(err, -EINVAL, "E2b-Sandbox-Port is not a port");
	t->port = (unsigned)v;
	return 1;
}

void api_mask_host(const char *mask, unsigned port, char out[MANAGER_MASK_HOST_MAX])
{
	static const char placeholder[] = "${PORT}";
	size_t n = 0;
	for (const char *s = mask; *s && n < MANAGER_MASK_HOST_MAX - 1;) {
		if (strncmp(s, placeholder, sizeof(placeholder) - 1) == 0) {
			/* At most 5 digits for 7 bytes: it never grows. */
			n += (size_t)snprintf(out + n, MANAGER_MASK_HOST_MAX - n, "%u", port);
			s += sizeof(placeholder) - 1;
		} else {
			out[n++] = *s++;
		}
	}
	out[n < MANAGER_MASK_HOST_MAX ? n : MANAGER_MASK_HOST_MAX - 1] = '\0';
}
