#include "sandbox/manager.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/agent.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"
#include "vmm/cgroup.h"

struct entry {
	struct entry *next;
	char id[64];
	char template_id[64];
	char token[65];
	enum store_sandbox_state state;
	char *metadata;
	int64_t started_ms, end_ms, seq;
	int64_t left_ms;    /* while paused: the time that was left */
	bool auto_pause;
	bool saved;         /* paused to disk: no VMM, memory or slot (sb NULL) */
	bool busy;          /* a pause or resume is under way outside the lock */
	uint64_t disk_bytes; /* on the host's disk (run_usage, saved_usage): kept, not read per request */
	unsigned vcpus, mem_mib;
	struct sandbox *sb; /* NULL while creating, and while saved */
	int *streams;       /* sockets the proxy has open to the guest */
	size_t nstreams, streams_cap;
	struct manager_metric samples[MANAGER_METRICS_KEEP]; /* a ring */
	size_t first_sample, nsamples;
	uint64_t last_cpu_usec;
	int64_t last_cpu_us; /* monotonic, of last_cpu_usec */
};

/* A warm sandbox: restored from its template's snapshot and paused, its id
 * chosen already, waiting for a create to claim it. */
struct warm {
	struct warm *next;
	char id[64];
	char template_id[64];
	struct sandbox *sb;
};

struct manager {
	struct manager_config c;
	char templates_dir[PATH_MAX];
	char saved_dir[PATH_MAX];
	char kernel[PATH_MAX];
	unsigned max_memory_mib;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;  /* the reaper's: a deadline changed, or stop */
	pthread_cond_t boot_done; /* a boot ended: another may start */
	unsigned booting;     /* boots under way (at most c.max_boots) */
	struct entry *list;   /* newest first: seq descending */
	int64_t last_seq;     /* the highest seq handed out or adopted */
	unsigned count;
	unsigned committed_mib;
	bool stop;
	int cancel[2];        /* readable once stopping: creates in flight give up */
	pthread_t reaper;
	bool reaper_running;
	pthread_t sampler;
	bool sampler_running;
	struct warm *warm;    /* the warm pool: ready to claim */
	unsigned warming;     /* being prepared */
	pthread_cond_t warm_wake; /* the warmer's: one was claimed, or stop */
	pthread_t warmer;
	bool warmer_running;
	uint64_t created, killed, create_failures;
};

static int boot_begin(struct manager *m, struct cove_err *err);
static void boot_end(struct manager *m);
static int new_id(char *id, size_t len);
static void *warmer_main(void *arg);
static void warm_free(struct manager *m, struct warm *w);

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void manager_info_clear(struct manager_info *info)
{
	free(info->metadata);
	info->metadata = NULL;
}

/* Where sandbox id is saved while paused to disk; "" without saved_dir. */
static void saved_path(const struct manager *m, const char *id, char path[PATH_MAX])
{
	path[0] = '\0';
	if (m->saved_dir[0])
		snprintf(path, PATH_MAX, "%s/%s", m->saved_dir, id);
}

static int info_from(const struct entry *e, struct manager_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->id, sizeof(info->id), "%s", e->id);
	snprintf(info->template_id, sizeof(info->template_id), "%s", e->template_id);
	snprintf(info->token, sizeof(info->token), "%s", e->token);
	info->state = e->state;
	info->started_ms = e->started_ms;
	info->end_ms = e->end_ms;
	info->vcpus = e->vcpus;
	info->mem_mib = e->mem_mib;
	info->seq = e->seq;
	info->disk_bytes = e->disk_bytes;
	info->metadata = strdup(e->metadata ? e->metadata : "{}");
	return info->metadata ? 0 : -ENOMEM;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->streams);
	free(e->metadata);
	free(e);
}

/* The record of e, in state. */
static int record(struct manager *m, const struct entry *e, enum store_sandbox_state state, struct cove_err *err)
{
	struct store_sandbox rec = { .state = state, .metadata = e->metadata, .vcpus = e->vcpus,
				     .mem_mib = e->mem_mib, .started_ms = e->started_ms, .end_ms = e->end_ms,
				     .seq = e->seq, .auto_pause = e->auto_pause, .left_ms = e->left_ms };
	snprintf(rec.id, sizeof(rec.id), "%s", e->id);
	snprintf(rec.template_id, sizeof(rec.template_id), "%s", e->template_id);
	snprintf(rec.token, sizeof(rec.token), "%s", e->token);
	if (e->sb)
		rec.vmm = *vmm_identity(sandbox_vmm(e->sb));
	return store_sandbox_put(m->c.store, &rec, err);
}

