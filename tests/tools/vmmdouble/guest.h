/* The guest under a VMM test double: QEMU (microvm, as src/vmm/qemu runs
 * it) started from what the double was configured with, driven over QMP
 * (libcove's client), its RAM a shared file in the double's root so that a
 * snapshot is the device state (a migration with x-ignore-shared) plus a
 * sparse copy of that file. The double exits when QEMU does. */
#ifndef COVE_TESTS_VMMDOUBLE_GUEST_H
#define COVE_TESTS_VMMDOUBLE_GUEST_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

#define GUEST_MAX_DISKS 8
#define GUEST_MAX_SHARES 4

struct guest_disk {
	char *path;
	bool read_only;
	bool root;
	bool qcow2; /* a qcow2 image (its backing files opened by QEMU), else raw */
};

struct guest_share {
	char *tag;
	char *socket;
};

/* What QEMU is started from; strings malloc'd, owned here. */
struct guest_config {
	unsigned vcpus;
	unsigned mem_mib;
	char *kernel;
	char *initrd;  /* NULL: none */
	char *cmdline; /* passed to the guest exactly */
	struct guest_disk disks[GUEST_MAX_DISKS];
	size_t ndisks;
	char *tap;     /* a TAP device's name, opened by name; NULL: no network */
	char *mac;
	bool entropy;
	struct guest_share shares[GUEST_MAX_SHARES];
	size_t nshares;
	char *mem_file;   /* guest RAM in this file, shared; NULL: a scratch file */
	bool serial_off;  /* no serial port output (else ttyS0 to stdout) */
};

void guest_config_clear(struct guest_config *c);
/* To and from JSON (the doubles' own snapshot records). */
json_t *guest_config_to_json(const struct guest_config *c);
int guest_config_from_json(json_t *j, struct guest_config *c, struct cove_err *err);

struct guest;

/* Where the double's scratch files go: VMM_DOUBLE_ROOT (a double run by
 * hand outside Cove's jail), else its root ("") when it may write there,
 * else its /var/tmp (confined by Cove: its root is not its own). */
const char *guest_root(void);

/* Starts QEMU. With ram_from (a memory file), the RAM file (the scratch
 * one or c->mem_file) starts as its copy, unless it is that very file, and
 * QEMU waits for an incoming migration (guest_restore). */
int guest_start(const struct guest_config *c, const char *ram_from, struct guest **ret, struct cove_err *err);
/* Runs a QMP command without arguments (stop, cont, system_powerdown). */
int guest_qmp(struct guest *g, const char *command, struct cove_err *err);
/* Device state to state_fd (from its offset on), then the RAM sparsely to
 * mem_path (created or truncated). The guest must be stopped. */
int guest_save(struct guest *g, int state_fd, const char *mem_path, struct cove_err *err);
/* Device state from state_fd (from its offset on); the guest stays paused. */
int guest_restore(struct guest *g, int state_fd, struct cove_err *err);
/* QEMU's pidfd, to poll: readable once it exited. */
int guest_pidfd(const struct guest *g);
/* Reaps QEMU (after its pidfd is readable) and returns its wait status. */
int guest_reap(struct guest *g);
/* Kills QEMU if it runs, reaps it, removes the scratch files. */
struct guest *guest_free(struct guest *g);

/* Copies the file from into to (created or truncated), leaving holes where
 * from has holes or whole pages of zeros. */
int guest_copy_sparse(const char *from, const char *to, struct cove_err *err);
/* The file the guest's RAM is in. */
const char *guest_ram_path(const struct guest *g);
/* A Diff snapshot's memory file: the pages of cur that differ from base
 * (NULL: from zeros) written to to (created or truncated to cur's size),
 * holes elsewhere; a page that became zeros is written, as zeros. Stands
 * in for KVM's dirty log: a page written back to what it was is left
 * out, which restores the same. */
int guest_write_diff(const char *cur, const char *base, const char *to, struct cove_err *err);

#endif
