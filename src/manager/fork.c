/* Forks: new sandboxes that carry on from a running or paused one's
 * saved state. */
#include "manager/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

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
	entry_sandbox_config(f->m, f->e, f->tpl, &sc);
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
	struct entry *e = entry_new(p->metadata);
	/* E2B's fork is a resume of the parent's snapshot under a new id: its
	 * ingress as the parent's, and a traffic token of its own. */
	if (!e || entry_set_policy(e, p->policy_text) < 0 || entry_set_ingress(e, &p->ingress) < 0) {
		entry_free(e);
		return NULL;
	}
	new_sandbox_id(e->id, sizeof(e->id));
	snprintf(e->template_id, sizeof(e->template_id), "%s", p->template_id);
	snprintf(e->snapshot, sizeof(e->snapshot), "%s", p->snapshot);
	e->state = STORE_SANDBOX_CREATING;
	e->vcpus = p->vcpus;
	e->mem_mib = p->mem_mib;
	e->disk_size_mib = p->disk_size_mib;
	e->auto_pause = p->auto_pause;
	e->auto_pause_fs_only = p->auto_pause_fs_only;
	e->auto_resume = p->auto_resume;
	e->timeout_s = timeout_s;
	if ((p->envs && !(e->envs = strdup(p->envs))) || entry_set_volumes(e, p->volumes_text) < 0) {
		entry_free(e);
		return NULL;
	}
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
	entry_sandbox_config(m, p, tpl, &sc);
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

/* The parent p, found and marked busy (nobody kills, pauses or resumes it
 * meanwhile), and an entry for each child; its token and template copied
 * into parent_token. */
static int fork_begin(struct manager *m, const char *id, struct fork_child *kids, unsigned count, long timeout,
		      struct entry **parent, char parent_token[65], struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct entry *p = entry_find_visible(m, id, err);
	int r = 0;
	if (!p)
		r = -ENOENT;
	else if (p->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused, resumed or forked; try again", id);
	else if (p->state == STORE_SANDBOX_PAUSED && !p->saved)
		r = cove_errf(err, -EOPNOTSUPP, "sandbox '%s' was booted without a template snapshot and cannot be forked", id);
	else if (p->saved && p->disk_only)
		r = cove_errf(err, -EOPNOTSUPP, "sandbox '%s' is paused without its memory; resume it to fork it", id);
	for (unsigned i = 0; r == 0 && i < count; i++)
		if (!(kids[i].e = child_of(p, timeout)))
			r = cove_errf(err, -ENOMEM, "fork: out of memory");
	if (r == 0) {
		p->busy = true;
		snprintf(parent_token, 65, "%s", p->token);
		*parent = p;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Child f admitted (host limits), recorded and its boot started in a
 * thread; else f->r and f->err say why, and its entry is gone. */
static void fork_child_start(struct manager *m, struct fork_child *f)
{
	f->r = entry_admit(m, f->e, &f->err);
	if (f->r < 0) {
		entry_free(f->e); /* never listed */
		f->e = NULL;
		return;
	}
	f->r = entry_use_snapshot(m, f->e, &f->err);
	if (f->r == 0)
		f->r = entry_record(m, f->e, STORE_SANDBOX_CREATING, &f->err);
	/* f->r is the child thread's once it starts (it may be done before
	 * pthread_create returns): it is read before, and the result of
	 * pthread_create goes in a local. */
	bool recorded = f->r == 0;
	int rc = recorded ? pthread_create(&f->thread, NULL, fork_child_main, f) : 0;
	f->started = recorded && rc == 0;
	if (rc != 0)
		f->r = cove_errno(&f->err, -rc, "fork: start a thread");
	if (!f->started) {
		entry_abandon(m, f->e, "fork", &f->err);
		f->e = NULL;
	}
}

/* Child f, booted (or not), goes live into ret; else ret says why and
 * what it had goes. */
static void fork_child_end(struct manager *m, struct fork_child *f, long timeout, struct manager_fork_child *ret)
{
	if (f->started)
		pthread_join(f->thread, NULL);
	if (f->e && f->r == 0)
		f->r = entry_go_live(m, f->e, timeout, &ret->info, &f->err);
	if (f->e && f->r < 0) {
		entry_abandon(m, f->e, "fork", &f->err);
		manager_info_clear(&ret->info); /* what a go-live cut short made */
	}
	ret->r = f->r;
	ret->err = f->err;
}

int manager_fork(struct manager *m, const char *id, unsigned count, long timeout_s, struct manager_fork_child *ret,
		 struct cove_err *err)
{
	int64_t t0 = now_us();
	long timeout = timeout_s ? timeout_s : MANAGER_FORK_DEFAULT_TIMEOUT_S;
	if (count < 1 || count > MANAGER_MAX_FORK)
		return cove_errf(err, -EINVAL, "count %u is outside 1 to %d", count, MANAGER_MAX_FORK);
	if (timeout_check(m, timeout, 1, err) < 0)
		return -EINVAL;
	if (!m->saved_dir[0])
		return cove_errf(err, -EOPNOTSUPP, "forks need a directory to save the parent in");
	int ra = entry_catalog_admit(m, "fork", err);
	if (ra < 0)
		return ra;
	memset(ret, 0, count * sizeof(*ret));
	struct fork_child *kids = calloc(count, sizeof(*kids));
	if (!kids)
		return cove_errf(err, -ENOMEM, "fork: out of memory");
	struct entry *p = NULL;
	char parent_token[65] = "";
	int r = fork_begin(m, id, kids, count, timeout, &p, parent_token, err);
	struct template tpl;
	char dir[PATH_MAX];
	bool made = false;
	if (r == 0 && (r = entry_template_load(m, p, &tpl, err)) == 0)
		r = fork_source(m, p, &tpl, dir, &made, err);
	int64_t t1 = now_us();
	/* Each child on its own: admitted and recorded one by one, then all
	 * started at once (the boot queue orders them); one that fails takes
	 * no other with it. Before this, a failure is the whole request's. */
	unsigned live = 0;
	for (unsigned i = 0; r == 0 && i < count; i++) {
		kids[i].m = m;
		kids[i].tpl = &tpl;
		kids[i].dir = dir;
		kids[i].parent_token = parent_token;
		fork_child_start(m, &kids[i]);
	}
	for (unsigned i = 0; r == 0 && i < count; i++) {
		fork_child_end(m, &kids[i], timeout, &ret[i]);
		live += ret[i].r == 0;
	}
	for (unsigned i = 0; r < 0 && i < count; i++)
		entry_free(kids[i].e);
	if (made)
		fs_remove_tree(dir, NULL);
	if (p) {
		pthread_mutex_lock(&m->lock);
		entry_settle(m, p);
		pthread_mutex_unlock(&m->lock);
	}
	free(kids);
	if (r < 0)
		return cove_err_prefix(err, "fork %s", id);
	__atomic_add_fetch(&m->created, live, __ATOMIC_RELAXED);
	log_info("sandbox=%s op=fork children=%u live=%u save_ms=%.1f ms=%.1f", id, count, live,
		 (double)(t1 - t0) / 1000.0, (double)(now_us() - t0) / 1000.0);
	return 0;
}