static struct entry *find(struct manager *m, const char *id)
{
	for (struct entry *e = m->list; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* Out of the list (under the lock): from now on nobody finds it. Its open
 * streams are shut down, so every proxied request to it ends. */
static void unlink_entry(struct manager *m, struct entry *e)
{
	for (struct entry **p = &m->list; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			m->count--;
			if (!e->saved)
				m->committed_mib -= e->mem_mib;
			break;
		}
	for (size_t i = 0; i < e->nstreams; i++)
		shutdown(e->streams[i], SHUT_RDWR);
	e->nstreams = 0;
}

/* What a sandbox holds on the host's disk: its run directory (its disk
 * overlay) while it has a VMM, its saved copy while paused to disk, without
 * the files it shares (the template snapshot's memory and disk layer, hard
 * links). Read without the lock, when these change and by the sampler. */
static uint64_t run_usage(const struct manager *m, const char *id)
{
	char path[PATH_MAX];
	return vmm_run_dir(m->c.run_dir, id, path) == 0 ? fs_disk_usage(path, true) : 0;
}

static uint64_t saved_usage(const struct manager *m, const char *id)
{
	char path[PATH_MAX];
	saved_path(m, id, path);
	return path[0] ? fs_disk_usage(path, true) : 0;
}

static void remove_saved(struct manager *m, const char *id)
{
	char path[PATH_MAX];
	struct cove_err err = { 0 };
	saved_path(m, id, path);
	if (path[0] && fs_remove_tree(path, &err) < 0)
		log_warn("sandbox=%s op=forget-saved msg=\"%s\"", id, err.msg);
}

/* Ends a sandbox nobody else reaches any more (out of the list, or still
 * creating): its record says dead before anything is torn down, and goes
 * once all is. */
static void teardown(struct manager *m, struct entry *e, const char *why)
{
	int64_t t0 = now_us();
	struct cove_err err = { 0 };
	if (record(m, e, STORE_SANDBOX_DEAD, &err) < 0)
		log_warn("sandbox=%s op=kill msg=\"%s\"", e->id, err.msg);
	if (e->sb) {
		vmm_remove_logs(sandbox_vmm(e->sb));
		e->sb = sandbox_free(e->sb);
	}
	remove_saved(m, e->id);
	if (store_sandbox_delete(m->c.store, e->id, &err) < 0)
		log_warn("sandbox=%s op=kill msg=\"%s\"", e->id, err.msg);
	log_info("sandbox=%s op=kill template=%s reason=%s lived_s=%.1f ms=%.1f", e->id, e->template_id, why,
		 (double)(wall_ms() - e->started_ms) / 1000.0, (double)(now_us() - t0) / 1000.0);
}

static void destroy(struct manager *m, struct entry *e, const char *why)
{
	teardown(m, e, why);
	__atomic_add_fetch(&m->killed, 1, __ATOMIC_RELAXED);
	entry_free(e);
}

static void sandbox_config_of(const struct manager *m, const struct entry *e, const struct template *tpl,
			      struct sandbox_config *sc);

/* Saves e to disk and ends its VMM (called, and returning, under the lock,
 * which it lets go meanwhile; e is busy). -EOPNOTSUPP: e cannot be saved
 * (a throwaway disk), and runs on. */
static int save_entry(struct manager *m, struct entry *e, struct cove_err *err)
{
	char dir[PATH_MAX];
	saved_path(m, e->id, dir);
	if (!dir[0])
		return -EOPNOTSUPP;
	e->busy = true;
	struct sandbox *sb = e->sb;
	pthread_mutex_unlock(&m->lock);
	struct template tpl;
	int r = template_load(m->c.templates_dir, e->template_id, &tpl, err);
	if (r == 0) {
		struct sandbox_config sc;
		sandbox_config_of(m, e, &tpl, &sc);
		r = sandbox_save(sb, &sc, dir, false, err);
	}
	uint64_t used = r == 0 ? saved_usage(m, e->id) : 0;
	pthread_mutex_lock(&m->lock);
	e->busy = false;
	if (r < 0)
		return r;
	/* From here the saved copy is the sandbox; its VMM ends. */
	e->sb = NULL;
	e->saved = true;
	e->disk_bytes = used;
	m->committed_mib -= e->mem_mib;
	pthread_mutex_unlock(&m->lock);
	vmm_remove_logs(sandbox_vmm(sb));
	sandbox_free(sb);
	pthread_mutex_lock(&m->lock);
	return 0;
}

/* Pauses e: saved to disk when it can be, else frozen in memory. Called,
 * and returning, under the lock. A VMM that died meanwhile ends the sandbox
 * (*ended: e is freed). */
static int pause_locked(struct manager *m, struct entry *e, bool *ended, struct cove_err *err)
{
	*ended = false;
	int64_t t0 = now_us();
	int64_t now = wall_ms();
	e->left_ms = e->end_ms > now ? e->end_ms - now : 0;
	/* Paused from here on for everyone else: the proxy lets no new stream
	 * in, and the reaper passes it by. The streams to a frozen guest would
	 * hang: they end, as on E2B. */
	e->state = STORE_SANDBOX_PAUSED;
	for (size_t i = 0; i < e->nstreams; i++)
		shutdown(e->streams[i], SHUT_RDWR);
	e->nstreams = 0;
	int r = save_entry(m, e, err);
	if (r == -EOPNOTSUPP)
		r = sandbox_pause(e->sb, err);
	if (r < 0 && vmm_state(sandbox_vmm(e->sb)) == VMM_STATE_STOPPED) {
		/* Dead, with everything freed: not a half-made pause. */
		unlink_entry(m, e);
		pthread_mutex_unlock(&m->lock);
		destroy(m, e, "vmm-died");
		pthread_mutex_lock(&m->lock);
		*ended = true;
		return cove_err_prefix(err, "its VMM died during the pause, and it is ended");
	}
	if (r < 0) {
		e->state = STORE_SANDBOX_RUNNING;
		return r;
	}
	if (record(m, e, STORE_SANDBOX_PAUSED, err) < 0)
		log_warn("sandbox=%s op=pause msg=\"%s\"", e->id, err->msg);
	log_info("sandbox=%s op=pause template=%s to=%s left_s=%.1f ms=%.1f", e->id, e->template_id,
		 e->saved ? "disk" : "memory", (double)e->left_ms / 1000.0, (double)(now_us() - t0) / 1000.0);
	return 0;
}

/* --- the reaper --- */

static void *reaper_main(void *arg)
{
	struct manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct entry *due = NULL;
		for (struct entry *e = m->list; e; e = e->next)
			if (e->state == STORE_SANDBOX_RUNNING && !e->busy && (!due || e->end_ms < due->end_ms))
				due = e;
		int64_t now = wall_ms();
		if (due && due->end_ms <= now && due->auto_pause) {
			struct cove_err err = { 0 };
			bool ended;
			char id[sizeof(due->id)];
			snprintf(id, sizeof(id), "%s", due->id);
			if (pause_locked(m, due, &ended, &err) < 0) {
				log_warn("sandbox=%s op=auto-pause msg=\"%s\"", id, err.msg);
				if (!ended)
					due->auto_pause = false; /* killed on the next round */
			}
			continue;
		}
		if (due && due->end_ms <= now) {
			unlink_entry(m, due);
			pthread_mutex_unlock(&m->lock);
			destroy(m, due, "timeout");
			pthread_mutex_lock(&m->lock);
			continue;
		}
		/* Sleeps to the next deadline (sub-second), or until told. */
		int64_t until = due ? due->end_ms : now + 3600 * 1000;
		struct timespec ts = { .tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000 };
		pthread_cond_timedwait(&m->wake, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* --- metrics --- */

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
	struct entry *e = find(m, id);
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
		.disk_used = am.disk_used,
		.disk_total = am.disk_total,
		.vmm_mem = j.vmm_mem,
	};
	uint64_t used = run_usage(m, id);
	pthread_mutex_lock(&m->lock);
	e = find(m, id);
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
	/* A little early is on time: the wait below is not exact. */
	return now - last->ts_ms >= MANAGER_METRICS_INTERVAL_MS - 250;
}

static void *sampler_main(void *arg)
{
	struct manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
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
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += MANAGER_METRICS_INTERVAL_MS / 1000;
		/* Shares the reaper's condition: woken early now and then, harmless. */
		pthread_cond_timedwait(&m->wake, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int manager_metrics(struct manager *m, const char *id, int64_t start_ms, int64_t end_ms, manager_metric_fn fn,
		    void *ctx, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	bool none_yet = e && e->state == STORE_SANDBOX_RUNNING && e->nsamples == 0;
	pthread_mutex_unlock(&m->lock);
	/* A sandbox just made has its first sample taken now, not by create
	 * (which would wait for the guest's answer) nor by the sampler. */
	if (none_yet)
		sample_one(m, id);
	pthread_mutex_lock(&m->lock);
	e = find(m, id);
	int r = 0;
	if (!e || e->state == STORE_SANDBOX_CREATING)
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	for (size_t i = 0; r == 0 && e && i < e->nsamples; i++) {
		const struct manager_metric *s = &e->samples[(e->first_sample + i) % MANAGER_METRICS_KEEP];
		if ((start_ms && s->ts_ms < start_ms) || (end_ms && s->ts_ms > end_ms))
			continue;
		r = fn(ctx, s);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
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
	}
	for (struct warm *w = m->warm; w; w = w->next)
		ret->warm++;
	ret->committed_mib = m->committed_mib;
	ret->max_memory_mib = m->max_memory_mib;
	ret->max_sandboxes = m->c.max_sandboxes;
	ret->created = m->created;
	ret->create_failures = m->create_failures;
	pthread_mutex_unlock(&m->lock);
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
		r = info_from(e, &info);
		const struct manager_metric *latest =
			e->nsamples ? &e->samples[(e->first_sample + e->nsamples - 1) % MANAGER_METRICS_KEEP] : NULL;
		if (r == 0)
			r = fn(ctx, &info, latest);
		manager_info_clear(&info);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* --- opening --- */

static unsigned host_memory_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (unsigned)((uint64_t)pages * (uint64_t)size / (1024 * 1024)) : 0;
}

/* What a sandbox of e made from tpl is booted (or adopted) with. */
static void sandbox_config_of(const struct manager *m, const struct entry *e, const struct template *tpl,
			      struct sandbox_config *sc)
{
	*sc = (struct sandbox_config){
		.id = e->id,
		.net = m->c.net,
		.kernel = m->c.kernel,
		.rootfs = tpl->rootfs,
		.vcpus = e->vcpus,
		.mem_mib = e->mem_mib,
		.accel = m->c.accel,
		.run_dir = m->c.run_dir,
		.log_dir = m->c.log_dir,
		.vmm_binary = m->c.vmm_binary,
		/* Not tied to coved: PR_SET_PDEATHSIG follows the thread that
		 * forked (a connection's), and VMMs are to outlive coved. */
		.die_with_parent = false,
		.cancel_fd = m->cancel[0],
		.default_user = tpl->user[0] ? tpl->user : NULL,
		.default_workdir = tpl->workdir[0] ? tpl->workdir : NULL,
	};
}

/* A new entry as rec describes it (state and sandbox left to the caller). */
static struct entry *entry_of(const struct store_sandbox *rec, struct cove_err *err)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->metadata = strdup(rec->metadata ? rec->metadata : "{}"))) {
		entry_free(e);
		cove_errf(err, -ENOMEM, "manager: out of memory");
		return NULL;
	}
	snprintf(e->id, sizeof(e->id), "%s", rec->id);
	snprintf(e->template_id, sizeof(e->template_id), "%s", rec->template_id);
	snprintf(e->token, sizeof(e->token), "%s", rec->token);
	e->vcpus = rec->vcpus;
	e->mem_mib = rec->mem_mib;
	e->started_ms = rec->started_ms;
	e->end_ms = rec->end_ms;
	e->left_ms = rec->left_ms;
	e->seq = rec->seq;
	e->auto_pause = rec->auto_pause;
	return e;
}

/* Into the list, sorted by creation order (the listing is newest first). */
static void insert_adopted(struct manager *m, struct entry *e)
{
	struct entry **p = &m->list;
	while (*p && (*p)->seq > e->seq)
		p = &(*p)->next;
	e->next = *p;
	*p = e;
	m->count++;
	if (!e->saved)
		m->committed_mib += e->mem_mib;
	if (e->seq > m->last_seq)
		m->last_seq = e->seq;
	log_info("sandbox=%s op=adopt template=%s state=%s%s left_s=%.1f", e->id, e->template_id,
		 store_sandbox_state_name(e->state), e->saved ? " on=disk" : "",
		 (double)(e->state == STORE_SANDBOX_PAUSED ? e->left_ms : e->end_ms - wall_ms()) / 1000.0);
}

/* Takes over a sandbox an earlier coved left running (or paused): its VMM,
 * slot and deadline. */
static int adopt(struct manager *m, const struct store_sandbox *rec, struct cove_err *err)
{
	struct template tpl;
	int r = template_load(m->c.templates_dir, rec->template_id, &tpl, err);
	if (r < 0)
		return r;
	struct entry *e = entry_of(rec, err);
	if (!e)
		return -ENOMEM;
	struct sandbox_config sc;
	sandbox_config_of(m, e, &tpl, &sc);
	sc.snapshot = tpl.snapshot; /* the layer its disk is likely over */
	r = sandbox_adopt(&sc, &rec->vmm, rec->token, &e->sb, err);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	/* What the VMM says wins over the record (a pause that was not
	 * recorded before coved died). */
	e->state = vmm_state(sandbox_vmm(e->sb)) == VMM_STATE_PAUSED ? STORE_SANDBOX_PAUSED : STORE_SANDBOX_RUNNING;
	if (e->state == STORE_SANDBOX_PAUSED && rec->state != STORE_SANDBOX_PAUSED) {
		int64_t now = wall_ms();
		e->left_ms = e->end_ms > now ? e->end_ms - now : 0;
	} else if (e->state == STORE_SANDBOX_RUNNING && rec->state == STORE_SANDBOX_PAUSED) {
		e->end_ms = wall_ms() + e->left_ms;
	}
	r = record(m, e, e->state, err);
	if (r < 0) {
		e->sb = sandbox_free(e->sb);
		entry_free(e);
		return r;
	}
	/* Its VMM is the sandbox: a copy saved before coved died is stale. */
	remove_saved(m, e->id);
	e->disk_bytes = run_usage(m, e->id);
	insert_adopted(m, e);
	return 0;
}

static bool has_saved(const struct manager *m, const char *id)
{
	char dir[PATH_MAX];
	saved_path(m, id, dir);
	return dir[0] && sandbox_saved_complete(dir);
}

/* The entry of a sandbox that is paused on disk. */
static int adopt_saved(struct manager *m, const struct store_sandbox *rec, struct cove_err *err)
{
	struct entry *e = entry_of(rec, err);
	if (!e)
		return -ENOMEM;
	e->state = STORE_SANDBOX_PAUSED;
	e->saved = true;
	e->disk_bytes = saved_usage(m, e->id);
	if (rec->state != STORE_SANDBOX_PAUSED) {
		int64_t now = wall_ms();
		e->left_ms = e->end_ms > now ? e->end_ms - now : 0;
	}
	int r = record(m, e, e->state, err);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	insert_adopted(m, e);
	return 0;
}

/* Saved sandboxes no record names (a pause cut short before its record, a
 * kill cut short after it) and saves cut short. */
static void forget_unrecorded(struct manager *m)
{
	DIR *d = opendir(m->saved_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		bool known = false;
		for (struct entry *e = m->list; e && !known; e = e->next)
			known = e->saved && strcmp(e->id, de->d_name) == 0;
		if (!known) {
			log_info("op=forget-saved dir=%s/%s reason=unrecorded", m->saved_dir, de->d_name);
			remove_saved(m, de->d_name);
		}
	}
	if (d)
		closedir(d);
}

/* Each sandbox an earlier coved recorded: re-adopted when its VMM still runs
 * (named by pid and start time, so a reused pid is never taken for it),
 * else ended, with whatever a create cut short left behind. */
static int recover_one(void *ctx, const struct store_sandbox *rec)
{
	struct manager *m = ctx;
	struct cove_err err = { 0 };
	bool alive = rec->vmm.pid > 0 && proc_identity_matches(&rec->vmm);
	if (alive && (rec->state == STORE_SANDBOX_RUNNING || rec->state == STORE_SANDBOX_PAUSED)) {
		if (adopt(m, rec, &err) == 0)
			return 0;
		log_warn("sandbox=%s op=adopt msg=\"%s; ending it\"", rec->id, err.msg);
	}
	/* Saved whole and its VMM gone (ended after the save, or the host
	 * restarted): paused, as it was, even if the record did not say so yet. */
	if (!alive && rec->state != STORE_SANDBOX_CREATING && has_saved(m, rec->id)) {
		if (adopt_saved(m, rec, &err) == 0)
			return 0;
		log_warn("sandbox=%s op=adopt msg=\"%s; ending it\"", rec->id, err.msg);
	}
	remove_saved(m, rec->id);
	if (vmm_end_orphan(m->c.run_dir, m->c.log_dir, rec->id, rec->vmm.pid > 0 ? &rec->vmm : NULL, &err) < 0)
		log_warn("sandbox=%s op=forget msg=\"%s\"", rec->id, err.msg);
	log_info("sandbox=%s op=forget state=%s template=%s reason=%s", rec->id, store_sandbox_state_name(rec->state),
		 rec->template_id, alive ? "not-adoptable" : rec->state == STORE_SANDBOX_CREATING ? "create-cut-short" : "vmm-gone");
	return store_sandbox_delete(m->c.store, rec->id, &err) < 0 ? -EIO : 0;
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
	if (!m->c.max_sandboxes)
		m->c.max_sandboxes = MANAGER_DEFAULT_MAX_SANDBOXES;
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
	m->cancel[0] = m->cancel[1] = -1;
	int r = pipe2(m->cancel, O_CLOEXEC | O_NONBLOCK) < 0 ? cove_errno(err, -errno, "manager: pipe") : 0;
	if (r == 0 && m->saved_dir[0])
		r = fs_mkdir_p(m->saved_dir, 0700, err);
	if (r == 0)
		r = store_sandbox_each(m->c.store, recover_one, m, err);
	if (r == 0 && m->saved_dir[0])
		forget_unrecorded(m);
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
		unlink_entry(m, e);
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
			destroy(m, e, "shutdown");
		}
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	for (int i = 0; i < 2; i++)
		if (m->cancel[i] >= 0)
			close(m->cancel[i]);
	pthread_cond_destroy(&m->wake);
	pthread_cond_destroy(&m->boot_done);
	pthread_cond_destroy(&m->warm_wake);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* --- the warm pool --- */

/* A warm sandbox of template name, out of the pool (NULL: none). */
static struct warm *warm_take(struct manager *m, const char *name)
{
	pthread_mutex_lock(&m->lock);
	struct warm *w = NULL;
	for (struct warm **p = &m->warm; *p; p = &(*p)->next)
		if (strcmp((*p)->template_id, name) == 0) {
			w = *p;
			*p = w->next;
			break;
		}
	if (w)
		pthread_cond_signal(&m->warm_wake); /* one to make again */
	pthread_mutex_unlock(&m->lock);
	return w;
}

/* A warm sandbox's record: being created (a coved killed with it ends it
 * on its next start), with its VMM once it has one. */
static int warm_record(struct manager *m, const struct warm *w, struct cove_err *err)
{
	struct store_sandbox rec = { .state = STORE_SANDBOX_CREATING, .metadata = "{}" };
	snprintf(rec.id, sizeof(rec.id), "%s", w->id);
	snprintf(rec.template_id, sizeof(rec.template_id), "%s", w->template_id);
	if (w->sb)
		rec.vmm = *vmm_identity(sandbox_vmm(w->sb));
	return store_sandbox_put(m->c.store, &rec, err);
}

/* Back into the pool, unclaimed (a create turned away). NULL-safe. */
static void warm_put_back(struct manager *m, struct warm *w)
{
	if (!w)
		return;
	struct cove_err err = { 0 };
	if (warm_record(m, w, &err) < 0)
		log_warn("sandbox=%s op=warm msg=\"%s\"", w->id, err.msg);
	pthread_mutex_lock(&m->lock);
	w->next = m->warm;
	m->warm = w;
	pthread_mutex_unlock(&m->lock);
}

static void warm_free(struct manager *m, struct warm *w)
{
	struct cove_err err = { 0 };
	if (w->sb) {
		vmm_remove_logs(sandbox_vmm(w->sb));
		w->sb = sandbox_free(w->sb);
	}
	if (store_sandbox_delete(m->c.store, w->id, &err) < 0)
		log_warn("sandbox=%s op=warm msg=\"%s\"", w->id, err.msg);
	free(w);
}

struct warm_wanted {
	char names[64][TEMPLATE_NAME_MAX + 1];
	size_t n;
};

static int warm_candidate(void *ctx, const struct template *t)
{
	struct warm_wanted *ww = ctx;
	if (ww->n < ARRAY_SIZE(ww->names) && access(t->snapshot, F_OK) == 0)
		snprintf(ww->names[ww->n++], sizeof(ww->names[0]), "%s", t->name);
	return 0;
}

/* Makes one warm sandbox of template name (recorded as being created, so
 * that a coved killed meanwhile ends it on its next start). */
static struct warm *warm_make(struct manager *m, const char *name, struct cove_err *err)
{
	struct template tpl;
	if (template_load(m->c.templates_dir, name, &tpl, err) < 0)
		return NULL;
	struct warm *w = calloc(1, sizeof(*w));
	if (!w) {
		cove_errf(err, -ENOMEM, "out of memory");
		return NULL;
	}
	new_id(w->id, sizeof(w->id));
	snprintf(w->template_id, sizeof(w->template_id), "%s", name);
	/* The config a sandbox of it would get, its policy closed until a
	 * claim sets the sandbox's own. */
	struct entry e = { .vcpus = tpl.vcpus ? tpl.vcpus : VMM_DEFAULT_VCPUS,
			   .mem_mib = tpl.memory_mib ? tpl.memory_mib : VMM_DEFAULT_MEM_MIB };
	snprintf(e.id, sizeof(e.id), "%s", w->id);
	struct sandbox_config sc;
	sandbox_config_of(m, &e, &tpl, &sc);
	sc.snapshot = tpl.snapshot;
	sc.agent_timeout_ms = MANAGER_AGENT_TIMEOUT_MS;
	int r = warm_record(m, w, err);
	if (r == 0 && (r = boot_begin(m, err)) == 0) {
		r = sandbox_prepare(&sc, &w->sb, err);
		boot_end(m);
	}
	if (r == 0)
		r = warm_record(m, w, err);
	if (r < 0) {
		warm_free(m, w);
		return NULL;
	}
	return w;
}

/* Keeps warm_pool warm sandboxes of every template that has a snapshot,
 * one at a time, in the background (through the boot queue, so creates
 * are not starved). */
static void *warmer_main(void *arg)
{
	struct manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		pthread_mutex_unlock(&m->lock);
		struct warm_wanted ww = { 0 };
		struct cove_err err = { 0 };
		template_each(m->c.templates_dir, warm_candidate, &ww, &err);
		pthread_mutex_lock(&m->lock);
		const char *want = NULL;
		for (size_t i = 0; i < ww.n && !want; i++) {
			unsigned have = 0;
			for (struct warm *w = m->warm; w; w = w->next)
				have += strcmp(w->template_id, ww.names[i]) == 0;
			if (have < m->c.warm_pool)
				want = ww.names[i];
		}
		if (!want) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 30; /* a template snapshotted meanwhile is noticed */
			pthread_cond_timedwait(&m->warm_wake, &m->lock, &ts);
			continue;
		}
		char name[TEMPLATE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", want);
		m->warming++;
		pthread_mutex_unlock(&m->lock);
		int64_t t0 = now_us();
		struct warm *w = warm_make(m, name, &err);
		if (w)
			log_info("sandbox=%s op=warm template=%s ms=%.1f", w->id, name, (double)(now_us() - t0) / 1000.0);
		else if (err.msg[0])
			log_warn("op=warm template=%s msg=\"%s\"", name, err.msg);
		pthread_mutex_lock(&m->lock);
		m->warming--;
		if (w) {
			w->next = m->warm;
			m->warm = w;
		} else if (!m->stop) {
			/* Not in a loop against a template that cannot be warmed. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 10;
			pthread_cond_timedwait(&m->warm_wake, &m->lock, &ts);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* --- creating --- */

/* E2B-style ids: 20 of [a-z0-9]. */
static int new_id(char *id, size_t len)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char raw[20];
	if (len < sizeof(raw) + 1 || getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		id[i] = alphabet[raw[i] % 36];
	id[sizeof(raw)] = '\0';
	return 0;
}

/* Takes a place in the list (state creating) if the host has room. */
static int admit(struct manager *m, struct entry *e, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	int r = 0;
	if (m->stop)
		r = cove_errf(err, -ESHUTDOWN, "coved is shutting down");
	else if (m->count >= m->c.max_sandboxes)
		r = cove_errf(err, -EAGAIN, "this host already runs its maximum of %u sandboxes", m->c.max_sandboxes);
	else if (m->committed_mib + e->mem_mib > m->max_memory_mib)
		r = cove_errf(err, -EAGAIN,
			      "not enough memory on this host: %u MiB of %u MiB for sandboxes are taken, %u MiB asked",
			      m->committed_mib, m->max_memory_mib, e->mem_mib);
	if (r == 0) {
		/* Creation order, unique and increasing across restarts (wall
		 * clock microseconds, or one past the last): listings page by it,
		 * and the list stays sorted by it. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t seq = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		e->seq = seq > m->last_seq ? seq : m->last_seq + 1;
		m->last_seq = e->seq;
		e->next = m->list;
		m->list = e;
		m->count++;
		m->committed_mib += e->mem_mib;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* A turn to boot: waits while max_boots are under way. */
static int boot_begin(struct manager *m, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	while (m->booting >= m->c.max_boots && !m->stop)
		pthread_cond_wait(&m->boot_done, &m->lock);
	int r = m->stop ? cove_errf(err, -ESHUTDOWN, "coved is shutting down") : 0;
	if (r == 0)
		m->booting++;
	pthread_mutex_unlock(&m->lock);
	return r;
}

static void boot_end(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	m->booting--;
	pthread_cond_signal(&m->boot_done);
	pthread_mutex_unlock(&m->lock);
}

static int boot(struct manager *m, struct entry *e, const struct template *tpl, const struct manager_create *req,
		struct warm *w, struct cove_err *err)
{
	struct sandbox_config sc;
	sandbox_config_of(m, e, tpl, &sc);
	sc.policy = req->policy;
	sc.envs = req->envs;
	sc.agent_timeout_ms = MANAGER_AGENT_TIMEOUT_MS;
	/* A warm one (same id) only needs to run again and get its /init. */
	if (w) {
		struct cove_err why = { 0 };
		int r = sandbox_claim(w->sb, &sc, &why);
		if (r == 0) {
			e->sb = w->sb;
			snprintf(e->token, sizeof(e->token), "%s", sandbox_token(e->sb));
		} else {
			log_warn("sandbox=%s op=claim msg=\"%s; starting it afresh\"", e->id, why.msg);
			vmm_remove_logs(sandbox_vmm(w->sb));
			sandbox_free(w->sb);
		}
		free(w);
		if (r == 0)
			return 0;
	}
	int r = boot_begin(m, err);
	if (r < 0)
		return r;
	/* Created by restoring the template's snapshot when it has a usable
	 * one (cove template snapshot), else booted. */
	if (access(tpl->snapshot, F_OK) == 0)
		sc.snapshot = tpl->snapshot;
	struct sandbox *sb = NULL;
	r = sandbox_start(&sc, &sb, err);
	boot_end(m);
	if (r < 0)
		return r;
	e->sb = sb; /* still 'creating': nobody else looks at it */
	snprintf(e->token, sizeof(e->token), "%s", sandbox_token(sb));
	return 0;
}

/* A sandbox being created (e, admitted, its sandbox started) becomes
 * running: its deadline counts from now. ret: its info. */
static int go_live(struct manager *m, struct entry *e, long timeout_s, struct manager_info *ret, struct cove_err *err)
{
	e->disk_bytes = run_usage(m, e->id); /* still creating: nobody else looks at e */
	int64_t now = wall_ms();
	e->end_ms = now + timeout_s * 1000;
	e->started_ms = now;
	int r = record(m, e, STORE_SANDBOX_RUNNING, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&m->lock);
	if (m->stop) {
		r = cove_errf(err, -ESHUTDOWN, "coved is shutting down");
	} else {
		e->state = STORE_SANDBOX_RUNNING;
		r = info_from(e, ret);
		pthread_cond_broadcast(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* A create (or fork) that failed: everything of e goes. */
static void abandon(struct manager *m, struct entry *e, const char *op, const struct cove_err *err)
{
	__atomic_add_fetch(&m->create_failures, 1, __ATOMIC_RELAXED);
	log_warn("sandbox=%s op=%s template=%s msg=\"%s\"", e->id, op, e->template_id, err ? err->msg : "");
	teardown(m, e, "create failed");
	/* The last use of m: manager_close waits for the list to empty. */
	pthread_mutex_lock(&m->lock);
	unlink_entry(m, e);
	pthread_mutex_unlock(&m->lock);
	entry_free(e);
}

int manager_create(struct manager *m, const struct manager_create *req, struct manager_info *ret,
		   struct cove_err *err)
{
	int64_t t0 = now_us();
	const char *name = req->template_id && *req->template_id ? req->template_id : MANAGER_DEFAULT_TEMPLATE;
	long timeout = req->timeout_s ? req->timeout_s : MANAGER_DEFAULT_TIMEOUT_S;
	if (timeout < 0 || timeout > MANAGER_MAX_TIMEOUT_S)
		return cove_errf(err, -EINVAL, "timeout %ld s is outside 1 to %d s", timeout, MANAGER_MAX_TIMEOUT_S);
	int r = net_policy_check(&req->policy, err);
	if (r < 0)
		return r;
	struct template tpl;
	if (template_name_check(name, err) < 0)
		return -EINVAL;
	if ((r = template_load(m->c.templates_dir, name, &tpl, err)) < 0)
		return r == -ENOENT ? cove_errf(err, -ENOENT, "template '%s' not found", name) : r;
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->metadata = strdup(req->metadata ? req->metadata : "{}"))) {
		entry_free(e);
		return cove_errf(err, -ENOMEM, "manager: out of memory");
	}
	struct warm *w = warm_take(m, name);
	if (w)
		snprintf(e->id, sizeof(e->id), "%s", w->id);
	else
		new_id(e->id, sizeof(e->id));
	snprintf(e->template_id, sizeof(e->template_id), "%s", name);
	e->state = STORE_SANDBOX_CREATING;
	e->vcpus = tpl.vcpus ? tpl.vcpus : VMM_DEFAULT_VCPUS;
	e->mem_mib = tpl.memory_mib ? tpl.memory_mib : VMM_DEFAULT_MEM_MIB;
	e->started_ms = wall_ms();
	e->end_ms = e->started_ms + timeout * 1000;
	e->auto_pause = req->auto_pause;
	if ((r = admit(m, e, err)) < 0) {
		warm_put_back(m, w);
		entry_free(e);
		return r;
	}
	r = record(m, e, STORE_SANDBOX_CREATING, err);
	if (r < 0)
		warm_put_back(m, w);
	if (r == 0)
		r = boot(m, e, &tpl, req, w, err);
	if (r == 0)
		r = go_live(m, e, timeout, ret, err);
	if (r < 0) {
		abandon(m, e, "create", err);
		return r;
	}
	__atomic_add_fetch(&m->created, 1, __ATOMIC_RELAXED);
	/* e may be gone already (killed): only the copy is used from here. */
	log_info("sandbox=%s op=create template=%s timeout_s=%ld ms=%.1f", ret->id, name, timeout,
		 (double)(now_us() - t0) / 1000.0);
	return 0;
}

/* --- forks --- */

struct fork_child {
	struct manager *m;
	struct entry *e;
	const struct template *tpl;
	const char *dir;          /* the parent, saved */
	const char *parent_token;
	int r;
	struct cove_err err;
	pthread_t thread;
	bool started;
};

static void *fork_child_main(void *arg)
{
	struct fork_child *f = arg;
	f->r = boot_begin(f->m, &f->err);
	if (f->r < 0)
		return NULL;
	struct sandbox_config sc;
	sandbox_config_of(f->m, f->e, f->tpl, &sc);
	sc.snapshot = f->tpl->snapshot; /* the files its saved copy likely links */
	sc.agent_timeout_ms = MANAGER_AGENT_TIMEOUT_MS;
	struct sandbox *sb = NULL;
	f->r = sandbox_fork_child(&sc, f->dir, f->parent_token, &sb, &f->err);
	boot_end(f->m);
	if (f->r == 0) {
		f->e->sb = sb; /* still 'creating': nobody else looks at it */
		snprintf(f->e->token, sizeof(f->e->token), "%s", sandbox_token(sb));
	}
	return NULL;
}

/* A child entry of parent p (a copy of its fields, under the lock). */
static struct entry *child_of(const struct entry *p, long timeout_s)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->metadata = strdup(p->metadata ? p->metadata : "{}"))) {
		entry_free(e);
		return NULL;
	}
	new_id(e->id, sizeof(e->id));
	snprintf(e->template_id, sizeof(e->template_id), "%s", p->template_id);
	e->state = STORE_SANDBOX_CREATING;
	e->vcpus = p->vcpus;
	e->mem_mib = p->mem_mib;
	e->auto_pause = p->auto_pause;
	e->started_ms = wall_ms();
	e->end_ms = e->started_ms + timeout_s * 1000;
	return e;
}

/* The parent saved for its children in dir: a paused one already is (its
 * saved copy); a running one is saved aside and runs on. */
static int fork_source(struct manager *m, struct entry *p, const struct template *tpl, char dir[PATH_MAX],
		       bool *made, struct cove_err *err)
{
	*made = false;
	if (p->saved) {
		saved_path(m, p->id, dir);
		return 0;
	}
	char suffix[17];
	int r = random_hex(suffix, 8);
	if (r < 0)
		return cove_errno(err, r, "fork: getrandom");
	if (snprintf(dir, PATH_MAX, "%s/%s.fork-%s", m->saved_dir, p->id, suffix) >= PATH_MAX)
		return cove_errf(err, -ENAMETOOLONG, "fork: path too long");
	struct sandbox_config sc;
	sandbox_config_of(m, p, tpl, &sc);
	r = sandbox_save(p->sb, &sc, dir, true, err);
	if (r == -EOPNOTSUPP)
		return cove_errf(err, r, "sandbox '%s' was booted without a template snapshot and cannot be forked", p->id);
	if (r < 0)
		return r;
	*made = true;
	/* The parent goes on where it was. */
	if ((r = sandbox_resume(p->sb, err)) < 0)
		log_warn("sandbox=%s op=fork msg=\"resuming the parent: %s\"", p->id, err->msg);
	return r;
}

int manager_fork(struct manager *m, const char *id, unsigned count, long timeout_s, struct manager_info *ret,
		 struct cove_err *err)
{
	int64_t t0 = now_us();
	long timeout = timeout_s ? timeout_s : MANAGER_DEFAULT_TIMEOUT_S;
	if (count < 1 || count > MANAGER_MAX_FORK)
		return cove_errf(err, -EINVAL, "count %u is outside 1 to %d", count, MANAGER_MAX_FORK);
	if (timeout < 0 || timeout > MANAGER_MAX_TIMEOUT_S)
		return cove_errf(err, -EINVAL, "timeout %ld s is outside 1 to %d s", timeout, MANAGER_MAX_TIMEOUT_S);
	if (!m->saved_dir[0])
		return cove_errf(err, -EOPNOTSUPP, "forks need a directory to save the parent in");
	pthread_mutex_lock(&m->lock);
	struct entry *p = find(m, id);
	int r = 0;
	if (!p || p->state == STORE_SANDBOX_CREATING)
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	else if (p->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused, resumed or forked; try again", id);
	else if (p->state == STORE_SANDBOX_PAUSED && !p->saved)
		r = cove_errf(err, -EOPNOTSUPP, "sandbox '%s' was booted without a template snapshot and cannot be forked", id);
	struct fork_child *kids = r == 0 ? calloc(count, sizeof(*kids)) : NULL;
	if (r == 0 && !kids)
		r = cove_errf(err, -ENOMEM, "fork: out of memory");
	for (unsigned i = 0; r == 0 && i < count; i++)
		if (!(kids[i].e = child_of(p, timeout)))
			r = cove_errf(err, -ENOMEM, "fork: out of memory");
	char parent_token[65] = "", template_id[64] = "";
	if (r == 0) {
		p->busy = true; /* nobody kills, pauses or resumes it meanwhile */
		snprintf(parent_token, sizeof(parent_token), "%s", p->token);
		snprintf(template_id, sizeof(template_id), "%s", p->template_id);
	}
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		for (unsigned i = 0; kids && i < count; i++)
			entry_free(kids[i].e);
		free(kids);
		return r;
	}
	struct template tpl;
	char dir[PATH_MAX];
	bool made = false;
	r = template_load(m->c.templates_dir, template_id, &tpl, err);
	if (r == 0)
		r = fork_source(m, p, &tpl, dir, &made, err);
	int64_t t1 = now_us();
	/* The children: admitted (host limits) and recorded one by one, then
	 * started at once (the boot queue orders them). */
	unsigned admitted = 0;
	for (; r == 0 && admitted < count; admitted++) {
		struct fork_child *f = &kids[admitted];
		if ((r = admit(m, f->e, err)) == 0 && (r = record(m, f->e, STORE_SANDBOX_CREATING, err)) < 0) {
			abandon(m, f->e, "fork", err);
			f->e = NULL;
		}
		if (r < 0)
			break;
		*f = (struct fork_child){ .m = m, .e = f->e, .tpl = &tpl, .dir = dir, .parent_token = parent_token };
		f->r = -pthread_create(&f->thread, NULL, fork_child_main, f);
		f->started = f->r == 0;
		if (f->r < 0)
			r = cove_errno(err, f->r, "fork: start a thread");
	}
	for (unsigned i = 0; i < admitted; i++) {
		struct fork_child *f = &kids[i];
		if (f->started)
			pthread_join(f->thread, NULL);
		if (r == 0 && f->r < 0) {
			r = f->r;
			*err = f->err;
		}
	}
	/* All or none: a failure ends every child not yet running (only a
	 * shutdown or a failed record stops one going live, and those already
	 * live are anyone's to kill from then on). */
	unsigned live = 0;
	for (; r == 0 && live < admitted; live++)
		if ((r = go_live(m, kids[live].e, timeout, &ret[live], err)) < 0)
			break;
	for (unsigned i = 0; i < live && r < 0; i++)
		manager_info_clear(&ret[i]);
	for (unsigned i = live; i < count; i++) {
		if (i < admitted && kids[i].e)
			abandon(m, kids[i].e, "fork", err);
		else
			entry_free(kids[i].e);
	}
	if (made)
		fs_remove_tree(dir, NULL);
	pthread_mutex_lock(&m->lock);
	p->busy = false;
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		free(kids);
		return cove_err_prefix(err, "fork %s", id);
	}
	__atomic_add_fetch(&m->created, count, __ATOMIC_RELAXED);
	log_info("sandbox=%s op=fork children=%u save_ms=%.1f ms=%.1f", id, count, (double)(t1 - t0) / 1000.0,
		 (double)(now_us() - t0) / 1000.0);
	free(kids);
	return 0;
}

/* --- the rest of the life cycle --- */

int manager_kill(struct manager *m, const char *id, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int r = 0;
	if (!e)
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	else if (e->state == STORE_SANDBOX_CREATING)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is still being created", id);
	else if (e->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused or resumed; try again", id);
	else
		unlink_entry(m, e);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (r == 0)
		destroy(m, e, "killed");
	return r;
}

static int change_deadline(struct manager *m, const char *id, long seconds, bool extend_only, struct cove_err *err)
{
	if (seconds < 0 || seconds > MANAGER_MAX_TIMEOUT_S)
		return cove_errf(err, -EINVAL, "timeout %ld s is outside 0 to %d s", seconds, MANAGER_MAX_TIMEOUT_S);
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int r = 0;
	if (!e || e->state == STORE_SANDBOX_CREATING) {
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	} else {
		if (e->state == STORE_SANDBOX_PAUSED) {
			/* Paused time does not count: the change applies to what is
			 * left once it runs again. */
			if (!extend_only || seconds * 1000 > e->left_ms)
				e->left_ms = seconds * 1000;
		} else {
			int64_t end = wall_ms() + seconds * 1000;
			if (!extend_only || end > e->end_ms)
				e->end_ms = end;
		}
		r = record(m, e, e->state, err);
		pthread_cond_broadcast(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_pause(struct manager *m, const char *id, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int r;
	if (!e || e->state == STORE_SANDBOX_CREATING)
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	else if (e->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused or resumed; try again", id);
	else if (e->state == STORE_SANDBOX_PAUSED)
		r = cove_errf(err, -EALREADY, "sandbox '%s' is already paused", id);
	else
		r = pause_locked(m, e, &(bool){ false }, err);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Brings e back from disk in a new VMM (called, and returning, under the
 * lock, which it lets go meanwhile; e is busy). On failure e stays saved. */
static int restore_entry(struct manager *m, struct entry *e, struct cove_err *err)
{
	if (m->committed_mib + e->mem_mib > m->max_memory_mib)
		return cove_errf(err, -EAGAIN,
				 "not enough memory on this host: %u MiB of %u MiB for sandboxes are taken, %u MiB asked",
				 m->committed_mib, m->max_memory_mib, e->mem_mib);
	m->committed_mib += e->mem_mib;
	e->busy = true;
	pthread_mutex_unlock(&m->lock);
	char dir[PATH_MAX];
	saved_path(m, e->id, dir);
	struct template tpl;
	struct sandbox *sb = NULL;
	int r = template_load(m->c.templates_dir, e->template_id, &tpl, err);
	if (r == 0 && (r = boot_begin(m, err)) == 0) {
		struct sandbox_config sc;
		sandbox_config_of(m, e, &tpl, &sc);
		sc.snapshot = tpl.snapshot; /* the files its saved copy likely links */
		sc.agent_timeout_ms = MANAGER_AGENT_TIMEOUT_MS;
		r = sandbox_restore(&sc, dir, e->token, &sb, err);
		boot_end(m);
	}
	uint64_t used = r == 0 ? run_usage(m, e->id) : 0;
	pthread_mutex_lock(&m->lock);
	e->busy = false;
	if (r < 0) {
		m->committed_mib -= e->mem_mib;
		return r;
	}
	/* Running again before the saved copy goes: a crash in between finds
	 * the VMM alive and adopts it (and drops the copy). */
	e->sb = sb;
	e->saved = false;
	e->disk_bytes = used;
	if (record(m, e, STORE_SANDBOX_RUNNING, err) < 0)
		log_warn("sandbox=%s op=resume msg=\"%s\"", e->id, err->msg);
	char id[sizeof(e->id)];
	snprintf(id, sizeof(id), "%s", e->id);
	pthread_mutex_unlock(&m->lock);
	remove_saved(m, id);
	pthread_mutex_lock(&m->lock);
	return 0;
}

int manager_resume(struct manager *m, const char *id, long timeout_s, bool *resumed, struct cove_err *err)
{
	if (timeout_s < 0 || timeout_s > MANAGER_MAX_TIMEOUT_S)
		return cove_errf(err, -EINVAL, "timeout %ld s is outside 0 to %d s", timeout_s, MANAGER_MAX_TIMEOUT_S);
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int r = 0;
	*resumed = false;
	if (!e || e->state == STORE_SANDBOX_CREATING) {
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	} else {
		if (e->busy)
			r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused or resumed; try again", id);
		else if (e->state == STORE_SANDBOX_PAUSED) {
			int64_t t0 = now_us();
			bool from_disk = e->saved;
			r = e->saved ? restore_entry(m, e, err) : sandbox_resume(e->sb, err);
			if (r == 0) {
				e->state = STORE_SANDBOX_RUNNING;
				e->end_ms = wall_ms() + e->left_ms;
				*resumed = true;
				log_info("sandbox=%s op=resume template=%s from=%s ms=%.1f", e->id, e->template_id,
					 from_disk ? "disk" : "memory", (double)(now_us() - t0) / 1000.0);
			}
		}
		int64_t now = wall_ms();
		if (r == 0) {
			if (now + timeout_s * 1000 > e->end_ms)
				e->end_ms = now + timeout_s * 1000;
			r = record(m, e, e->state, err);
		}
		pthread_cond_broadcast(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_set_timeout(struct manager *m, const char *id, long timeout_s, struct cove_err *err)
{
	return change_deadline(m, id, timeout_s, false, err);
}

int manager_refresh(struct manager *m, const char *id, long duration_s, struct cove_err *err)
{
	return change_deadline(m, id, duration_s, true, err);
}

int manager_connect(struct manager *m, const char *id, unsigned port, int timeout_ms, int *fd,
		    struct cove_err *err)
{
	if (port == 0 || port > 65535)
		return cove_errf(err, -EINVAL, "port %u is not a TCP port", port);
	/* The namespace is held by a duplicate, so a kill meanwhile cannot pull
	 * it away; the connection itself is made without the lock. */
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int netns = e && e->state == STORE_SANDBOX_RUNNING ? fcntl(sandbox_netns_fd(e->sb), F_DUPFD_CLOEXEC, 3) : -1;
	pthread_mutex_unlock(&m->lock);
	if (netns < 0)
		return cove_errf(err, -ENOENT, "sandbox '%s' is not running", id);
	int sock = net_connect_tcp_abortive(netns, NET_GUEST_ADDR, (uint16_t)port, timeout_ms, true, err);
	close(netns);
	if (sock < 0)
		return sock;
	pthread_mutex_lock(&m->lock);
	e = find(m, id);
	int r = 0;
	if (!e || e->state != STORE_SANDBOX_RUNNING) {
		r = cove_errf(err, -ENOENT, "sandbox '%s' ended", id);
	} else if (e->nstreams == e->streams_cap) {
		size_t cap = e->streams_cap ? e->streams_cap * 2 : 16;
		int *p = realloc(e->streams, cap * sizeof(*p));
		if (!p)
			r = cove_errf(err, -ENOMEM, "out of memory");
		else {
			e->streams = p;
			e->streams_cap = cap;
		}
	}
	if (r == 0)
		e->streams[e->nstreams++] = sock;
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		close(sock);
		return r;
	}
	*fd = sock;
	return 0;
}

void manager_disconnect(struct manager *m, const char *id, int fd)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	for (size_t i = 0; e && i < e->nstreams; i++)
		if (e->streams[i] == fd) {
			e->streams[i] = e->streams[--e->nstreams];
			break;
		}
	pthread_mutex_unlock(&m->lock);
}

int manager_get(struct manager *m, const char *id, struct manager_info *ret, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int r = !e || e->state == STORE_SANDBOX_CREATING ? cove_errf(err, -ENOENT, "sandbox '%s' not found", id)
							 : info_from(e, ret);
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

int manager_list(struct manager *m, manager_info_fn fn, void *ctx)
{
	struct list_adapter a = { fn, ctx };
	return manager_each_latest(m, list_without_sample, &a);
}

int manager_log_paths(struct manager *m, const char *id, char console[PATH_MAX], char vmm[PATH_MAX],
		      struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = find(m, id);
	int r = 0;
	if (!e || !e->sb) {
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	} else {
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
