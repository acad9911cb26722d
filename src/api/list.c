/* GET /sandboxes and /v2/sandboxes: the sandboxes in creation order, newest
 * first (or oldest, order=asc), filtered by state, metadata, template and
 * start time, a page at a time (X-Next-Token); v2 also says how many running
 * ones match (X-Total-Running). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"

struct listing {
	const struct api_list_query *q;
	json_t *items;       /* those past the cursor, newest first as they come */
	json_t *seqs;        /* their creation order, alongside */
	unsigned running;    /* matching and running, wherever the cursor is */
};

static bool metadata_matches(const struct api_list_query *q, const char *text)
{
	if (!q->metadata)
		return true;
	json_t *meta = json_loads(text, 0, NULL);
	bool ok = true;
	const char *k;
	json_t *want;
	json_object_foreach(q->metadata, k, want)
		if (!json_equal(json_object_get(meta, k), want)) {
			ok = false;
			break;
		}
	json_decref(meta);
	return ok;
}

/* The filters, but not the cursor. */
static bool matches(const struct api_list_query *q, const struct manager_info *info)
{
	if (!(info->state == STORE_SANDBOX_PAUSED ? q->paused : q->running))
		return false;
	if (q->template_id[0] && strcmp(q->template_id, info->template_id) != 0)
		return false;
	if (q->started_after_set && info->started_ms < q->started_after_ms)
		return false;
	return metadata_matches(q, info->metadata);
}

static int list_one(void *ctx, const struct manager_info *info)
{
	struct listing *l = ctx;
	const struct api_list_query *q = l->q;
	if (!matches(q, info))
		return 0;
	if (info->state == STORE_SANDBOX_RUNNING)
		l->running++;
	if (q->after_seq && (q->ascending ? info->seq <= q->after_seq : info->seq >= q->after_seq))
		return 0;
	/* Every one past the cursor: for asc the page is the oldest of them, the
	 * last to come. A host holds a few hundred sandboxes at most. */
	if (json_array_append_new(l->items, api_info_json(info, false)) < 0 ||
	    json_array_append_new(l->seqs, json_integer(info->seq)) < 0)
		return -ENOMEM;
	return 0;
}

/* The page: the first limit in the order asked; *last_seq, the creation
 * order of its last sandbox when more follow (else 0). */
static json_t *page_of(struct listing *l, int64_t *last_seq)
{
	json_t *page = json_array();
	size_t n = json_array_size(l->items), limit = l->q->limit;
	*last_seq = 0;
	for (size_t i = 0; page && i < n && i < limit; i++) {
		size_t at = l->q->ascending ? n - 1 - i : i;
		if (json_array_append(page, json_array_get(l->items, at)) < 0) {
			json_decref(page);
			return NULL;
		}
		*last_seq = json_integer_value(json_array_get(l->seqs, at));
	}
	if (n <= limit)
		*last_seq = 0;
	return page;
}

static enum MHD_Result list(struct http_request *r, bool v2)
{
	struct cove_err err = { 0 };
	struct api_list_query q;
	struct api_query in = api_query_of(r);
	struct listing l = { &q, NULL, NULL, 0 };
	int rc = api_list_query_parse(&in, v2, &q, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	l.items = json_array();
	l.seqs = json_array();
	rc = l.items && l.seqs ? manager_list(api_manager(r), list_one, &l) : -ENOMEM;
	int64_t last = 0;
	json_t *page = rc == 0 ? page_of(&l, &last) : NULL;
	json_decref(l.items);
	json_decref(l.seqs);
	bool ascending = q.ascending, running = q.running;
	api_list_query_clear(&q);
	if (!page)
		return api_reply_error(r, 500, "out of memory");
	/* Both headers when both apply: MHD adds one, this the other. */
	char next[32], total[16];
	api_list_token(ascending, last, next);
	snprintf(total, sizeof(total), "%u", l.running);
	const char *names[2] = { last ? "X-Next-Token" : NULL, v2 && running ? "X-Total-Running" : NULL };
	const char *values[2] = { next, total };
	return http_reply_json_headers(r, 200, page, names, values, 2);
}

enum MHD_Result api_list_v1(struct http_request *r)
{
	return list(r, false);
}

enum MHD_Result api_list_v2(struct http_request *r)
{
	return list(r, true);
}
