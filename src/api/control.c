/* The E2B control plane's route table (../docs: shared e2b-protocol.md;
 * E2B's spec/openapi.yml where that is silent). Each route, its body, query,
 * replies and errors: see docs/api.md. */
#include "api/control.h"
#include "api/handlers.h"

static const struct http_route routes[] = {
	{ "POST", "/sandboxes", api_sandbox_create },
	{ "POST", "/v2/sandboxes", api_sandbox_create },
	{ "GET", "/sandboxes", api_list_v1 },
	{ "GET", "/v2/sandboxes", api_list_v2 },
	{ "GET", "/sandboxes/{}", api_sandbox_info },
	{ "DELETE", "/sandboxes/{}", api_sandbox_kill },
	{ "POST", "/sandboxes/{}/timeout", api_sandbox_timeout },
	{ "POST", "/sandboxes/{}/refreshes", api_sandbox_refresh },
	{ "POST", "/sandboxes/{}/connect", api_sandbox_connect },
	{ "POST", "/v2/sandboxes/{}/connect", api_sandbox_connect },
	{ "POST", "/sandboxes/{}/pause", api_sandbox_pause },
	{ "POST", "/sandboxes/{}/fork", api_sandbox_fork },
	{ "GET", "/sandboxes/{}/metrics", api_sandbox_metrics },
	{ "GET", "/metrics", api_host_metrics },
	{ "GET", "/sandboxes/{}/logs", api_sandbox_logs },
	{ "GET", "/templates", api_templates },
	{ "POST", "/sandboxes/{}/snapshots", api_snapshot_create },
	{ "GET", "/snapshots", api_snapshots },
	{ "DELETE", "/templates/{}", api_template_delete },
	{ "DELETE", "/templates/{}/{}", api_template_delete_namespaced },
};

const struct http_route *control_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
