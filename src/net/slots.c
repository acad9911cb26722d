/* The slot allocator: records in the state database, kernel objects made by
 * slot.c, rules by firewall.c, a pool of ready slots kept by a thread, and a
 * reaper that finishes releases. Reconciliation of records with the kernel
 * after a crash is in recover.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "net/internal.h"
#include "store/store.h"

struct net_slot {
	unsigned index;
	int netns_fd;
	char sandbox[64];
	char host_link[16];
	char address[16];
	char netns_dir[PATH_MAX];
};

unsigned net_slot_index(const struct net_slot *slot) { return slot->index; }
int net_slot_netns_fd(const struct net_slot *slot) { return slot->netns_fd; }
const char *net_slot_address(const struct net_slot *slot) { return slot->address; }
const char *net_slot_host_link(const struct net_slot *slot) { return slot->host_link; }
const char *net_slot_netns_dir(const struct net_slot *slot) { return slot->netns_dir; }

void net_config_from_env(struct net_config *c)
{
	memset(c, 0, sizeof(*c));
	c->name = env_get(ENV_NET_NAME);
	c->state_dir = env_get(ENV_STATE_DIR);
	c->run_dir = env_get(ENV_RUN_DIR);
	c->netns_dir = env_get(ENV_NET_DIR);
	c->range = env_get(ENV_NET_RANGE);
	c->max_slots = env_unsigned(ENV_NET_MAX_SLOTS);
	c->pool_size = env_unsigned(ENV_NET_POOL);
}

/* --- the reaper: finishes releases in the background --- */

/* After this long the kernel has had ample time; the link is deleted. */
#define REAP_PATIENCE_MS 2000
#define REAP_POLL_MS 2
#define REAP_STORE_RETRY_MS 1000

/* true once p is done with (stopping: whatever its record's fate, which
 * the next start's recovery settles). */
static bool reap_one(struct net_slots *ns, const struct pending_reap *p, bool stopping)
{
	if (slot_host_link_exists(&ns->layout, p->index)) {
		if (now_ms() - p->since_ms < REAP_PATIENCE_MS)
			return false;
		struct cove_err err = { 0 };
		if (slot_delete_host_link(&ns->layout, p->index, &err) < 0)
			log_warn("op=net-release slot=%u msg=\"%s\"", p->index, err.msg);
	}
	/* A record that cannot be deleted (the state's file system full)
	 * stays queued, tried again a second later, not left behind. */
	if (!stopping && ns->reap_store_failed_ms && now_ms() - ns->reap_store_failed_ms < REAP_STORE_RETRY_MS)
		return false;
	struct cove_err err = { 0 };
	if (store_slot_delete(ns->store, p->index, &err) < 0) {
		if (!ns->reap_store_failed_ms || stopping)
			log_warn("op=net-release slot=%u msg=\"%s%s\"", p->index, err.msg, stopping ? "" : "; tried again");
		ns->reap_store_failed_ms = now_ms();
		return stopping;
	}
	ns->reap_store_failed_ms = 0;
	return true;
}

static void *reaper_main(void *arg)
{
	struct net_slots *ns = arg;
	pthread_mutex_lock(&ns->reap_lock);
	for (;;) {
		while (!ns->nreap && !ns->reap_stop)
			pthread_cond_wait(&ns->reap_wake, &ns->reap_lock);
		if (!ns->nreap)
			break;
		size_t n = ns->nreap;
		struct pending_reap *batch = malloc(n * sizeof(*batch));
		if (!batch) {
			pthread_mutex_unlock(&ns->reap_lock);
			usleep(REAP_POLL_MS * 1000);
			pthread_mutex_lock(&ns->reap_lock);
			continue;
		}
		memcpy(batch, ns->reap, n * sizeof(*batch));
		bool stopping = ns->reap_stop;
		pthread_mutex_unlock(&ns->reap_lock);
		bool *done = calloc(n, sizeof(*done));
		size_t ndone = 0;
		for (size_t i = 0; i < n; i++)
			if ((done[i] = reap_one(ns, &batch[i], stopping)))
				ndone++;
		pthread_mutex_lock(&ns->reap_lock);
		/* Items queued meanwhile sit after the first n. */
		size_t w = 0;
		for (size_t i = 0; i < ns->nreap; i++)
			if (i >= n || !done[i])
				ns->reap[w++] = ns->reap[i];
		ns->nreap = w;
		free(done);
		free(batch);
		if (ndone < n) {
			pthread_mutex_unlock(&ns->reap_lock);
			usleep(REAP_POLL_MS * 1000);
			pthread_mutex_lock(&ns->reap_lock);
		}
	}
	pthread_mutex_unlock(&ns->reap_lock);
	return NULL;
}

