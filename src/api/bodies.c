/* Parsing coved's request bodies, JSON objects (see request.h); the
 * queries, times and host names are request.c's. */
#include "api/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proto/version.h"
#include "volume/volume.h"

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
		return cove_errf(err, -EINVAL, "%s must be a list of at most %d addresses, CIDRs or domain names", what, NET_MAX_RULES);
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

/* network.maskRequestHost: the Host a sandbox's servers see, "${PORT}"
 * standing for the port asked for. It becomes a header: visible ASCII
 * only, so that it can neither end the line nor the head. */
static int parse_mask_host(json_t *v, char out[MANAGER_MASK_HOST_MAX], struct cove_err *err)
{
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	if (!s || json_string_length(v) >= MANAGER_MASK_HOST_MAX)
		return cove_errf(err, -EINVAL, "network.maskRequestHost must be a string of at most %d bytes",
				 MANAGER_MASK_HOST_MAX - 1);
	for (size_t i = 0; i < json_string_length(v); i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return cove_errf(err, -EINVAL, "network.maskRequestHost: byte %zu is not a visible ASCII character",
					 i);
	snprintf(out, MANAGER_MASK_HOST_MAX, "%s", s);
	return 0;
}

/* network.httpsPorts: the ports whose servers speak HTTPS, each once,
 * 1 to 65535 but envd's (E2B's: "The envd port (49983) cannot be
 * listed"), at most MANAGER_MAX_HTTPS_PORTS; null or absent: none. */
static int parse_https_ports(json_t *v, struct manager_ingress *ret, struct cove_err *err)
{
	ret->n_https_ports = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > MANAGER_MAX_HTTPS_PORTS)
		return cove_errf(err, -EINVAL, "network.httpsPorts must be a list of at most %d port numbers",
				 MANAGER_MAX_HTTPS_PORTS);
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *p = json_array_get(v, i);
		json_int_t port = json_is_integer(p) ? json_integer_value(p) : 0;
		if (port < 1 || port > 65535)
			return cove_errf(err, -EINVAL, "network.httpsPorts[%zu] must be a port number from 1 to 65535", i);
		if (port == ENVD_PORT)
			return cove_errf(err, -EINVAL, "network.httpsPorts[%zu]: %d is envd's port, which cannot be listed",
					 i, ENVD_PORT);
		for (unsigned j = 0; j < ret->n_https_ports; j++)
			if (ret->https_ports[j] == port)
				return cove_errf(err, -EINVAL, "network.httpsPorts[%zu]: port %d is listed twice", i,
						 (int)port);
		ret->https_ports[ret->n_https_ports++] = (uint16_t)port;
	}
	return 0;
}

/* network.allowPublicTraffic (default true), maskRequestHost and httpsPorts. */
static int parse_ingress(json_t *network, struct manager_ingress *ret, struct cove_err *err)
{
	bool public_traffic = true;
	int r = boolean_field(json_object_get(network, "allowPublicTraffic"), "network.allowPublicTraffic", true,
			      &public_traffic, err);
	ret->private_traffic = !public_traffic;
	if (r == 0)
		r = parse_mask_host(json_object_get(network, "maskRequestHost"), ret->mask_host, err);
	return r < 0 ? r : parse_https_ports(json_object_get(network, "httpsPorts"), ret, err);
}

/* network.egressProxy: {"address": "HOST:PORT", "username", "password"}
 * (strings; null or absent: none). Checked with the rest of the policy. */
