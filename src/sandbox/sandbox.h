/* A sandbox: one microVM, its network namespace with a TAP, and the guest
 * agent inside it, started and torn down as a unit. `cove run` uses one for a
 * single command; the daemon (coved) will hold many. */
#ifndef COVE_SANDBOX_H
#define COVE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/agent.h"
#include "common/err.h"
#include "net/net.h"
#include "vmm/vmm.h"

#define SANDBOX_DEFAULT_AGENT_TIMEOUT_MS 30000
#define SANDBOX_DEFAULT_READY_TIMEOUT_S 120
/* Cove's stand-ins for tools a template's ready command may use (E2B's
 * waitForPort runs ss), put there by template builds: last on the ready
 * command's PATH, so a template's own tools win. */
#define SANDBOX_GUEST_TOOLS "/usr/lib/cove/bin"
/* Where a template's start command writes its output, in the guest. */
#define SANDBOX_START_LOG "/tmp/cove-start.log"

/* A volume the guest mounts (E2B's volumeMounts): the volume's id and the
 * directory it appears at in the guest. */
struct sandbox_volume {
	const char *id;
	const char *path;
};
/* The host's volume server (nfs/nfs.h, through coved): lets a slot's
 * address mount a volume, before every /init that mounts it (the server
 * may have been started anew since); revoke undoes one allow, when the
 * sandbox lets go of its slot (not when it is detached: the next process
 * allows it again as it adopts it). */
struct sandbox_volume_access {
	int (*allow)(void *ctx, const char *volume_id, const char *address, struct cove_err *err);
	void (*revoke)(void *ctx, const char *volume_id, const char *address);
	void *ctx;
};
#define SANDBOX_MAX_VOLUMES 16

/* A host directory the guest sees at guest_path through virtiofs (`cove
 * run --share`; vmm/vmm.h, struct vmm_share): mounted at every /init. A
 * sandbox with shares always boots its kernel (no template snapshot), and
 * cannot be saved, snapshotted or forked. */
struct sandbox_share {
	const char *host_dir;
	const char *guest_path;
	bool read_only;
};
#define SANDBOX_MAX_SHARES VMM_MAX_SHARES

struct sandbox_config {
	const char *id;         /* NULL: a new "sb-<8 hex>" */
	struct net_slots *net;  /* required: where the sandbox's network slot comes from */
	struct net_policy policy; /* its egress (internet on: .internet = true) */
	const char *kernel;
	const char *rootfs;
	unsigned vcpus;         /* 0: the VMM default */
	unsigned mem_mib;       /* 0: the VMM default */
	enum vmm_accel accel;
	const char *run_dir;    /* NULL: the VMM default */
	const char *log_dir;    /* NULL: the VMM default */
	const char *vmm_binary; /* NULL: the driver's setting (COVE_QEMU...), else PATH */
	const char *vmm_driver; /* NULL: the default (VMM_DEFAULT_DRIVER) */
	const char *kernel_args; /* appended to the guest kernel command line, may be NULL */
	bool die_with_parent;
	int cancel_fd;          /* readable: stop waiting (Ctrl-C); -1: none */
	int agent_timeout_ms;   /* 0: SANDBOX_DEFAULT_AGENT_TIMEOUT_MS */
	const char *default_user;    /* the guest user commands and files act as; NULL: root */
	const char *default_workdir; /* their working directory; NULL: the user's home */
	const char *const *envs;     /* "KEY=VALUE" every guest process gets; may be NULL */
	/* IPv4 nameservers the guest's resolv.conf names, given at /init (a
	 * resumed guest keeps what it had); NULL-terminated, NULL or empty:
	 * the image's file stays. */
	const char *const *dns;
	/* Certificates (PEM) the guest is to trust: coved's egress authority,
	 * given at every /init, a resume's too (the agent installs them once);
	 * NULL: none. */
	const char *ca_pem;
	/* sandbox_snapshot_make only: a command started in the background (as
	 * default_user, by /bin/sh -c, its output in SANDBOX_START_LOG in the
	 * guest) once the guest is up, and one run until it exits 0, up to
	 * ready_timeout_s, before the snapshot is taken: the template's
	 * services are running in every sandbox restored from it. NULL: none. */
	const char *start_cmd, *ready_cmd;
	unsigned ready_timeout_s; /* 0: SANDBOX_DEFAULT_READY_TIMEOUT_S */
	/* A template snapshot (sandbox_snapshot_make) to restore instead of
	 * booting, when it is usable for this config; NULL: always boot. */
	const char *snapshot;
	/* Volumes mounted at every /init (at most SANDBOX_MAX_VOLUMES, paths
	 * distinct), reached at NET_TAP_ADDR: the slot's policy gets volumes
	 * on. volume_access is required with them. */
	const struct sandbox_volume *volumes;
	size_t nvolumes;
	const struct sandbox_volume_access *volume_access;
	/* Shared host directories (at most SANDBOX_MAX_SHARES). */
	const struct sandbox_share *shares;
	size_t nshares;
};

