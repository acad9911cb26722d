/* The host record's live figures (cluster/host.h's figures callback): what
 * the manager holds, the templates it can make sandboxes of (with their
 * snapshots and warm pools), the host's CPU use; and the snapshot
 * compatibility key. */
#include "coved/cluster_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "manager/manager.h"
#include "proto/version.h"
#include "template/template.h"

/* FNV-1a, 64 bits: the key need only tell hosts apart, not resist anyone. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* The CPU's model name and flags, from /proc/cpuinfo's first CPU. */
static uint64_t cpu_hash(void)
{
	uint64_t h = 14695981039346656037ull;
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return h;
	char line[8192];
	int seen = 0;
	while (seen < 2 && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0 || strncmp(line, "flags", 5) == 0) {
			h = fnv(h, line, strlen(line));
			seen++;
		}
	fclose(f);
	return h;
}

/* The host's VMM as snapshots record it ("qemu 7.2.19", the binary found
 * as its driver finds it): hosts whose snapshots restore on each other's
 * share it. */
static uint64_t vmm_hash(const char *vmm_driver)
{
	char vmm[160];
	struct cove_err err;
	if (vmm_describe(vmm_driver, NULL, vmm, sizeof(vmm), &err) < 0)
		snprintf(vmm, sizeof(vmm), "%s unknown", vmm_driver ? vmm_driver : "default");
	return fnv(14695981039346656037ull, vmm, strlen(vmm));
}

void cluster_snap_key(enum vmm_accel accel, const char *vmm_driver, char key[CLUSTER_SNAP_KEY_MAX + 1])
{
	snprintf(key, CLUSTER_SNAP_KEY_MAX + 1, "%s-%016llx-%016llx", vmm_accel_name(accel),
		 (unsigned long long)vmm_hash(vmm_driver), (unsigned long long)cpu_hash());
}

/* The whole host's CPU use since the last call, from /proc/stat. */
static unsigned cpu_busy_pct(struct coved_cluster_run *run)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7], &v[8], &v[9])
		  : 0;
	if (f)
		fclose(f);
	if (n < 5)
		return 0;
	uint64_t total = 0;
	for (int i = 0; i < 8; i++) /* guest time is counted in user time already */
		total += v[i];
	uint64_t busy = total - v[3] - v[4];
	uint64_t dt = total - run->cpu_total, db = busy - run->cpu_busy;
	unsigned pct = run->cpu_total && dt && db <= dt ? (unsigned)(db * 100 / dt) : 0;
	run->cpu_total = total;
	run->cpu_busy = busy;
	return pct;
}

static unsigned clamp(uint64_t v, unsigned max)
{
	return v > max ? max : (unsigned)v;
}

struct template_list {
	struct cluster_template *t;
	size_t n, cap;
};

static int add_template(void *ctx, const struct template *tpl)
{
	struct template_list *l = ctx;
	struct cove_err e = { 0 };
	if (cluster_template_name_check(tpl->name, &e) < 0 || l->n >= CLUSTER_MAX_TEMPLATES)
		return 0; /* a name the catalog cannot hold is not placed */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct cluster_template *t = realloc(l->t, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		l->t = t;
		l->cap = cap;
	}
	struct cluster_template *t = &l->t[l->n++];
	/* The size its sandboxes get, so gateways book what they take. */
	*t = (struct cluster_template){ .snap = tpl->snapshot[0] != '\0',
					.vcpus = clamp(tpl->vcpus ? tpl->vcpus : VMM_DEFAULT_VCPUS, CLUSTER_MAX_CPUS),
					.mem_mib = clamp(tpl->memory_mib ? tpl->memory_mib : VMM_DEFAULT_MEM_MIB,
							 CLUSTER_MAX_MIB) };
	snprintf(t->name, sizeof(t->name), "%s", tpl->name);
	return 0;
}

/* A snapshot is created from by its id or name (manager_create), through a
 * gateway as through a host: the record carries it under the name a
 * gateway looks up, template_ref's canonical form (ALIAS, ALIAS:TAG, or
 * the id of one without a name). Called under the manager's lock. */
