/* The cluster's own API routes (issue 18; multihost.md §4.4, "Cove
 * extensions"), served by a gateway:
 *   GET    /cluster/hosts             the hosts, from the gateway's catalog
 *   DELETE /cluster/hosts/{id}        forget a host that is gone
 *   POST   /cluster/hosts/{id}/drain  {"drain": true|false}
 * The last two are hooks of the server's owner (forget: gateway/janitor.h's
 * janitor_forget; drain: forwarded to host id, which sets its state), so
 * that api/ does not call into gateway/ (which calls into api/). The
 * handlers take their cluster explicitly: a server whose app knows its
 * struct api_cluster serves them through one-line route handlers of its own
 * (http_route has no per-route data). A coved that is not part of a cluster
 * answers these paths with api_cluster_none: 501, "not part of a cluster",
 * rather than 404, which DELETE /cluster/hosts/{id} already uses for "no such
 * host" (so `cove host forget h2` on a single host does not read as "unknown
 * host h2"), and as control.c answers routes Cove does not serve.
 *
 * GET /cluster/hosts answers a JSON array in host id order: first the live
 * hosts (their record: hostID, address, state ready|draining, version,
 * accelerator, cpuCount, vcpusAllocated, cpuBusyPercent, memoryCommittedMiB,
 * memoryMaxMiB, sandboxCount, maxSandboxes, bootsInFlight, maxBoots,
 * templates [{name, snapshot, warm}], updatedAt (the record's time, ISO 8601,
 * the host's clock), live: true), then the gone ones the catalog still holds
 * records of ({hostID, state: "gone", live: false, sandboxCount: their
 * records}): the hosts `cove host forget` is for. */
#ifndef COVE_API_CLUSTER_H
#define COVE_API_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/catalog.h"
#include "common/err.h"
#include "http/http.h"

struct api_cluster_ops {
	/* Forget host now (janitor_forget): 0, or -EBUSY (live, 409), -ENOENT
	 * (unknown, 404), -EINVAL (400), others 503 (etcd did not answer). */
	int (*forget)(void *ctx, const char *host, struct cove_err *err);
	/* Drain host (on) or let it take placements again (!on): 0, or a
	 * negative errno with err (-ENOENT: no such live host, 404; -EBUSY 409;
	 * others 502: the host did not answer). */
	int (*drain)(void *ctx, const char *host, bool on, struct cove_err *err);
};

struct api_cluster {
	struct catalog *catalog;           /* borrowed */
	const struct api_cluster_ops *ops; /* a NULL hook (or ops): its route answers 501 */
	void *ops_ctx;
};

enum MHD_Result api_cluster_hosts(struct http_request *r, const struct api_cluster *c);
enum MHD_Result api_cluster_forget(struct http_request *r, const struct api_cluster *c);
enum MHD_Result api_cluster_drain(struct http_request *r, const struct api_cluster *c);
/* Any of the three on a coved that is not part of a cluster. */
enum MHD_Result api_cluster_none(struct http_request *r);

/* The JSON of GET /cluster/hosts (NULL when out of memory). */
json_t *api_cluster_hosts_json(struct catalog *cat);
json_t *api_cluster_host_json(const struct cluster_host *h);

/* POST /cluster/hosts/{id}/drain's body: {"drain": bool}, nothing else;
 * -EINVAL with err saying what is wrong. */
int api_drain_body_parse(const char *body, size_t len, bool *on, struct cove_err *err);

#endif
