#include "sandbox/internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "net/net.h"

/* Each connection attempt waits this long: before the guest's network is up
 * a SYN is simply lost, and the kernel would retry only after a second. */
#define AGENT_ATTEMPT_MS 20
#define AGENT_RETRY_SLEEP_MS 5
#define STOP_GRACE_MS 2000

const char *sandbox_id(const struct sandbox *sb) { return sb->id; }
struct vmm *sandbox_vmm(struct sandbox *sb) { return sb->vm; }
const struct sandbox_timings *sandbox_timings(const struct sandbox *sb) { return &sb->timings; }
int sandbox_netns_fd(const struct sandbox *sb) { return net_slot_netns_fd(sb->slot); }
const char *sandbox_token(const struct sandbox *sb) { return sb->token; }

static bool cancelled(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 && poll(&p, 1, 0) > 0;
}

static int wait_agent(struct sandbox *sb, int timeout_ms, struct cove_err *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct cove_err last = { 0 };
	for (;;) {
		int fd = net_slot_connect(sb->slot, ENVD_PORT, AGENT_ATTEMPT_MS, &last);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		log_debug("sandbox=%s op=wait-agent ms=%.1f result=\"%s\"", sb->id,
			  (double)(now_us() - vmm_launch_time_us(sb->vm)) / 1000.0, last.msg);
		if (vmm_state(sb->vm) == VMM_STATE_STOPPED)
			return cove_errf(err, -ECHILD, "VMM exited while the guest booted; see %s and %s",
					 vmm_console_path(sb->vm), vmm_log_path(sb->vm));
		if (cancelled(sb->cancel_fd))
			return cove_errf(err, -ECANCELED, "cancelled while waiting for the guest agent");
		if (now_ms() > deadline)
			return cove_errf(err, -ETIMEDOUT, "guest agent did not answer within %d ms (last: %s); see %s",
					 timeout_ms, last.msg, vmm_console_path(sb->vm));
		if (fd == -ECONNREFUSED || fd == -EHOSTUNREACH || fd == -ENETUNREACH)
			usleep(AGENT_RETRY_SLEEP_MS * 1000);
	}
}

static int make_id(const struct sandbox_config *c, char *id, size_t len, struct cove_err *err)
{
	if (c->id) {
		if (strlen(c->id) >= len)
			return cove_errf(err, -ENAMETOOLONG, "sandbox id '%s' is too long", c->id);
		snprintf(id, len, "%s", c->id);
		return 0;
	}
	char hex[17];
	int r = random_hex(hex, 4);
	if (r < 0)
		return cove_errno(err, r, "sandbox id: getrandom");
	snprintf(id, len, "sb-%s", hex);
	return 0;
}

/* The virtiofs tag of share i: what the guest's /init mounts it by. */
static const char *const share_tags[SANDBOX_MAX_SHARES] = {
	"cove-share-0", "cove-share-1", "cove-share-2", "cove-share-3",
	"cove-share-4", "cove-share-5", "cove-share-6", "cove-share-7",
};

static void vm_config(const struct sandbox_config *c, struct sandbox *sb, struct vmm_config *vc)
{
	vmm_config_init(vc);
	vc->id = sb->id;
	vc->kernel = c->kernel;
	vc->rootfs = c->rootfs;
	if (c->vcpus)
		vc->vcpus = c->vcpus;
	if (c->mem_mib)
		vc->mem_mib = c->mem_mib;
	vc->accel = c->accel;
	if (c->run_dir)
		vc->run_dir = c->run_dir;
	if (c->log_dir)
		vc->log_dir = c->log_dir;
	vc->vmm_binary = c->vmm_binary;
	if (c->vmm_driver)
		vc->driver = c->vmm_driver;
	vc->extra_cmdline = c->kernel_args;
	vc->die_with_parent = c->die_with_parent;
	vc->netns_fd = net_slot_netns_fd(sb->slot);
	vc->tap_fd = sb->tap_fd;
	vc->hide_mounts = net_slot_netns_dir(sb->slot);
	vc->cgroup = true;
	vc->net = (struct vmm_guest_net){ NET_GUEST_ADDR, NET_TAP_ADDR, NET_NETMASK, NET_GUEST_MAC };
	for (size_t i = 0; i < c->nshares && i < VMM_MAX_SHARES; i++)
		vc->shares[i] = (struct vmm_share){ c->shares[i].host_dir, share_tags[i], c->shares[i].read_only };
	vc->nshares = c->nshares;
}