static int reap_later(struct net_slots *ns, unsigned index, struct cove_err *err)
{
	pthread_mutex_lock(&ns->reap_lock);
	if (ns->nreap == ns->reap_cap) {
		size_t cap = ns->reap_cap ? ns->reap_cap * 2 : 16;
		struct pending_reap *p = realloc(ns->reap, cap * sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&ns->reap_lock);
			return cove_errf(err, -ENOMEM, "net: out of memory");
		}
		ns->reap = p;
		ns->reap_cap = cap;
	}
	ns->reap[ns->nreap++] = (struct pending_reap){ index, now_ms() };
	pthread_cond_signal(&ns->reap_wake);
	pthread_mutex_unlock(&ns->reap_lock);
	return 0;
}

/* --- opening --- */

static int check_config(const struct net_config *c, struct net_slots *ns, struct cove_err *err)
{
	const char *name = c->name && *c->name ? c->name : NET_DEFAULT_NAME;
	if (net_name_check(name) < 0)
		return cove_errf(err, -EINVAL, "network name '%s': expected 1 to %d of a-z and 0-9", name, NET_NAME_MAX);
	snprintf(ns->name, sizeof(ns->name), "%s", name);
	const char *range = c->range && *c->range ? c->range : NET_DEFAULT_RANGE;
	if (net_cidr_parse(range, &ns->layout.range) < 0 || ns->layout.range.prefix > 30)
		return cove_errf(err, -EINVAL, "network range '%s': expected an IPv4 CIDR of /30 or wider with the host bits clear",
				 range);
	snprintf(ns->range_text, sizeof(ns->range_text), "%s", range);
	for (size_t i = 0; c->dns && c->dns[i]; i++) {
		struct net_cidr a;
		if (i >= NET_DNS_MAX || net_cidr_parse(c->dns[i], &a) < 0 || a.prefix != 32)
			return cove_errf(err, -EINVAL, "nameserver '%s': expected at most %d IPv4 addresses", c->dns[i],
					 NET_DNS_MAX);
	}
	/* The last /31 is the volume server's. */
	unsigned room = net_range_slots(&ns->layout.range) - 1;
	ns->max_slots = c->max_slots ? c->max_slots : NET_DEFAULT_MAX_SLOTS;
	if (ns->max_slots > room)
		ns->max_slots = room;
	ns->pool_size = c->pool_size > ns->max_slots ? ns->max_slots : c->pool_size;
	const char *run_dir = c->run_dir && *c->run_dir ? c->run_dir : COVE_DEFAULT_RUN_DIR;
	int n = c->netns_dir && *c->netns_dir ? snprintf(ns->netns_dir, sizeof(ns->netns_dir), "%s", c->netns_dir)
					      : snprintf(ns->netns_dir, sizeof(ns->netns_dir), "%s/netns", run_dir);
	if (n < 0 || (size_t)n >= sizeof(ns->netns_dir) - 16)
		return cove_errf(err, -ENAMETOOLONG, "network namespace directory under %s: path too long", run_dir);
	ns->layout.name = ns->name;
	ns->layout.netns_dir = ns->netns_dir;
	return 0;
}

static int check_capabilities(struct cove_err *err)
{
	if (geteuid() != 0)
		return cove_errf(err, -EPERM, "sandbox networking needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)");
	if (access("/dev/net/tun", R_OK | W_OK) < 0)
		return cove_errno(err, -errno, "sandbox networking needs /dev/net/tun (TUN/TAP; 'modprobe tun')");
	return 0;
}

/* RUN_DIR/netns is a mount point of its own, so a VMM's private mount
 * namespace can drop every slot's mount at once (vmm_config.hide_mounts). */
