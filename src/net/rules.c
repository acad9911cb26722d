/* network.rules (net.h's struct net_rule): checking them, matching a name,
 * and their text in policy records, as E2B's JSON has them:
 * {"HOST": [{"transform": {"headers": {"NAME": "VALUE"}}}]}. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/internal.h"
#include "proto/domain.h"
#include "proto/placeholder.h"

const struct net_rule *net_rule_match(const struct net_policy *p, const char *name)
{
	const struct net_rule *best = NULL;
	if (!name || !*name)
		return NULL;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct net_rule *r = &p->rules[i];
		if (r->host[0] != '*' && strcasecmp(r->host, name) == 0)
			return r;
		if (r->host[0] == '*' && domain_match(r->host, name) && (!best || strlen(r->host) > strlen(best->host)))
			best = r;
	}
	return best;
}

/* Header names a rule may not set: they frame the request or route it, and
 * setting them would let a rule smuggle a second request past the proxy. */
static bool framing_header(const char *name)
{
	static const char *const names[] = { "host", "content-length", "transfer-encoding", "connection", "upgrade",
					     "te", "trailer", "keep-alive", "proxy-connection", "expect" };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool token_char(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int check_header(const char *what, const struct net_header *h, struct cove_err *err)
{
	size_t n = strlen(h->name);
	if (n == 0 || n > 128)
		return cove_errf(err, -EINVAL, "%s: a header name of 1 to 128 bytes", what);
	for (size_t i = 0; i < n; i++)
		if (!token_char((unsigned char)h->name[i]))
			return cove_errf(err, -EINVAL, "%s: header name '%.128s' is not an HTTP token", what, h->name);
	if (framing_header(h->name))
		return cove_errf(err, -EINVAL, "%s: header %s cannot be set by a rule (it frames or routes the request)",
				 what, h->name);
	size_t len = strlen(h->value);
	if (len > NET_MAX_HEADER_VALUE)
		return cove_errf(err, -EINVAL, "%s: header %s: a value of at most %d bytes", what, h->name,
				 NET_MAX_HEADER_VALUE);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)h->value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return cove_errf(err, -EINVAL, "%s: header %s: a value cannot hold control bytes (CR, LF, ...)",
					 what, h->name);
	}
	struct placeholder ph;
	int r;
	for (size_t at = 0; (r = placeholder_next(h->value, len, at, &ph, err)) > 0; at = ph.at + ph.len)
		;
	return r < 0 ? cove_err_prefix(err, "%s: header %s", what, h->name) : 0;
}

static int check_rule(const char *field, const struct net_rule *rule, struct cove_err *err)
{
	char what[320];
	snprintf(what, sizeof(what), "%s['%.253s']", field, rule->host);
	if (strcmp(rule->host, "*") == 0)
		return cove_errf(err, -EINVAL, "%s: a bare '*' is not allowed (it would send the headers to every "
					       "destination); use '*.example.com' or an exact name",
				 what);
	for (const char *c = rule->host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			return cove_errf(err, -EINVAL, "%s: host names are lower case", what);
	if (!domain_is_name(rule->host) || domain_check(rule->host, err) < 0)
		return cove_errf(err, -EINVAL, "%s: not a domain name ('api.example.com' or '*.example.com')", what);
	if (rule->nheaders > NET_MAX_RULE_HEADERS)
		return cove_errf(err, -E2BIG, "%s: more than %d headers", what, NET_MAX_RULE_HEADERS);
	for (size_t i = 0; i < rule->nheaders; i++) {
		int r = check_header(what, &rule->headers[i], err);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(rule->headers[j].name, rule->headers[i].name) == 0)
				return cove_errf(err, -EINVAL, "%s: header %s set twice", what, rule->headers[i].name);
	}
	return 0;
}

int rules_check(const char *field, const struct net_policy *p, struct cove_err *err)
{
	if (p->nrules > NET_MAX_RULES)
		return cove_errf(err, -E2BIG, "%s: more than %d hosts", field, NET_MAX_RULES);
	for (size_t i = 0; i < p->nrules; i++) {
		int r = check_rule(field, &p->rules[i], err);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->rules[j].host, p->rules[i].host) == 0)
				return cove_errf(err, -EINVAL, "%s: host '%s' twice", field, p->rules[i].host);
	}
	return 0;
}