struct sandbox_timings {
	int64_t start_us;       /* sandbox_start called */
	int64_t vmm_started_us; /* VMM process running, control socket up */
	int64_t agent_ready_us; /* guest agent accepted a connection */
};

struct sandbox;

/* Takes a network slot, boots the VMM in it, waits for the agent. On failure
 * everything made so far is released. */
int sandbox_start(const struct sandbox_config *config, struct sandbox **ret, struct cove_err *err);

/* A warm sandbox, for a pool of them: restored from the template snapshot
 * c->snapshot (required, and usable) in a slot with c's policy, its agent
 * made to run a command once (so the VMM has translated what a first
 * request runs), then paused, without a token. sandbox_claim makes it a
 * sandbox; sandbox_free ends it unclaimed. */
int sandbox_prepare(const struct sandbox_config *c, struct sandbox **ret, struct cove_err *err);
/* Makes a warm sandbox a sandbox of c (its id stays the one it was prepared
 * with): its slot gets c's policy, its guest runs again, and /init gives it
 * a token, c's defaults and environment, and the clock. On failure the
 * caller frees it. */
int sandbox_claim(struct sandbox *sb, const struct sandbox_config *c, struct cove_err *err);
/* Replaces the egress policy of the sandbox's network slot (in net, the
 * instance it came from), atomically: new connections see it at once. */
int sandbox_set_policy(struct sandbox *sb, struct net_slots *net, const struct net_policy *policy,
		       struct cove_err *err);

/* Makes a template snapshot in dir: boots the guest c describes (its RAM in
 * a file, its disk writes in a layer of their own), waits for its agent,
 * saves it, and records what it was made from. dir appears whole or not at
 * all. Restoring it (sandbox_config.snapshot) skips the guest's boot. */
int sandbox_snapshot_make(const struct sandbox_config *c, const char *dir, struct cove_err *err);
/* 0 when the snapshot in dir can be restored for c (the same kernel, image,
 * memory and vCPUs); else why not, in why. */
int sandbox_snapshot_check(const struct sandbox_config *c, const char *dir, struct cove_err *why);

/* Takes over a sandbox an earlier process started with this config (c->id
 * required; c->net the same instance): its network slot and the VMM named by
 * vmm, whose agent holds token. On failure both are left as they were. */
int sandbox_adopt(const struct sandbox_config *c, const struct proc_identity *vmm, const char *token,
		  struct sandbox **ret, struct cove_err *err);

/* Runs a command in the sandbox's guest through its agent (agent_exec,
 * with the sandbox's token and cancel_fd); err names the sandbox unless
 * the command could not start (-ENOENT, -EACCES) or was cancelled. */
int sandbox_exec(struct sandbox *sb, const struct agent_exec_request *req, struct agent_exec_result *res,
		 struct cove_err *err);
/* Writes the host file from to guest_path in the sandbox's guest (its
 * parents made), owned by user (NULL: the agent's default), through its
 * agent (agent_upload, with the sandbox's token and cancel_fd). */
int sandbox_upload(struct sandbox *sb, const char *from, const char *guest_path, const char *user,
		   struct cove_err *err);

