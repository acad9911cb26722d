/* Parsing coved's requests (see request.h). */
#include "api/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/utf8.h"
#include "proto/version.h"

/* The body as a JSON object (an empty body is {}); NULL with err filled. */
static json_t *json_body(const char *body, size_t len, struct cove_err *err)
{
	if (!len)
		return json_object();
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		cove_errf(err, -EINVAL, "the body is not a JSON object%s%s", j ? "" : ": ", j ? "" : jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* --- create --- */

/* {"k": "v", ...} with string values, bounded. */
static int string_map(json_t *obj, const char *what, size_t max, struct cove_err *err)
{
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return cove_errf(err, -EINVAL, "%s must be an object of strings", what);
	if (json_object_size(obj) > max)
		return cove_errf(err, -EINVAL, "%s: more than %zu entries", what, max);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			return cove_errf(err, -EINVAL, "%s.%s must be a string", what, k);
		if (!*k || strlen(k) > API_MAX_KEY || json_string_length(v) > API_MAX_VALUE)
			return cove_errf(err, -EINVAL, "%s: a key must be 1 to %d and a value at most %d bytes", what,
					 API_MAX_KEY, API_MAX_VALUE);
	}
	return 0;
}

static int string_list(json_t *arr, const char *what, const char ***ret, struct cove_err *err)
{
	*ret = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > NET_MAX_RULES)
		return cove_errf(err, -EINVAL, "%s must be a list of at most %d addresses or CIDRs", what, NET_MAX_RULES);
	const char **list = calloc(json_array_size(arr) + 1, sizeof(*list));
	if (!list)
		return cove_errf(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!(list[i] = json_string_value(json_array_get(arr, i)))) {
			free(list);
			return cove_errf(err, -EINVAL, "%s[%zu] must be a string", what, i);
		}
	*ret = list;
	return 0;
}

static int parse_envs(json_t *vars, struct api_create_body *b, struct cove_err *err)
{
	int r = string_map(vars, "envVars", API_MAX_ENV_VARS, err);
	size_t n = json_object_size(vars);
	if (r < 0 || !n)
		return r;
	if (!(b->envs = calloc(n + 1, sizeof(*b->envs))))
		return cove_errf(err, -ENOMEM, "out of memory");
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v) {
		if (strchr(k, '='))
			return cove_errf(err, -EINVAL, "envVars: '%s' is not a variable name", k);
		if (asprintf(&b->envs[i], "%s=%s", k, json_string_value(v)) < 0) {
			b->envs[i] = NULL;
			return cove_errf(err, -ENOMEM, "out of memory");
		}
		i++;
	}
	b->req.envs = (const char *const *)b->envs;
	return 0;
}

/* A switch: true, false, null or absent (then dflt). */
static int boolean_field(json_t *v, const char *name, bool dflt, bool *ret, struct cove_err *err)
{
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return cove_errf(err, -EINVAL, "%s must be true or false", name);
	*ret = !v || json_is_null(v) ? dflt : json_is_true(v);
	return 0;
}

static int parse_network(json_t *body, struct api_create_body *b, struct cove_err *err)
{
	/* E2B takes both spellings of the switch. */
	json_t *internet = json_object_get(body, "allow_internet_access");
	if (!internet)
		internet = json_object_get(body, "allowInternetAccess");
	int r = boolean_field(internet, "allow_internet_access", true, &b->req.policy.internet, err);
	if (r < 0)
		return r;
	json_t *network = json_object_get(body, "network");
	if (network && !json_is_null(network) && !json_is_object(network))
		return cove_errf(err, -EINVAL, "network must be an object");
	if ((r = string_list(json_object_get(network, "allowOut"), "network.allowOut", &b->allow_out, err)) < 0 ||
	    (r = string_list(json_object_get(network, "denyOut"), "network.denyOut", &b->deny_out, err)) < 0)
		return r;
	b->req.policy.allow_out = b->allow_out;
	b->req.policy.deny_out = b->deny_out;
	return 0;
}

