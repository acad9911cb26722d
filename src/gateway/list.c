/* GET /sandboxes and /v2/sandboxes on a gateway: the cluster's sandboxes
 * from the catalog cache (newest first by creation order, the running
 * records of hosts that are gone left out), with the fields and filters of
 * a single host's list (api/list.c): the query is parsed by the same parser
 * and each sandbox is shown by the same api_info_json, from its record. A
 * record holds no tokens, disk use or network settings: those fields show
 * their defaults (answers.c). Pages: the catalog's opaque nextToken (X-Next-Token). The
 * template and startedAfter filters apply within a page (the catalog
 * filters by state and metadata), so such a page may hold fewer than limit;
 * order=asc is not served here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "gateway/internal.h"

/* The query as the single host's parser takes it, but for nextToken, which
 * is the catalog's here. */
static const char *query_get(void *cls, const char *name)
{
	return strcmp(name, "nextToken") == 0 ? NULL : http_query(cls, name);
}

struct page {
	const struct api_list_query *q;
	json_t *items;
	unsigned running;
};

/* The filters the catalog does not apply. */
static bool matches(const struct api_list_query *q, const struct cluster_sandbox *sb)
{
	return (!q->template_id[0] || strcmp(q->template_id, sb->template_id) == 0) &&
	       (!q->started_after_set || sb->started_ms >= q->started_after_ms);
}

static int add(const struct cluster_sandbox *sb, void *data)
{
	struct page *p = data;
	if (!matches(p->q, sb))
		return 0;
	return json_array_append_new(p->items, gateway_sandbox_json(sb)) < 0 ? -ENOMEM : 0;
}

static int count_running(const struct cluster_sandbox *sb, void *data)
{
	struct page *p = data;
	if (matches(p->q, sb))
		p->running++;
	return 0;
}

/* The metadata filter as the catalog's pairs (pairs[API_MAX_METADATA]). */
static size_t metadata_pairs(const struct api_list_query *q, struct catalog_pair *pairs)
{
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach(q->metadata, k, v)
		if (n < API_MAX_METADATA && json_is_string(v))
			pairs[n++] = (struct catalog_pair){ k, json_string_value(v) };
	return n;
}

static enum MHD_Result reply_page(struct http_request *r, struct gateway *g, const struct api_list_query *q,
				  bool v2)
{
	struct catalog_pair pairs[API_MAX_METADATA];
	struct catalog_filter f = { q->running, q->paused, pairs, metadata_pairs(q, pairs) };
	struct page p = { q, json_array(), 0 };
	char next[CATALOG_TOKEN_MAX], total[16], unused[CATALOG_TOKEN_MAX];
	struct cove_err err = { 0 };
	int rc = p.items ? catalog_list(g->cat, &f, q->limit, http_query(r, "nextToken"), next, add, &p, &err)
			 : -ENOMEM;
	if (rc >= 0 && v2 && q->running) {
		struct catalog_filter running = { true, false, pairs, f.nmetadata };
		rc = catalog_list(g->cat, &running, SIZE_MAX, NULL, unused, count_running, &p, &err);
	}
	if (rc < 0) {
		json_decref(p.items);
		return rc == -EINVAL ? api_reply_error(r, 400, "%s", err.msg) : api_reply_error(r, 500, "out of memory");
	}
	snprintf(total, sizeof(total), "%u", p.running);
	const char *names[2] = { next[0] ? "X-Next-Token" : NULL, v2 && q->running ? "X-Total-Running" : NULL };
	const char *values[2] = { next, total };
	return http_reply_json_headers(r, 200, p.items, names, values, 2);
}

static enum MHD_Result list(struct http_request *r)
{
	struct gateway_call *c = r->ctx;
	if (!c)
		return api_reply_error(r, 500, "out of memory");
	struct cove_err err = { 0 };
	struct api_list_query q;
	struct api_query in = { query_get, r };
	int rc = api_list_query_parse(&in, c->d.v2, &q, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	/* Not built yet (the catalog's pages run newest first): 501, never a
	 * silent other order. */
	enum MHD_Result res = q.ascending ? api_reply_error(r, 501, "order=asc is not served by a cluster gateway yet")
					  : reply_page(r, c->g, &q, c->d.v2);
	api_list_query_clear(&q);
	return res;
}

const struct http_route gateway_list_route = {
	.method = "GET", .pattern = "*", .handler = list, .cleanup = gateway_call_cleanup
};
