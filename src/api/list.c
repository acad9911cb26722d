/* GET /sandboxes and /v2/sandboxes: the sandboxes newest first, filtered
 * by state and metadata, a page at a time (X-Next-Token). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "api/handlers.h"

struct listing {
	const struct api_list_query *q;
	json_t *items;
	int64_t last_seq;
	bool more;
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

static int list_one(void *ctx, const struct manager_info *info)
{
	struct listing *l = ctx;
	const struct api_list_query *q = l->q;
	if (q->before_seq && info->seq >= q->before_seq)
		return 0;
	if (!(info->state == STORE_SANDBOX_PAUSED ? q->paused : q->running) || !metadata_matches(q, info->metadata))
		return 0;
	if (json_array_size(l->items) >= q->limit) {
		l->more = true;
		return 1; /* stop: one more exists */
	}
	l->last_seq = info->seq;
	return json_array_append_new(l->items, api_info_json(info, false)) < 0 ? -ENOMEM : 0;
}

static enum MHD_Result list(struct http_request *r, bool v2)
{
	struct cove_err err = { 0 };
	struct api_list_query q;
	struct api_query in = api_query_of(r);
	struct listing l = { &q, NULL, 0, false };
	int rc = api_list_query_parse(&in, v2, &q, &err);
	if (rc == 0 && !(l.items = json_array()))
		rc = cove_errf(&err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = manager_list(api_manager(r), list_one, &l);
	api_list_query_clear(&q);
	if (rc < 0) {
		json_decref(l.items);
		return rc == -ENOMEM ? api_reply_error(r, 500, "out of memory") : api_reply_failure(r, rc, &err);
	}
	char next[32];
	snprintf(next, sizeof(next), "%" PRId64, l.last_seq);
	return http_reply_json_with(r, 200, l.items, l.more ? "X-Next-Token" : NULL, l.more ? next : NULL);
}

enum MHD_Result api_list_v1(struct http_request *r)
{
	return list(r, false);
}

enum MHD_Result api_list_v2(struct http_request *r)
{
	return list(r, true);
}
