/* Entries and their records in the state database, and what a sandbox
 * holds on the host's disk. */
#include "manager/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <jansson.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "net/net.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

void manager_info_clear(struct manager_info *info)
{
	free(info->metadata);
	info->metadata = NULL;
	free(info->volume_mounts);
	info->volume_mounts = NULL;
	net_policy_copy_free(&info->policy);
}

/* Where sandbox id is saved while paused to disk; "" without saved_dir. */
void saved_path(const struct manager *m, const char *id, char path[PATH_MAX])
{
	path[0] = '\0';
	if (m->saved_dir[0])
		snprintf(path, PATH_MAX, "%s/%s", m->saved_dir, id);
}

int entry_info(const struct entry *e, struct manager_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->id, sizeof(info->id), "%s", e->id);
	snprintf(info->template_id, sizeof(info->template_id), "%s", e->template_id);
	snprintf(info->token, sizeof(info->token), "%s", e->token);
	info->state = e->state;
	info->started_ms = e->started_ms;
	info->end_ms = e->end_ms;
	info->vcpus = e->vcpus;
	info->mem_mib = e->mem_mib;
	info->seq = e->seq;
	info->disk_bytes = e->disk_bytes;
	info->disk_size_mib = e->disk_size_mib;
	info->auto_pause = e->auto_pause;
	info->policy_known = e->policy_text != NULL;
	/* A copy of its own: the entry's may go while the caller reads it. */
	if (net_policy_decode(e->policy_text, &info->policy) < 0)
		net_policy_copy_free(&info->policy);
	info->auto_resume = e->auto_resume;
	info->ingress = e->ingress;
	snprintf(info->traffic_token, sizeof(info->traffic_token), "%s", e->traffic_token);
	info->metadata = strdup(e->metadata ? e->metadata : "{}");
	if (!info->metadata || entry_volumes_info(e, info) < 0) {
		manager_info_clear(info);
		return -ENOMEM;
	}
	return 0;
}

int entry_set_policy(struct entry *e, const char *text)
{
	struct net_policy_copy pc = { 0 };
	char *copy = NULL;
	int r = text ? net_policy_decode(text, &pc) : 0;
	if (r == 0 && text && !(copy = strdup(text)))
		r = -ENOMEM;
	if (r < 0) {
		net_policy_copy_free(&pc);
		return r;
	}
	free(e->policy_text);
	net_policy_copy_free(&e->policy);
	e->policy_text = copy;
	e->policy = pc; /* all zero, a closed policy, when not known */
	return 0;
}

int entry_set_ingress(struct entry *e, const struct manager_ingress *in)
{
	char token[65] = "";
	/* 32 random bytes in hex: as long as E2B's (an HMAC-SHA256), and
	 * nothing anyone can derive from the sandbox's id. */
	int r = in->private_traffic ? random_hex(token, 32) : 0;
	if (r < 0)
		return r;
	e->ingress = *in;
	memcpy(e->traffic_token, token, sizeof(token));
	return 0;
}

/* in's httpsPorts as its record keeps them: "8443,9443" ("": none). */
static void https_ports_encode(const struct manager_ingress *in, char out[STORE_HTTPS_PORTS_MAX])
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < in->n_https_ports && n < STORE_HTTPS_PORTS_MAX; i++)
		n += (size_t)snprintf(out + n, STORE_HTTPS_PORTS_MAX - n, "%s%u", i ? "," : "", in->https_ports[i]);
}

/* The record's httpsPorts back into in; -EINVAL (and none) for text this
 * Cove did not write. */
static int https_ports_decode(const char *text, struct manager_ingress *in)
{
	in->n_https_ports = 0;
	for (const char *s = text; *s;) {
		char *end;
		unsigned long port = strtoul(s, &end, 10);
		if (end == s || *s < '0' || *s > '9' || port < 1 || port > 65535 || (*end && *end != ',') ||
		    in->n_https_ports == MANAGER_MAX_HTTPS_PORTS) {
			in->n_https_ports = 0;
			return -EINVAL;
		}
		in->https_ports[in->n_https_ports++] = (uint16_t)port;
		s = *end ? end + 1 : end;
	}
	return 0;
}

/* A new entry, empty but for a copy of metadata (NULL: {}); NULL when out
 * of memory. */
struct entry *entry_new(const char *metadata)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->metadata = strdup(metadata ? metadata : "{}"))) {
		entry_free(e);
		return NULL;
	}
	return e;
}

