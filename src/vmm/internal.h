/* Shared by the files of the vmm module only: the struct behind struct vmm,
 * the driver table, and the process launcher. */
#ifndef COVE_VMM_INTERNAL_H
#define COVE_VMM_INTERNAL_H

#include <limits.h>

#include "vmm/cgroup.h"
#include "vmm/vmm.h"

struct vmm;

/* A VMM backend. boot starts the process (through vmm_launch) and connects
 * its control channel; the rest talk to a running VMM. snapshot and restore
 * arrive with the snapshot work; a NULL entry means "not supported". */
struct vmm_driver {
	const char *name;
	int (*boot)(struct vmm *vm, struct cove_err *err);
	int (*pause)(struct vmm *vm, struct cove_err *err);
	int (*resume)(struct vmm *vm, struct cove_err *err);
	/* Asks the guest to power off; returns without waiting. */
	int (*request_poweroff)(struct vmm *vm, struct cove_err *err);
	/* Connects to the control channel of a VMM an earlier process started
	 * (vm->identity and vm->pidfd are set) and sets vm->state and vm->accel
	 * from what the VMM reports. */
	int (*attach)(struct vmm *vm, struct cove_err *err);
	/* Saves the device state of the paused guest to fd, with the RAM that
	 * is not in a shared file. With base_fd >= 0 (the file the RAM is a
	 * private mapping of) only the pages that differ from it are saved;
	 * with ram_fd >= 0 the RAM goes to that file instead, whole, and none
	 * of it to fd. Restoring is part of boot (config.restore_state). */
	int (*snapshot)(struct vmm *vm, int fd, int base_fd, int ram_fd, struct cove_err *err);
	/* Frees driver-private state (control connections); the process is gone. */
	void (*release)(struct vmm *vm);
};

extern const struct vmm_driver vmm_driver_qemu;

/* What a driver names the guest's memory file in the VMM's work directory. */
#define VMM_MEMORY_NAME "memory"

struct vmm_config_copy {
	struct vmm_config c;
	char *strings[24]; /* owned copies the pointers in c refer to */
	size_t nstrings;
};

struct vmm {
	struct vmm_config_copy cfg;
	const struct vmm_driver *driver;
	void *driver_data;
	enum vmm_state state;
	enum vmm_accel accel; /* resolved, never AUTO once booted */
	struct proc_identity identity;
	int pidfd;
	int exit_status;
	int64_t launch_us; /* fork of the VMM process, now_us() */
	bool launched_dir; /* RUN_DIR/ID was created by us */
	char dir[PATH_MAX];      /* RUN_DIR/ID: control socket, mount point */
	char work_dir[PATH_MAX]; /* RUN_DIR/ID/root: tmpfs inside the VMM's mount namespace */
	char log_path[PATH_MAX];
	char console_path[PATH_MAX];
	struct vmm_cgroup *cgroup; /* NULL: none (not asked for, or no cgroups here) */
};

/* A host file made visible inside the VMM's work directory. */
struct vmm_bind {
	const char *source;
	const char *name; /* file name inside the work directory */
	bool read_only;
};

struct vmm_launch {
	const char *binary;
	char *const *argv;
	const struct vmm_bind *binds;
	size_t nbinds;
	const int *pass_fds; /* become fds 3, 4, ... in the VMM */
	size_t npass_fds;
};

/* Starts the VMM process as described at the top of vmm.h. On success the
 * child has exec'd: vm->identity and vm->pidfd are set. */
int vmm_launch(struct vmm *vm, const struct vmm_launch *spec, struct cove_err *err);

/* Reports why a just-started VMM died: its exit status and the last line of
 * its log. Reaps it. */
int vmm_report_early_exit(struct vmm *vm, struct cove_err *err);

/* Records a process identity as RUN_DIR/ID/name ("pid starttime"). */
int vmm_write_identity(const char *dir, const char *name, const struct proc_identity *id, struct cove_err *err);

/* The host's TSC frequency in kHz (0 if unknown); see tsc.c. */
unsigned vmm_host_tsc_khz(void);

/* Reaps an exited VMM and removes its run directory. Idempotent. */
void vmm_cleanup_after_exit(struct vmm *vm);

#endif
