/* Shared by the files of the sandbox module only. */
#ifndef COVE_SANDBOX_INTERNAL_H
#define COVE_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

struct net_slots;
struct net_slot;

struct sandbox {
	char id[VMM_ID_MAX];
	struct net_slots *slots; /* borrowed from the config */
	struct net_slot *slot;
	int tap_fd;              /* given to the VMM */
	struct vmm *vm;
	int cancel_fd;
	struct sandbox_timings timings;
	char token[65]; /* the agent's access token, set by /init */
	/* Its volumes' ids, and whether the volume server lets its slot's
	 * address in to them (to be revoked when the slot goes). */
	char (*volume_ids)[32];
	size_t nvolumes;
	const struct sandbox_volume_access *volume_access;
	bool volumes_allowed;
};

/* How sandbox_start_as boots the guest. */
enum sandbox_boot {
	SANDBOX_BOOT_COLD,     /* from the kernel, disk writes to a throwaway overlay */
	SANDBOX_BOOT_SNAPSHOT_SOURCE, /* cold, RAM in DIR/memory (shared), disk writes to DIR's layer; no /init */
	SANDBOX_BOOT_RESTORE,  /* from the template snapshot in DIR */
	SANDBOX_BOOT_RESUME,   /* a sandbox saved whole in DIR (sandbox_save); keeps its token */
	SANDBOX_BOOT_FORK,     /* the same, as a new sandbox: a token of its own, the RNG reseeded */
	SANDBOX_BOOT_REBOOT,   /* cold, from the disk saved in DIR; keeps its token, /init again */
	SANDBOX_BOOT_WARM,     /* like RESTORE, then warmed up and paused, without /init (sandbox_prepare) */
};

/* A template snapshot's files; its disk layer and the empty overlay over
 * it are named by the VMM (vmm_disk_name: VMM_DISK_LAYER,
 * VMM_DISK_OVERLAY). */
#define SNAPSHOT_MEMORY "memory"
#define SNAPSHOT_STATE "state"
#define SNAPSHOT_CONF "snapshot.conf"
/* A sandbox saved whole (sandbox_save): its state, RAM included, and the
 * memory file its RAM differs from; its own disk overlay and the layer
 * that is over are named by the VMM (VMM_DISK_OWN, VMM_DISK_LAYER). */
#define SAVED_STATE "state"
#define SAVED_MEMORY "memory"
#define SAVED_CONF "saved.conf"

/* conf.c: the conf files of snapshots and saved sandboxes. */
/* What a snapshot of c must match (vCPUs, memory, the VMM and its version,
 * and the image by size and modification time; with_kernel: the kernel
 * too), as conf text. */
int sandbox_describe(const struct sandbox_config *c, bool with_kernel, char *buf, size_t len, struct cove_err *err);
/* 0 when the conf file at path holds want; else -ESTALE (or the errno of
 * reading it) with why, naming the first setting that differs. The VMM
 * (vmm=) is compared only with vmm and when the file records one (a file
 * an older Cove wrote does not). */
int sandbox_conf_check(const char *path, const char *want, bool vmm, struct cove_err *why);
/* Writes text to a new file at path, fsynced. */
int sandbox_write_text(const char *path, const char *text, struct cove_err *err);

/* token: the saved agent's, for SANDBOX_BOOT_RESUME and _REBOOT (it
 * keeps it) and SANDBOX_BOOT_FORK (/init is authorised with it); else NULL. */
int sandbox_start_as(const struct sandbox_config *c, enum sandbox_boot how, const char *dir, const char *token,
		     struct sandbox **ret, struct cove_err *err);


#endif
