/* Opening and closing the manager (its threads are started and joined
 * here), and the read-only entry points. */
#include "manager/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "net/net.h"
#include "sandbox/sandbox.h"
#include "vmm/cgroup.h"

static unsigned host_memory_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (unsigned)((uint64_t)pages * (uint64_t)size / (1024 * 1024)) : 0;
}

int manager_open(const struct manager_config *c, struct manager **ret, struct cove_err *err)
{
	if (!c->store || !c->net || !c->templates_dir || !c->kernel)
		return cove_errf(err, -EINVAL, "manager: store, network, templates and kernel are all needed");
	struct manager *m = calloc(1, sizeof(*m));
	if (!m)
		return cove_errf(err, -ENOMEM, "manager: out of memory");
	m->c = *c;
	snprintf(m->templates_dir, sizeof(m->templates_dir), "%s", c->templates_dir);
	snprintf(m->kernel, sizeof(m->kernel), "%s", c->kernel);
	m->c.templates_dir = m->templates_dir;
	m->c.kernel = m->kernel;
	if (c->saved_dir)
		snprintf(m->saved_dir, sizeof(m->saved_dir), "%s", c->saved_dir);
	m->c.saved_dir = NULL; /* m->saved_dir ("" for none) from here */
	if (c->snapshots_dir)
		snprintf(m->snapshots_dir, sizeof(m->snapshots_dir), "%s", c->snapshots_dir);
	m->c.snapshots_dir = NULL; /* m->snapshots_dir ("" for none) from here */
	if (!m->c.max_sandboxes)
		m->c.max_sandboxes = MANAGER_DEFAULT_MAX_SANDBOXES;
	if (m->c.max_timeout_s <= 0)
		m->c.max_timeout_s = MANAGER_DEFAULT_MAX_TIMEOUT_S;
	m->max_memory_mib = c->max_memory_mib ? c->max_memory_mib : host_memory_mib() / 10 * 8;
	if (!m->c.max_boots) {
		/* Under TCG a boot is the host CPU's work from end to end: more at
		 * once than CPUs only makes each slower. Under KVM part of a boot
		 * is waiting, and twice the CPUs keeps them busy. */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		const char *why;
		bool tcg = vmm_accel_resolve(c->accel, &why) == VMM_ACCEL_TCG;
		m->c.max_boots = cpus < 1 ? 1 : tcg ? (unsigned)cpus : cpus > 2 ? (unsigned)cpus * 2 : 4;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	pthread_cond_init(&m->boot_done, NULL);
	pthread_cond_init(&m->warm_wake, NULL);
	pthread_cond_init(&m->settled, NULL);
	pthread_cond_init(&m->build_wake, NULL);
	/* The sampler's interval is a duration: a wall-clock step must not
	 * stretch it (the reaper's deadlines are wall-clock times). */
	pthread_condattr_t mono;
	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_cond_init(&m->sample_wake, &mono);
	pthread_condattr_destroy(&mono);
	m->cancel[0] = m->cancel[1] = -1;
	int r = pipe2(m->cancel, O_CLOEXEC | O_NONBLOCK) < 0 ? cove_errno(err, -errno, "manager: pipe") : 0;
	if (r == 0 && m->saved_dir[0])
		r = fs_mkdir_p(m->saved_dir, 0700, err);
	/* Snapshots first: sandboxes made from one are over its files. */
	if (r == 0)
		r = snap_open(m, err);
	if (r == 0)
		r = store_sandbox_each(m->c.store, recover_one, m, err);
	if (r == 0 && m->saved_dir[0])
		forget_unrecorded(m);
	if (r == 0)
		snap_sweep(m);
	/* The network slots of those that ended go now, and their cgroups. */
	if (r == 0)
		r = net_slots_recover(m->c.net, false, NULL, err);
	vmm_cgroup_sweep();
	if (r == 0) {
		r = -pthread_create(&m->reaper, NULL, reaper_main, m);
		if (r < 0)
			cove_errno(err, r, "manager: start the reaper");
		m->reaper_running = r == 0;
	}
	if (r == 0) {
		r = -pthread_create(&m->sampler, NULL, sampler_main, m);
		if (r < 0)
			cove_errno(err, r, "manager: start the metrics sampler");
		m->sampler_running = r == 0;
	}
	if (r == 0)
		r = builds_open(m, err);
	if (r == 0 && m->c.warm_pool) {
		r = -pthread_create(&m->warmer, NULL, warmer_main, m);
		if (r < 0)
			cove_errno(err, r, "manager: start the warm pool");
		m->warmer_running = r == 0;
	}
	if (r < 0) {
		manager_close(m);
		return r;
	}
	*ret = m;
	return 0;
}

void manager_stop(struct manager *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (!m->stop && m->cancel[1] >= 0 && write(m->cancel[1], "x", 1) < 0)
		log_warn("op=stop msg=\"cannot cancel the creates in flight: %s\"", strerror(errno));
	m->stop = true;
	pthread_cond_broadcast(&m->wake);
	pthread_cond_broadcast(&m->boot_done);
	pthread_cond_broadcast(&m->warm_wake);
	pthread_cond_broadcast(&m->build_wake);
	pthread_cond_broadcast(&m->sample_wake);
	pthread_mutex_unlock(&m->lock);
}

void manager_close(struct manager *m)
{
	if (!m)
		return;
	manager_stop(m);
	if (m->reaper_running)
		pthread_join(m->reaper, NULL);
	if (m->sampler_running)
		pthread_join(m->sampler, NULL);
	if (m->warmer_running)
		pthread_join(m->warmer, NULL);
	builds_close(m);
	/* Warm sandboxes are cheap to make again: never left behind. */
	while (m->warm) {
		struct warm *w = m->warm;
		m->warm = w->next;
		warm_free(m, w);
	}
	/* Creates still running hold no entry pointer of ours after this: they
	 * see stop and tear their sandbox down themselves. A pause or resume
	 * under way is waited for. */
	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct entry *e = m->list;
		while (e && (e->state == STORE_SANDBOX_CREATING || e->busy))
			e = e->next;
		if (!e && !m->list)
			break;
		if (!e) {
			pthread_mutex_unlock(&m->lock);
			usleep(10000);
			pthread_mutex_lock(&m->lock);
			continue;
		}
		entry_unlink(m, e);
		pthread_mutex_unlock(&m->lock);
		if (e->saved) {
			/* Paused to disk: it holds nothing, and stays for the next coved. */
			log_info("sandbox=%s op=keep state=paused", e->id);
			entry_free(e);
		} else if (m->c.live_restore) {
			log_info("sandbox=%s op=detach state=%s", e->id, store_sandbox_state_name(e->state));
			e->sb = sandbox_detach(e->sb);
			entry_free(e);
		} else {
			entry_destroy(m, e, "shutdown");
		}
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	snap_free_all(m);
	for (int i = 0; i < 2; i++)
		if (m->cancel[i] >= 0)
			close(m->cancel[i]);
	pthread_cond_destroy(&m->wake);
	pthread_cond_destroy(&m->boot_done);
	pthread_cond_destroy(&m->warm_wake);
	pthread_cond_destroy(&m->settled);
	pthread_cond_destroy(&m->build_wake);
	pthread_cond_destroy(&m->sample_wake);
	pthread_mutex_destroy(&m->lock);
	free(m->unrecorded);
	free(m);
}

void manager_stats(struct manager *m, struct manager_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&m->lock);
	for (struct entry *e = m->list; e; e = e->next) {
		if (e->state == STORE_SANDBOX_RUNNING)
			ret->running++;
		else if (e->state == STORE_SANDBOX_PAUSED)
			ret->paused++, ret->saved += e->saved;
		else
			ret->creating++;
		if (!e->saved)
			ret->vcpus += e->vcpus;
	}
	ret->booting = m->booting;
	ret->max_boots = m->c.max_boots;
	for (struct warm *w = m->warm; w; w = w->next)
		ret->warm++;
	ret->committed_mib = m->committed_mib;
	ret->max_memory_mib = m->max_memory_mib;
	ret->max_sandboxes = m->c.max_sandboxes;
	disk_figures(m, &ret->disk_used, &ret->disk_growth, &ret->disk_limit);
	pthread_mutex_unlock(&m->lock);
	/* Counted without the lock (internal.h): read as they are written. */
	ret->created = __atomic_load_n(&m->created, __ATOMIC_RELAXED);
	ret->create_failures = __atomic_load_n(&m->create_failures, __ATOMIC_RELAXED);
	ret->killed = __atomic_load_n(&m->killed, __ATOMIC_RELAXED);
}