/* A file a saved sandbox kept is usually a hard link to its template
 * snapshot's (template_dir/name): then the VMM is given that path, so that
 * the sandbox's next save links it again (its saved copy is gone by then)
 * instead of copying it. */
static void prefer_template_file(char *path, const char *template_dir, const char *name)
{
	char other[PATH_MAX];
	if (template_dir && snprintf(other, sizeof(other), "%s/%s", template_dir, name) < (int)sizeof(other) &&
	    fs_same_file(path, other))
		memcpy(path, other, strlen(other) + 1);
}

/* A boot from the disk of a sandbox saved in dir: its own overlay (a
 * copy, so that a boot that fails leaves it as it was) over the layer it
 * kept; no state, no memory file. */
static int reboot_paths(const struct sandbox_config *c, struct vmm_config *vc, const char *dir,
			char paths[4][PATH_MAX], struct cove_err *err)
{
	const char *layer = vmm_disk_name(c->vmm_driver, VMM_DISK_LAYER);
	if (snprintf(paths[2], PATH_MAX, "%s/%s", dir, layer) >= PATH_MAX ||
	    snprintf(paths[3], PATH_MAX, "%s/%s", dir, vmm_disk_name(c->vmm_driver, VMM_DISK_OWN)) >= PATH_MAX)
		return cove_errf(err, -ENAMETOOLONG, "saved %s: path too long", dir);
	prefer_template_file(paths[2], c->snapshot, layer);
	vc->disk_layer = access(paths[2], F_OK) == 0 ? paths[2] : NULL;
	vc->disk_overlay = paths[3];
	vc->disk_overlay_copy = true;
	return 0;
}

/* What booting from or for a snapshot in dir adds to the VMM's config. */
static int snapshot_paths(const struct sandbox_config *c, struct vmm_config *vc, enum sandbox_boot how,
			  const char *dir, char paths[4][PATH_MAX], struct cove_err *err)
{
	if (how == SANDBOX_BOOT_COLD)
		return 0;
	if (how == SANDBOX_BOOT_REBOOT)
		return reboot_paths(c, vc, dir, paths, err);
	const char *layer = vmm_disk_name(c->vmm_driver, VMM_DISK_LAYER);
	const char *snapshot[4] = { SNAPSHOT_MEMORY, SNAPSHOT_STATE, layer, vmm_disk_name(c->vmm_driver, VMM_DISK_OVERLAY) };
	const char *saved[4] = { SAVED_MEMORY, SAVED_STATE, layer, vmm_disk_name(c->vmm_driver, VMM_DISK_OWN) };
	bool whole = how == SANDBOX_BOOT_RESUME || how == SANDBOX_BOOT_FORK;
	/* SANDBOX_BOOT_WARM restores the template snapshot like RESTORE. */
	const char **names = whole ? saved : snapshot;
	for (int i = 0; i < 4; i++)
		if (snprintf(paths[i], PATH_MAX, "%s/%s", dir, names[i]) >= PATH_MAX)
			return cove_errf(err, -ENAMETOOLONG, "snapshot %s: path too long", dir);
	if (whole) {
		/* RAM comes with the state, over the memory file it was a
		 * private mapping of when saved (saved before there was one:
		 * all of it, into fresh memory); the saved disk is copied, so
		 * that a resume that fails leaves it as it was (and each fork
		 * child has its own). */
		prefer_template_file(paths[0], c->snapshot, SNAPSHOT_MEMORY);
		prefer_template_file(paths[2], c->snapshot, layer);
		vc->mem_file = access(paths[0], F_OK) == 0 ? paths[0] : NULL;
		vc->restore_state = paths[1];
		vc->disk_layer = access(paths[2], F_OK) == 0 ? paths[2] : NULL;
		vc->disk_overlay = paths[3];
		vc->disk_overlay_copy = true;
		return 0;
	}
	vc->mem_file = paths[0];
	if (how == SANDBOX_BOOT_SNAPSHOT_SOURCE) {
		vc->mem_shared = true;
		vc->disk_overlay = paths[2];
	} else {
		vc->restore_state = paths[1];
		vc->disk_layer = paths[2];
		vc->disk_overlay = paths[3];
		vc->disk_overlay_copy = true;
	}
	return 0;
}

