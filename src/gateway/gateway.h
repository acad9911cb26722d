/* The cluster gateway's request routing (issue 18; multihost.md §4.4, §4.6):
 * with the cluster's catalog (cluster/catalog.h, a watch-fed cache of the
 * host and sandbox records in etcd), a coved in the gateway role decides for
 * each request, from its headers, where it is served:
 *   - forwarded by a gateway (X-Cove-Host: ID): here when ID is this host,
 *     else 421;
 *   - a create (POST /sandboxes, /v2/sandboxes): placed (cluster/placement.h,
 *     best of K over the live hosts that have the template and room, booked
 *     in flight) and its body forwarded unchanged to the chosen host, the next
 *     candidate after a host's 429, another after a connection error or 5xx
 *     (3 attempts); 429 with Retry-After when no host can take it;
 *   - a list (GET /sandboxes, /v2/sandboxes): answered from the catalog;
 *   - a sandbox's routes (/sandboxes/ID/...) and its envd traffic
 *     (E2b-Sandbox-Id, or Host PORT-ID.DOMAIN): here when its owner is this
 *     host, else relayed as sent to the owner's coved (api/relay.h); an owner
 *     that is gone or unreachable answers info from the record, a kill as an
 *     intent in the record (killing, the host kills it on return), 503
 *     otherwise, and 502 for envd traffic (the SDK's "not running");
 *   - anything else: here on a host, else relayed to one live host (the
 *     lowest id): templates, snapshots and secrets are each host's own.
 * It keeps serving from its cache while etcd does not answer. */
#ifndef COVE_GATEWAY_GATEWAY_H
#define COVE_GATEWAY_GATEWAY_H

#include "api/server.h"
#include "cluster/catalog.h"
#include "cluster/etcd.h"
#include "common/err.h"

/* The header a gateway's forwarded requests carry: the host it meant. */
#define GATEWAY_HOST_HEADER "X-Cove-Host"
/* Connecting to a host: a live host answers on loopback or a LAN at once. */
#define GATEWAY_CONNECT_TIMEOUT_MS 2000
/* Hosts tried for one create after connection errors or 5xx (multihost §4.4). */
#define GATEWAY_CREATE_ATTEMPTS 3

struct gateway_config {
	struct etcd_client *etcd;   /* borrowed: outlives the gateway */
	const char *self_id;        /* this coved's host id when it is a host too; NULL: a gateway only */
	const char *api_key;        /* the cluster's key, sent to hosts as X-API-KEY */
	const char *placement_seed; /* COVE_PLACEMENT_SEED's text, or NULL: random */
	const char *domain;         /* coved's --domain (PORT-ID.DOMAIN); NULL: API_DEFAULT_DOMAIN */
	/* The etcd members again (etcd_client_new's text), for a quick probe
	 * of its own: when a host answers that it cannot write the catalog,
	 * is etcd out of reach for everyone (the answer is passed on) or for
	 * that host alone (another host is tried)? NULL: no probe, another
	 * host is tried. */
	const char *probe_endpoints;
};

/* The probe's time on one member. */
#define GATEWAY_PROBE_TIMEOUT_MS 300

struct gateway;

/* Starts a catalog (listing, then watching etcd): fails when etcd does not
 * answer now. */
int gateway_start(const struct gateway_config *c, struct gateway **ret, struct cove_err *err);
/* Stops the catalog and frees; NULL-safe, returns NULL. Only once the API
 * server no longer routes through it. */
struct gateway *gateway_stop(struct gateway *g);
/* Its catalog, for the janitor and the /cluster routes. */
struct catalog *gateway_catalog(struct gateway *g);
/* Routes ac's requests through g (ac->gateway, ac->gateway_ctx). */
void gateway_api_config(struct gateway *g, struct api_server_config *ac);

#endif