/* Saves the sandbox whole into dir (made; whole or absent): its guest's
 * RAM and device state, its disk overlay and the layer under it, so that
 * sandbox_restore brings it back as it was, processes and all, after this
 * process, or the host, restarted. The sandbox is left paused (the caller
 * frees it, which frees its memory and slot); a failure leaves it running
 * (if it ran) and no dir, and says which step failed. c is the config it
 * was started with. for_fork: a copy for sandbox_fork_child soon after,
 * its RAM a file the children share (not made durable). -EOPNOTSUPP: a
 * sandbox on a throwaway disk (booted without a template snapshot). */
int sandbox_save(struct sandbox *sb, const struct sandbox_config *c, const char *dir, bool for_fork,
		 struct cove_err *err);
/* Saves the sandbox's disk alone into dir (E2B's filesystem-only pause):
 * the guest is asked to write out what it holds of its files (sync), then
 * paused, and its disk overlay and the layer under it are kept, no RAM and
 * no device state; sandbox_reboot boots from it. Left paused, and fails
 * as sandbox_save does (-EOPNOTSUPP: a throwaway disk). */
int sandbox_save_disk(struct sandbox *sb, const struct sandbox_config *c, const char *dir, struct cove_err *err);
/* The same, for a caller that has just had the guest write out its files
 * itself (a template build after each step): no sync of its own. */
int sandbox_save_disk_synced(struct sandbox *sb, const struct sandbox_config *c, const char *dir,
			     struct cove_err *err);
/* Whether dir holds a whole saved sandbox (its conf is written last). */
bool sandbox_saved_complete(const char *dir);
/* Whether the sandbox saved in dir has its RAM (sandbox_save), rather
 * than its disk alone (sandbox_save_disk). */
bool sandbox_saved_has_memory(const char *dir);
/* Starts the sandbox saved in dir again, in a new network slot (c->id
 * required): the guest carries on, keeps token, and gets the host's clock.
 * dir is left as it was (the caller removes it once it is not needed);
 * -ESTALE: saved over another image, memory size or vCPU count. */
int sandbox_restore(const struct sandbox_config *c, const char *dir, const char *token, struct sandbox **ret,
		    struct cove_err *err);
/* Boots the sandbox saved in dir (either kind) afresh from its saved
 * disk, in a new network slot (c->id required): a reboot, its RAM (if
 * saved) ignored; /init gives its agent token again, and c's defaults and
 * environment. dir is left as it was; -ESTALE as sandbox_restore. */
int sandbox_reboot(const struct sandbox_config *c, const char *dir, const char *token, struct sandbox **ret,
		   struct cove_err *err);
/* Starts a new sandbox (c->id) from one saved in dir, as a fork: it
 * carries on from the saved state (processes, files, environment) with a
 * token of its own, its guest's RNG reseeded, the host's clock, and a disk
 * of its own; c->envs, if any, are added to its environment. token is the
 * saved agent's, which authorises that. dir is left as it was, for more
 * children. */
int sandbox_fork_child(const struct sandbox_config *c, const char *dir, const char *token, struct sandbox **ret,
		       struct cove_err *err);

/* Whether sandbox_save and sandbox_save_disk can save it: booted over a
 * disk of its own (from a template snapshot, or saved), not a throwaway
 * one. */
bool sandbox_can_save(const struct sandbox *sb);

int sandbox_pause(struct sandbox *sb, struct cove_err *err);
int sandbox_resume(struct sandbox *sb, struct cove_err *err);
/* Asks the guest to power off, escalating as vmm_stop does. */
int sandbox_stop(struct sandbox *sb, struct cove_err *err);
/* Kills whatever still runs, releases the network slot, frees everything.
 * NULL-safe. */
struct sandbox *sandbox_free(struct sandbox *sb);

/* Lets go of a sandbox that is to outlive this process (sandbox_adopt takes
 * it back): its VMM runs on and its slot stays. NULL-safe. */
struct sandbox *sandbox_detach(struct sandbox *sb);

const char *sandbox_id(const struct sandbox *sb);
/* The agent's access token (64 hex characters), given to it by /init. */
const char *sandbox_token(const struct sandbox *sb);
struct vmm *sandbox_vmm(struct sandbox *sb);
/* The namespace the sandbox's agent is reached from (for agent_exec). */
int sandbox_netns_fd(const struct sandbox *sb);
const struct sandbox_timings *sandbox_timings(const struct sandbox *sb);

#endif