int manager_each_warm(struct manager *m, manager_warm_fn fn, void *ctx)
{
	struct count {
		char name[64];
		unsigned n;
	} counts[64];
	size_t n = 0;
	pthread_mutex_lock(&m->lock);
	for (struct warm *w = m->warm; w; w = w->next) {
		size_t i = 0;
		while (i < n && strcmp(counts[i].name, w->template_id) != 0)
			i++;
		if (i == n && n < ARRAY_SIZE(counts)) {
			snprintf(counts[n].name, sizeof(counts[n].name), "%s", w->template_id);
			counts[n++].n = 0;
		}
		if (i < n)
			counts[i].n++;
	}
	pthread_mutex_unlock(&m->lock);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = fn(ctx, counts[i].name, counts[i].n);
	return r;
}

int manager_each_latest(struct manager *m, manager_latest_fn fn, void *ctx)
{
	pthread_mutex_lock(&m->lock);
	int r = 0;
	for (struct entry *e = m->list; e && r == 0; e = e->next) {
		if (e->state == STORE_SANDBOX_CREATING)
			continue;
		struct manager_info info;
		r = entry_info(e, &info);
		const struct manager_metric *latest =
			e->nsamples ? &e->samples[(e->first_sample + e->nsamples - 1) % MANAGER_METRICS_KEEP] : NULL;
		if (r == 0)
			r = fn(ctx, &info, latest);
		manager_info_clear(&info);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_get(struct manager *m, const char *id, struct manager_info *ret, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	int r = e ? entry_info(e, ret) : -ENOENT;
	pthread_mutex_unlock(&m->lock);
	return r;
}

struct list_adapter {
	manager_info_fn fn;
	void *ctx;
};

static int list_without_sample(void *ctx, const struct manager_info *info, const struct manager_metric *latest)
{
	(void)latest;
	struct list_adapter *a = ctx;
	return a->fn(a->ctx, info);
}

int manager_each_record(struct manager *m, const char *id, manager_record_fn fn, void *ctx)
{
	int r = id ? -ENOENT : 0;
	pthread_mutex_lock(&m->lock);
	for (struct entry *e = m->list; e; e = e->next) {
		if (id && strcmp(e->id, id) != 0)
			continue;
		struct manager_record rec;
		entry_catalog_record(e, e->state, &rec);
		if ((r = fn(ctx, &rec)) != 0 || id)
			break;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_list(struct manager *m, manager_info_fn fn, void *ctx)
{
	struct list_adapter a = { fn, ctx };
	return manager_each_latest(m, list_without_sample, &a);
}

int manager_log_paths(struct manager *m, const char *id, char console[PATH_MAX], char vmm[PATH_MAX],
		      struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	/* One paused to disk has no VMM, so no logs of one. */
	int r = !e ? -ENOENT : !e->sb ? cove_errf(err, -ENOENT, "sandbox '%s' not found", id) : 0;
	if (r == 0) {
		snprintf(console, PATH_MAX, "%s", vmm_console_path(sandbox_vmm(e->sb)));
		snprintf(vmm, PATH_MAX, "%s", vmm_log_path(sandbox_vmm(e->sb)));
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

const char *manager_templates_dir(const struct manager *m)
{
	return m->c.templates_dir;
}

struct secrets *manager_secrets(const struct manager *m)
{
	return m->c.secrets;
}

struct volumes *manager_volumes(const struct manager *m)
{
	return m->c.volumes;
}

int manager_template_spawns(struct manager *m, const char *name, uint64_t *count, int64_t *last_ms,
			    struct cove_err *err)
{
	char key[128], value[64];
	*count = 0;
	*last_ms = 0;
	template_spawns_key(name, key);
	int r = store_meta_get(m->c.store, key, value, sizeof(value), err);
	if (r == -ENOENT)
		return 0;
	unsigned long long n;
	long long ms;
	if (r == 0 && sscanf(value, "%llu %lld", &n, &ms) == 2) {
		*count = n;
		*last_ms = ms;
	}
	return r;
}
