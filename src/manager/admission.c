/* Admission: a place in the list while the host has room (sandboxes,
 * memory and disk), and the boot queue, a turn to boot among at most
 * max_boots.
 *
 * Disk is counted like memory, as if every live sandbox filled its disk:
 * a sandbox's overlay (RUN_DIR/ID) grows as its guest writes, up to its
 * disk's size (the guest's ext4 is that size, and meets ENOSPC there) plus
 * a little qcow2 metadata. So what the file system of RUN_DIR holds now,
 * plus what each live sandbox may still write (its disk's size less what
 * its overlay takes, as last measured: an older measure only counts more),
 * plus the new sandbox's disk, must stay under the limit. Saved copies and
 * snapshots count as what they take, when they share that file system. */
#include "manager/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "vmm/vmm.h"

/* The file system of dir, or of the nearest directory above it that
 * exists (RUN_DIR is made with the first sandbox). */
static int disk_stat(const char *dir, struct statvfs *st)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", dir);
	while (statvfs(path, st) < 0) {
		char *slash = strrchr(path, '/');
		if (errno != ENOENT || !slash || slash == path)
			return statvfs("/", st) < 0 ? -errno : 0;
		*slash = '\0';
	}
	return 0;
}

/* Under the lock: the disk's figures as manager_stats gives them. The
 * used bytes are as root sees them (root may use the blocks ext4 keeps
 * back from others, and coved runs as root). */
void disk_figures(struct manager *m, uint64_t *used, uint64_t *growth, uint64_t *limit)
{
	struct statvfs st;
	uint64_t total = 0;
	*used = *growth = 0;
	if (disk_stat(m->c.run_dir ? m->c.run_dir : VMM_DEFAULT_RUN_DIR, &st) == 0) {
		total = (uint64_t)st.f_blocks * st.f_frsize;
		*used = total - (uint64_t)st.f_bfree * st.f_frsize;
	}
	*limit = m->c.max_disk_mib ? (uint64_t)m->c.max_disk_mib << 20 : total / 100 * MANAGER_DISK_SHARE_PCT;
	for (struct entry *e = m->list; e; e = e->next) {
		uint64_t size = (uint64_t)e->disk_size_mib << 20;
		if (!e->saved && size > e->disk_bytes)
			*growth += size - e->disk_bytes;
	}
}

int disk_admit(struct manager *m, const struct entry *e, struct cove_err *err)
{
	uint64_t used, growth, limit, asked = (uint64_t)e->disk_size_mib << 20;
	disk_figures(m, &used, &growth, &limit);
	if (used + growth + asked <= limit)
		return 0;
	return cove_errf(err, -EAGAIN,
			 "not enough disk on this host: %llu MiB of %llu MiB for sandboxes may be taken (%llu MiB used, "
			 "%llu MiB more if its sandboxes fill their disks), %u MiB asked",
			 (unsigned long long)((used + growth) >> 20), (unsigned long long)(limit >> 20),
			 (unsigned long long)(used >> 20), (unsigned long long)(growth >> 20), e->disk_size_mib);
}

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
	else
		r = disk_admit(m, e, err);
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
