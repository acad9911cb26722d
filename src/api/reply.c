/* What the control API's handlers share (see handlers.h). */
#include "api/handlers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/utf8.h"
#include "proto/version.h"

struct manager *api_manager(struct http_request *r)
{
	return r->app;
}

static const char *query_get(void *cls, const char *name)
{
	return http_query(cls, name);
}

struct api_query api_query_of(struct http_request *r)
{
	return (struct api_query){ query_get, r };
}

void api_iso8601(int64_t ms, char buf[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

const char *api_state_name(enum store_sandbox_state s)
{
	return s == STORE_SANDBOX_PAUSED ? "paused" : "running";
}

unsigned api_status_of(int code)
{
	return code == -ENOENT ? 404
	     : code == -EINVAL ? 400
	     : code == -EAGAIN ? 429
	     : code == -EBUSY || code == -EALREADY || code == -ESTALE || code == -EOPNOTSUPP || code == -EEXIST ? 409
	     : code == -ENOSPC ? 507
	     : code == -ENOSYS ? 501
	     : code == -ESHUTDOWN || code == -ECANCELED || code == -ENOTCONN ? 503
							: 500;
}

enum MHD_Result api_reply_failure(struct http_request *r, int code, const struct cove_err *err)
{
	const char *msg = err->msg[0] ? err->msg : strerror(-code);
	if (code != -ENOTCONN)
		return api_reply_error(r, api_status_of(code), "%s", msg);
	/* The cluster's catalog is out of this host's reach (api/handlers.h):
	 * a gateway that cannot reach it either passes this on rather than
	 * trying another host, which shares it. */
	json_t *j = json_pack("{s:i, s:o}", "code", 503, "message", json_string_lossy(msg));
	const char *names[] = { "Retry-After", API_CLUSTER_DOWN_HEADER };
	const char *values[] = { "1", "1" };
	return http_reply_json_headers(r, 503, j, names, values, 2);
}

enum MHD_Result api_not_supported(struct http_request *r)
{
	return api_reply_error(r, 501, "not supported by Cove: %s %s", r->method, r->route->pattern);
}

/* E2B's Sandbox (create, connect, a fork's child): the traffic access
 * token is here and nowhere else (SandboxDetail has none), null for a
 * public sandbox. */
json_t *api_created_json(const struct manager_info *info)
{
	json_t *traffic = info->traffic_token[0] ? json_string(info->traffic_token) : json_null();
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:n}", "sandboxID", info->id, "templateID",
			 info->template_id, "alias", info->template_id, "clientID", "cove", "envdVersion", ENVD_VERSION,
			 "envdAccessToken", info->token, "trafficAccessToken", traffic, "domain");
}

static json_t *strings_json(const char *const *list)
{
	json_t *a = json_array();
	for (size_t i = 0; a && list && list[i]; i++)
		json_array_append_new(a, json_string_lossy(list[i]));
	return a;
}

static json_t *https_ports_json(const struct manager_ingress *in)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < in->n_https_ports; i++)
		json_array_append_new(a, json_integer(in->https_ports[i]));
	return a;
}

/* network, allowInternetAccess, lifecycle, domain, volumeMounts: E2B's
 * SandboxDetail (and ListedSandbox) fields Cove has answers for. */
static int info_config_json(json_t *j, const struct manager_info *info)
{
	const struct net_policy *p = &info->policy.policy;
	json_t *network = json_pack("{s:b, s:o, s:o}", "allowPublicTraffic", !info->ingress.private_traffic,
				    "allowOut", strings_json(p->allow_out), "denyOut", strings_json(p->deny_out));
	if (network && info->ingress.mask_host[0])
		json_object_set_new(network, "maskRequestHost", json_string(info->ingress.mask_host));
	if (network && info->ingress.n_https_ports)
		json_object_set_new(network, "httpsPorts", https_ports_json(&info->ingress));
	/* The proxy without its password, as E2B reports it. */
	if (network && p->proxy.address)
		json_object_set_new(network, "egressProxy",
				    json_pack("{s:s, s:s*}", "address", p->proxy.address, "username", p->proxy.username));
	/* Rules as given: their values hold secrets' placeholders, never the
	 * secrets. */
	if (network && p->nrules)
		json_object_set_new(network, "rules", net_rules_json(p));
	/* Not known for a sandbox made before Cove kept it: null, as E2B's
	 * "not explicitly set". */
	json_t *internet = info->policy_known ? json_boolean(p->internet) : json_null();
	json_t *lifecycle = json_pack("{s:s, s:b}", "onTimeout", info->auto_pause ? "pause" : "kill", "autoResume", info->auto_resume);
	json_t *volumes = info->volume_mounts ? json_loads(info->volume_mounts, 0, NULL) : json_array();
	int r = json_object_set_new(j, "network", network) | json_object_set_new(j, "allowInternetAccess", internet) |
		json_object_set_new(j, "lifecycle", lifecycle) | json_object_set_new(j, "domain", json_null()) |
		json_object_set_new(j, "volumeMounts", volumes ? volumes : json_array()) |
		json_object_set_new(j, "diskSizeMB", json_integer(info->disk_size_mib));
	return r ? -ENOMEM : 0;
}

json_t *api_info_json(const struct manager_info *info, bool with_token)
{
	char started[32], end[32];
	api_iso8601(info->started_ms, started);
	api_iso8601(info->end_ms, end);
	json_t *meta = json_loads(info->metadata, 0, NULL);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:s}", "sandboxID", info->id,
			      "templateID", info->template_id, "alias", info->template_id, "clientID", "cove",
			      "startedAt", started, "endAt", end, "state", api_state_name(info->state), "cpuCount",
			      (int)info->vcpus, "memoryMB", (int)info->mem_mib, "metadata", meta ? meta : json_object(),
			      "envdVersion", ENVD_VERSION);
	if (j && with_token)
		json_object_set_new(j, "envdAccessToken", json_string(info->token));
	if (j) /* Cove's own: what it holds on the host's disk */
		json_object_set_new(j, "diskBytes", json_integer((json_int_t)info->disk_bytes));
	if (j && info_config_json(j, info) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}
