/* The cluster's own routes (api/cluster.h): the hosts from the catalog, and
 * forget and drain through their owner's hooks. */
#include "api/cluster.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "common/json.h"

static json_t *templates_json(const struct cluster_host *h)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < h->ntemplates; i++) {
		const struct cluster_template *t = &h->templates[i];
		if (json_array_append_new(a, json_pack("{s:s, s:b, s:I}", "name", t->name, "snapshot", t->snap, "warm",
						       (json_int_t)t->warm)) < 0)
			return json_decref(a), NULL;
	}
	return a;
}

json_t *api_cluster_host_json(const struct cluster_host *h)
{
	char ts[32];
	api_iso8601(h->ts_ms, ts);
	json_t *templates = templates_json(h);
	if (!templates)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:b}",
			 "hostID", h->id, "address", h->addr, "state", cluster_host_state_name(h->state), "version",
			 h->version, "accelerator", h->accel, "cpuCount", (json_int_t)h->cpus, "vcpusAllocated",
			 (json_int_t)h->vcpus_alloc, "cpuBusyPercent", (json_int_t)h->cpu_busy_pct,
			 "memoryCommittedMiB", (json_int_t)h->mem_committed_mib, "memoryMaxMiB",
			 (json_int_t)h->mem_max_mib, "sandboxCount", (json_int_t)h->sandboxes, "maxSandboxes",
			 (json_int_t)h->max_sandboxes, "bootsInFlight", (json_int_t)h->boots_inflight, "maxBoots",
			 (json_int_t)h->max_boots, "templates", templates, "updatedAt", ts, "live", 1);
}

static int add_live(const struct cluster_host *h, void *data)
{
	return json_array_append_new(data, api_cluster_host_json(h));
}

/* Counts the records of each gone host in an object {host: count}. */
static int count_gone(const struct cluster_sandbox *sb, bool host_live, void *data)
{
	if (host_live)
		return 0;
	json_t *n = json_object_get(data, sb->host);
	return json_object_set_new(data, sb->host, json_integer(n ? json_integer_value(n) + 1 : 1));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The gone hosts of counts, in id order. */
static int add_gone(json_t *hosts, json_t *counts)
{
	size_t n = json_object_size(counts), i = 0;
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	const char *id;
	json_t *count;
	json_object_foreach (counts, id, count)
		ids[i++] = id;
	qsort(ids, n, sizeof(*ids), by_name);
	int r = 0;
	for (i = 0; i < n && r == 0; i++)
		r = json_array_append_new(hosts, json_pack("{s:s, s:s, s:b, s:O}", "hostID", ids[i], "state", "gone",
							   "live", 0, "sandboxCount", json_object_get(counts, ids[i])));
	free(ids);
	return r;
}

json_t *api_cluster_hosts_json(struct catalog *cat)
{
	_cleanup_json_ json_t *hosts = json_array(), *counts = json_object();
	if (!hosts || !counts || catalog_hosts(cat, add_live, hosts) != 0 ||
	    catalog_sandboxes(cat, count_gone, counts) != 0 || add_gone(hosts, counts) < 0)
		return NULL;
	return TAKE_PTR(hosts);
}

enum MHD_Result api_cluster_none(struct http_request *r)
{
	return api_reply_error(r, 501, "this coved is a single host, not part of a cluster (coved --cluster-etcd)");
}

enum MHD_Result api_cluster_hosts(struct http_request *r, const struct api_cluster *c)
{
	return http_reply_json(r, 200, api_cluster_hosts_json(c->catalog));
}

/* The {id} of the path: 0, or answered 400. */
static int host_param(struct http_request *r, struct cove_err *err)
{
	int rc = cluster_host_id_check(r->params[0], err);
	return rc < 0 ? cove_err_prefix(err, "host id") : 0;
}

static unsigned hook_status(int code, unsigned other)
{
	return code == -EBUSY || code == -ENOENT || code == -EINVAL ? api_status_of(code) : other;
}

enum MHD_Result api_cluster_forget(struct http_request *r, const struct api_cluster *c)
{
	struct cove_err err = { 0 };
	if (!c->ops || !c->ops->forget)
		return api_not_supported(r);
	if (host_param(r, &err) < 0)
		return api_reply_error(r, 400, "%s", err.msg);
	int rc = c->ops->forget(c->ops_ctx, r->params[0], &err);
	if (rc < 0)
		return api_reply_error(r, hook_status(rc, 503), "%s", err.msg);
	return http_reply_empty(r, 204);
}

enum MHD_Result api_cluster_drain(struct http_request *r, const struct api_cluster *c)
{
	struct cove_err err = { 0 };
	bool on = false;
	if (!c->ops || !c->ops->drain)
		return api_not_supported(r);
	if (host_param(r, &err) < 0 || api_drain_body_parse(r->body, r->len, &on, &err) < 0)
		return api_reply_error(r, 400, "%s", err.msg);
	int rc = c->ops->drain(c->ops_ctx, r->params[0], on, &err);
	if (rc < 0)
		return api_reply_error(r, hook_status(rc, 502), "%s", err.msg);
	return http_reply_empty(r, 204);
}
