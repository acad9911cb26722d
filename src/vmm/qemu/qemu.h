/* The QEMU driver's pure part, exposed for unit tests: the command line. */
#ifndef COVE_VMM_QEMU_QEMU_H
#define COVE_VMM_QEMU_QEMU_H

#include "vmm/vmm.h"

#define QEMU_MAX_ARGS 64

struct qemu_args {
	char *argv[QEMU_MAX_ARGS + 1]; /* NULL-terminated, each owned */
	int argc;
};

struct qemu_paths {
	const char *binary;
	const char *kernel;  /* inside the work directory */
	const char *rootfs;  /* inside the work directory */
	const char *qmp_socket;
	const char *console_log;
	const char *mem_file; /* inside the work directory; NULL: anonymous memory */
	const char *disk;     /* the qcow2 overlay inside the work directory (with config.disk_overlay) */
	unsigned tsc_khz; /* TCG: the host TSC frequency for the guest kernel, 0: unknown */
};

/* Builds the argv for a microvm guest. accel must be resolved (not AUTO). */
int qemu_build_args(const struct vmm_config *c, enum vmm_accel accel, const struct qemu_paths *paths,
		    struct qemu_args *out, struct cove_err *err);
void qemu_args_clear(struct qemu_args *a);

/* Finds the QEMU binary: config override, PATH, then the usual locations. */
int qemu_find_binary(const char *override, char *out, size_t len, struct cove_err *err);

#endif
