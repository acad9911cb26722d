/* Egress policies: checking them, and their text form in the state database
 * (JSON, E2B's field names), from which recovery restores a slot's rules. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"
#include "proto/domain.h"

static int check_list(const char *what, const char *const *list, struct cove_err *err)
{
	size_t n = 0;
	for (; list && list[n]; n++) {
		struct net_cidr c;
		if (n >= NET_MAX_RULES)
			return cove_errf(err, -E2BIG, "%s: more than %d entries", what, NET_MAX_RULES);
		if (net_cidr_parse(list[n], &c) == 0)
			continue;
		if (!domain_is_name(list[n]))
			return cove_errf(err, -EINVAL,
					 "%s: '%s' is not an IPv4 address or CIDR (a.b.c.d or a.b.c.d/n with the host "
					 "bits clear) nor a domain name",
					 what, list[n]);
		int r = domain_check(list[n], err);
		if (r < 0)
			return cove_err_prefix(err, "%s", what);
	}
	return 0;
}

static bool has_name(const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (domain_is_name(list[i]))
			return true;
	return false;
}

bool net_policy_has_domains(const struct net_policy *p)
{
	return has_name(p->allow_out) || has_name(p->deny_out);
}

bool net_policy_needs_proxy(const struct net_policy *p)
{
	return net_policy_has_domains(p) || p->nrules;
}


int net_egress_proxy_split(const char *address, char host[256], uint16_t *port)
{
	const char *colon = address ? strrchr(address, ':') : NULL;
	if (!colon || colon == address || (size_t)(colon - address) > 255)
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long n = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || n == 0 || n > 65535 || colon[1] == '+' || colon[1] == '-')
		return -EINVAL;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	*port = (uint16_t)n;
	struct net_cidr c;
	if (net_cidr_parse(host, &c) == 0)
		return c.prefix == 32 ? 0 : -EINVAL;
	return domain_is_name(host) && !strchr(host, '*') && domain_check(host, NULL) == 0 ? 0 : -EINVAL;
}

static int check_proxy(const struct net_egress_proxy *x, struct cove_err *err)
{
	char host[256];
	uint16_t port;
	if (!x->address) {
		if (x->username || x->password)
			return cove_errf(err, -EINVAL, "egressProxy.address is required");
		return 0;
	}
	if (net_egress_proxy_split(x->address, host, &port) < 0)
		return cove_errf(err, -EINVAL, "egressProxy.address '%.300s': expected HOST:PORT (an IPv4 address or a host name)",
				 x->address);
	if (x->username && (!*x->username || strlen(x->username) > 255))
		return cove_errf(err, -EINVAL, "egressProxy.username: 1 to 255 bytes");
	if (x->password && strlen(x->password) > 255)
		return cove_errf(err, -EINVAL, "egressProxy.password: at most 255 bytes");
	if (x->password && !x->username)
		return cove_errf(err, -EINVAL, "egressProxy.password needs egressProxy.username");
	return 0;
}

int net_policy_check_as(const struct net_policy *p, const char *allow_name, const char *deny_name,
			struct cove_err *err)
{
	/* The rules' field is named as the lists are: network.rules, rules. */
	const char *rules_name = strncmp(allow_name, "network.", 8) == 0 ? "network.rules" : "rules";
	int r = check_list(allow_name, p->allow_out, err);
	r = r < 0 ? r : check_list(deny_name, p->deny_out, err);
	r = r < 0 ? r : rules_check(rules_name, p, err);
	return r < 0 ? r : check_proxy(&p->proxy, err);
}

int net_policy_check(const struct net_policy *p, struct cove_err *err)
{
	return net_policy_check_as(p, "allow_out", "deny_out", err);
}

bool net_policy_is_default(const struct net_policy *p)
{
	return p->internet && !(p->allow_out && p->allow_out[0]) && !(p->deny_out && p->deny_out[0]) &&
	       !p->proxy.address && !p->nrules && !p->volumes;
}

static json_t *list_json(const char *const *list)
{
	json_t *a = json_array();
	for (size_t i = 0; a && list && list[i]; i++)
		if (json_array_append_new(a, json_string(list[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

char *net_policy_encode(const struct net_policy *p)
{
	if (net_policy_is_default(p))
		return strdup("");
	json_t *o = json_pack("{s:b, s:o*, s:o*}", "allowInternetAccess", p->internet, "allowOut",
			      list_json(p->allow_out), "denyOut", list_json(p->deny_out));
	if (o && p->proxy.address) {
		json_t *x = json_pack("{s:s, s:s*, s:s*}", "address", p->proxy.address, "username", p->proxy.username,
				      "password", p->proxy.password);
		if (!x || json_object_set_new(o, "egressProxy", x) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	if (o && p->volumes && json_object_set_new(o, "volumes", json_true()) < 0) {
		json_decref(o);
		return NULL;
	}
	if (o && p->nrules) {
		json_t *rules = net_rules_json(p);
		if (!rules || json_object_set_new(o, "rules", rules) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static int list_decode(json_t *arr, const char ***ret)
{
	size_t n = json_array_size(arr);
	if (n > NET_MAX_RULES)
		return -E2BIG;
	const char **list = calloc(n + 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(list[i] = json_string_value(json_array_get(arr, i)))) {
			free(list);
			return -EINVAL;
		}
	*ret = list;
	return 0;
}

int net_policy_decode(const char *text, struct net_policy_copy *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->policy.internet = true;
	if (!text || !*text)
		return 0;
	ret->json = json_loads(text, 0, NULL);
	json_t *internet = json_object_get(ret->json, "allowInternetAccess");
	int r = json_is_boolean(internet) ? 0 : -EINVAL;
	if (r == 0)
		r = list_decode(json_object_get(ret->json, "allowOut"), &ret->allow);
	if (r == 0)
		r = list_decode(json_object_get(ret->json, "denyOut"), &ret->deny);
	if (r == 0) {
		ret->policy = (struct net_policy){ .internet = json_is_true(internet),
						   .volumes = json_is_true(json_object_get(ret->json, "volumes")),
						   .allow_out = ret->allow,
						   .deny_out = ret->deny };
		json_t *x = json_object_get(ret->json, "egressProxy");
		if (x) {
			ret->policy.proxy.address = json_string_value(json_object_get(x, "address"));
			ret->policy.proxy.username = json_string_value(json_object_get(x, "username"));
			ret->policy.proxy.password = json_string_value(json_object_get(x, "password"));
			r = ret->policy.proxy.address ? 0 : -EINVAL;
		}
		r = r ?: net_rules_parse(json_object_get(ret->json, "rules"), "rules", &ret->rules, NULL);
		ret->policy.rules = ret->rules.rules;
		ret->policy.nrules = ret->rules.nrules;
		r = r ?: net_policy_check(&ret->policy, NULL);
	}
	if (r < 0)
		net_policy_copy_free(ret);
	return r;
}

void net_policy_copy_free(struct net_policy_copy *pc)
{
	free(pc->allow);
	free(pc->deny);
	net_rules_parsed_free(&pc->rules);
	json_decref(pc->json);
	memset(pc, 0, sizeof(*pc));
	pc->policy.internet = true;
}
