/* The QEMU driver, Cove's default VMM: the `microvm` machine booting the
 * guest kernel directly, controlled over QMP. Its files:
 *   qemu.c         the driver (struct vmm_driver): boot, attach, pause,
 *                  resume, power-off, and saves as migrations
 *   args.c         its command line; pure, and exposed here for unit tests
 *   qmp.c          the QMP client (qmp.h)
 *   qemu_stream.c  the migration stream filter (qemu_stream.h)
 * The rest of Cove reaches it through vmm.h, by name ("qemu"). */
#ifndef COVE_VMM_QEMU_QEMU_H
#define COVE_VMM_QEMU_QEMU_H

#include <stdint.h>

#include "vmm/qcow2.h"
#include "vmm/vmm.h"

struct vmm_driver;
extern const struct vmm_driver vmm_driver_qemu;

/* Files in the VMM's work directory (bound there from the host) and, for
 * the qcow2 images, in template snapshots and saved sandboxes: on-disk
 * names, kept. A chain's backing files are named so (disk.c). */
#define QEMU_ROOTFS_NAME VMM_QCOW2_ROOTFS
#define QEMU_DISK_LAYER_NAME VMM_QCOW2_LAYER
#define QEMU_DISK_OVERLAY_NAME VMM_QCOW2_OVERLAY
#define QEMU_DISK_OWN_NAME VMM_QCOW2_OWN

#define QEMU_MAX_ARGS 128

struct qemu_args {
	char *argv[QEMU_MAX_ARGS + 1]; /* NULL-terminated, each owned */
	int argc;
};

/* Paths as the VMM sees them (vmm_root_path), and the descriptors it is
 * handed by their numbers in it: a confined VMM opens nothing outside its
 * work directory. */
struct qemu_paths {
	const char *binary;
	const char *kernel;  /* inside the work directory */
	const char *rootfs;  /* inside the work directory */
	const char *mem_file; /* inside the work directory; NULL: anonymous memory */
	const char *disk;     /* the qcow2 overlay inside the work directory (with config.disk_overlay) */
	unsigned tsc_khz; /* TCG: the host TSC frequency for the guest kernel, 0: unknown */
	int tap_fd;     /* the TAP (with config.tap_fd) */
	int qmp_fd;     /* a unix socket listening for QMP clients */
	int console_fd; /* the serial console: a unix socket listening for the logs' reader */
	/* config.shares[i]'s vhost-user socket, connected to its virtiofsd */
	int share_fds[VMM_MAX_SHARES];
};

/* Builds the argv for a microvm guest. accel must be resolved (not AUTO). */
int qemu_build_args(const struct vmm_config *c, enum vmm_accel accel, const struct qemu_paths *paths,
		    struct qemu_args *out, struct cove_err *err);
void qemu_args_clear(struct qemu_args *a);
/* Appends one argument formatted from fmt (-E2BIG past QEMU_MAX_ARGS). */
int qemu_args_add(struct qemu_args *a, struct cove_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Finds the QEMU binary: config override, PATH, then the usual locations. */
int qemu_find_binary(const char *override, char *out, size_t len, struct cove_err *err);
/* The driver's version: that binary's (version.c). */
int qemu_version(const char *binary, char *buf, size_t len, struct cove_err *err);


#endif
