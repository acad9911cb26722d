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
};

/* How sandbox_start_as boots the guest. */
enum sandbox_boot {
	SANDBOX_BOOT_COLD,     /* from the kernel, disk writes to a throwaway overlay */
	SANDBOX_BOOT_SNAPSHOT_SOURCE, /* cold, RAM in DIR/memory (shared), disk DIR/layer.qcow2; no /init */
	SANDBOX_BOOT_RESTORE,  /* from the template snapshot in DIR */
};

#define SNAPSHOT_MEMORY "memory"
#define SNAPSHOT_STATE "state"
#define SNAPSHOT_LAYER "layer.qcow2"
#define SNAPSHOT_OVERLAY "overlay.qcow2"
#define SNAPSHOT_CONF "snapshot.conf"

int sandbox_start_as(const struct sandbox_config *c, enum sandbox_boot how, const char *dir, struct sandbox **ret,
		     struct cove_err *err);


#endif
