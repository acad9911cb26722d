/* The reaper: ends (or, with auto_pause, pauses: with its memory, or its
 * disk alone) each sandbox at its deadline; and ends those whose VMM
 * exited on its own (reaper_end_dead, on the sampler's rounds). */
#include "manager/internal.h"

#include <stdio.h>

#include "common/log.h"
#include "sandbox/sandbox.h"

void reaper_end_dead(struct manager *m)
{
	struct entry *e = m->list;
	while (e) {
		/* A busy one is another thread's, which sees its VMM gone itself
		 * (lifecycle.c); a saved one has no VMM. */
		if (e->busy || !e->sb || vmm_state(sandbox_vmm(e->sb)) != VMM_STATE_STOPPED) {
			e = e->next;
			continue;
		}
		log_warn("sandbox=%s op=watch msg=\"its VMM exited on its own; ending it\"", e->id);
		entry_unlink(m, e);
		pthread_mutex_unlock(&m->lock);
		entry_destroy(m, e, "vmm-died");
		pthread_mutex_lock(&m->lock);
		e = m->list; /* the list may have changed meanwhile */
	}
}

void *reaper_main(void *arg)
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
			bool ended, memory = !due->auto_pause_fs_only;
			char id[sizeof(due->id)];
			snprintf(id, sizeof(id), "%s", due->id);
			if (!memory && !entry_disk_savable(m, due)) {
				/* Its disk goes with its VMM: kept in memory rather than lost. */
				log_warn("sandbox=%s op=auto-pause msg=\"paused in memory: it was booted without a template "
					 "snapshot, so its disk cannot be kept alone\"", id);
				memory = true;
			}
			if (entry_pause_locked(m, due, memory, &ended, &err) < 0) {
				log_warn("sandbox=%s op=auto-pause msg=\"%s\"", id, err.msg);
				if (!ended)
					due->auto_pause = false; /* killed on the next round */
			}
			continue;
		}
		if (due && due->end_ms <= now) {
			entry_unlink(m, due);
			pthread_mutex_unlock(&m->lock);
			entry_destroy(m, due, "timeout");
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
