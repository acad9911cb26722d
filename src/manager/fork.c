/* Forks: new sandboxes that carry on from a running or paused one's
 * saved state. */
#include "manager/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

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
	if (!e)
		return NULL;
	new_sandbox_id(e->id, sizeof(e->id));
	snprintf(e->template_id, sizeof(e->template_id), "%s", p->template_id);
	snprintf(e->snapshot, sizeof(e->snapshot), "%s", p->snapshot);
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

int manager_fork(struct manager *m, const char *id, unsigned count, long timeout_s, struct manager_info *ret,
		 struct cove_err *err)
{
	int64_t t0 = now_us();
	long timeout = timeout_s ? timeout_s : MANAGER_DEFAULT_TIMEOUT_S;
	if (count < 1 || count > MANAGER_MAX_FORK)
		return cove_errf(err, -EINVAL, "count %u is outside 1 to %d", count, MANAGER_MAX_FORK);
	if (timeout_check(timeout, 1, err) < 0)
		return -EINVAL;
	if (!m->saved_dir[0])
		return cove_errf(err, -EOPNOTSUPP, "forks need a directory to save the parent in");
	pthread_mutex_lock(&m->lock);
	struct entry *p = entry_find_visible(m, id, err);
	int r = 0;
	if (!p)
		r = -ENOENT;
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
	char parent_token[65] = "";
	if (r == 0) {
		p->busy = true; /* nobody kills, pauses or resumes it meanwhile */
		snprintf(parent_token, sizeof(parent_token), "%s", p->token);
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
	r = entry_template_load(m, p, &tpl, err);
	if (r == 0)
		r = fork_source(m, p, &tpl, dir, &made, err);
	int64_t t1 = now_us();
	/* The children: admitted (host limits) and recorded one by one, then
	 * started at once (the boot queue orders them). */
	unsigned admitted = 0;
	for (; r == 0 && admitted < count; admitted++) {
		struct fork_child *f = &kids[admitted];
		if ((r = entry_admit(m, f->e, err)) == 0 && ((r = entry_use_snapshot(m, f->e, err)) < 0 ||
							     (r = entry_record(m, f->e, STORE_SANDBOX_CREATING, err)) < 0)) {
			entry_abandon(m, f->e, "fork", err);
			f->e = NULL;
		}
		if (r < 0)
			break;
		*f = (struct fork_child){ .m = m, .e = f->e, .tpl = &tpl, .dir = dir, .parent_token = parent_token };
		/* f->r is the child thread's from here (it may be done before
		 * pthread_create returns); the result goes in a local. */
		int rc = pthread_create(&f->thread, NULL, fork_child_main, f);
		f->started = rc == 0;
		if (rc != 0) {
			f->r = -rc;
			r = cove_errno(err, f->r, "fork: start a thread");
		}
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
		if ((r = entry_go_live(m, kids[live].e, timeout, &ret[live], err)) < 0)
			break;
	for (unsigned i = 0; i < live && r < 0; i++)
		manager_info_clear(&ret[i]);
	for (unsigned i = live; i < count; i++) {
		if (i < admitted && kids[i].e)
			entry_abandon(m, kids[i].e, "fork", err);
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
