/* The gateway's life and its hook into the API server (see gateway.h):
 * each request's headers are decided on (decide.c) and the request goes to
 * the route that carries the decision out, with its state in r->ctx. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/proc.h"
#include "gateway/internal.h"

/* A host's new record releases the bookings it shows (placement.h). */
static int host_seen(const struct cluster_host *h, void *data)
{
	struct gateway *g = data;
	pthread_mutex_lock(&g->lock);
	placement_host_seen(&g->inflight, h->id, h->ts_ms);
	gateway_remember(g, h);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void on_change(int64_t revision, void *data)
{
	(void)revision;
	struct gateway *g = data;
	catalog_hosts(g->cat, host_seen, g);
	pthread_mutex_lock(&g->lock);
	placement_expire(&g->inflight, wall_now_ms());
	pthread_mutex_unlock(&g->lock);
}

int gateway_start(const struct gateway_config *c, struct gateway **ret, struct cove_err *err)
{
	if (!c->api_key || !*c->api_key || strlen(c->api_key) >= sizeof(((struct gateway *)0)->api_key))
		return cove_errf(err, -EINVAL, "gateway: the API key must be 1 to 255 characters");
	if (c->self_id && cluster_host_id_check(c->self_id, err) < 0)
		return cove_err_prefix(err, "gateway");
	struct gateway *g = calloc(1, sizeof(*g));
	if (!g)
		return cove_errf(err, -ENOMEM, "gateway: out of memory");
	g->etcd = c->etcd;
	snprintf(g->self_id, sizeof(g->self_id), "%s", c->self_id ? c->self_id : "");
	snprintf(g->api_key, sizeof(g->api_key), "%s", c->api_key);
	pthread_mutex_init(&g->lock, NULL);
	placement_inflight_init(&g->inflight, 0);
	int rc = api_domain_parse(c->domain ? c->domain : API_DEFAULT_DOMAIN, g->domain, err);
	if (rc == 0 && (rc = placement_rng_init(&g->rng, c->placement_seed, err)) < 0)
		cove_err_prefix(err, "gateway: COVE_PLACEMENT_SEED");
	if (rc == 0 && c->probe_endpoints && (rc = etcd_client_new(c->probe_endpoints, GATEWAY_PROBE_TIMEOUT_MS,
								    &g->probe, err)) < 0)
		cove_err_prefix(err, "gateway: probe");
	if (rc == 0 && (rc = catalog_start(c->etcd, &g->cat, err)) < 0)
		cove_err_prefix(err, "gateway");
	if (rc < 0) {
		gateway_stop(g);
		return rc;
	}
	catalog_on_change(g->cat, on_change, g);
	log_info("op=gateway_start host=%s", g->self_id[0] ? g->self_id : "-");
	*ret = g;
	return 0;
}

struct gateway *gateway_stop(struct gateway *g)
{
	if (!g)
		return NULL;
	if (g->cat)
		catalog_on_change(g->cat, NULL, NULL);
	g->cat = catalog_stop(g->cat);
	g->probe = etcd_client_free(g->probe);
	placement_inflight_clear(&g->inflight);
	free(g->known);
	pthread_mutex_destroy(&g->lock);
	free(g);
	return NULL;
}

struct catalog *gateway_catalog(struct gateway *g)
{
	return g->cat;
}

static const struct http_route *route_of(const struct gateway_decision *d)
{
	switch (d->action) {
	case GATEWAY_CREATE:
		return &gateway_create_route;
	case GATEWAY_LIST:
		return &gateway_list_route;
	case GATEWAY_RELAY:
		return &gateway_relay_route;
	case GATEWAY_ENVD:
		return &gateway_envd_route;
	case GATEWAY_ENVD_GONE:
		return &gateway_envd_gone_route;
	default:
		return &gateway_answer_route;
	}
}

static const struct http_route *route(void *ctx, struct http_request *r)
{
	struct gateway *g = ctx;
	struct gateway_request req = { r->method, r->path, http_header(r, GATEWAY_HOST_HEADER),
				       http_header(r, "E2b-Sandbox-Id"), http_header(r, "E2b-Sandbox-Port"),
				       http_header(r, MHD_HTTP_HEADER_HOST) };
	struct gateway_decision d;
	gateway_decide(g, &req, &d);
	if (d.action == GATEWAY_LOCAL)
		return NULL;
	/* Its answer says so when this fails (the routes take a NULL ctx). */
	struct gateway_call *c = calloc(1, sizeof(*c));
	if (c) {
		c->g = g;
		c->d = d;
		c->keyed = d.action != GATEWAY_ENVD && d.action != GATEWAY_ENVD_GONE;
		relay_init(&c->rl, r);
	}
	r->ctx = c;
	return route_of(&d);
}

static const struct api_gateway_ops ops = { route };

void gateway_api_config(struct gateway *g, struct api_server_config *ac)
{
	ac->gateway = &ops;
	ac->gateway_ctx = g;
}
