/* The warm pool: sandboxes restored from their template's snapshot and
 * paused, ready for a create to claim, kept full by the warmer thread. */
#include "manager/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

/* A warm sandbox of template name, out of the pool (NULL: none). */
struct warm *warm_take(struct manager *m, const char *name)
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
void warm_put_back(struct manager *m, struct warm *w)
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

void warm_free(struct manager *m, struct warm *w)
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
	new_sandbox_id(w->id, sizeof(w->id));
	snprintf(w->template_id, sizeof(w->template_id), "%s", name);
	/* The config a sandbox of it would get, its policy closed until a
	 * claim sets the sandbox's own. */
	struct entry e = { .vcpus = tpl.vcpus ? tpl.vcpus : VMM_DEFAULT_VCPUS,
			   .mem_mib = tpl.memory_mib ? tpl.memory_mib : VMM_DEFAULT_MEM_MIB };
	snprintf(e.id, sizeof(e.id), "%s", w->id);
	struct sandbox_config sc;
	entry_sandbox_config(m, &e, &tpl, &sc);
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
void *warmer_main(void *arg)
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