static const char *boot_name(enum sandbox_boot how)
{
	switch (how) {
	case SANDBOX_BOOT_RESTORE: return "snapshot";
	case SANDBOX_BOOT_RESUME: return "saved";
	case SANDBOX_BOOT_FORK: return "fork";
	case SANDBOX_BOOT_WARM: return "warm";
	case SANDBOX_BOOT_REBOOT: return "saved-disk";
	default: return "kernel";
	}
}

/* --- volumes --- */

/* The policy a sandbox's slot gets: c's, with volumes on when it has any. */
static struct net_policy slot_policy(const struct net_policy *p, size_t nvolumes)
{
	struct net_policy q = *p;
	q.volumes = nvolumes > 0;
	return q;
}

static int volumes_take(struct sandbox *sb, const struct sandbox_config *c, struct cove_err *err)
{
	if (!c->nvolumes)
		return 0;
	if (c->nvolumes > SANDBOX_MAX_VOLUMES || !c->volume_access)
		return cove_errf(err, -EINVAL, "sandbox %s: %zu volumes (at most %d, with a volume server)", sb->id,
				 c->nvolumes, SANDBOX_MAX_VOLUMES);
	sb->volume_ids = calloc(c->nvolumes, sizeof(*sb->volume_ids));
	if (!sb->volume_ids)
		return cove_errf(err, -ENOMEM, "sandbox: out of memory");
	for (size_t i = 0; i < c->nvolumes; i++) {
		if (strlen(c->volumes[i].id) >= sizeof(sb->volume_ids[i]))
			return cove_errf(err, -EINVAL, "sandbox %s: volume id '%s' too long", sb->id, c->volumes[i].id);
		snprintf(sb->volume_ids[i], sizeof(sb->volume_ids[i]), "%s", c->volumes[i].id);
	}
	sb->nvolumes = c->nvolumes;
	sb->volume_access = c->volume_access;
	return 0;
}

static void volumes_revoke(struct sandbox *sb, size_t n)
{
	const struct sandbox_volume_access *a = sb->volume_access;
	for (size_t i = 0; i < n; i++)
		a->revoke(a->ctx, sb->volume_ids[i], net_slot_address(sb->slot));
	sb->volumes_allowed = false;
}

/* The volume server lets the slot's address in to each of the volumes. */
static int volumes_allow(struct sandbox *sb, struct cove_err *err)
{
	const struct sandbox_volume_access *a = sb->volume_access;
	if (!sb->nvolumes || sb->volumes_allowed)
		return 0;
	for (size_t i = 0; i < sb->nvolumes; i++) {
		int r = a->allow(a->ctx, sb->volume_ids[i], net_slot_address(sb->slot), err);
		if (r < 0) {
			volumes_revoke(sb, i);
			return cove_err_prefix(err, "sandbox %s: volume %s", sb->id, sb->volume_ids[i]);
		}
	}
	sb->volumes_allowed = true;
	return 0;
}

static void volumes_free(struct sandbox *sb)
{
	free(sb->volume_ids);
	sb->volume_ids = NULL;
	sb->nvolumes = 0;
}

/* Each sandbox's agent gets a token of its own, the host's clock, its
 * nameservers and the certificates to trust; a resumed one keeps its token,
 * defaults, environment and resolv.conf, and gets the clock (it stood still
 * while saved) and the certificates (this coved's, which a restart may
 * have made anew); a rebooted one is given them all again. */
