/* A cluster coved's hook into its API server (api_gateway_ops): the
 * cluster's own routes (api/cluster.h: the hosts from the gateway's catalog,
 * forget, drain) and then, on a gateway, the gateway's routing.
 *
 * Drain is its host's to do: POST /cluster/hosts/ID/drain on host ID itself
 * sets its state here; on a gateway it is sent on to host ID's coved (the
 * same request, which that host then serves as its own). */
#include "coved/cluster_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/cluster.h"
#include "api/handlers.h"
#include "client/client.h"
#include "gateway/gateway.h"
#include "gateway/janitor.h"

static int forget(void *ctx, const char *host, struct cove_err *err)
{
	struct coved_cluster_run *run = ctx;
	return janitor_forget(run->etcd, gateway_catalog(run->gateway), host, err);
}

/* Host's coved drains itself (its own route, below). */
static int drain(void *ctx, const char *host, bool on, struct cove_err *err)
{
	struct coved_cluster_run *run = ctx;
	if (strcmp(host, run->c->host_id) == 0 && (run->c->roles & COVED_ROLE_HOST))
		return coved_cluster_drain(run->c, on, err);
	struct cluster_host h = { 0 };
	int r = catalog_host(gateway_catalog(run->gateway), host, &h, err);
	if (r == -ENOENT)
		return cove_errf(err, -ENOENT, "host %s is not live in the cluster", host);
	if (r < 0)
		return r;
	char url[CLUSTER_ADDR_MAX + 16], path[CLUSTER_HOST_ID_MAX + 32];
	snprintf(url, sizeof(url), "http://%s", h.addr);
	snprintf(path, sizeof(path), "/cluster/hosts/%s/drain", host);
	cluster_host_clear(&h);
	struct client *c = NULL;
	struct client_config cc = { .url = url, .api_key = run->api_key };
	json_t *body = json_pack("{s:b}", "drain", on);
	long status = 0;
	r = body ? client_open(&cc, &c, err) : cove_errf(err, -ENOMEM, "out of memory");
	if (r == 0)
		r = client_call(c, "POST", path, body, &status, NULL, err);
	client_close(c);
	json_decref(body);
	if (r < 0 && r != -ENOENT && r != -EINVAL)
		return cove_errf(err, -EIO, "host %s (%s): %s", host, url, err->msg);
	return r;
}

static const struct api_cluster_ops cluster_ops = { .forget = forget, .drain = drain };

static enum MHD_Result hosts_route(struct http_request *r)
{
	struct coved_cluster_run *run = r->ctx;
	return api_cluster_hosts(r, &run->api);
}

static enum MHD_Result forget_route(struct http_request *r)
{
	struct coved_cluster_run *run = r->ctx;
	return api_cluster_forget(r, &run->api);
}

static enum MHD_Result drain_route(struct http_request *r)
{
	struct coved_cluster_run *run = r->ctx;
	return api_cluster_drain(r, &run->api);
}

static enum MHD_Result metrics_route(struct http_request *r)
{
	return cluster_metrics_reply(r->ctx, r);
}

/* A host-only coved asked for what gateways answer. */
static enum MHD_Result not_gateway_route(struct http_request *r)
{
	struct coved_cluster_run *run = r->ctx;
	return api_reply_error(r, 501, "coved %s is a cluster host without the gateway role: ask a gateway",
			       run->c->host_id);
}

static const struct http_route routes[] = {
	{ "GET", "/cluster/hosts", hosts_route },
	{ "DELETE", "/cluster/hosts/{}", forget_route },
	{ "POST", "/cluster/hosts/{}/drain", drain_route },
};
static const struct http_route not_gateway = { "GET", "/cluster", not_gateway_route };
static const struct http_route metrics = { "GET", "/metrics", metrics_route };

static const struct http_route *route(void *ctx, struct http_request *r)
{
	struct coved_cluster_run *run = ctx;
	/* Its own figures (not a host's the gateway relays to), with the
	 * cluster's. */
	if (strcmp(r->method, "GET") == 0 && strcmp(r->path, "/metrics") == 0) {
		r->ctx = run;
		return &metrics;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(r->method, routes[i].method) != 0 || !http_match(routes[i].pattern, r->path, r->params, 1))
			continue;
		r->ctx = run;
		bool own_drain = i == 2 && strcmp(r->params[0], run->c->host_id) == 0;
		return run->gateway || own_drain ? &routes[i] : &not_gateway;
	}
	return run->gateway ? run->gateway_ops->route(run->gateway_ctx, r) : NULL;
}

static const struct api_gateway_ops ops = { route };

void cluster_api_config(struct coved_cluster_run *run, struct api_server_config *ac)
{
	run->api = (struct api_cluster){ .catalog = run->gateway ? gateway_catalog(run->gateway) : NULL,
					 .ops = &cluster_ops,
					 .ops_ctx = run };
	if (run->gateway) {
		struct api_server_config gc = { 0 };
		gateway_api_config(run->gateway, &gc);
		run->gateway_ops = gc.gateway;
		run->gateway_ctx = gc.gateway_ctx;
	}
	ac->gateway = &ops;
	ac->gateway_ctx = run;
}
