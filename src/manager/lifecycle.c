/* The rest of a sandbox's life: pause (to disk or in memory) and resume,
 * kill, deadlines, and the proxy's streams to its guest. */
#include "manager/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "common/secret.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

/* Saves e to disk and ends its VMM: whole, or (!memory) its disk alone.
 * Called, and returning, under the lock, which it lets go meanwhile; e is
 * busy until it is whole again. -EOPNOTSUPP: e cannot be saved (a
 * throwaway disk), and runs on. */
static int save_entry(struct manager *m, struct entry *e, bool memory, struct cove_err *err)
{
	char dir[PATH_MAX];
	saved_path(m, e->id, dir);
	if (!dir[0] || !sandbox_can_save(e->sb))
		return -EOPNOTSUPP;
	e->busy = true;
	struct sandbox *sb = e->sb;
	pthread_mutex_unlock(&m->lock);
	struct template tpl;
	int r = entry_template_load(m, e, &tpl, err);
	if (r == 0) {
		struct sandbox_config sc;
		entry_sandbox_config(m, e, &tpl, &sc);
		r = memory ? sandbox_save(sb, &sc, dir, false, err) : sandbox_save_disk(sb, &sc, dir, err);
	}
	uint64_t used = r == 0 ? saved_usage(m, e->id) : 0;
	pthread_mutex_lock(&m->lock);
	if (r < 0) {
		entry_settle(m, e);
		return r;
	}
	/* From here the saved copy is the sandbox; its VMM ends. */
	e->sb = NULL;
	e->saved = true;
	e->disk_only = !memory;
	e->disk_bytes = used;
	m->committed_mib -= e->mem_mib;
	pthread_mutex_unlock(&m->lock);
	vmm_remove_logs(sandbox_vmm(sb));
	sandbox_free(sb);
	pthread_mutex_lock(&m->lock);
	entry_settle(m, e);
	return 0;
}

/* Pauses e: saved to disk when it can be, else frozen in memory; without
 * memory, its disk alone is saved (-EOPNOTSUPP, and it runs on, when it
 * cannot be). Called, and returning, under the lock. A VMM that died
 * meanwhile ends the sandbox (*ended: e is freed). */
int entry_pause_locked(struct manager *m, struct entry *e, bool memory, bool *ended, struct cove_err *err)
{
	*ended = false;
	if (!memory && !entry_disk_savable(m, e))
		return cove_errf(err, -EOPNOTSUPP,
				 "sandbox '%s' cannot be paused without its memory: it was booted without a template "
				 "snapshot, and its disk is thrown away when its VMM ends", e->id);
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
	int r = save_entry(m, e, memory, err);
	if (r == -EOPNOTSUPP && memory)
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
		 !e->saved ? "memory" : e->disk_only ? "disk-only" : "disk", (double)e->left_ms / 1000.0,
		 (double)(now_us() - t0) / 1000.0);
	return 0;
}

