/* Shared by the files of the sandbox module only. */
#ifndef COVE_SANDBOX_INTERNAL_H
#define COVE_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

struct net_sandbox;

struct sandbox {
	char id[VMM_ID_MAX];
	struct net_sandbox *net;
	struct vmm *vm;
	int cancel_fd;
	struct sandbox_timings timings;
};

int sandbox_netns_fd(const struct sandbox *sb);

#endif
