/* What the VMM test doubles (tests/tools/firecracker-double.c,
 * cloud-hypervisor-double.c) share: the published API documents they check
 * every request against (tests/data, built into the binaries: a confined
 * VMM sees no repository), the record of spec violations, and the pieces
 * in openapi.h, http.h and guest.h. */
#ifndef COVE_TESTS_VMMDOUBLE_H
#define COVE_TESTS_VMMDOUBLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#include "guest.h"
#include "http.h"
#include "openapi.h"

/* tests/data/firecracker-swagger.yaml */
extern const char vmmdouble_firecracker_yaml[];
extern const char vmmdouble_firecracker_yaml_end[];
/* tests/data/cloud-hypervisor.yaml */
extern const char vmmdouble_cloud_hypervisor_yaml[];
extern const char vmmdouble_cloud_hypervisor_yaml_end[];

/* A request the API document refuses: one line
 * "SPEC VIOLATION: METHOD PATH: reason" to stderr and appended to
 * spec-violations in the double's scratch directory (guest_root(): its
 * root, or its /var/tmp when confined by Cove), where a test reads it
 * (through /proc/PID/root for a confined double); tests under Cove read
 * the VMM's log, which keeps stderr past the VMM. */
void vmmdouble_spec_violation(const char *method, const char *path, const char *reason);

/* Firecracker's rule for an instance id (its --id, and its jailer's):
 * 1 to 64 ASCII letters, digits and hyphens. */
bool vmmdouble_fc_id_valid(const char *id);

/* A device-state file of a double's snapshot: the line magic (ending in
 * '\n'), header as one JSON line, then QEMU's stream (guest_save). Read
 * back, fd is left where the stream begins. */
int vmmdouble_state_write(int fd, const char *magic, json_t *header, struct cove_err *err);
int vmmdouble_state_read(int fd, const char *path, const char *magic, json_t **ret, struct cove_err *err);

/* Cloud Hypervisor's VmConfig (checked against its document) as what QEMU
 * is started from (chconfig.c): -EOPNOTSUPP for what the double does not
 * serve, errors of CH's for the rest (a qcow2 disk with a backing file
 * and no backing_files). Opens the disks to tell qcow2 from raw. */
int vmmdouble_ch_config(json_t *vm_config, struct guest_config *c, struct cove_err *err);

/* Firecracker's side of a Uffd memory backend (uffd.c): the handshake
 * with the page server at socket_path for size bytes of guest memory, then
 * every page read through it into the file to (sparse). */
int vmmdouble_uffd_fetch(const char *socket_path, uint64_t size, const char *to, struct cove_err *err);
/* The handshake alone: size bytes of memory registered for missing-page
 * faults (*mem) and its userfaultfd (*uffd, the caller's to close), each
 * page's first touch answered by the server. */
int vmmdouble_uffd_connect(const char *socket_path, uint64_t size, void **mem, int *uffd, struct cove_err *err);

/* A JSON body for a response, malloc'd (NULL when out of memory). */
char *vmmdouble_fault(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
