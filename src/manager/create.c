/* Creating a sandbox: admitted, recorded, booted (or a warm one claimed),
 * then running. */
#include "manager/internal.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

/* Booted, or restored from the template's snapshot, or a warm one claimed. */
static int boot_fresh(struct manager *m, struct entry *e, const struct template *tpl, struct sandbox_config *sc,
		      struct warm *w, struct cove_err *err)
{
	struct sandbox *sb = NULL;
	/* A warm one (same id) only needs to run again and get its /init. */
	if (w) {
		struct cove_err why = { 0 };
		int r = sandbox_claim(w->sb, sc, &why);
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
		sc->snapshot = tpl->snapshot;
	r = sandbox_start(sc, &sb, err);
	boot_end(m);
	if (r < 0)
		return r;
	e->sb = sb; /* still 'creating': nobody else looks at it */
	snprintf(e->token, sizeof(e->token), "%s", sandbox_token(sb));
	return 0;
}

static int boot(struct manager *m, struct entry *e, const struct template *tpl, const struct manager_create *req,
		struct warm *w, const struct snap_pin *snap, struct cove_err *err)
{
	struct sandbox_config sc;
	entry_sandbox_config(m, e, tpl, &sc);
	sc.policy = req->policy;
	sc.envs = req->envs;
	sc.agent_timeout_ms = MANAGER_AGENT_TIMEOUT_MS;
	struct sandbox *sb = NULL;
	if (snap->snapshot[0]) {
		/* From a snapshot, as a fork of the sandbox it was made of
		 * (whose envs its guest has already). */
		int r = boot_begin(m, err);
		if (r < 0)
			return r;
		sc.snapshot = snap->dir;
		r = sandbox_fork_child(&sc, snap->dir, snap->token, &sb, err);
		boot_end(m);
		if (r < 0)
			return r;
		e->sb = sb; /* still 'creating': nobody else looks at it */
		snprintf(e->token, sizeof(e->token), "%s", sandbox_token(sb));
		return 0;
	}
	/* The template's env and the request's on top (e->envs, as a reboot
	 * gets them too). */
	char **envs = NULL;
	if (envs_decode(e->envs, &envs) < 0)
		return cove_errf(err, -ENOMEM, "manager: out of memory");
	sc.envs = (const char *const *)envs;
	int r = boot_fresh(m, e, tpl, &sc, w, err);
	envs_free(envs);
	return r;
}

/* A sandbox being created (e, admitted, its sandbox started) becomes
 * running: its deadline counts from now. ret: its info. */
int entry_go_live(struct manager *m, struct entry *e, long timeout_s, struct manager_info *ret, struct cove_err *err)
{
	e->disk_bytes = run_usage(m, e->id); /* still creating: nobody else looks at e */
	int64_t now = wall_ms();
	e->end_ms = now + timeout_s * 1000;
	e->started_ms = now;
	int r = entry_record(m, e, STORE_SANDBOX_RUNNING, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&m->lock);
	if (m->stop) {
		r = cove_errf(err, -ESHUTDOWN, "coved is shutting down");
	} else {
		e->state = STORE_SANDBOX_RUNNING;
		r = entry_info(e, ret);
		pthread_cond_broadcast(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* One more sandbox made of template name (GET /templates: spawnCount,
 * lastSpawnedAt). A failure costs only the count. */
static void count_spawn(struct manager *m, const char *name, int64_t when_ms)
{
	char key[128], value[64];
	struct cove_err err = { 0 };
	unsigned long long n = 0;
	template_spawns_key(name, key);
	int r = store_begin(m->c.store, &err);
	if (r < 0) {
		log_warn("template=%s op=count-spawn msg=\"%s\"", name, err.msg);
		return;
	}
	r = store_meta_get(m->c.store, key, value, sizeof(value), &err);
	if (r == 0 && sscanf(value, "%llu", &n) != 1)
		n = 0;
	snprintf(value, sizeof(value), "%llu %lld", n + 1, (long long)when_ms);
	if (r == 0 || r == -ENOENT)
		r = store_meta_set(m->c.store, key, value, &err);
	if (r < 0) {
		store_rollback(m->c.store);
		log_warn("template=%s op=count-spawn msg=\"%s\"", name, err.msg);
		return;
	}
	if (store_commit(m->c.store, &err) < 0)
		log_warn("template=%s op=count-spawn msg=\"%s\"", name, err.msg);
}

/* A create (or fork) that failed: everything of e goes. */
void entry_abandon(struct manager *m, struct entry *e, const char *op, const struct cove_err *err)
{
	__atomic_add_fetch(&m->create_failures, 1, __ATOMIC_RELAXED);
	log_warn("sandbox=%s op=%s template=%s msg=\"%s\"", e->id, op, e->template_id, err ? err->msg : "");
	entry_teardown(m, e, "create failed");
	/* The last use of m: manager_close waits for the list to empty. */
	pthread_mutex_lock(&m->lock);
	entry_unlink(m, e);
	pthread_mutex_unlock(&m->lock);
	entry_free(e);
}

/* The template of a create: the one named (into tname), or, when the name
 * is a snapshot's id or name, the snapshot's (pinned in snap; tname is the
 * template under it). A name with a namespace or E2B's ":default" tag and
 * no such snapshot is the template of that name, as on E2B. */
static int create_template(struct manager *m, const char *name, struct template *tpl, struct snap_pin *snap,
			   char tname[64], struct cove_err *err)
{
	struct template_ref ref;
	char dir[PATH_MAX], dname[64];
	snprintf(dir, sizeof(dir), "%s", m->c.templates_dir);
	if (snap_pin(m, name, snap)) {
		name = snap->template_id;
	} else if (template_name_check(name, NULL) < 0 && template_ref_parse(name, &ref, NULL) == 0) {
		if (template_name_check(ref.alias, NULL) < 0)
			return cove_errf(err, -ENOENT, "snapshot '%s' not found", name);
		/* NAME:TAG: a build's tag, else no such snapshot. */
		if (ref.tag[0] && manager_template_dir(m, ref.alias, ref.tag, dir, dname, NULL) < 0)
			return cove_errf(err, -ENOENT, "template or snapshot '%s' not found", name);
		name = ref.alias;
	} else if (template_name_check(name, err) < 0) {
		return -EINVAL;
	}
	snprintf(tname, 64, "%s", name);
	int r = template_load(dir, strcmp(dir, m->c.templates_dir) ? dname : tname, tpl, err);
	if (r == -ENOENT)
		r = cove_errf(err, -ENOENT, "template '%s' not found", tname);
	/* Its VMM (the template's, else the host's) must be one this Cove has:
	 * an unknown one is 400. */
	const char *vmm = r == 0 && tpl->vmm[0] ? tpl->vmm : m->c.vmm_driver;
	if (r == 0 && vmm && (r = vmm_driver_check(vmm, err)) < 0)
		cove_err_prefix(err, "template '%s'", tname);
	if (r < 0)
		snap_unpin(m, snap);
	return r;
}

/* The template's env with add's on top, as envs_encode's text. */
static int template_envs_encode(const struct template *tpl, const char *const *add, char **ret)
{
	size_t n = 0;
	while (add && add[n])
		n++;
	size_t max = n + TEMPLATE_ENV_MAX + 1;
	const char **all = calloc(max, sizeof(*all));
	if (!all)
		return -ENOMEM;
	long k = template_envs(tpl, add, all, max);
	int r = k < 0 ? (int)k : envs_encode(all, ret);
	free(all);
	return r;
}

/* The create's volumes; one made from a snapshot of a sandbox that mounts
 * volumes has those (its guest has them mounted), and may not name
 * others. */
static int create_volumes(struct manager *m, struct entry *e, const struct manager_create *req,
			  const struct snap_pin *snap, struct cove_err *err)
{
	char *text = NULL;
	if (snap->snapshot[0] && snap_volumes(snap, &text) < 0)
		return cove_errf(err, -ENOMEM, "manager: out of memory");
	if (!text)
		return entry_resolve_volumes(m, e, req, err);
	int r = req->nvolumes ? cove_errf(err, -EINVAL,
					  "volumeMounts: snapshot '%s' was made of a sandbox that mounts volumes; "
					  "sandboxes made from it mount those, and no others",
					  snap->id)
		: entry_set_volumes(e, text) < 0 ? cove_errf(err, -EIO, "snapshot '%s': unreadable volumes", snap->id)
						  : 0;
	free(text);
	return r;
}

int manager_create(struct manager *m, const struct manager_create *req, struct manager_info *ret,
		   struct cove_err *err)
{
	int64_t t0 = now_us();
	const char *name = req->template_id && *req->template_id ? req->template_id : MANAGER_DEFAULT_TEMPLATE;
	long timeout = req->timeout_s ? req->timeout_s : manager_default_timeout(m, MANAGER_DEFAULT_TIMEOUT_S);
	if (timeout_check(m, timeout, 1, err) < 0)
		return -EINVAL;
	int r = net_policy_check(&req->policy, err);
	if (r == 0)
		r = entry_catalog_admit(m, "create", err);
	if (r < 0)
		return r;
	struct template tpl;
	struct snap_pin snap;
	char tname[64];
	if ((r = create_template(m, name, &tpl, &snap, tname, err)) < 0)
		return r;
	struct entry *e = entry_new(req->metadata);
	char *policy = net_policy_encode(&req->policy);
	if (!e || !policy || entry_set_policy(e, policy) < 0) {
		free(policy);
		entry_free(e);
		snap_unpin(m, &snap);
		return cove_errf(err, -ENOMEM, "manager: out of memory");
	}
	free(policy);
	if ((r = entry_set_ingress(e, &req->ingress)) < 0) {
		entry_free(e);
		snap_unpin(m, &snap);
		return cove_errno(err, r, "manager: traffic access token: getrandom");
	}
	struct warm *w = snap.snapshot[0] ? NULL : warm_take(m, tname);
	if (w)
		snprintf(e->id, sizeof(e->id), "%s", w->id);
	else
		new_sandbox_id(e->id, sizeof(e->id));
	/* One made from a snapshot has the snapshot's id for its template (as
	 * on E2B), and the snapshot's memory and vCPUs. */
	snprintf(e->template_id, sizeof(e->template_id), "%s", snap.snapshot[0] ? snap.id : tname);
	snprintf(e->snapshot, sizeof(e->snapshot), "%s", snap.snapshot);
	e->state = STORE_SANDBOX_CREATING;
	e->vcpus = snap.vcpus ? snap.vcpus : tpl.vcpus ? tpl.vcpus : VMM_DEFAULT_VCPUS;
	e->mem_mib = snap.mem_mib ? snap.mem_mib : tpl.memory_mib ? tpl.memory_mib : VMM_DEFAULT_MEM_MIB;
	e->started_ms = wall_ms();
	e->end_ms = e->started_ms + timeout * 1000;
	e->auto_pause = req->auto_pause;
	e->disk_size_mib = template_image_mib(&tpl);
	e->auto_pause_fs_only = req->auto_pause && req->auto_pause_fs_only;
	e->auto_resume = req->auto_resume;
	e->timeout_s = timeout;
	r = snap.snapshot[0] ? snap_envs(&snap, req->envs, &e->envs) : template_envs_encode(&tpl, req->envs, &e->envs);
	if (r < 0) {
		warm_put_back(m, w);
		entry_free(e);
		snap_unpin(m, &snap);
		return cove_errf(err, r, "manager: out of memory");
	}
	if ((r = create_volumes(m, e, req, &snap, err)) < 0 || (r = entry_admit(m, e, err)) < 0) {
		warm_put_back(m, w);
		entry_free(e);
		snap_unpin(m, &snap);
		return r;
	}
	r = entry_use_snapshot(m, e, err);
	if (r == 0)
		r = entry_record(m, e, STORE_SANDBOX_CREATING, err);
	if (r < 0)
		warm_put_back(m, w);
	if (r == 0)
		r = boot(m, e, &tpl, req, w, &snap, err);
	if (r == 0)
		r = entry_go_live(m, e, timeout, ret, err);
	if (r < 0) {
		entry_abandon(m, e, "create", err);
		snap_unpin(m, &snap);
		return r;
	}
	snap_unpin(m, &snap);
	__atomic_add_fetch(&m->created, 1, __ATOMIC_RELAXED);
	/* e may be gone already (killed): only the copy is used from here. */
	count_spawn(m, tname, ret->started_ms); /* the template's, for a snapshot's too */
	log_info("sandbox=%s op=create template=%s timeout_s=%ld ms=%.1f", ret->id, ret->template_id, timeout,
		 (double)(now_us() - t0) / 1000.0);
	return 0;
}
