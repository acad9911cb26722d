/* The rest of a sandbox's life: pause (to disk or in memory) and resume,
 * kill, deadlines, and the proxy's streams to its guest. */
#include "manager/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

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
	int r = entry_template_load(m, e, &tpl, err);
	if (r == 0) {
		struct sandbox_config sc;
		entry_sandbox_config(m, e, &tpl, &sc);
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
int entry_pause_locked(struct manager *m, struct entry *e, bool *ended, struct cove_err *err)
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
		entry_unlink(m, e);
		pthread_mutex_unlock(&m->lock);
		entry_destroy(m, e, "vmm-died");
		pthread_mutex_lock(&m->lock);
		*ended = true;
		return cove_err_prefix(err, "its VMM died during the pause, and it is ended");
	}
	if (r < 0) {
		e->state = STORE_SANDBOX_RUNNING;
		return r;
	}
	if (entry_record(m, e, STORE_SANDBOX_PAUSED, err) < 0)
		log_warn("sandbox=%s op=pause msg=\"%s\"", e->id, err->msg);
	log_info("sandbox=%s op=pause template=%s to=%s left_s=%.1f ms=%.1f", e->id, e->template_id,
		 e->saved ? "disk" : "memory", (double)e->left_ms / 1000.0, (double)(now_us() - t0) / 1000.0);
	return 0;
}

int manager_kill(struct manager *m, const char *id, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find(m, id);
	int r = 0;
	if (!e)
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	else if (e->state == STORE_SANDBOX_CREATING)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is still being created", id);
	else if (e->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused or resumed; try again", id);
	else
		entry_unlink(m, e);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (r == 0)
		entry_destroy(m, e, "killed");
	return r;
}

static int change_deadline(struct manager *m, const char *id, long seconds, bool extend_only, struct cove_err *err)
{
	if (timeout_check(seconds, 0, err) < 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	int r = 0;
	if (!e) {
		r = -ENOENT;
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
		r = entry_record(m, e, e->state, err);
		pthread_cond_broadcast(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_pause(struct manager *m, const char *id, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	int r;
	if (!e)
		r = -ENOENT;
	else if (e->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused or resumed; try again", id);
	else if (e->state == STORE_SANDBOX_PAUSED)
		r = cove_errf(err, -EALREADY, "sandbox '%s' is already paused", id);
	else
		r = entry_pause_locked(m, e, &(bool){ false }, err);
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
	int r = entry_template_load(m, e, &tpl, err);
	if (r == 0 && (r = boot_begin(m, err)) == 0) {
		struct sandbox_config sc;
		entry_sandbox_config(m, e, &tpl, &sc);
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
	if (entry_record(m, e, STORE_SANDBOX_RUNNING, err) < 0)
		log_warn("sandbox=%s op=resume msg=\"%s\"", e->id, err->msg);
	char id[sizeof(e->id)];
	snprintf(id, sizeof(id), "%s", e->id);
	pthread_mutex_unlock(&m->lock);
	saved_remove(m, id);
	pthread_mutex_lock(&m->lock);
	return 0;
}

int manager_resume(struct manager *m, const char *id, long timeout_s, bool *resumed, struct cove_err *err)
{
	if (timeout_check(timeout_s, 0, err) < 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	int r = 0;
	*resumed = false;
	if (!e) {
		r = -ENOENT;
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
			r = entry_record(m, e, e->state, err);
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
	struct entry *e = entry_find(m, id);
	int netns = e && e->state == STORE_SANDBOX_RUNNING ? fcntl(sandbox_netns_fd(e->sb), F_DUPFD_CLOEXEC, 3) : -1;
	pthread_mutex_unlock(&m->lock);
	if (netns < 0)
		return cove_errf(err, -ENOENT, "sandbox '%s' is not running", id);
	int sock = net_connect_tcp_abortive(netns, NET_GUEST_ADDR, (uint16_t)port, timeout_ms, true, err);
	close(netns);
	if (sock < 0)
		return sock;
	pthread_mutex_lock(&m->lock);
	e = entry_find(m, id);
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
	struct entry *e = entry_find(m, id);
	for (size_t i = 0; e && i < e->nstreams; i++)
		if (e->streams[i] == fd) {
			e->streams[i] = e->streams[--e->nstreams];
			break;
		}
	pthread_mutex_unlock(&m->lock);
}