static int parse_egress_proxy(json_t *v, const char *what, struct net_egress_proxy *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return cove_errf(err, -EINVAL, "%s must be an object: {\"address\": \"HOST:PORT\", ...}", what);
	const char *names[] = { "address", "username", "password" };
	const char **fields[] = { &ret->address, &ret->username, &ret->password };
	for (size_t i = 0; i < 3; i++) {
		json_t *f = json_object_get(v, names[i]);
		if (f && !json_is_null(f) && !json_is_string(f))
			return cove_errf(err, -EINVAL, "%s.%s must be a string", what, names[i]);
		*fields[i] = json_string_value(f);
	}
	if (!ret->address)
		return cove_errf(err, -EINVAL, "%s.address is required", what);
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
	r = parse_egress_proxy(json_object_get(network, "egressProxy"), "network.egressProxy", &b->req.policy.proxy,
			       err);
	r = r < 0 ? r : net_rules_parse(json_object_get(network, "rules"), "network.rules", &b->rules, err);
	b->req.policy.rules = b->rules.rules;
	b->req.policy.nrules = b->rules.nrules;
	return r < 0 ? r : parse_ingress(network, &b->req.ingress, err);
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
 * a volume is mounted or a token injected. */
static int refuse_unsupported(json_t *body, struct cove_err *err)
{
	static const struct {
		const char *field, *why;
	} top[] = {
		{ "mcp", "there is no mcp-gateway template" },
		{ "iam", "workload identity tokens are not built yet" },
	};
	for (size_t i = 0; i < sizeof(top) / sizeof(*top); i++)
		if (!asks_nothing(json_object_get(body, top[i].field)))
			return cove_errf(err, -ENOSYS, "not supported by Cove: %s (%s)", top[i].field, top[i].why);
	return 0;
}

/* E2B's volumeMounts: [{"name": a volume's name, "path": where in the
 * guest}]; the guest's agent judges the path further (what it would hide). */
static int parse_volumes(json_t *body, struct api_create_body *b, struct cove_err *err)
{
	json_t *a = json_object_get(body, "volumeMounts");
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return cove_errf(err, -EINVAL, "volumeMounts must be an array of {name, path}");
	if (json_array_size(a) > MANAGER_MAX_VOLUMES)
		return cove_errf(err, -EINVAL, "volumeMounts: %zu volumes (at most %d)", json_array_size(a),
				 MANAGER_MAX_VOLUMES);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *o = json_array_get(a, i);
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *path = json_string_value(json_object_get(o, "path"));
		if (!json_is_object(o) || !name || !path)
			return cove_errf(err, -EINVAL, "volumeMounts[%zu] must be {\"name\": string, \"path\": string}", i);
		if (volume_name_check(name, err) < 0)
			return cove_err_prefix(err, "volumeMounts[%zu].name", i);
		size_t len = json_string_length(json_object_get(o, "path"));
		if (path[0] != '/' || len < 2 || len >= 4096 || strlen(path) != len)
			return cove_errf(err, -EINVAL, "volumeMounts[%zu].path: expected an absolute path other than /", i);
		b->volumes[i] = (struct manager_volume_mount){ name, path };
	}
	b->req.volumes = json_array_size(a) ? b->volumes : NULL;
	b->req.nvolumes = json_array_size(a);
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
	    (r = parse_lifecycle(body, &b->req, err)) < 0 || (r = net_policy_check_as(&b->req.policy, "network.allowOut", "network.denyOut", err)) < 0)
		return r;
	return parse_volumes(body, b, err) ?: refuse_unsupported(body, err);
}

int api_create_body_parse(const char *body, size_t len, struct api_create_body *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!(ret->json = json_object_body(body, len, err)))
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
	net_rules_parsed_free(&b->rules);
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
	json_t *j = json_object_body(body, len, err);
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
	json_t *j = json_object_body(body, len, err);
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
	json_t *j = json_object_body(body, len, err);
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
	json_t *j = json_object_body(body, len, err);
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

/* --- network --- */

int api_network_body_parse(const char *body, size_t len, struct api_network_body *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!(ret->json = json_object_body(body, len, err)))
		return -EINVAL;
	json_t *j = ret->json, *internet = json_object_get(j, "allow_internet_access");
	if (!internet)
		internet = json_object_get(j, "allowInternetAccess");
	int r = boolean_field(internet, "allow_internet_access", true, &ret->policy.internet, err);
	if (r == 0)
		r = string_list(json_object_get(j, "allowOut"), "allowOut", &ret->allow_out, err);
	if (r == 0)
		r = string_list(json_object_get(j, "denyOut"), "denyOut", &ret->deny_out, err);
	ret->policy.allow_out = ret->allow_out;
	ret->policy.deny_out = ret->deny_out;
	if (r == 0)
		r = parse_egress_proxy(json_object_get(j, "egressProxy"), "egressProxy", &ret->policy.proxy, err);
	if (r == 0)
		r = net_rules_parse(json_object_get(j, "rules"), "rules", &ret->rules, err);
	ret->policy.rules = ret->rules.rules;
	ret->policy.nrules = ret->rules.nrules;
	if (r == 0)
		r = net_policy_check_as(&ret->policy, "allowOut", "denyOut", err);
	if (r < 0)
		api_network_body_clear(ret);
	return r;
}

void api_network_body_clear(struct api_network_body *b)
{
	free(b->allow_out);
	free(b->deny_out);
	net_rules_parsed_free(&b->rules);
	json_decref(b->json);
	memset(b, 0, sizeof(*b));
}

/* --- snapshots --- */

int api_snapshot_body_parse(const char *body, size_t len, struct api_snapshot_body *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	json_t *j = json_object_body(body, len, err);
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
