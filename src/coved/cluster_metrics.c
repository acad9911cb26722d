/* A cluster coved's figures on GET /metrics (Prometheus text), after the
 * host's own: the host role's (registered, fenced, epoch, writes waiting)
 * and the gateway's, from its catalog: each live host's record, the
 * cluster's totals by state, the cache's revision, the janitor. */
#include "coved/cluster_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "gateway/gateway.h"
#include "gateway/janitor.h"

static void host_role(struct coved_cluster_run *run, FILE *f)
{
	pthread_mutex_lock(&run->lock);
	struct cluster_host_role *role = run->role;
	size_t pending = run->npending;
	bool draining = run->draining;
	pthread_mutex_unlock(&run->lock);
	bool fenced = !role || cluster_host_fenced(role, NULL, 0);
	fprintf(f, "# HELP cove_cluster_host_fenced This host refuses creates, forks and resumes: cut off from the "
		   "cluster, or not registered yet.\n# TYPE cove_cluster_host_fenced gauge\ncove_cluster_host_fenced %d\n",
		fenced);
	fprintf(f, "# HELP cove_cluster_host_epoch The epoch of this host's registration (0: none).\n"
		   "# TYPE cove_cluster_host_epoch gauge\ncove_cluster_host_epoch %lld\n",
		(long long)(role ? cluster_host_epoch(role) : 0));
	fprintf(f, "# HELP cove_cluster_host_draining This host takes no new placements.\n"
		   "# TYPE cove_cluster_host_draining gauge\ncove_cluster_host_draining %d\n", draining);
	fprintf(f, "# HELP cove_cluster_catalog_writes_pending Sandbox records whose catalog write failed, to be "
		   "written again.\n# TYPE cove_cluster_catalog_writes_pending gauge\n"
		   "cove_cluster_catalog_writes_pending %zu\n", pending);
}

static int host_line(const struct cluster_host *h, void *data)
{
	FILE *f = data;
	const char *id = h->id; /* [A-Za-z0-9._-]: no escaping needed */
	fprintf(f, "cove_cluster_host_up{host=\"%s\",state=\"%s\"} 1\n", id, cluster_host_state_name(h->state));
	fprintf(f, "cove_cluster_host_sandboxes{host=\"%s\"} %u\n", id, h->sandboxes);
	fprintf(f, "cove_cluster_host_sandboxes_max{host=\"%s\"} %u\n", id, h->max_sandboxes);
	fprintf(f, "cove_cluster_host_memory_committed_bytes{host=\"%s\"} %llu\n", id,
		(unsigned long long)h->mem_committed_mib << 20);
	fprintf(f, "cove_cluster_host_memory_limit_bytes{host=\"%s\"} %llu\n", id,
		(unsigned long long)h->mem_max_mib << 20);
	fprintf(f, "cove_cluster_host_vcpus{host=\"%s\"} %u\n", id, h->vcpus_alloc);
	fprintf(f, "cove_cluster_host_cpu_busy_percent{host=\"%s\"} %u\n", id, h->cpu_busy_pct);
	fprintf(f, "cove_cluster_host_boots_inflight{host=\"%s\"} %u\n", id, h->boots_inflight);
	return 0;
}

struct totals {
	unsigned by_state[4]; /* enum cluster_sandbox_state */
	unsigned gone_host;   /* records of hosts whose key is gone */
};

static int count_record(const struct cluster_sandbox *sb, bool host_live, void *data)
{
	struct totals *t = data;
	if ((unsigned)sb->state < 4)
		t->by_state[sb->state]++;
	t->gone_host += !host_live;
	return 0;
}

static void gateway_figures(struct coved_cluster_run *run, FILE *f)
{
	struct catalog *cat = gateway_catalog(run->gateway);
	fprintf(f, "# HELP cove_cluster_host_up A live host of the cluster (its lease holds), by state.\n"
		   "# TYPE cove_cluster_host_up gauge\n");
	catalog_hosts(cat, host_line, f);
	struct totals t = { 0 };
	catalog_sandboxes(cat, count_record, &t);
	fprintf(f, "# HELP cove_cluster_sandboxes The catalog's sandbox records by state.\n"
		   "# TYPE cove_cluster_sandboxes gauge\n");
	for (int s = 0; s < 4; s++)
		fprintf(f, "cove_cluster_sandboxes{state=\"%s\"} %u\n", cluster_sandbox_state_name(s), t.by_state[s]);
	fprintf(f, "# HELP cove_cluster_sandboxes_of_gone_hosts Records whose host's lease is gone.\n"
		   "# TYPE cove_cluster_sandboxes_of_gone_hosts gauge\ncove_cluster_sandboxes_of_gone_hosts %u\n",
		t.gone_host);
	struct catalog_stats st;
	catalog_stats(cat, &st);
	fprintf(f, "# TYPE cove_cluster_catalog_revision gauge\ncove_cluster_catalog_revision %lld\n",
		(long long)st.revision);
	fprintf(f, "# HELP cove_cluster_catalog_skipped_records Records that do not decode, left out.\n"
		   "# TYPE cove_cluster_catalog_skipped_records gauge\ncove_cluster_catalog_skipped_records %zu\n",
		st.skipped);
	fprintf(f, "# TYPE cove_cluster_catalog_lists_total counter\ncove_cluster_catalog_lists_total %llu\n",
		(unsigned long long)st.lists);
	fprintf(f, "# HELP cove_cluster_catalog_audit_relists_total Re-lists after the cache was found apart from etcd.\n"
		   "# TYPE cove_cluster_catalog_audit_relists_total counter\n"
		   "cove_cluster_catalog_audit_relists_total %llu\n",
		(unsigned long long)st.audit_relists);
	fprintf(f, "# HELP cove_cluster_janitor This gateway holds the janitor's election.\n"
		   "# TYPE cove_cluster_janitor gauge\ncove_cluster_janitor %d\n", janitor_holder(run->janitor));
}

enum MHD_Result cluster_metrics_reply(struct coved_cluster_run *run, struct http_request *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return api_reply_error(r, 500, "out of memory");
	if (run->c->roles & COVED_ROLE_HOST)
		host_role(run, f);
	if (run->gateway)
		gateway_figures(run, f);
	bool failed = ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		free(text);
		return api_reply_error(r, 500, "out of memory");
	}
	enum MHD_Result ret = api_metrics_reply(r, (run->c->roles & COVED_ROLE_HOST) != 0, text);
	free(text);
	return ret;
}
