/* Admission: a place in the list while the host has room (sandboxes and
 * memory), and the boot queue, a turn to boot among at most max_boots. */
#include "manager/internal.h"

#include <errno.h>

/* Takes a place in the list (state creating) if the host has room. */
int entry_admit(struct manager *m, struct entry *e, struct cove_err *err)
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
int boot_begin(struct manager *m, struct cove_err *err)
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

void boot_end(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	m->booting--;
	pthread_cond_signal(&m->boot_done);
	pthread_mutex_unlock(&m->lock);
}
