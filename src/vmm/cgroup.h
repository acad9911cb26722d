/* A cgroup of its own for each VMM, under a "cove" group, with CPU, memory
 * and process limits, and the place its usage is read from. cgroup v2 where
 * the unified hierarchy has the cpu, memory and pids controllers, else the
 * v1 hierarchies (cpu, cpuacct, memory, pids) as a hybrid host mounts them.
 * The VMM enters its group itself between fork and exec (writing 0 to
 * cgroup.procs), so all it ever allocates is counted there. */
#ifndef COVE_VMM_CGROUP_H
#define COVE_VMM_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VMM_CGROUP_PARENT "cove"
#define VMM_CGROUP_MAX_FDS 4

struct vmm_cgroup_limits {
	unsigned cpu_percent;  /* 100 per vCPU; 0: no limit */
	uint64_t memory_bytes; /* 0: no limit */
	unsigned pids;         /* 0: no limit */
};

struct vmm_cgroup;

/* -EOPNOTSUPP when this host has neither layout (err says what is missing). */
int vmm_cgroup_create(const char *name, const struct vmm_cgroup_limits *l, struct vmm_cgroup **ret,
		      struct cove_err *err);
/* The existing group of that name (a VMM an earlier process started), for
 * its usage and its removal. -ENOENT when it is not there. */
int vmm_cgroup_open(const char *name, struct vmm_cgroup **ret, struct cove_err *err);
/* The cgroup.procs descriptors a child writes "0" to (O_CLOEXEC). */
size_t vmm_cgroup_procs_fds(const struct vmm_cgroup *cg, int fds[VMM_CGROUP_MAX_FDS]);
/* Frees the handle; the groups stay. NULL-safe. */
struct vmm_cgroup *vmm_cgroup_close(struct vmm_cgroup *cg);
/* Removes the groups (their processes must be gone) and frees. NULL-safe. */
struct vmm_cgroup *vmm_cgroup_remove(struct vmm_cgroup *cg);
/* CPU time used (microseconds) and memory in use (bytes). */
int vmm_cgroup_usage(const struct vmm_cgroup *cg, uint64_t *cpu_usec, uint64_t *mem_bytes);
/* SIGKILLs every process in the group; returns how many were signalled
 * (0 once it is empty) or a negative errno. */
int vmm_cgroup_kill(const struct vmm_cgroup *cg);
/* The memory group's directory (for logs and tests). */
const char *vmm_cgroup_path(const struct vmm_cgroup *cg);
/* Removes the empty groups under "cove" that VMMs gone long ago left (a
 * group with processes in it is busy and stays, and one made in the last
 * minute may be about to get its VMM). Returns how many. */
int vmm_cgroup_sweep(void);

#endif