static int init_agent(const struct sandbox_config *c, enum sandbox_boot how, const char *token, struct sandbox *sb,
		      struct cove_err *err)
{
	struct agent_endpoint ep = { net_slot_netns_fd(sb->slot), NET_GUEST_ADDR, ENVD_PORT, NULL };
	struct agent_init_request init = { .token = sb->token,
					   .default_user = c->default_user,
					   .default_workdir = c->default_workdir,
					   .envs = c->envs,
					   .nameservers = c->dns,
					   .ca_bundle = c->ca_pem };
	char warm_token[sizeof(sb->token)];
	int r;
	if (how == SANDBOX_BOOT_WARM) {
		/* The token warm_up gave it authorises the claim's. */
		snprintf(warm_token, sizeof(warm_token), "%s", sb->token);
		ep.token = warm_token;
	}
	if (how == SANDBOX_BOOT_RESUME) {
		snprintf(sb->token, sizeof(sb->token), "%s", token);
		ep.token = sb->token;
		init = (struct agent_init_request){ .token = sb->token, .ca_bundle = c->ca_pem };
	} else if (how == SANDBOX_BOOT_REBOOT) {
		/* A fresh agent: the /init it got when made, again. */
		snprintf(sb->token, sizeof(sb->token), "%s", token);
	} else if ((r = random_hex(sb->token, 32)) < 0) {
		return cove_errno(err, r, "access token: getrandom");
	} else if (how == SANDBOX_BOOT_FORK) {
		/* A fork child: the parent's agent, given a token of its own
		 * (which also reseeds its RNG); its defaults and environment are
		 * the parent's, with c's variables added (a sandbox created from
		 * a snapshot: the create's), and the nameservers of this host. */
		ep.token = token;
		init = (struct agent_init_request){ .token = sb->token,
						    .envs = c->envs,
						    .nameservers = c->dns,
						    .ca_bundle = c->ca_pem };
	}
	/* Every /init names the volumes: a guest restored from a save or a
	 * snapshot finds those it had mounted already. */
	struct agent_volume_mount mounts[SANDBOX_MAX_VOLUMES + SANDBOX_MAX_SHARES];
	char exports[SANDBOX_MAX_VOLUMES][40];
	for (size_t i = 0; i < sb->nvolumes; i++) {
		snprintf(exports[i], sizeof(exports[i]), "/%s", sb->volume_ids[i]);
		mounts[i] = (struct agent_volume_mount){ .path = c->volumes[i].path,
							 .server = NET_TAP_ADDR,
							 .export = exports[i],
							 .port = NET_NFS_PORT,
							 .mount_port = NET_MOUNT_PORT };
	}
	size_t nmounts = sb->nvolumes;
	for (size_t i = 0; i < c->nshares && i < SANDBOX_MAX_SHARES; i++)
		mounts[nmounts++] = (struct agent_volume_mount){ .path = c->shares[i].guest_path,
								 .tag = share_tags[i],
								 .read_only = c->shares[i].read_only };
	init.mounts = nmounts ? mounts : NULL;
	init.nmounts = nmounts;
	if ((r = volumes_allow(sb, err)) < 0)
		return r;
	r = agent_init(&ep, &init, err);
	if (r < 0)
		return r;
	sb->timings.agent_ready_us = now_us();
	int64_t launched = vmm_launch_time_us(sb->vm);
	if (how == SANDBOX_BOOT_WARM) {
		log_info("sandbox=%s op=start from=warm accel=%s claim_ms=%.1f", sb->id,
			 vmm_accel_name(vmm_accel_used(sb->vm)),
			 (double)(sb->timings.agent_ready_us - sb->timings.start_us) / 1000.0);
		return 0;
	}
	log_info("sandbox=%s op=start from=%s accel=%s setup_ms=%.1f vmm_to_agent_ms=%.1f boot_ms=%.1f", sb->id,
		 boot_name(how), vmm_accel_name(vmm_accel_used(sb->vm)), (double)(launched - sb->timings.start_us) / 1000.0,
		 (double)(sb->timings.agent_ready_us - launched) / 1000.0,
		 (double)(sb->timings.agent_ready_us - sb->timings.start_us) / 1000.0);
	return 0;
}

/* A warm sandbox: restored, its agent asked to run a command once and then
 * given a token of its own with /init, so that the VMM has translated the
 * guest code a first request and the claim's /init run (under TCG that is
 * most of a restored guest's first answer, and of a claim: 28 -> 13 ms
 * measured), then paused until sandbox_claim. The command is the one the
 * E2B SDKs wrap every command in, a login bash, where the guest has one. */