/* autoResume: {"enabled": bool} (E2B's spec; older SDKs sent {"policy":
 * "any" | "off"}), null or absent for off. */
static int parse_auto_resume(json_t *v, bool *ret, struct cove_err *err)
{
	*ret = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return cove_errf(err, -EINVAL, "autoResume must be an object: {\"enabled\": true or false}");
	json_t *enabled = json_object_get(v, "enabled"), *policy = json_object_get(v, "policy");
	if (enabled)
		return boolean_field(enabled, "autoResume.enabled", false, ret, err);
	const char *p = json_string_value(policy);
	if (p && (strcmp(p, "any") == 0 || strcmp(p, "off") == 0)) {
		*ret = strcmp(p, "any") == 0;
		return 0;
	}
	return cove_errf(err, -EINVAL, "autoResume.enabled is required (true or false)");
}

/* E2B's lifecycle fields and its checks of them (sandbox_create.go). */
static int parse_lifecycle(json_t *body, struct manager_create *req, struct cove_err *err)
{
	bool memory = true;
	int r = boolean_field(json_object_get(body, "autoPause"), "autoPause", false, &req->auto_pause, err);
	if (r == 0)
		r = boolean_field(json_object_get(body, "autoPauseMemory"), "autoPauseMemory", true, &memory, err);
	if (r == 0)
		r = parse_auto_resume(json_object_get(body, "autoResume"), &req->auto_resume, err);
	if (r < 0)
		return r;
	if (!memory && !req->auto_pause)
		return cove_errf(err, -EINVAL, "autoPauseMemory=false only applies when autoPause is true");
	if (!memory && req->auto_resume)
		return cove_errf(err, -EINVAL,
				 "autoResume cannot be combined with autoPauseMemory=false: a filesystem-only pause is "
				 "resumed by connect, never by traffic");
	req->auto_pause_fs_only = !memory;
	return 0;
}

/* A value that asks for nothing: absent, null, false, "" or empty. */
static bool asks_nothing(json_t *v)
{
	return !v || json_is_null(v) || json_is_false(v) || (json_is_string(v) && !json_string_length(v)) ||
	       (json_is_array(v) && !json_array_size(v)) || (json_is_object(v) && !json_object_size(v));
}

/* Fields of E2B's create that Cove has nothing behind yet: asked for, they
 * are refused (-ENOSYS, 501) rather than dropped, so that nobody believes
 * a volume is mounted or a rule applies. */
static int refuse_unsupported(json_t *body, struct cove_err *err)
{
	static const struct {
		const char *field, *why;
	} top[] = {
		{ "volumeMounts", "volumes are not built yet" },
		{ "mcp", "there is no mcp-gateway template" },
		{ "iam", "there is no egress proxy to inject tokens" },
	}, net[] = {
		{ "rules", "there is no egress proxy to apply them" },
		{ "egressProxy", "egress goes out directly" },
		{ "maskRequestHost", "there is no per-port public traffic control yet" },
		{ "httpsPorts", "there is no per-port public traffic control yet" },
	};
	for (size_t i = 0; i < sizeof(top) / sizeof(*top); i++)
		if (!asks_nothing(json_object_get(body, top[i].field)))
			return cove_errf(err, -ENOSYS, "not supported by Cove: %s (%s)", top[i].field, top[i].why);
	json_t *network = json_object_get(body, "network");
	for (size_t i = 0; i < sizeof(net) / sizeof(*net); i++)
		if (!asks_nothing(json_object_get(network, net[i].field)))
			return cove_errf(err, -ENOSYS, "not supported by Cove: network.%s (%s)", net[i].field, net[i].why);
	json_t *pub = json_object_get(network, "allowPublicTraffic");
	if (pub && json_is_false(pub))
		return cove_errf(err, -ENOSYS, "not supported by Cove: network.allowPublicTraffic false (a sandbox's "
					     "ports are reached by anyone who reaches coved)");
	return 0;
}