/* A new entry as rec describes it (state and sandbox left to the caller). */
struct entry *entry_of(const struct store_sandbox *rec, struct cove_err *err)
{
	struct entry *e = entry_new(rec->metadata);
	if (!e) {
		cove_errf(err, -ENOMEM, "manager: out of memory");
		return NULL;
	}
	snprintf(e->id, sizeof(e->id), "%s", rec->id);
	snprintf(e->template_id, sizeof(e->template_id), "%s", rec->template_id);
	snprintf(e->token, sizeof(e->token), "%s", rec->token);
	e->vcpus = rec->vcpus;
	e->mem_mib = rec->mem_mib;
	e->started_ms = rec->started_ms;
	e->end_ms = rec->end_ms;
	e->left_ms = rec->left_ms;
	e->seq = rec->seq;
	e->auto_pause = rec->auto_pause;
	if (entry_set_policy(e, rec->policy) < 0) {
		/* Not one this Cove wrote: its slots stay closed, as for an
		 * older record. */
		log_warn("sandbox=%s op=adopt msg=\"unreadable policy record '%s'\"", rec->id, rec->policy);
		entry_set_policy(e, NULL);
	}
	e->auto_pause_fs_only = rec->auto_pause_fs_only;
	e->auto_resume = rec->auto_resume;
	e->timeout_s = rec->timeout_s;
	/* A token recorded is a private sandbox (E2B's allowPublicTraffic
	 * false); none, a public one. */
	e->ingress.private_traffic = rec->traffic_token[0] != '\0';
	snprintf(e->traffic_token, sizeof(e->traffic_token), "%s", rec->traffic_token);
	snprintf(e->ingress.mask_host, sizeof(e->ingress.mask_host), "%s", rec->mask_host);
	if (https_ports_decode(rec->https_ports, &e->ingress) < 0)
		log_warn("sandbox=%s op=adopt msg=\"unreadable httpsPorts record '%s'\"", rec->id, rec->https_ports);
	if (rec->envs && !(e->envs = strdup(rec->envs))) {
		entry_free(e);
		cove_errf(err, -ENOMEM, "manager: out of memory");
		return NULL;
	}
	if (entry_set_volumes(e, rec->volumes) < 0) {
		/* Not one this Cove wrote: the sandbox is kept without
		 * volumes (its guest's mounts, if any, stall). */
		log_warn("sandbox=%s op=adopt msg=\"unreadable volumes record '%s'\"", rec->id, rec->volumes);
	}
	return e;
}

void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->streams);
	free(e->metadata);
	free(e->policy_text);
	net_policy_copy_free(&e->policy);
	free(e->envs);
	entry_volumes_free(e);
	free(e);
}

void entry_catalog_record(const struct entry *e, enum store_sandbox_state state, struct manager_record *rec)
{
	*rec = (struct manager_record){ .id = e->id, .template_id = e->template_id, .metadata = e->metadata,
					.state = state, .vcpus = e->vcpus, .mem_mib = e->mem_mib, .seq = e->seq,
					.started_ms = e->started_ms, .end_ms = e->end_ms, .auto_pause = e->auto_pause };
}

int entry_catalog_admit(struct manager *m, const char *op, struct cove_err *err)
{
	return m->c.catalog.admit ? m->c.catalog.admit(m->c.catalog.ctx, op, err) : 0;
}

int entry_record(struct manager *m, const struct entry *e, enum store_sandbox_state state, struct cove_err *err)
{
	if (m->c.catalog.put && state != STORE_SANDBOX_DEAD) {
		struct manager_record cr;
		entry_catalog_record(e, state, &cr);
		int r = m->c.catalog.put(m->c.catalog.ctx, &cr, err);
		if (r < 0)
			return r;
	}
	struct store_sandbox rec = { .state = state, .metadata = e->metadata, .vcpus = e->vcpus,
				     .mem_mib = e->mem_mib, .started_ms = e->started_ms, .end_ms = e->end_ms,
				     .seq = e->seq, .auto_pause = e->auto_pause, .left_ms = e->left_ms,
				     .policy = e->policy_text, .auto_pause_fs_only = e->auto_pause_fs_only,
				     .auto_resume = e->auto_resume, .timeout_s = e->timeout_s, .envs = e->envs,
				     .volumes = e->volumes_text };
	snprintf(rec.id, sizeof(rec.id), "%s", e->id);
	snprintf(rec.template_id, sizeof(rec.template_id), "%s", e->template_id);
	snprintf(rec.token, sizeof(rec.token), "%s", e->token);
	snprintf(rec.traffic_token, sizeof(rec.traffic_token), "%s", e->traffic_token);
	snprintf(rec.mask_host, sizeof(rec.mask_host), "%s", e->ingress.mask_host);
	https_ports_encode(&e->ingress, rec.https_ports);
	if (e->sb)
		rec.vmm = *vmm_identity(sandbox_vmm(e->sb));
	return store_sandbox_put(m->c.store, &rec, err);
}