static int warm_up(struct sandbox *sb, struct cove_err *err)
{
	struct agent_endpoint ep = { net_slot_netns_fd(sb->slot), NET_GUEST_ADDR, ENVD_PORT, NULL };
	const char *bash[] = { "/bin/bash", "-l", "-c", "true", NULL }, *plain[] = { "true", NULL };
	struct agent_exec_request req = { .argv = bash };
	struct agent_exec_result res;
	int r = agent_exec(&ep, &req, &res, sb->cancel_fd, err);
	if (r == -ENOENT) {
		req.argv = plain;
		r = agent_exec(&ep, &req, &res, sb->cancel_fd, err);
	}
	if (r == 0 && (!res.exited || res.exit_code != 0))
		r = cove_errf(err, -EIO, "warm-up command: %s", res.status);
	if (r == 0 && (r = random_hex(sb->token, 32)) < 0)
		return cove_errno(err, r, "access token: getrandom");
	struct agent_init_request init = { .token = sb->token };
	r = r ?: agent_init(&ep, &init, err);
	return r < 0 ? r : vmm_pause(sb->vm, err);
}

int sandbox_claim(struct sandbox *sb, const struct sandbox_config *c, struct cove_err *err)
{
	int64_t t0 = sb->timings.start_us = now_us();
	int r = volumes_take(sb, c, err);
	struct net_policy policy = slot_policy(&c->policy, c->nvolumes);
	r = r ?: net_slot_set_policy(c->net, sb->slot, &policy, err);
	int64_t t1 = now_us();
	if (r == 0)
		r = vmm_resume(sb->vm, err);
	int64_t t2 = now_us();
	if (r == 0)
		r = init_agent(c, SANDBOX_BOOT_WARM, NULL, sb, err);
	if (r < 0)
		return cove_err_prefix(err, "claim %s", sb->id);
	log_debug("sandbox=%s op=claim policy_ms=%.1f resume_ms=%.1f init_ms=%.1f", sb->id, (double)(t1 - t0) / 1000.0,
		  (double)(t2 - t1) / 1000.0, (double)(now_us() - t2) / 1000.0);
	return 0;
}

int sandbox_set_policy(struct sandbox *sb, struct net_slots *net, const struct net_policy *policy,
		       struct cove_err *err)
{
	struct net_policy p = slot_policy(policy, sb->nvolumes);
	int r = net_slot_set_policy(net, sb->slot, &p, err);
	return r < 0 ? cove_err_prefix(err, "sandbox %s", sb->id) : 0;
}

int sandbox_prepare(const struct sandbox_config *c, struct sandbox **ret, struct cove_err *err)
{
	if (!c->snapshot)
		return cove_errf(err, -EINVAL, "a warm sandbox needs a template snapshot");
	int r = sandbox_snapshot_check(c, c->snapshot, err);
	return r < 0 ? r : sandbox_start_as(c, SANDBOX_BOOT_WARM, c->snapshot, NULL, ret, err);
}

static int start(const struct sandbox_config *c, enum sandbox_boot how, const char *dir, const char *token,
		 struct sandbox *sb, struct cove_err *err)
{
	int r = make_id(c, sb->id, sizeof(sb->id), err);
	if (r < 0)
		return r;
	if (!c->net)
		return cove_errf(err, -EINVAL, "sandbox %s: no network slots to take one from", sb->id);
	sb->slots = c->net;
	if (c->nshares > SANDBOX_MAX_SHARES)
		return cove_errf(err, -E2BIG, "sandbox %s: %zu shares (at most %d)", sb->id, c->nshares,
				 SANDBOX_MAX_SHARES);
	if (c->nshares && how != SANDBOX_BOOT_COLD)
		return cove_errf(err, -EOPNOTSUPP, "sandbox %s: a sandbox with shared directories must boot its kernel "
						   "(a VM with a vhost-user-fs device cannot be restored from a snapshot)", sb->id);
	struct net_policy policy = slot_policy(&c->policy, c->nvolumes);
	r = volumes_take(sb, c, err);
	r = r ?: net_slot_acquire(c->net, sb->id, &policy, &sb->slot, err);
	if (r < 0)
		return r;
	sb->tap_fd = net_slot_open_tap(sb->slot, err);
	if (sb->tap_fd < 0)
		return sb->tap_fd;
	struct vmm_config vc;
	vm_config(c, sb, &vc);
	char paths[4][PATH_MAX];
	r = snapshot_paths(c, &vc, how, dir, paths, err);
	if (r < 0)
		return r;
	r = vmm_create(&vc, &sb->vm, err);
	if (r < 0)
		return r;
	r = vmm_boot(sb->vm, err);
	sb->tap_fd = -1; /* vmm_boot took it */
	if (r < 0)
		return r;
	/* Recorded so that the slot stays while the VMM runs, whatever happens
	 * to this process. */
	r = net_slot_set_vmm(c->net, sb->slot, vmm_identity(sb->vm), err);
	if (r < 0)
		return r;
	sb->timings.vmm_started_us = now_us();
	r = wait_agent(sb, c->agent_timeout_ms > 0 ? c->agent_timeout_ms : SANDBOX_DEFAULT_AGENT_TIMEOUT_MS, err);
	if (r < 0)
		return r;
	/* A snapshot is taken before any sandbox's token or clock is set. */
	if (how == SANDBOX_BOOT_SNAPSHOT_SOURCE)
		return 0;
	if (how == SANDBOX_BOOT_WARM)
		return warm_up(sb, err);
	return init_agent(c, how, token, sb, err);
}

