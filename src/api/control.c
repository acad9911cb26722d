/* The E2B control plane's route table: every route of E2B's API (its
 * spec/openapi.yml and the SDK's schema; docs/api.md), served or answered
 * 501 by api_not_supported, one line a route, so that an SDK call Cove
 * cannot serve is never read as "not found". To serve one, give its line a
 * handler. The first line whose pattern and method match wins: a fixed
 * segment goes before a {} that would match it too (/templates/tags before
 * /templates/{templateID}, /sandboxes/metrics before /sandboxes/{}). A path
 * of none of these is 404 "no route", of one with another method 405. */
#include "api/cluster.h"
#include "api/control.h"
#include "api/handlers.h"

#define VOLUME_CONTENT(method, pattern, handler, sink)                                                     \
	{ method, pattern, handler, 0, sink, api_volume_content_cleanup, true, api_volume_content_authorize }

static const struct http_route routes[] = {
	/* Sandboxes. */
	{ "POST", "/sandboxes", api_sandbox_create },
	{ "POST", "/v2/sandboxes", api_sandbox_create },
	{ "GET", "/sandboxes", api_list_v1 },
	{ "GET", "/v2/sandboxes", api_list_v2 },
	{ "GET", "/sandboxes/metrics", api_not_supported },
	{ "GET", "/sandboxes/{}", api_sandbox_info },
	{ "DELETE", "/sandboxes/{}", api_sandbox_kill },
	{ "POST", "/sandboxes/{}/timeout", api_sandbox_timeout },
	{ "POST", "/sandboxes/{}/refreshes", api_sandbox_refresh },
	{ "POST", "/sandboxes/{}/connect", api_sandbox_connect },
	{ "POST", "/v2/sandboxes/{}/connect", api_sandbox_connect },
	{ "POST", "/sandboxes/{}/pause", api_sandbox_pause },
	{ "POST", "/sandboxes/{sandboxID}/resume", api_not_supported },
	{ "POST", "/sandboxes/{}/fork", api_sandbox_fork },
	{ "GET", "/sandboxes/{}/metrics", api_sandbox_metrics },
	{ "GET", "/sandboxes/{}/logs", api_sandbox_logs },
	{ "GET", "/v2/sandboxes/{sandboxID}/logs", api_not_supported },
	{ "PUT", "/sandboxes/{}/network", api_sandbox_network },
	{ "POST", "/sandboxes/{}/snapshots", api_snapshot_create },
	/* E2B's API has these handlers, its spec and the SDK not yet. */
	{ "PATCH", "/sandboxes/{sandboxID}/lifecycle", api_not_supported },
	{ "PUT", "/sandboxes/{sandboxID}/metadata", api_not_supported },
	/* Snapshots. */
	{ "GET", "/snapshots", api_snapshots },
	{ "POST", "/snapshots/{snapshotID}/fork", api_not_supported },
	/* Templates: Cove's are built by `make` (guest/templates/). */
	{ "GET", "/templates", api_templates },
	{ "POST", "/templates", api_not_supported },
	{ "GET", "/templates/aliases/{}", api_template_alias },
	{ "POST", "/templates/tags", api_tags_assign },
	{ "DELETE", "/templates/tags", api_tags_remove },
	{ "GET", "/templates/{templateID}", api_not_supported },
	{ "POST", "/templates/{templateID}", api_not_supported },
	{ "PATCH", "/templates/{templateID}", api_not_supported },
	{ "DELETE", "/templates/{}", api_template_delete },
	{ "DELETE", "/templates/{}/{}", api_template_delete_namespaced },
	{ "GET", "/templates/{}/tags", api_template_tags },
	{ "GET", "/templates/{}/files/{}", api_build_files },
	{ "POST", "/templates/{}/builds/{}", api_build_trigger, API_BUILD_BODY_LIMIT },
	{ "GET", "/templates/{}/builds/{}/status", api_build_status },
	{ "GET", "/templates/{templateID}/builds/{buildID}/logs", api_not_supported },
	{ "GET", "/v2/templates", api_not_supported },
	{ "POST", "/v2/templates", api_not_supported },
	{ "PATCH", "/v2/templates/{templateID}", api_not_supported },
	{ "POST", "/v2/templates/{}/builds/{}", api_build_trigger, API_BUILD_BODY_LIMIT },
	{ "POST", "/v3/templates", api_build_register },
	/* Volumes, secrets. */
	{ "GET", "/volumes", api_volumes },
	{ "POST", "/volumes", api_volume_create },
	{ "GET", "/volumes/{}", api_volume_info },
	{ "DELETE", "/volumes/{}", api_volume_destroy },
	/* The volume content API: the volume's token is the authority. */
	VOLUME_CONTENT("GET", "/volumecontent/{}/dir", api_volume_list, NULL),
	VOLUME_CONTENT("POST", "/volumecontent/{}/dir", api_volume_mkdir, NULL),
	VOLUME_CONTENT("GET", "/volumecontent/{}/path", api_volume_stat, NULL),
	VOLUME_CONTENT("PATCH", "/volumecontent/{}/path", api_volume_set_attrs, NULL),
	VOLUME_CONTENT("DELETE", "/volumecontent/{}/path", api_volume_remove, NULL),
	VOLUME_CONTENT("GET", "/volumecontent/{}/file", api_volume_read, NULL),
	VOLUME_CONTENT("PUT", "/volumecontent/{}/file", api_volume_write, api_volume_write_sink),
	{ "GET", "/secrets", api_secrets },
	{ "POST", "/secrets", api_secret_create, API_SECRET_BODY_LIMIT },
	{ "GET", "/secrets/{}", api_secret_info },
	{ "POST", "/secrets/{}", api_secret_update, API_SECRET_BODY_LIMIT },
	{ "DELETE", "/secrets/{}", api_secret_destroy },
	/* Teams, keys, tokens, nodes, administration: Cove has one key (coved
	 * --api-key) and one host. */
	{ "GET", "/health", api_not_supported },
	{ "GET", "/teams", api_not_supported },
	{ "GET", "/teams/{teamID}/metrics", api_not_supported },
	{ "GET", "/teams/{teamID}/metrics/max", api_not_supported },
	{ "GET", "/api-keys", api_not_supported },
	{ "POST", "/api-keys", api_not_supported },
	{ "PATCH", "/api-keys/{apiKeyID}", api_not_supported },
	{ "DELETE", "/api-keys/{apiKeyID}", api_not_supported },
	{ "POST", "/access-tokens", api_not_supported },
	{ "DELETE", "/access-tokens/{accessTokenID}", api_not_supported },
	{ "GET", "/nodes", api_not_supported },
	{ "GET", "/nodes/{nodeID}", api_not_supported },
	{ "POST", "/nodes/{nodeID}", api_not_supported },
	{ "POST", "/admin/teams/{teamID}/sandboxes/kill", api_not_supported },
	{ "POST", "/admin/teams/{teamID}/builds/cancel", api_not_supported },
	{ "POST", "/admin/teams/{teamID}/api-keys", api_not_supported },
	{ "DELETE", "/admin/teams/{teamID}/api-keys/{apiKeyID}", api_not_supported },
	/* Cove's own: where the SDK puts a COPY's files (the URL
	 * GET /templates/{}/files/{} gives; its token is the authority), and
	 * the host in Prometheus text. */
	{ "PUT", "/cove/uploads/{}/{}", api_upload, 0, api_upload_sink, api_upload_cleanup, true, api_upload_authorize },
	{ "GET", "/metrics", api_host_metrics },
	/* A cluster's (api/cluster.h): a gateway serves them before these. */
	{ "GET", "/cluster/hosts", api_cluster_none },
	{ "DELETE", "/cluster/hosts/{}", api_cluster_none },
	{ "POST", "/cluster/hosts/{}/drain", api_cluster_none },
};

const struct http_route *control_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