json_t *net_rules_json(const struct net_policy *p)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < p->nrules; i++) {
		const struct net_rule *r = &p->rules[i];
		json_t *headers = json_object();
		for (size_t j = 0; headers && j < r->nheaders; j++)
			if (json_object_set_new(headers, r->headers[j].name, json_string(r->headers[j].value)) < 0)
				json_decref(headers), headers = NULL;
		json_t *list = headers ? json_pack("[{s:{s:o}}]", "transform", "headers", headers) : NULL;
		if (!list || json_object_set_new(o, r->host, list) < 0)
			json_decref(o), o = NULL;
	}
	return o;
}

/* The headers of one host's rule list (field names it in errors), in order
 * (a later transform's header replaces an earlier one of the same name),
 * into h[*n...cap). */
static int headers_parse(json_t *list, const char *field, struct net_header *h, size_t *n, size_t cap,
			 struct cove_err *err)
{
	size_t i, first = *n;
	json_t *rule;
	if (!json_is_array(list))
		return cove_errf(err, -EINVAL, "%s must be a list of rules", field);
	json_array_foreach(list, i, rule) {
		json_t *t = json_object_get(rule, "transform"), *headers = json_object_get(t, "headers");
		if (!json_is_object(rule) || (t && !json_is_object(t) && !json_is_null(t)) ||
		    (headers && !json_is_object(headers) && !json_is_null(headers)))
			return cove_errf(err, -EINVAL, "%s[%zu] must be {\"transform\": {\"headers\": {...}}}", field, i);
		const char *name;
		json_t *v;
		json_object_foreach(headers, name, v) {
			if (!json_is_string(v))
				return cove_errf(err, -EINVAL, "%s[%zu].transform.headers.%.128s must be a string", field, i,
						 name);
			size_t k = first;
			while (k < *n && strcasecmp(h[k].name, name) != 0)
				k++;
			if (k == *n && (*n)++ >= cap)
				return cove_errf(err, -E2BIG, "%s: too many headers", field);
			h[k] = (struct net_header){ name, json_string_value(v) };
		}
	}
	return 0;
}

/* How many headers o's rules hold, at most, and the bytes of its hosts. */
static size_t headers_count(json_t *o, size_t *host_bytes)
{
	size_t total = 0, i;
	const char *host;
	json_t *list, *rule;
	*host_bytes = 0;
	json_object_foreach(o, host, list) {
		*host_bytes += strlen(host) + 1;
		json_array_foreach(list, i, rule)
			total += json_object_size(json_object_get(json_object_get(rule, "transform"), "headers"));
	}
	return total;
}

int net_rules_parse(json_t *o, const char *field, struct net_rules_parsed *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return cove_errf(err, -EINVAL, "%s must be an object of host names", field);
	size_t n = json_object_size(o), host_bytes, cap = headers_count(o, &host_bytes);
	if (n > NET_MAX_RULES)
		return cove_errf(err, -E2BIG, "%s: more than %d hosts", field, NET_MAX_RULES);
	/* The rules, then their hosts' names, lower-cased, in one block. */
	struct net_rule *r = calloc(1, n * sizeof(*r) + host_bytes);
	struct net_header *h = calloc(cap ? cap : 1, sizeof(*h));
	if (!r || !h) {
		free(r);
		free(h);
		return cove_errf(err, -ENOMEM, "%s: out of memory", field);
	}
	char *names = (char *)(r + n);
	size_t used = 0, i = 0;
	const char *host;
	json_t *list;
	int rc = 0;
	json_object_foreach(o, host, list) {
		char what[320];
		snprintf(what, sizeof(what), "%s['%.253s']", field, host);
		size_t start = used;
		if ((rc = headers_parse(list, what, h, &used, cap, err)) < 0)
			break;
		size_t len = strlen(host);
		for (size_t k = 0; k <= len; k++)
			names[k] = (char)(host[k] >= 'A' && host[k] <= 'Z' ? host[k] - 'A' + 'a' : host[k]);
		r[i++] = (struct net_rule){ names, h + start, used - start };
		names += len + 1;
	}
	if (rc < 0) {
		free(r);
		free(h);
		return rc;
	}
	*ret = (struct net_rules_parsed){ r, h, n };
	return 0;
}

void net_rules_parsed_free(struct net_rules_parsed *p)
{
	free(p->rules);
	free(p->headers);
	memset(p, 0, sizeof(*p));
}