struct entry *entry_find(struct manager *m, const char *id)
{
	for (struct entry *e = m->list; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

int timeout_check(const struct manager *m, long seconds, int lowest, struct cove_err *err)
{
	if (seconds >= 0 && seconds <= m->c.max_timeout_s)
		return 0;
	return cove_errf(err, -EINVAL, "timeout %ld s is outside %d to %ld s (this host's longest: coved --max-timeout)",
			 seconds, lowest, m->c.max_timeout_s);
}

long manager_default_timeout(const struct manager *m, long dflt)
{
	return dflt < m->c.max_timeout_s ? dflt : m->c.max_timeout_s;
}

struct entry *entry_find_visible(struct manager *m, const char *id, struct cove_err *err)
{
	struct entry *e = entry_find(m, id);
	if (e && e->state != STORE_SANDBOX_CREATING)
		return e;
	cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	return NULL;
}

/* Out of the list (under the lock): from now on nobody finds it. Its open
 * streams are shut down, so every proxied request to it ends. */
void entry_unlink(struct manager *m, struct entry *e)
{
	for (struct entry **p = &m->list; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			m->count--;
			if (!e->saved)
				m->committed_mib -= e->mem_mib;
			break;
		}
	for (size_t i = 0; i < e->nstreams; i++)
		shutdown(e->streams[i], SHUT_RDWR);
	e->nstreams = 0;
}

/* What a sandbox holds on the host's disk: its run directory (its disk
 * overlay) while it has a VMM, its saved copy while paused to disk, without
 * the files it shares (the template snapshot's memory and disk layer, hard
 * links). Read without the lock, when these change and by the sampler. */
uint64_t run_usage(const struct manager *m, const char *id)
{
	char path[PATH_MAX];
	return vmm_run_dir(m->c.run_dir, id, path) == 0 ? fs_disk_usage(path, true) : 0;
}

uint64_t saved_usage(const struct manager *m, const char *id)
{
	char path[PATH_MAX];
	saved_path(m, id, path);
	return path[0] ? fs_disk_usage(path, true) : 0;
}

void saved_remove(struct manager *m, const char *id)
{
	char path[PATH_MAX];
	struct cove_err err = { 0 };
	saved_path(m, id, path);
	if (path[0] && fs_remove_tree(path, &err) < 0)
		log_warn("sandbox=%s op=forget-saved msg=\"%s\"", id, err.msg);
}

/* Remembers id for entry_forget_unrecorded (without the lock). */
static void unrecorded_add(struct manager *m, const char *id)
{
	pthread_mutex_lock(&m->lock);
	if (m->nunrecorded == m->unrecorded_cap) {
		size_t cap = m->unrecorded_cap ? m->unrecorded_cap * 2 : 8;
		char(*p)[64] = realloc(m->unrecorded, cap * sizeof(*p));
		if (p) {
			m->unrecorded = p;
			m->unrecorded_cap = cap;
		}
	}
	if (m->nunrecorded < m->unrecorded_cap)
		snprintf(m->unrecorded[m->nunrecorded++], 64, "%s", id);
	else
		log_warn("sandbox=%s op=kill msg=\"out of memory: its record stays until coved starts again\"", id);
	pthread_mutex_unlock(&m->lock);
}

/* Its slot (if it still has one) and its record; 0 once both are gone. */
static int forget_records(struct manager *m, const char *id)
{
	struct cove_err err = { 0 };
	if (net_slot_forget(m->c.net, id, &err) < 0 || store_sandbox_delete(m->c.store, id, &err) < 0) {
		log_debug("sandbox=%s op=forget msg=\"%s; tried again later\"", id, err.msg);
		return -EIO;
	}
	return 0;
}

void entry_forget_unrecorded(struct manager *m)
{
	while (m->nunrecorded) {
		char id[64];
		snprintf(id, sizeof(id), "%s", m->unrecorded[0]);
		pthread_mutex_unlock(&m->lock);
		int r = forget_records(m, id);
		pthread_mutex_lock(&m->lock);
		if (r < 0)
			return; /* still failing: the next round */
		log_info("sandbox=%s op=forget msg=\"its record and slot, left when they could not be written, are gone\"",
			 id);
		/* Only this thread removes: it is still the first. */
		memmove(m->unrecorded, m->unrecorded + 1, --m->nunrecorded * sizeof(*m->unrecorded));
	}
}

/* Ends a sandbox nobody else reaches any more (out of the list, or still
 * creating): its record says dead before anything is torn down, and goes
 * once all is. */
void entry_teardown(struct manager *m, struct entry *e, const char *why)
{
	int64_t t0 = now_us();
	struct cove_err err = { 0 };
	bool unrecorded = false;
	if (entry_record(m, e, STORE_SANDBOX_DEAD, &err) < 0) {
		log_warn("sandbox=%s op=kill msg=\"%s\"", e->id, err.msg);
		unrecorded = true;
	}
	if (e->sb) {
		vmm_remove_logs(sandbox_vmm(e->sb));
		e->sb = sandbox_free(e->sb);
	}
	saved_remove(m, e->id);
	if (store_sandbox_delete(m->c.store, e->id, &err) < 0) {
		log_warn("sandbox=%s op=kill msg=\"%s\"", e->id, err.msg);
		unrecorded = true;
	}
	if (unrecorded)
		unrecorded_add(m, e->id);
	if (m->c.catalog.remove)
		m->c.catalog.remove(m->c.catalog.ctx, e->id);
	entry_release_snapshot(m, e);
	log_info("sandbox=%s op=kill template=%s reason=%s lived_s=%.1f ms=%.1f", e->id, e->template_id, why,
		 (double)(wall_ms() - e->started_ms) / 1000.0, (double)(now_us() - t0) / 1000.0);
}

void entry_destroy(struct manager *m, struct entry *e, const char *why)
{
	entry_teardown(m, e, why);
	__atomic_add_fetch(&m->killed, 1, __ATOMIC_RELAXED);
	entry_free(e);
}

/* What a sandbox of e made from tpl is booted (or adopted) with. */
void entry_sandbox_config(const struct manager *m, const struct entry *e, const struct template *tpl,
			  struct sandbox_config *sc)
{
	*sc = (struct sandbox_config){
		.id = e->id,
		.net = m->c.net,
		.kernel = m->c.kernel,
		.rootfs = tpl->rootfs,
		.vcpus = e->vcpus,
		.mem_mib = e->mem_mib,
		.accel = m->c.accel,
		.run_dir = m->c.run_dir,
		.log_dir = m->c.log_dir,
		.vmm_binary = m->c.vmm_binary,
		.vmm_driver = tpl->vmm[0] ? tpl->vmm : m->c.vmm_driver,
		/* Not tied to coved: PR_SET_PDEATHSIG follows the thread that
		 * forked (a connection's), and VMMs are to outlive coved. */
		.die_with_parent = false,
		.cancel_fd = m->cancel[0],
		.default_user = tpl->user[0] ? tpl->user : NULL,
		.default_workdir = tpl->workdir[0] ? tpl->workdir : NULL,
		/* Its own on a resume or fork (a create sets the request's). */
		.policy = e->policy.policy,
		.dns = m->c.dns,
		.ca_pem = m->c.ca_pem,
		.volumes = e->volumes,
		.nvolumes = e->nvolumes,
		.volume_access = m->c.volume_access,
	};
}

void template_spawns_key(const char *name, char key[128])
{
	snprintf(key, 128, "template.%s.spawns", name);
}

void entry_settle(struct manager *m, struct entry *e)
{
	e->busy = false;
	pthread_cond_broadcast(&m->settled);
	/* The reaper passes over a busy entry: a deadline that went by
	 * meanwhile is its now. */
	pthread_cond_broadcast(&m->wake);
}

bool entry_disk_savable(const struct manager *m, const struct entry *e)
{
	return m->saved_dir[0] && e->sb && sandbox_can_save(e->sb);
}

int envs_encode(const char *const *envs, char **ret)
{
	*ret = NULL;
	if (!envs || !envs[0])
		return 0;
	json_t *list = json_array();
	for (size_t i = 0; list && envs[i]; i++)
		if (json_array_append_new(list, json_string(envs[i])) < 0) {
			json_decref(list);
			list = NULL;
		}
	*ret = list ? json_dumps(list, JSON_COMPACT) : NULL;
	json_decref(list);
	return *ret ? 0 : -ENOMEM;
}

int envs_decode(const char *text, char ***ret)
{
	*ret = NULL;
	if (!text || !*text)
		return 0;
	json_t *list = json_loads(text, 0, NULL);
	size_t n = json_array_size(list);
	char **envs = json_is_array(list) ? calloc(n + 1, sizeof(*envs)) : NULL;
	int r = !json_is_array(list) ? -EINVAL : envs ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *v = json_string_value(json_array_get(list, i));
		r = !v ? -EINVAL : (envs[i] = strdup(v)) ? 0 : -ENOMEM;
	}
	json_decref(list);
	if (r < 0)
		envs_free(envs);
	else
		*ret = envs;
	return r;
}

char **envs_free(char **envs)
{
	for (size_t i = 0; envs && envs[i]; i++)
		free(envs[i]);
	free(envs);
	return NULL;
}

/* E2B-style ids: 20 of [a-z0-9]. */
int new_sandbox_id(char *id, size_t len)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char raw[20];
	if (len < sizeof(raw) + 1 || getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		id[i] = alphabet[raw[i] % 36];
	id[sizeof(raw)] = '\0';
	return 0;
}