int manager_kill(struct manager *m, const char *id, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	/* A pause or resume under way (an auto-resume, say) is let finish:
	 * then the kill wins, whatever it left. */
	struct entry *e;
	while ((e = entry_find(m, id)) && e->busy)
		pthread_cond_wait(&m->settled, &m->lock);
	int r = 0;
	if (!e)
		r = cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	else if (e->state == STORE_SANDBOX_CREATING)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is still being created", id);
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
	if (timeout_check(m, seconds, 0, err) < 0)
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

int manager_pause(struct manager *m, const char *id, bool memory, struct cove_err *err)
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
		r = entry_pause_locked(m, e, memory, &(bool){ false }, err);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Brings e back from its saved copy in a new VMM: restored (whole), or
 * booted from its saved disk (reboot). Called, and returning, under the
 * lock, which it lets go meanwhile; e is busy until it is whole again.
 * On success e runs, its deadline what was left; on failure it stays
 * saved, its copy untouched. */
static int restore_entry(struct manager *m, struct entry *e, bool reboot, struct cove_err *err)
{
	if (m->committed_mib + e->mem_mib > m->max_memory_mib)
		return cove_errf(err, -EAGAIN,
				 "not enough memory on this host: %u MiB of %u MiB for sandboxes are taken, %u MiB asked",
				 m->committed_mib, m->max_memory_mib, e->mem_mib);
	int r = disk_admit(m, e, err);
	if (r < 0)
		return r;
	char **envs = NULL;
	r = reboot ? envs_decode(e->envs, &envs) : 0;
	if (r < 0)
		return cove_errno(err, r, "sandbox '%s': its recorded environment", e->id);
	m->committed_mib += e->mem_mib;
	e->busy = true;
	pthread_mutex_unlock(&m->lock);
	char dir[PATH_MAX];
	saved_path(m, e->id, dir);
	struct template tpl;
	struct sandbox *sb = NULL;
	r = entry_template_load(m, e, &tpl, err);
	if (r == 0 && (r = boot_begin(m, err)) == 0) {
		struct sandbox_config sc;
		entry_sandbox_config(m, e, &tpl, &sc);
		sc.snapshot = tpl.snapshot; /* the files its saved copy likely links */
		sc.agent_timeout_ms = MANAGER_AGENT_TIMEOUT_MS;
		sc.envs = (const char *const *)envs;
		r = reboot ? sandbox_reboot(&sc, dir, e->token, &sb, err) : sandbox_restore(&sc, dir, e->token, &sb, err);
		boot_end(m);
	}
	envs = envs_free(envs);
	uint64_t used = r == 0 ? run_usage(m, e->id) : 0;
	pthread_mutex_lock(&m->lock);
	if (r < 0) {
		m->committed_mib -= e->mem_mib;
		entry_settle(m, e);
		return r;
	}
	/* Running again before the saved copy goes: a crash in between finds
	 * the VMM alive and adopts it (and drops the copy). */
	e->sb = sb;
	e->saved = e->disk_only = false;
	e->disk_bytes = used;
	e->state = STORE_SANDBOX_RUNNING;
	e->end_ms = wall_ms() + e->left_ms;
	if (entry_record(m, e, STORE_SANDBOX_RUNNING, err) < 0)
		log_warn("sandbox=%s op=resume msg=\"%s\"", e->id, err->msg);
	char id[sizeof(e->id)];
	snprintf(id, sizeof(id), "%s", e->id);
	pthread_mutex_unlock(&m->lock);
	saved_remove(m, id);
	pthread_mutex_lock(&m->lock);
	entry_settle(m, e);
	return 0;
}

/* Resumes e (paused, not busy; under the lock): booted from its saved disk
 * when it kept no memory or memory is false, else restored or thawed. On
 * success it runs, its deadline what was left. */
static int resume_locked(struct manager *m, struct entry *e, bool memory, const char *why, struct cove_err *err)
{
	if (!memory && !e->saved)
		return cove_errf(err, -EOPNOTSUPP,
				 "sandbox '%s' is paused in memory (booted without a template snapshot): it can only "
				 "resume with its memory", e->id);
	int r = entry_catalog_admit(m, "resume", err);
	if (r < 0)
		return r;
	int64_t t0 = now_us();
	bool reboot = e->saved && (e->disk_only || !memory);
	const char *from = reboot ? "saved-disk" : e->saved ? "disk" : "memory";
	if (e->saved) {
		r = restore_entry(m, e, reboot, err);
	} else if ((r = sandbox_resume(e->sb, err)) == 0) {
		e->state = STORE_SANDBOX_RUNNING;
		e->end_ms = wall_ms() + e->left_ms;
	}
	if (r == 0)
		log_info("sandbox=%s op=resume template=%s from=%s by=%s ms=%.1f", e->id, e->template_id, from, why,
			 (double)(now_us() - t0) / 1000.0);
	return r;
}

/* The entry of id once it is not paused with a pause or resume under way
 * (under the lock): running, or paused and settled. One that runs while
 * busy (forked, or its saved copy being removed after a resume) is given at
 * once: it needs no resume, and a fork lasts as long as its children take
 * to boot. NULL, with err, for none (or one still being created). */
static struct entry *entry_settled(struct manager *m, const char *id, struct cove_err *err)
{
	struct entry *e;
	while ((e = entry_find_visible(m, id, err)) && e->busy && e->state == STORE_SANDBOX_PAUSED)
		pthread_cond_wait(&m->settled, &m->lock);
	return e;
}

int manager_resume(struct manager *m, const char *id, long timeout_s, bool memory, bool *resumed,
		   struct cove_err *err)
{
	if (timeout_check(m, timeout_s, 0, err) < 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	/* A pause under way (an auto-pause at the deadline) is let finish; a
	 * paused one being forked stays paused meanwhile. */
	struct entry *e = entry_settled(m, id, err);
	int r = 0;
	*resumed = false;
	if (!e) {
		r = -ENOENT;
	} else {
		if (e->state == STORE_SANDBOX_PAUSED && (r = resume_locked(m, e, memory, "connect", err)) == 0)
			*resumed = true;
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

int manager_wake(struct manager *m, const char *id, bool envd, const char *token, const char *traffic_token,
		 struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_settled(m, id, err);
	int r = 0;
	if (!e)
		r = -ENOENT;
	else if (e->state == STORE_SANDBOX_RUNNING)
		r = 0;
	else if (!e->auto_resume)
		r = cove_errf(err, -ENOENT, "sandbox '%s' is paused (it has no autoResume)", id);
	else if (e->saved && e->disk_only)
		r = cove_errf(err, -ENOENT, "sandbox '%s' is paused without its memory: connect resumes it", id);
	else if (envd && (!token || !secret_equal(token, e->token)))
		r = cove_errf(err, -ENOENT, "sandbox '%s' is paused; a request to envd without its access token does not "
				 "resume it", id);
	else if (!envd && e->traffic_token[0] && (!traffic_token || !secret_equal(traffic_token, e->traffic_token)))
		/* E2B's proxy's words for it (sandbox_resume_permission_denied.go). */
		r = cove_errf(err, -EACCES, "This sandbox can't be resumed with the credentials provided. Check your "
				 "access token and try again.");
	else if ((r = resume_locked(m, e, true, "traffic", err)) == 0) {
		/* E2B's: the timeout it was made with, at least a minute. */
		long timeout = e->timeout_s > 0 ? e->timeout_s : MANAGER_DEFAULT_TIMEOUT_S;
		if (timeout < MANAGER_AUTO_RESUME_MIN_S)
			timeout = MANAGER_AUTO_RESUME_MIN_S;
		timeout = manager_default_timeout(m, timeout);
		e->end_ms = wall_ms() + timeout * 1000;
		if (entry_record(m, e, e->state, err) < 0)
			log_warn("sandbox=%s op=auto-resume msg=\"%s\"", id, err->msg);
		pthread_cond_broadcast(&m->wake);
	} else {
		cove_err_prefix(err, "auto-resume of '%s'", id);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_ingress(struct manager *m, const char *id, struct manager_ingress *ret, char traffic_token[65],
		    struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	if (e) {
		*ret = e->ingress;
		memcpy(traffic_token, e->traffic_token, sizeof(e->traffic_token));
	}
	pthread_mutex_unlock(&m->lock);
	return e ? 0 : -ENOENT;
}

int manager_set_network(struct manager *m, const char *id, const struct net_policy *policy, struct cove_err *err)
{
	char *text = net_policy_encode(policy);
	if (!text)
		return cove_errf(err, -ENOMEM, "manager: out of memory");
	pthread_mutex_lock(&m->lock);
	struct entry *e = entry_find_visible(m, id, err);
	int r = !e ? -ENOENT
	      : e->busy ? cove_errf(err, -EBUSY, "sandbox '%s' is being paused, resumed, forked or snapshotted; try again", id)
			: 0;
	/* The slot's rules change outside the lock; nobody pauses, resumes,
	 * forks or kills it meanwhile. */
	struct sandbox *sb = r == 0 ? e->sb : NULL;
	if (sb) {
		e->busy = true;
		pthread_mutex_unlock(&m->lock);
		r = sandbox_set_policy(sb, m->c.net, policy, err);
		pthread_mutex_lock(&m->lock);
		entry_settle(m, e);
	}
	if (r == 0 && (r = entry_set_policy(e, text)) < 0)
		cove_errf(err, r, "manager: out of memory");
	if (r == 0)
		r = entry_record(m, e, e->state, err);
	pthread_mutex_unlock(&m->lock);
	if (r == 0)
		log_info("sandbox=%s op=network policy=%s", id, *text ? text : "default");
	free(text);
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

static int streams_full(const char *id, struct cove_err *err)
{
	return cove_errf(err, -EBUSY, "sandbox '%s' has %d connections open through coved, its most", id,
			 MANAGER_MAX_STREAMS);
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
	bool full = e && e->nstreams >= MANAGER_MAX_STREAMS;
	int netns = e && !full && e->state == STORE_SANDBOX_RUNNING ? fcntl(sandbox_netns_fd(e->sb), F_DUPFD_CLOEXEC, 3)
								     : -1;
	pthread_mutex_unlock(&m->lock);
	if (full)
		return streams_full(id, err);
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
	} else if (e->nstreams >= MANAGER_MAX_STREAMS) { /* others connected meanwhile */
		r = streams_full(id, err);
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