int sandbox_start(const struct sandbox_config *c, struct sandbox **ret, struct cove_err *err)
{
	/* With shares: always a boot (see struct sandbox_share). */
	if (c->snapshot && !c->nshares) {
		struct cove_err why = { 0 };
		int r = sandbox_snapshot_check(c, c->snapshot, &why);
		if (r == 0) {
			r = sandbox_start_as(c, SANDBOX_BOOT_RESTORE, c->snapshot, NULL, ret, &why);
			/* A snapshot that does not load (made by another VMM version, say)
			 * costs a boot, not the sandbox; cancelled is cancelled. */
			if (r == 0 || r == -ECANCELED) {
				if (r < 0 && err)
					*err = why;
				return r;
			}
		}
		log_info("op=start from=kernel msg=\"no usable snapshot: %s\"", why.msg);
	}
	return sandbox_start_as(c, SANDBOX_BOOT_COLD, NULL, NULL, ret, err);
}

int sandbox_start_as(const struct sandbox_config *c, enum sandbox_boot how, const char *dir, const char *token,
		     struct sandbox **ret, struct cove_err *err)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return cove_errf(err, -ENOMEM, "sandbox: out of memory");
	sb->cancel_fd = c->cancel_fd;
	sb->tap_fd = -1;
	sb->timings.start_us = now_us();
	int r = start(c, how, dir, token, sb, err);
	if (r < 0) {
		if (sb->id[0])
			cove_err_prefix(err, "start %s", sb->id);
		sandbox_free(sb);
		return r;
	}
	*ret = sb;
	return 0;
}

