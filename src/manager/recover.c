/* Crash recovery, on opening: each sandbox an earlier coved recorded is
 * re-adopted (its VMM still runs, or it is saved on disk) or ended. */
#include "manager/internal.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

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
		 store_sandbox_state_name(e->state), !e->saved ? "" : e->disk_only ? " on=disk-only" : " on=disk",
		 (double)(e->state == STORE_SANDBOX_PAUSED ? e->left_ms : e->end_ms - wall_ms()) / 1000.0);
}

/* Takes over a sandbox an earlier coved left running (or paused): its VMM,
 * slot and deadline. */
static int adopt(struct manager *m, const struct store_sandbox *rec, struct cove_err *err)
{
	struct template tpl;
	struct entry *e = entry_of(rec, err);
	if (!e)
		return -ENOMEM;
	int r = entry_snapshot_of(m, e, err);
	if (r == 0)
		r = entry_template_load(m, e, &tpl, err);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	e->disk_size_mib = template_image_mib(&tpl);
	struct sandbox_config sc;
	entry_sandbox_config(m, e, &tpl, &sc);
	sc.snapshot = tpl.snapshot; /* the layer its disk is likely over */
	r = sandbox_adopt(&sc, &rec->vmm, rec->token, &e->sb, err);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	/* A VMM paused under a record that says running was paused by a
	 * pause, fork or snapshot coved died in: none was acknowledged, so it
	 * is undone (the record says what was). Only if that fails does what
	 * the VMM says win. */
	bool paused = vmm_state(sandbox_vmm(e->sb)) == VMM_STATE_PAUSED;
	if (paused && rec->state == STORE_SANDBOX_RUNNING) {
		struct cove_err why = { 0 };
		if (sandbox_resume(e->sb, &why) == 0) {
			paused = false;
			log_info("sandbox=%s op=adopt msg=\"resumed: left paused by an operation coved did not finish\"",
				 e->id);
		} else {
			log_warn("sandbox=%s op=adopt msg=\"left paused by an operation coved did not finish, and "
				 "cannot be resumed: %s\"",
				 e->id, why.msg);
		}
	}
	e->state = paused ? STORE_SANDBOX_PAUSED : STORE_SANDBOX_RUNNING;
	if (e->state == STORE_SANDBOX_PAUSED && rec->state != STORE_SANDBOX_PAUSED) {
		int64_t now = wall_ms();
		e->left_ms = e->end_ms > now ? e->end_ms - now : 0;
	} else if (e->state == STORE_SANDBOX_RUNNING && rec->state == STORE_SANDBOX_PAUSED) {
		e->end_ms = wall_ms() + e->left_ms;
	}
	r = entry_record(m, e, e->state, err);
	if (r < 0) {
		e->sb = sandbox_free(e->sb);
		entry_free(e);
		return r;
	}
	/* Its VMM is the sandbox: a copy saved before coved died is stale. */
	saved_remove(m, e->id);
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
	int r = entry_snapshot_of(m, e, err);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	struct template tpl;
	struct cove_err why = { 0 };
	/* Its template may be gone; only its info's disk size misses it. */
	if (entry_template_load(m, e, &tpl, &why) == 0)
		e->disk_size_mib = template_image_mib(&tpl);
	e->state = STORE_SANDBOX_PAUSED;
	e->saved = true;
	char dir[PATH_MAX];
	saved_path(m, e->id, dir);
	e->disk_only = !sandbox_saved_has_memory(dir);
	e->disk_bytes = saved_usage(m, e->id);
	if (rec->state != STORE_SANDBOX_PAUSED) {
		int64_t now = wall_ms();
		e->left_ms = e->end_ms > now ? e->end_ms - now : 0;
	}
	r = entry_record(m, e, e->state, err);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	insert_adopted(m, e);
	return 0;
}

/* Saved sandboxes no record names (a pause cut short before its record, a
 * kill cut short after it) and saves cut short. */
void forget_unrecorded(struct manager *m)
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
			saved_remove(m, de->d_name);
		}
	}
	if (d)
		closedir(d);
}

/* Each sandbox an earlier coved recorded: re-adopted when its VMM still runs
 * (named by pid and start time, so a reused pid is never taken for it),
 * else ended, with whatever a create cut short left behind. */
int recover_one(void *ctx, const struct store_sandbox *rec)
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
	saved_remove(m, rec->id);
	if (vmm_end_orphan(m->c.run_dir, m->c.log_dir, rec->id, rec->vmm.pid > 0 ? &rec->vmm : NULL, &err) < 0)
		log_warn("sandbox=%s op=forget msg=\"%s\"", rec->id, err.msg);
	log_info("sandbox=%s op=forget state=%s template=%s reason=%s", rec->id, store_sandbox_state_name(rec->state),
		 rec->template_id, alive ? "not-adoptable" : rec->state == STORE_SANDBOX_CREATING ? "create-cut-short" : "vmm-gone");
	return store_sandbox_delete(m->c.store, rec->id, &err) < 0 ? -EIO : 0;
}