static int parse_create(json_t *body, struct api_create_body *b, struct cove_err *err)
{
	json_t *tpl = json_object_get(body, "templateID"), *timeout = json_object_get(body, "timeout");
	if (tpl && !json_is_string(tpl))
		return cove_errf(err, -EINVAL, "templateID must be a string");
	b->req.template_id = json_string_value(tpl);
	if (timeout && !json_is_null(timeout)) {
		if (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
		    json_integer_value(timeout) > API_MAX_SECONDS)
			return cove_errf(err, -EINVAL, "timeout must be a number of seconds from 0 to %ld",
					 API_MAX_SECONDS);
		b->req.timeout_s = (long)json_integer_value(timeout);
	}
	json_t *meta = json_object_get(body, "metadata");
	int r = string_map(meta, "metadata", API_MAX_METADATA, err);
	if (r < 0)
		return r;
	if (meta && json_is_object(meta) && !(b->metadata = json_dumps(meta, JSON_COMPACT)))
		return cove_errf(err, -ENOMEM, "out of memory");
	b->req.metadata = b->metadata;
	if ((r = parse_envs(json_object_get(body, "envVars"), b, err)) < 0 || (r = parse_network(body, b, err)) < 0 ||
	    (r = parse_lifecycle(body, &b->req, err)) < 0 || (r = net_policy_check(&b->req.policy, err)) < 0)
		return r;
	return refuse_unsupported(body, err);
}

int api_create_body_parse(const char *body, size_t len, struct api_create_body *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!(ret->json = json_body(body, len, err)))
		return -EINVAL;
	int r = parse_create(ret->json, ret, err);
	if (r < 0)
		api_create_body_clear(ret);
	return r;
}

void api_create_body_clear(struct api_create_body *b)
{
	free(b->metadata);
	for (size_t i = 0; b->envs && b->envs[i]; i++)
		free(b->envs[i]);
	free(b->envs);
	free(b->allow_out);
	free(b->deny_out);
	json_decref(b->json);
	memset(b, 0, sizeof(*b));
}

/* --- timeout, refresh, connect, pause, fork --- */

/* body's field: a number of seconds, required or not (then *ret stays). */
static int seconds_of(json_t *body, const char *field, bool required, long *ret, struct cove_err *err)
{
	json_t *v = json_object_get(body, field);
	if (!v || json_is_null(v))
		return required ? cove_errf(err, -EINVAL, "%s is required", field) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > API_MAX_SECONDS)
		return cove_errf(err, -EINVAL, "%s must be a number of seconds from 0 to %ld", field, API_MAX_SECONDS);
	*ret = (long)json_integer_value(v);
	return 0;
}

/* seconds_of a body. */
static int seconds_body(const char *body, size_t len, const char *field, bool required, long *ret,
			struct cove_err *err)
{
	json_t *j = json_body(body, len, err);
	if (!j)
		return -EINVAL;
	int r = seconds_of(j, field, required, ret, err);
	json_decref(j);
	return r;
}

int api_timeout_body_parse(const char *body, size_t len, struct api_timeout_body *ret, struct cove_err *err)
{
	ret->timeout_s = 0;
	return seconds_body(body, len, "timeout", true, &ret->timeout_s, err);
}

int api_refresh_body_parse(const char *body, size_t len, struct api_refresh_body *ret, struct cove_err *err)
{
	ret->duration_s = -1;
	return seconds_body(body, len, "duration", false, &ret->duration_s, err);
}

int api_connect_body_parse(const char *body, size_t len, struct api_connect_body *ret, struct cove_err *err)
{
	ret->timeout_s = -1;
	ret->memory = true;
	json_t *j = json_body(body, len, err);
	if (!j)
		return -EINVAL;
	int r = seconds_of(j, "timeout", false, &ret->timeout_s, err);
	if (r == 0)
		r = boolean_field(json_object_get(j, "memory"), "memory", true, &ret->memory, err);
	json_decref(j);
	return r;
}

