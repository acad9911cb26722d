/* Metrics: the sampler thread takes a sample of every running sandbox each
 * MANAGER_METRICS_INTERVAL_MS (its VMM's cgroup and its guest's own view),
 * the last MANAGER_METRICS_KEEP kept per sandbox. */
#include "manager/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/agent.h"
#include "common/log.h"
#include "common/proc.h"
#include "proto/version.h"
#include "sandbox/sandbox.h"
#include "vmm/cgroup.h"

struct sample_job {
	char id[64];
	char token[65];
	int netns;
	unsigned vcpus;
	bool have_cpu;
	double cpu_pct;
	uint64_t vmm_mem;
};

/* Under the lock: what a sample needs of e, and the host's view of its CPU. */
static int sample_begin(struct entry *e, struct sample_job *j)
{
	memset(j, 0, sizeof(*j));
	snprintf(j->id, sizeof(j->id), "%s", e->id);
	snprintf(j->token, sizeof(j->token), "%s", e->token);
	j->vcpus = e->vcpus ? e->vcpus : 1;
	j->netns = fcntl(sandbox_netns_fd(e->sb), F_DUPFD_CLOEXEC, 3);
	uint64_t cpu_usec, mem;
	if (vmm_usage(sandbox_vmm(e->sb), &cpu_usec, &mem) == 0) {
		int64_t now = now_us();
		if (e->last_cpu_us && now > e->last_cpu_us && cpu_usec >= e->last_cpu_usec) {
			j->cpu_pct = (double)(cpu_usec - e->last_cpu_usec) * 100.0 / (double)(now - e->last_cpu_us) / j->vcpus;
			j->have_cpu = true;
		}
		e->last_cpu_usec = cpu_usec;
		e->last_cpu_us = now;
		j->vmm_mem = mem;
	}
	return j->netns < 0 ? -errno : 0;
}

static void sample_one(struct manager *m, const char *id)
{
	struct sample_job j;
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find(m, id);
	int r = e && e->state == STORE_SANDBOX_RUNNING ? sample_begin(e, &j) : -ENOENT;
	pthread_mutex_unlock(&m->lock);
	if (r < 0)
		return;
	/* The guest's own view, asked without the lock. */
	struct agent_endpoint ep = { j.netns, NET_GUEST_ADDR, ENVD_PORT, j.token };
	struct agent_metrics am = { 0 };
	struct cove_err err = { 0 };
	bool have_guest = agent_metrics(&ep, &am, &err) == 0;
	close(j.netns);
	struct manager_metric s = {
		.ts_ms = wall_ms(),
		.cpu_used_pct = j.have_cpu ? j.cpu_pct : am.cpu_used_pct,
		.cpu_count = have_guest && am.cpu_count ? am.cpu_count : j.vcpus,
		.mem_used = am.mem_used,
		.mem_total = am.mem_total,
		.mem_cache = am.mem_cache,
		.disk_used = am.disk_used,
		.disk_total = am.disk_total,
		.vmm_mem = j.vmm_mem,
	};
	uint64_t used = run_usage(m, id);
	pthread_mutex_lock(&m->lock);
	e = entry_find(m, id);
	if (e && e->state == STORE_SANDBOX_RUNNING) {
		e->disk_bytes = used;
		if (!have_guest)
			s.mem_total = (uint64_t)e->mem_mib << 20;
		size_t at = (e->first_sample + e->nsamples) % MANAGER_METRICS_KEEP;
		e->samples[at] = s;
		if (e->nsamples < MANAGER_METRICS_KEEP)
			e->nsamples++;
		else
			e->first_sample = (e->first_sample + 1) % MANAGER_METRICS_KEEP;
	}
	pthread_mutex_unlock(&m->lock);
}

static bool sample_due(const struct entry *e, int64_t now)
{
	if (e->state != STORE_SANDBOX_RUNNING || e->busy)
		return false;
	if (!e->nsamples)
		return true;
	const struct manager_metric *last = &e->samples[(e->first_sample + e->nsamples - 1) % MANAGER_METRICS_KEEP];
	/* A little early is on time: the wait below is not exact. Samples
	 * carry wall-clock times; one stepped back is due at once. */
	int64_t age = now - last->ts_ms;
	return age < 0 || age >= MANAGER_METRICS_INTERVAL_MS - 250;
}

/* Rounds between sweeps of the VMMs' empty cgroups. */
#define SWEEP_ROUNDS (60000 / MANAGER_METRICS_INTERVAL_MS)

void *sampler_main(void *arg)
{
	struct manager *m = arg;
	unsigned round = 0;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		reaper_end_dead(m);
		entry_forget_unrecorded(m);
		/* A killed VMM that was not coved's child (adopted after a
		 * restart) can hold its cgroup past the kill's retries while its
		 * parent has not reaped it: removed here once it is empty. */
		if (++round % SWEEP_ROUNDS == 0) {
			pthread_mutex_unlock(&m->lock);
			int groups = vmm_cgroup_sweep();
			if (groups > 0)
				log_info("op=sweep cgroups=%d msg=\"left by VMMs killed earlier\"", groups);
			pthread_mutex_lock(&m->lock);
			if (m->stop)
				break;
		}
		/* Those whose last sample is an interval old (or that have none):
		 * a wake-up for another reason samples nobody twice. */
		size_t n = 0;
		char (*ids)[64] = NULL;
		int64_t now = wall_ms();
		for (struct entry *e = m->list; e; e = e->next)
			n += sample_due(e, now);
		if (n && (ids = calloc(n, sizeof(*ids)))) {
			size_t i = 0;
			for (struct entry *e = m->list; e && i < n; e = e->next)
				if (sample_due(e, now))
					snprintf(ids[i++], 64, "%s", e->id);
		}
		pthread_mutex_unlock(&m->lock);
		for (size_t i = 0; ids && i < n; i++)
			sample_one(m, ids[i]);
		free(ids);
		pthread_mutex_lock(&m->lock);
		if (m->stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += MANAGER_METRICS_INTERVAL_MS / 1000;
		pthread_cond_timedwait(&m->sample_wake, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int manager_metrics(struct manager *m, const char *id, int64_t start_ms, int64_t end_ms, manager_metric_fn fn,
		    void *ctx, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find(m, id);
	bool none_yet = e && e->state == STORE_SANDBOX_RUNNING && e->nsamples == 0;
	pthread_mutex_unlock(&m->lock);
	/* A sandbox just made has its first sample taken now, not by create
	 * (which would wait for the guest's answer) nor by the sampler. */
	if (none_yet)
		sample_one(m, id);
	pthread_mutex_lock(&m->lock);
	e = entry_find_visible(m, id, err);
	int r = e ? 0 : -ENOENT;
	for (size_t i = 0; r == 0 && e && i < e->nsamples; i++) {
		const struct manager_metric *s = &e->samples[(e->first_sample + i) % MANAGER_METRICS_KEEP];
		if ((start_ms && s->ts_ms < start_ms) || (end_ms && s->ts_ms > end_ms))
			continue;
		r = fn(ctx, s);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}
