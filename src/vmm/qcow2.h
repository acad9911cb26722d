/* Disk layers as qcow2 images (qcow2.c), shared by the drivers whose VMM
 * opens qcow2 chains: a template's frozen layer over its raw image, and
 * the empty overlay each sandbox's disk is a copy of, made with qemu-img.
 * Backing files are named as the VMM sees them in its work directory, so a
 * chain resolves there (and only there). Part of the driver-support layer
 * (driver.h). */
#ifndef COVE_VMM_QCOW2_H
#define COVE_VMM_QCOW2_H

#include <stdint.h>

#include "vmm/vmm.h"

/* Names in the VMM's work directory and, for the qcow2 images, in template
 * snapshots and saved sandboxes: on-disk names, kept. */
#define VMM_QCOW2_ROOTFS "rootfs"
#define VMM_QCOW2_LAYER "layer.qcow2"
#define VMM_QCOW2_OVERLAY "overlay.qcow2"
#define VMM_QCOW2_OWN "disk.qcow2"

/* A driver's disk_create: an empty qcow2 image at path over
 * VMM_QCOW2_ROOTFS (raw; file VMM_DISK_LAYER) or VMM_QCOW2_LAYER (qcow2;
 * VMM_DISK_OVERLAY), of size bytes. */
int vmm_qcow2_create(const char *path, enum vmm_disk_file file, uint64_t size, struct cove_err *err);
/* A driver's disk_flatten: qemu-img convert to raw, the chain's backing
 * files found by their names (symlinks in a directory of its own). */
int vmm_qcow2_flatten(const char *rootfs, const char *layer, const char *own, const char *out, struct cove_err *err);

#endif