static int add_snapshot(void *ctx, const struct manager_snapshot *snap)
{
	struct template_list *l = ctx;
	char name[CLUSTER_TEMPLATE_NAME_MAX + 1];
	const char *colon = strrchr(snap->id, ':');
	if (snap->name[0])
		snprintf(name, sizeof(name), "%s", snap->name);
	else
		snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - snap->id) : (int)strlen(snap->id), snap->id);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->t[i].name, name) == 0)
			return 0; /* a template of that name: its entry stands */
	struct template tpl = { .vcpus = snap->vcpus, .memory_mib = snap->mem_mib, .snapshot = "y" };
	snprintf(tpl.name, sizeof(tpl.name), "%s", name);
	return add_template(l, &tpl);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct cluster_template *)a)->name, ((const struct cluster_template *)b)->name);
}

static int count_warm(void *ctx, const char *template_id, unsigned count)
{
	struct template_list *l = ctx;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->t[i].name, template_id) == 0)
			l->t[i].warm = count;
	return 0;
}


static int figures_of(struct coved_cluster_run *run, struct manager *m, bool draining, struct cluster_host *rec,
		      struct cove_err *err)
{
	struct manager_stats st;
	manager_stats(m, &st);
	struct template_list l = { 0 };
	int r = template_each(manager_templates_dir(m), add_template, &l, err);
	if (r == -ENOENT) /* no templates directory yet: no templates */
		r = 0;
	size_t ntemplates = l.n;
	struct manager_snapshot_filter every = { 0 };
	if (r == 0)
		r = manager_snapshots(m, &every, add_snapshot, &l);
	if (l.n > ntemplates)
		qsort(l.t, l.n, sizeof(*l.t), by_name);
	if (r == 0)
		r = manager_each_warm(m, count_warm, &l);
	if (r < 0) {
		free(l.t);
		return r == -ENOMEM ? cove_errf(err, r, "host record: out of memory") : r;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	rec->state = draining ? CLUSTER_HOST_DRAINING : CLUSTER_HOST_READY;
	snprintf(rec->version, sizeof(rec->version), "cove-envd-%s", ENVD_VERSION);
	snprintf(rec->accel, sizeof(rec->accel), "%s", vmm_accel_name(run->accel));
	snprintf(rec->snap_key, sizeof(rec->snap_key), "%s", run->snap_key);
	rec->cpus = cpus < 1 ? 1 : clamp((uint64_t)cpus, CLUSTER_MAX_CPUS);
	rec->mem_max_mib = st.max_memory_mib ? clamp(st.max_memory_mib, CLUSTER_MAX_MIB) : 1;
	rec->mem_committed_mib = clamp(st.committed_mib, CLUSTER_MAX_MIB);
	rec->vcpus_alloc = clamp(st.vcpus, CLUSTER_MAX_COUNT);
	rec->cpu_busy_pct = cpu_busy_pct(run);
	rec->sandboxes = clamp((uint64_t)st.running + st.paused + st.creating, CLUSTER_MAX_COUNT);
	rec->max_sandboxes = clamp(st.max_sandboxes, CLUSTER_MAX_COUNT);
	rec->boots_inflight = clamp(st.booting, CLUSTER_MAX_COUNT);
	rec->max_boots = clamp(st.max_boots, CLUSTER_MAX_COUNT);
	rec->templates = l.t;
	rec->ntemplates = l.n;
	return 0;
}

int cluster_figures(struct cluster_host *rec, void *data, struct cove_err *err)
{
	struct coved_cluster_run *run = data;
	pthread_mutex_lock(&run->lock);
	bool draining = run->draining;
	pthread_mutex_unlock(&run->lock);
	struct manager *m = run_manager(run);
	if (!m)
		return cove_errf(err, -ESHUTDOWN, "coved is shutting down");
	int r = figures_of(run, m, draining, rec, err);
	run_manager_done(run);
	if (r == 0) /* what failed to reach the catalog goes again with each record */
		cluster_flush_pending(run, 16);
	return r;
}
