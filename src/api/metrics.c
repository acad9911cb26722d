/* Metrics: a sandbox's samples as E2B's API has them, and the host's in
 * Prometheus text for operators (GET /metrics). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/handlers.h"

static int metric_json(void *ctx, const struct manager_metric *mt)
{
	char ts[32];
	api_iso8601(mt->ts_ms, ts);
	json_t *o = json_pack("{s:s, s:I, s:f, s:i, s:I, s:I, s:I, s:I, s:I}", "timestamp", ts, "timestampUnix",
			      (json_int_t)(mt->ts_ms / 1000), "cpuUsedPct", mt->cpu_used_pct, "cpuCount",
			      (int)mt->cpu_count, "memUsed", (json_int_t)mt->mem_used, "memTotal",
			      (json_int_t)mt->mem_total, "memCache", (json_int_t)mt->mem_cache, "diskUsed",
			      (json_int_t)mt->disk_used, "diskTotal", (json_int_t)mt->disk_total);
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

enum MHD_Result api_sandbox_metrics(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_metrics_range range;
	struct api_query in = api_query_of(r);
	json_t *arr = NULL;
	int rc = api_metrics_range_parse(&in, &range, &err);
	if (rc == 0 && !(arr = json_array()))
		rc = cove_errf(&err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = manager_metrics(api_manager(r), r->params[0], range.start_ms, range.end_ms, metric_json, arr, &err);
	if (rc < 0) {
		json_decref(arr);
		return api_reply_failure(r, rc, &err);
	}
	return http_reply_json(r, 200, arr);
}

struct prom {
	char *buf;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void prom_add(struct prom *p, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2 && !p->failed; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
		size_t cap = (p->cap + (size_t)(n > 0 ? n : 0)) * 2 + 4096;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->failed = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
}

static int prom_warm(void *ctx, const char *template_id, unsigned count)
{
	prom_add(ctx, "cove_warm_pool_template{template=\"%s\"} %u\n", template_id, count);
	return 0;
}

static int prom_sandbox(void *ctx, const struct manager_info *info, const struct manager_metric *mt)
{
	struct prom *p = ctx;
	prom_add(p, "cove_sandbox_info{sandbox=\"%s\",template=\"%s\",state=\"%s\"} 1\n", info->id, info->template_id,
		 api_state_name(info->state));
	if (mt) {
		prom_add(p, "cove_sandbox_cpu_used_percent{sandbox=\"%s\"} %.2f\n", info->id, mt->cpu_used_pct);
		prom_add(p, "cove_sandbox_memory_used_bytes{sandbox=\"%s\"} %llu\n", info->id,
			 (unsigned long long)mt->mem_used);
		prom_add(p, "cove_sandbox_vmm_memory_bytes{sandbox=\"%s\"} %llu\n", info->id,
			 (unsigned long long)mt->vmm_mem);
		prom_add(p, "cove_sandbox_disk_used_bytes{sandbox=\"%s\"} %llu\n", info->id,
			 (unsigned long long)mt->disk_used);
	}
	return 0;
}

static void prom_host(struct prom *p, const struct manager_stats *st)
{
	prom_add(p, "# HELP cove_sandboxes Sandboxes on this host by state.\n# TYPE cove_sandboxes gauge\n");
	prom_add(p, "cove_sandboxes{state=\"running\"} %u\ncove_sandboxes{state=\"paused\"} %u\n"
		     "cove_sandboxes{state=\"creating\"} %u\n", st->running, st->paused, st->creating);
	prom_add(p, "# HELP cove_sandboxes_saved Paused sandboxes saved to disk (no VMM).\n"
		     "# TYPE cove_sandboxes_saved gauge\ncove_sandboxes_saved %u\n", st->saved);
	prom_add(p, "# HELP cove_warm_pool Restored, paused sandboxes ready to claim.\n"
		     "# TYPE cove_warm_pool gauge\ncove_warm_pool %u\n", st->warm);
}

static void prom_snapshots(struct prom *p, struct manager *m)
{
	unsigned count;
	uint64_t bytes;
	manager_snapshot_stats(m, &count, &bytes);
	prom_add(p, "# HELP cove_snapshots Snapshots sandboxes can be created from.\n"
		     "# TYPE cove_snapshots gauge\ncove_snapshots %u\n", count);
	prom_add(p, "# HELP cove_snapshots_disk_bytes What snapshots take on the host's disk (deleted ones that "
		     "sandboxes still use too).\n# TYPE cove_snapshots_disk_bytes gauge\ncove_snapshots_disk_bytes %llu\n",
		 (unsigned long long)bytes);
}

static void prom_totals(struct prom *p, const struct manager_stats *st)
{
	prom_add(p, "# TYPE cove_sandboxes_max gauge\ncove_sandboxes_max %u\n", st->max_sandboxes);
	prom_add(p, "# TYPE cove_memory_committed_bytes gauge\ncove_memory_committed_bytes %llu\n",
		 (unsigned long long)st->committed_mib << 20);
	prom_add(p, "# TYPE cove_memory_limit_bytes gauge\ncove_memory_limit_bytes %llu\n",
		 (unsigned long long)st->max_memory_mib << 20);
	prom_add(p, "# HELP cove_disk_used_bytes The sandboxes' file system (RUN_DIR's): what it holds.\n"
		     "# TYPE cove_disk_used_bytes gauge\ncove_disk_used_bytes %llu\n", (unsigned long long)st->disk_used);
	prom_add(p, "# HELP cove_disk_growth_bytes What the live sandboxes may still write to it (their disks' size "
		     "less what they take).\n# TYPE cove_disk_growth_bytes gauge\ncove_disk_growth_bytes %llu\n",
		 (unsigned long long)st->disk_growth);
	prom_add(p, "# HELP cove_disk_limit_bytes What admission keeps used plus growth under.\n"
		     "# TYPE cove_disk_limit_bytes gauge\ncove_disk_limit_bytes %llu\n", (unsigned long long)st->disk_limit);
	prom_add(p, "# TYPE cove_sandboxes_created_total counter\ncove_sandboxes_created_total %llu\n",
		 (unsigned long long)st->created);
	prom_add(p, "# TYPE cove_sandboxes_killed_total counter\ncove_sandboxes_killed_total %llu\n",
		 (unsigned long long)st->killed);
	prom_add(p, "# TYPE cove_sandbox_create_failures_total counter\ncove_sandbox_create_failures_total %llu\n",
		 (unsigned long long)st->create_failures);
}

/* The host's sandboxes and their latest samples. */
enum MHD_Result api_host_metrics(struct http_request *r)
{
	return api_metrics_reply(r, true, NULL);
}

enum MHD_Result api_metrics_reply(struct http_request *r, bool host, const char *extra)
{
	struct prom p = { 0 };
	if (host) {
		struct manager_stats st;
		manager_stats(api_manager(r), &st);
		prom_host(&p, &st);
		manager_each_warm(api_manager(r), prom_warm, &p);
		prom_totals(&p, &st);
		prom_snapshots(&p, api_manager(r));
		manager_each_latest(api_manager(r), prom_sandbox, &p);
	}
	if (extra)
		prom_add(&p, "%s", extra);
	if (p.failed || (!p.buf && (host || (extra && *extra)))) {
		free(p.buf);
		return api_reply_error(r, 500, "out of memory");
	}
	return http_reply_take(r, 200, "text/plain; version=0.0.4", p.buf, p.len);
}