int api_pause_body_parse(const char *body, size_t len, struct api_pause_body *ret, struct cove_err *err)
{
	ret->memory = true;
	json_t *j = json_body(body, len, err);
	if (!j)
		return -EINVAL;
	int r = boolean_field(json_object_get(j, "memory"), "memory", true, &ret->memory, err);
	json_decref(j);
	return r;
}

int api_fork_body_parse(const char *body, size_t len, struct api_fork_body *ret, struct cove_err *err)
{
	ret->count = 1;
	ret->timeout_s = 0;
	json_t *j = json_body(body, len, err);
	if (!j)
		return -EINVAL;
	int r = seconds_of(j, "timeout", false, &ret->timeout_s, err);
	/* E2B's: a fork asked to live no time is refused, not defaulted. */
	if (r == 0 && json_is_integer(json_object_get(j, "timeout")) && ret->timeout_s == 0)
		r = cove_errf(err, -EINVAL, "timeout must be greater than 0");
	json_t *c = json_object_get(j, "count");
	if (r == 0 && c && !json_is_null(c)) {
		if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > MANAGER_MAX_FORK)
			r = cove_errf(err, -EINVAL, "count must be a number from 1 to %d", MANAGER_MAX_FORK);
		else
			ret->count = (unsigned)json_integer_value(c);
	}
	json_decref(j);
	return r;
}

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
	if (limit) {
		char *end;
		long v = strtol(limit, &end, 10);
		if (*end || end == limit || v < 1 || v > API_LIST_MAX_LIMIT)
			return cove_errf(err, -EINVAL, "limit must be 1 to %d", API_LIST_MAX_LIMIT);
		q->limit = (size_t)v;
	}
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
	if (!v || !*v)
		return 0;
	char *end = NULL;
	long limit = strtol(v, &end, 10);
	if (*end || limit < 1 || limit > API_LOGS_MAX_LIMIT)
		return cove_errf(err, -EINVAL, "limit must be 1 to %d", API_LOGS_MAX_LIMIT);
	ret->limit = (size_t)limit;
	return 0;
}

/* --- snapshots --- */

int api_snapshot_body_parse(const char *body, size_t len, struct api_snapshot_body *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	json_t *j = json_body(body, len, err);
	if (!j)
		return -EINVAL;
	json_t *name = json_object_get(j, "name");
	int r = 0;
	if (name && !json_is_null(name) && !json_is_string(name))
		r = cove_errf(err, -EINVAL, "name must be a string");
	else if (json_is_string(name) && (r = template_ref_parse(json_string_value(name), &ret->name, err)) == 0)
		ret->named = true;
	json_decref(j);
	return r;
}

int api_snapshot_query_parse(const struct api_query *in, struct api_snapshot_query *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->limit = API_LIST_DEFAULT_LIMIT;
	const char *sandbox = in->get(in->cls, "sandboxID"), *name = in->get(in->cls, "name"),
		   *limit = in->get(in->cls, "limit"), *next = in->get(in->cls, "nextToken");
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
	if (limit) {
		char *end;
		long v = strtol(limit, &end, 10);
		if (*end || end == limit || v < 1 || v > API_LIST_MAX_LIMIT)
			return cove_errf(err, -EINVAL, "limit must be 1 to %d", API_LIST_MAX_LIMIT);
		ret->limit = (size_t)v;
	}
	if (next && *next) {
		char *end;
		errno = 0;
		long long v = strtoll(next, &end, 10);
		if (errno || *end || end == next || v <= 0)
			return cove_errf(err, -EINVAL, "nextToken '%.64s' is not one this server gave", next);
		ret->before_seq = v;
	}
	return 0;
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