static int prepare_netns_dir(struct net_slots *ns, struct cove_err *err)
{
	int r = fs_mkdir_p(ns->netns_dir, 0755, err);
	if (r < 0)
		return r;
	struct statx stx;
	if (statx(AT_FDCWD, ns->netns_dir, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return cove_errno(err, -errno, "stat %s", ns->netns_dir);
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT && stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)
		return 0;
	if (mount("cove-netns", ns->netns_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
		return cove_errno(err, -errno, "mount tmpfs on %s", ns->netns_dir);
	return 0;
}

/* Guests reach the outside world through the host's routing. */
static int enable_forwarding(struct cove_err *err)
{
	const char *path = "/proc/sys/net/ipv4/ip_forward";
	char v = 0;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pread(fd, &v, 1, 0) != 1)
		return cove_errno(err, -errno, "read %s", path);
	if (v == '1')
		return 0;
	if (pwrite(fd, "1", 1, 0) != 1)
		return cove_errno(err, -errno, "enable IPv4 forwarding (%s)", path);
	log_info("op=net-init msg=\"enabled IPv4 forwarding (net.ipv4.ip_forward=1) for sandbox egress\"");
	return 0;
}

/* The settings that shape kernel objects may change only while no slot uses
 * them; then the table is remade. */
static int check_settings(struct net_slots *ns, bool *replace, struct cove_err *err)
{
	char key[64], old[64];
	snprintf(key, sizeof(key), "net.%s.range", ns->name);
	int r = store_meta_get(ns->store, key, old, sizeof(old), err);
	if (r == -ENOENT)
		return store_meta_set(ns->store, key, ns->range_text, err);
	if (r < 0)
		return r;
	if (strcmp(old, ns->range_text) == 0)
		return 0;
	unsigned used = 0, n;
	for (int st = STORE_SLOT_CREATING; st <= STORE_SLOT_DESTROYING; st++) {
		if ((r = store_slot_count(ns->store, st, &n, err)) < 0)
			return r;
		used += n;
	}
	if (used)
		return cove_errf(err, -EBUSY,
				 "network range changed from %s to %s while %u slots exist; release them (cove net gc "
				 "--pool) with the old range first",
				 old, ns->range_text, used);
	*replace = true;
	return store_meta_set(ns->store, key, ns->range_text, err);
}

static int open_locked(struct net_slots *ns, struct net_recovery *recovery, struct cove_err *err)
{
	bool replace = false;
	int r = check_settings(ns, &replace, err);
	if (r == 0)
		r = prepare_netns_dir(ns, err);
	if (r == 0)
		r = fw_ensure_table(ns->fw, replace, NULL, err);
	if (r == 0)
		r = enable_forwarding(err);
	if (r == 0)
		r = slots_recover_locked(ns, false, recovery, err);
	return r;
}

static void *pool_main(void *arg);

int net_slots_open(const struct net_config *c, struct net_slots **ret, struct net_recovery *recovery,
		   struct cove_err *err)
{
	struct net_slots *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return cove_errf(err, -ENOMEM, "net: out of memory");
	pthread_mutex_init(&ns->pool_lock, NULL);
	pthread_cond_init(&ns->pool_wake, NULL);
	pthread_mutex_init(&ns->reap_lock, NULL);
	pthread_cond_init(&ns->reap_wake, NULL);
	ns->guard_wake = -1;
	int r = check_config(c, ns, err);
	if (r == 0)
		r = check_capabilities(err);
	if (r == 0)
		r = proc_identity_read(getpid(), &ns->self, err);
	if (r == 0)
		r = store_open(c->state_dir, &ns->store, err);
	if (r == 0)
		r = fw_open(ns->name, &ns->layout.range, c->dns, &ns->fw, err);
	if (r == 0 && (r = store_begin(ns->store, err)) == 0) {
		r = open_locked(ns, recovery, err);
		if (r < 0)
			store_rollback(ns->store);
		else
			r = store_commit(ns->store, err);
	}
	if (r == 0) {
		r = -pthread_create(&ns->reaper, NULL, reaper_main, ns);
		if (r < 0)
			cove_errno(err, r, "net: start the reaper thread");
		ns->reaper_running = r == 0;
	}
	if (r == 0)
		r = guard_start(ns, err);
	if (r == 0 && ns->pool_size) {
		r = -pthread_create(&ns->pool_thread, NULL, pool_main, ns);
		if (r < 0)
			cove_errno(err, r, "net: start the pool thread");
		ns->pool_running = r == 0;
	}
	if (r < 0) {
		net_slots_close(ns);
		return r;
	}
	*ret = ns;
	return 0;
}

struct net_slots *net_slots_close(struct net_slots *ns)
{
	if (!ns)
		return NULL;
	guard_stop(ns);
	if (ns->pool_running) {
		pthread_mutex_lock(&ns->pool_lock);
		ns->pool_stop = true;
		pthread_cond_signal(&ns->pool_wake);
		pthread_mutex_unlock(&ns->pool_lock);
		pthread_join(ns->pool_thread, NULL);
	}
	if (ns->reaper_running) {
		/* Waits for the releases in flight (bounded by REAP_PATIENCE_MS). */
		pthread_mutex_lock(&ns->reap_lock);
		ns->reap_stop = true;
		pthread_cond_signal(&ns->reap_wake);
		pthread_mutex_unlock(&ns->reap_lock);
		pthread_join(ns->reaper, NULL);
	}
	free(ns->reap);
	fw_close(ns->fw);
	store_close(ns->store);
	pthread_cond_destroy(&ns->pool_wake);
	pthread_mutex_destroy(&ns->pool_lock);
	pthread_cond_destroy(&ns->reap_wake);
	pthread_mutex_destroy(&ns->reap_lock);
	free(ns);
	return NULL;
}

/* --- making, claiming and releasing --- */

static const struct net_policy default_policy = { .internet = true };

static int put_state(struct net_slots *ns, struct store_slot *rec, enum store_slot_state state, struct cove_err *err)
{
	rec->state = state;
	int r = store_begin(ns->store, err);
	if (r < 0)
		return r;
	r = store_slot_put(ns->store, rec, err);
	if (r < 0) {
		store_rollback(ns->store);
		return r;
	}
	return store_commit(ns->store, err);
}

static int forget_record(struct net_slots *ns, unsigned index)
{
	struct cove_err e = { 0 };
	int r = store_slot_delete(ns->store, index, &e);
	if (r < 0)
		log_warn("op=net-release slot=%u msg=\"%s\"", index, e.msg);
	return r;
}

/* Reserves a free index (a 'creating' record held by this process) and makes
 * the slot's kernel objects with the default policy. */
static int make_slot(struct net_slots *ns, const char *sandbox, struct store_slot *rec, struct cove_err *err)
{
	memset(rec, 0, sizeof(*rec));
	int r = store_begin(ns->store, err);
	if (r < 0)
		return r;
	r = store_slot_free_index(ns->store, ns->max_slots, &rec->index, err);
	if (r == 0) {
		rec->state = STORE_SLOT_CREATING;
		rec->holder = ns->self;
		snprintf(rec->sandbox, sizeof(rec->sandbox), "%s", sandbox ? sandbox : "");
		r = store_slot_put(ns->store, rec, err);
	}
	if (r < 0) {
		store_rollback(ns->store);
		return r;
	}
	if ((r = store_commit(ns->store, err)) < 0)
		return r;
	int64_t t0 = now_us();
	r = slot_make(&ns->layout, rec->index, err);
	/* What an earlier holder of its address left is not this slot's. */
	if (r == 0)
		slots_forget_flows(ns, rec->index);
	int64_t t1 = now_us();
	if (r == 0)
		r = fw_slot_set(ns->fw, rec->index, &default_policy, err);
	log_debug("op=net-make slot=%u kernel_ms=%.3f rules_ms=%.3f", rec->index, (double)(t1 - t0) / 1000.0,
		  (double)(now_us() - t1) / 1000.0);
	if (r < 0) {
		slots_remove_all(ns, rec->index, NULL);
		forget_record(ns, rec->index);
	}
	return r;
}

struct volumes_job {
	uint32_t server;
	struct cove_err *err;
	bool entered;
};

static int volumes_inside(void *ctx)
{
	struct volumes_job *j = ctx;
	j->entered = true;
	return fw_namespace_volumes(j->server, j->err);
}

/* The slot's namespace DNATs the guest's NFS to the volume server. */
static int slot_volume_rules(struct net_slots *ns, unsigned index, struct cove_err *err)
{
	uint32_t host_end;
	struct volumes_job j = { 0, err, false };
	if (net_volume_server_addrs(&ns->layout.range, &host_end, &j.server) < 0)
		return cove_errf(err, -ERANGE, "net: range %s has no room for the volume server", ns->range_text);
	int fd = slot_open_netns(&ns->layout, index, err);
	if (fd < 0)
		return fd;
	int r = net_run_in_netns(fd, volumes_inside, &j);
	close(fd);
	if (r < 0 && !j.entered)
		cove_errno(err, r, "net: enter the namespace of slot %u", index);
	return r;
}

/* Records the policy (for recovery to restore), then puts it in force. */
static int apply_policy(struct net_slots *ns, unsigned index, const struct net_policy *policy, struct cove_err *err)
{
	if ((net_policy_needs_proxy(policy) || policy->proxy.address) && !fw_has_proxy(ns->fw))
		return cove_errf(err, -ENOTSUP, "domain names in allow_out or deny_out, rules and egressProxy need "
						"coved's egress proxy; `cove run` alone enforces addresses and CIDRs only");
	char *text = net_policy_encode(policy);
	if (!text)
		return cove_errf(err, -ENOMEM, "net: out of memory");
	int r = store_slot_set_policy(ns->store, index, text, err);
	free(text);
	if (r == 0 && policy->volumes)
		r = slot_volume_rules(ns, index, err);
	return r < 0 ? r : fw_slot_set(ns->fw, index, policy, err);
}

/* Takes the first ready slot, if any: 1 when one was claimed. */
static int claim_ready(struct net_slots *ns, const char *sandbox, struct store_slot *rec, struct cove_err *err)
{
	int r = store_begin(ns->store, err);
	if (r < 0)
		return r;
	r = store_slot_first_ready(ns->store, rec, err);
	if (r == 0) {
		rec->state = STORE_SLOT_USED;
		rec->holder = ns->self;
		snprintf(rec->sandbox, sizeof(rec->sandbox), "%s", sandbox);
		r = store_slot_put(ns->store, rec, err);
	}
	if (r < 0) {
		store_rollback(ns->store);
		return r == -ENOENT ? 0 : r;
	}
	r = store_commit(ns->store, err);
	return r < 0 ? r : 1;
}

static int slot_new(struct net_slots *ns, const struct store_slot *rec, struct net_slot **ret, struct cove_err *err)
{
	struct net_slot *slot = calloc(1, sizeof(*slot));
	if (!slot)
		return cove_errf(err, -ENOMEM, "net: out of memory");
	slot->index = rec->index;
	snprintf(slot->sandbox, sizeof(slot->sandbox), "%s", rec->sandbox);
	slot_host_link(&ns->layout, rec->index, slot->host_link);
	snprintf(slot->netns_dir, sizeof(slot->netns_dir), "%s", ns->netns_dir);
	uint32_t host_end, ns_end;
	net_slot_addrs(&ns->layout.range, rec->index, &host_end, &ns_end);
	net_addr_format(ns_end, slot->address);
	slot->netns_fd = slot_open_netns(&ns->layout, rec->index, err);
	if (slot->netns_fd < 0) {
		int r = slot->netns_fd;
		free(slot);
		return r;
	}
	*ret = slot;
	return 0;
}

static void pool_kick(struct net_slots *ns)
{
	if (!ns->pool_running)
		return;
	pthread_mutex_lock(&ns->pool_lock);
	pthread_cond_signal(&ns->pool_wake);
	pthread_mutex_unlock(&ns->pool_lock);
}

int net_slot_acquire(struct net_slots *ns, const char *sandbox, const struct net_policy *policy,
		     struct net_slot **ret, struct cove_err *err)
{
	if (!sandbox || !*sandbox || strlen(sandbox) >= 64)
		return cove_errf(err, -EINVAL, "net: a slot needs a sandbox id of 1 to 63 characters");
	if (!policy)
		policy = &default_policy;
	int r = net_policy_check(policy, err);
	if (r < 0)
		return r;
	struct store_slot rec;
	r = ns->pool_size ? claim_ready(ns, sandbox, &rec, err) : 0;
	if (r < 0)
		return r;
	bool from_pool = r == 1;
	if (!from_pool && (r = make_slot(ns, sandbox, &rec, err)) < 0)
		return r;
	r = 0;
	pool_kick(ns);
	/* Pool slots come with the default policy; only another needs a change. */
	if (!net_policy_is_default(policy))
		r = apply_policy(ns, rec.index, policy, err);
	if (r == 0 && !from_pool)
		r = put_state(ns, &rec, STORE_SLOT_USED, err);
	struct net_slot *slot = NULL;
	if (r == 0)
		r = slot_new(ns, &rec, &slot, err);
	if (r < 0) {
		slots_remove_all(ns, rec.index, NULL);
		forget_record(ns, rec.index);
		return cove_err_prefix(err, "sandbox %s: network slot %u", sandbox, rec.index);
	}
	log_debug("sandbox=%s op=net-acquire slot=%u pool=%d", sandbox, rec.index, from_pool);
	*ret = slot;
	return 0;
}

int net_slot_set_vmm(struct net_slots *ns, struct net_slot *slot, const struct proc_identity *vmm,
		     struct cove_err *err)
{
	struct store_slot rec;
	int r = store_begin(ns->store, err);
	if (r < 0)
		return r;
	r = store_slot_get(ns->store, slot->index, &rec, err);
	if (r == -ENOENT)
		cove_errf(err, r, "net: slot %u has no record", slot->index);
	if (r == 0) {
		rec.vmm = *vmm;
		r = store_slot_put(ns->store, &rec, err);
	}
	if (r < 0) {
		store_rollback(ns->store);
		return r;
	}
	return store_commit(ns->store, err);
}

int net_slot_set_policy(struct net_slots *ns, struct net_slot *slot, const struct net_policy *policy,
			struct cove_err *err)
{
	int r = net_policy_check(policy, err);
	return r < 0 ? r : apply_policy(ns, slot->index, policy, err);
}

int net_volume_server_open(struct net_slots *ns, char addr[16], struct cove_err *err)
{
	uint32_t host_end, ns_end;
	if (net_volume_server_addrs(&ns->layout.range, &host_end, &ns_end) < 0)
		return cove_errf(err, -ERANGE, "net: range %s has no room for the volume server", ns->range_text);
	net_addr_format(ns_end, addr);
	int fd = server_open_netns(&ns->layout, NULL);
	if (fd >= 0)
		return fd;
	/* Half made (a crash while making it): made again from nothing. */
	server_unmake(&ns->layout, NULL);
	int r = server_make(&ns->layout, err);
	return r < 0 ? r : server_open_netns(&ns->layout, err);
}

int net_volume_server_remove(struct net_slots *ns, struct cove_err *err)
{
	return server_unmake(&ns->layout, err);
}

int net_slot_release(struct net_slots *ns, struct net_slot *slot, struct cove_err *err)
{
	if (!slot)
		return 0;
	struct store_slot rec = { .index = slot->index, .holder = ns->self };
	snprintf(rec.sandbox, sizeof(rec.sandbox), "%s", slot->sandbox);
	int r = put_state(ns, &rec, STORE_SLOT_DESTROYING, err);
	if (r == 0)
		r = fw_slot_remove(ns->fw, slot->index, err);
	/* Its VMM is gone: nothing makes new entries for its address. */
	if (r == 0)
		slots_forget_flows(ns, slot->index);
	/* The namespace goes with its last reference; the kernel then removes
	 * its links in the background, and the reaper finishes the record. */
	net_slot_free(TAKE_PTR(slot));
	if (r == 0)
		r = slot_release_netns(&ns->layout, rec.index, err);
	if (r == 0)
		r = reap_later(ns, rec.index, err);
	if (r < 0)
		cove_err_prefix(err, "release network slot %u", rec.index);
	net_slot_free(slot);
	return r;
}

struct net_slot *net_slot_free(struct net_slot *slot)
{
	if (!slot)
		return NULL;
	if (slot->netns_fd >= 0)
		close(slot->netns_fd);
	free(slot);
	return NULL;
}

int net_slot_find(struct net_slots *ns, const char *sandbox, struct net_slot **ret, struct cove_err *err)
{
	struct store_slot rec;
	int r = store_slot_find_sandbox(ns->store, sandbox, &rec, err);
	if (r == -ENOENT)
		return cove_errf(err, r, "no sandbox '%s' on this host", sandbox);
	if (r < 0)
		return r;
	if (rec.state != STORE_SLOT_USED || !slots_holder_alive(&rec))
		return cove_errf(err, -ENOENT, "sandbox '%s' is not running", sandbox);
	return slot_new(ns, &rec, ret, err);
}

int net_slot_forget(struct net_slots *ns, const char *sandbox, struct cove_err *err)
{
	struct store_slot rec;
	int r = store_slot_find_sandbox(ns->store, sandbox, &rec, err);
	/* One being released already is the release's (its reaper holds the
	 * index until the record goes). */
	if (r == -ENOENT || (r == 0 && rec.state != STORE_SLOT_USED))
		return 0;
	if (r < 0)
		return r;
	if (rec.vmm.pid > 0 && proc_identity_matches(&rec.vmm))
		return cove_errf(err, -EBUSY, "slot %u of '%s': its VMM still runs", rec.index, sandbox);
	rec.holder = ns->self;
	r = put_state(ns, &rec, STORE_SLOT_DESTROYING, err);
	if (r == 0)
		r = slots_remove_all(ns, rec.index, err);
	if (r == 0)
		r = store_slot_delete(ns->store, rec.index, err);
	return r < 0 ? cove_err_prefix(err, "forget network slot %u of '%s'", rec.index, sandbox) : 0;
}

int net_slot_connect(const struct net_slot *slot, uint16_t port, int timeout_ms, struct cove_err *err)
{
	return net_connect_tcp_abortive(slot->netns_fd, NET_GUEST_ADDR, port, timeout_ms, true, err);
}

int net_slot_open_tap(const struct net_slot *slot, struct cove_err *err)
{
	return slot_open_tap(slot->netns_fd, err);
}

struct list_walk {
	struct net_slots *ns;
	net_slot_info_fn fn;
	void *ctx;
};

static int list_one(void *ctx, const struct store_slot *s)
{
	struct list_walk *w = ctx;
	struct net_slot_info info = {
		.index = s->index,
		.state = store_slot_state_name(s->state),
		.sandbox = s->sandbox,
		.holder_pid = s->holder.pid,
		.vmm_pid = s->vmm.pid,
		.holder_alive = s->holder.pid > 0 && proc_identity_matches(&s->holder),
		.vmm_alive = s->vmm.pid > 0 && proc_identity_matches(&s->vmm),
	};
	uint32_t host_end, ns_end;
	slot_host_link(&w->ns->layout, s->index, info.host_link);
	if (net_slot_addrs(&w->ns->layout.range, s->index, &host_end, &ns_end) == 0)
		net_addr_format(ns_end, info.address);
	return w->fn(w->ctx, &info);
}

int net_slots_list(struct net_slots *ns, net_slot_info_fn fn, void *ctx, struct cove_err *err)
{
	struct list_walk w = { ns, fn, ctx };
	return store_slot_each(ns->store, list_one, &w, err);
}

/* --- the pool --- */

int net_slots_fill_pool(struct net_slots *ns, struct cove_err *err)
{
	int made = 0;
	for (;;) {
		unsigned ready = 0;
		int r = store_slot_count(ns->store, STORE_SLOT_READY, &ready, err);
		if (r < 0)
			return r;
		if (ready >= ns->pool_size)
			return made;
		pthread_mutex_lock(&ns->pool_lock);
		bool stop = ns->pool_stop;
		pthread_mutex_unlock(&ns->pool_lock);
		if (stop)
			return made;
		struct store_slot rec;
		if ((r = make_slot(ns, NULL, &rec, err)) < 0)
			return r;
		rec.holder = (struct proc_identity){ 0 };
		if ((r = put_state(ns, &rec, STORE_SLOT_READY, err)) < 0) {
			slots_remove_all(ns, rec.index, NULL);
			forget_record(ns, rec.index);
			return r;
		}
		made++;
	}
}

static void *pool_main(void *arg)
{
	struct net_slots *ns = arg;
	for (;;) {
		struct cove_err err = { 0 };
		if (net_slots_fill_pool(ns, &err) < 0)
			log_warn("op=net-pool msg=\"%s\"", err.msg);
		pthread_mutex_lock(&ns->pool_lock);
		if (!ns->pool_stop) {
			/* Woken by a claim; the time-out retries after a failure. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += err.code ? 5 : 60;
			pthread_cond_timedwait(&ns->pool_wake, &ns->pool_lock, &ts);
		}
		bool stop = ns->pool_stop;
		pthread_mutex_unlock(&ns->pool_lock);
		if (stop)
			return NULL;
	}
}