int sandbox_adopt(const struct sandbox_config *c, const struct proc_identity *vmm, const char *token,
		  struct sandbox **ret, struct cove_err *err)
{
	if (!c->id || !c->net || !token || strlen(token) != 64)
		return cove_errf(err, -EINVAL, "adopt: a sandbox id, network slots and a 64-character token are needed");
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return cove_errf(err, -ENOMEM, "sandbox: out of memory");
	sb->cancel_fd = -1;
	sb->tap_fd = -1;
	sb->timings.start_us = now_us();
	sb->slots = c->net;
	snprintf(sb->id, sizeof(sb->id), "%s", c->id);
	snprintf(sb->token, sizeof(sb->token), "%s", token);
	int r = net_slot_find(c->net, sb->id, &sb->slot, err);
	char overlay[PATH_MAX], layer[PATH_MAX], memory[PATH_MAX];
	if (r == 0) {
		struct vmm_config vc;
		vm_config(c, sb, &vc);
		vc.netns_fd = -1; /* it runs there already, with its TAP */
		vc.tap_fd = -1;
		/* Restored over its template snapshot's memory (a private
		 * mapping of it), a save keeps only the pages that differ from
		 * it, as before the restart: vmm_save links it only where the
		 * VMM's memory file is that very file. */
		if (c->snapshot && !c->nshares &&
		    snprintf(memory, sizeof(memory), "%s/" SNAPSHOT_MEMORY, c->snapshot) < (int)sizeof(memory) &&
		    access(memory, F_OK) == 0)
			vc.mem_file = memory;
		/* Restored from a snapshot, it writes to an overlay of its own
		 * (what sandbox_save copies); c->snapshot names the layer it is
		 * likely over. */
		if (vmm_disk_path(&vc, overlay) == 0 && access(overlay, F_OK) == 0) {
			vc.disk_overlay = overlay;
			vc.disk_overlay_copy = true;
			if (c->snapshot &&
			    snprintf(layer, sizeof(layer), "%s/%s", c->snapshot, vmm_disk_name(c->vmm_driver, VMM_DISK_LAYER)) <
				    (int)sizeof(layer) &&
			    access(layer, F_OK) == 0)
				vc.disk_layer = layer;
		}
		r = vmm_adopt(&vc, vmm, &sb->vm, err);
	}
	r = r ?: volumes_take(sb, c, err);
	if (r < 0) {
		/* The VMM and its slot stay as they are, for the caller to end. */
		cove_err_prefix(err, "adopt %s", sb->id);
		sb->slot = net_slot_free(sb->slot);
		volumes_free(sb);
		free(sb);
		return r;
	}
	/* The volume server is this process's, started anew: its guest's
	 * mounts stall until it lets the slot in again. */
	struct cove_err verr = { 0 };
	if (volumes_allow(sb, &verr) < 0)
		log_warn("sandbox=%s op=adopt msg=\"%s\"", sb->id, verr.msg);
	sb->timings.vmm_started_us = sb->timings.agent_ready_us = now_us();
	*ret = sb;
	return 0;
}

int sandbox_exec(struct sandbox *sb, const struct agent_exec_request *req, struct agent_exec_result *res,
		 struct cove_err *err)
{
	struct agent_endpoint ep = { sandbox_netns_fd(sb), NET_GUEST_ADDR, ENVD_PORT, sb->token };
	int r = agent_exec(&ep, req, res, sb->cancel_fd, err);
	if (r < 0 && r != -ENOENT && r != -EACCES && r != -ECANCELED)
		cove_err_prefix(err, "exec in %s", sb->id);
	return r;
}

int sandbox_upload(struct sandbox *sb, const char *from, const char *guest_path, const char *user,
		   struct cove_err *err)
{
	struct agent_endpoint ep = { sandbox_netns_fd(sb), NET_GUEST_ADDR, ENVD_PORT, sb->token };
	int r = agent_upload(&ep, from, guest_path, user, sb->cancel_fd, err);
	return r < 0 && r != -ECANCELED ? cove_err_prefix(err, "in %s", sb->id) : r;
}

bool sandbox_can_save(const struct sandbox *sb)
{
	return vmm_can_save(sb->vm);
}

int sandbox_pause(struct sandbox *sb, struct cove_err *err)
{
	return vmm_pause(sb->vm, err);
}

int sandbox_resume(struct sandbox *sb, struct cove_err *err)
{
	return vmm_resume(sb->vm, err);
}

int sandbox_stop(struct sandbox *sb, struct cove_err *err)
{
	return vmm_stop(sb->vm, STOP_GRACE_MS, err);
}

struct sandbox *sandbox_detach(struct sandbox *sb)
{
	if (!sb)
		return NULL;
	sb->vm = vmm_detach(sb->vm);
	if (sb->tap_fd >= 0)
		close(sb->tap_fd);
	sb->slot = net_slot_free(sb->slot);
	volumes_free(sb);
	free(sb);
	return NULL;
}

struct sandbox *sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return NULL;
	/* The VMM first: it holds the TAP and lives in the namespace. */
	sb->vm = vmm_free(sb->vm);
	if (sb->tap_fd >= 0)
		close(sb->tap_fd);
	if (sb->slot && sb->volumes_allowed)
		volumes_revoke(sb, sb->nvolumes);
	volumes_free(sb);
	if (sb->slot) {
		struct cove_err err = { 0 };
		if (net_slot_release(sb->slots, sb->slot, &err) < 0)
			log_warn("sandbox=%s op=free msg=\"%s\"", sb->id, err.msg);
	}
	free(sb);
	return NULL;
}
