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


#endif
