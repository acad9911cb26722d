/* The Firecracker driver: a VMM configured and controlled over its REST
 * API (Firecracker's swagger, src/firecracker/swagger/firecracker.yaml),
 * on a unix socket it makes in a directory of its own. Its files:
 *   fc.c        the driver (struct vmm_driver): boot, restore, attach,
 *               pause, resume, power-off
 *   api.c       its API connection (REST over the unix socket)
 *   snapshot.c  saves: Firecracker's state and memory files mapped onto
 *               Cove's (struct vmm_snapshot_files)
 *   memory.c    memory across saves and restores: Diff snapshots over a
 *               template's memory, restored through the page server
 *               (vmm/pager, cove-pager) or merged into one file
 *   requests.c  the request bodies, the version and the save plan; pure,
 *               exposed here for unit tests
 * Its drives are raw files: disk layers are raw images (vmm/rawdisk.c).
 * The rest of Cove reaches it through vmm.h, by name ("firecracker"). */
#ifndef COVE_VMM_FC_FC_H
#define COVE_VMM_FC_FC_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include "vmm/vmm.h"

struct vmm_driver;
struct vmm_snapshot_files;
struct vmm_snapshot_report;
extern const struct vmm_driver vmm_driver_firecracker;

/* Names in the VMM's work directory and, for the disk files, in template
 * snapshots and saved sandboxes. */
#define FC_KERNEL_NAME "kernel"
#define FC_ROOTFS_NAME "rootfs"          /* its root drive, whichever file it is */
#define FC_RESTORE_NAME "restore.vmstate" /* the state a restore loads */
#define FC_RESTORE_MEMORY_NAME "restore.memory" /* the memory a restore maps, when not mem_file */
#define FC_DISK_LAYER_NAME "layer.raw"
#define FC_DISK_OVERLAY_NAME "overlay.raw"
#define FC_DISK_OWN_NAME "disk.raw"
/* RUN_DIR/ID/fc, bound at this name: the directory the VMM may write to
 * (its API socket, the files of a save), on the host's file system. */
#define FC_DIR_NAME "fc"
#define FC_API_SOCK FC_DIR_NAME "/api.sock"
/* A save's files, as Firecracker writes them in FC_DIR_NAME, and in a
 * state directory. */
#define FC_STATE_FILE "vmstate"
#define FC_STATE_MEMORY "memory"
/* Instead of FC_STATE_MEMORY: the pages that differ from the template's
 * memory the VM was restored over (mem_file), a sparse file. */
#define FC_STATE_DIFF "memory.diff"
/* In RUN_DIR/ID: the record of the pages that differ from mem_file, as of
 * the last snapshot (memory.c). Beside the state restored from
 * (restore_state plus this): a Diff merged onto mem_file, for a File
 * backend. */
#define FC_DIRTY_NAME "dirty.mem"
#define FC_MERGED_SUFFIX ".merged"
/* The page server's socket, where Firecracker connects to it. */
#define FC_UFFD_SOCK FC_DIR_NAME "/uffd.sock"

/* A restore's memory backend (SnapshotLoadParams.mem_backend). */
enum fc_backend { FC_BACKEND_FILE, FC_BACKEND_UFFD };

/* The machine a boot configures (paths as the VMM opens them). */
struct fc_machine {
	unsigned vcpus, mem_mib;
	const char *kernel, *boot_args;
	const char *rootfs;
	bool rootfs_read_only;
	const char *tap;  /* the TAP's name; NULL: no network */
	const char *mac;  /* the guest's MAC, with tap */
};

/* One request: PUT path body. */
struct fc_request {
	const char *path;
	json_t *body;
};
#define FC_BOOT_REQUESTS 5
/* The requests that configure and start a machine, in order (machine-
 * config, boot-source, the root drive, the network interface if any,
 * InstanceStart); the bodies are owned: fc_requests_clear. The count, or
 * -ENOMEM. */
int fc_boot_requests(const struct fc_machine *m, struct fc_request out[FC_BOOT_REQUESTS]);
void fc_requests_clear(struct fc_request *r, int n);

json_t *fc_action(const char *type);           /* PUT /actions */
json_t *fc_vm_state(bool paused);              /* PATCH /vm */
/* PUT /snapshot/create: Full, or Diff (the pages dirtied since the load
 * or the last snapshot; the rest holes). */
json_t *fc_snapshot_create(const char *state, const char *memory, bool diff);
/* PUT /snapshot/load, resumed: memory is the File backend's file or the
 * Uffd backend's socket; track: track_dirty_pages. */
json_t *fc_snapshot_load(const char *state, enum fc_backend backend, const char *memory, bool track);
/* GET /'s InstanceInfo state: Running, Paused; else -EPROTO. */
int fc_instance_state(json_t *info, enum vmm_state *ret);

/* "Firecracker v1.10.1" (its --version's first line) -> "1.10.1". */
int fc_parse_version(const char *out, char *buf, size_t len);
/* The same of its jailer's: "Jailer v1.10.1" -> "1.10.1". */
int fc_parse_jailer_version(const char *out, char *buf, size_t len);

/* id as Firecracker and its jailer take an instance id (--id: ASCII
 * letters, digits and hyphens, 1 to FC_ID_MAX of them): any other byte
 * becomes a hyphen, and it is cut at FC_ID_MAX. */
#define FC_ID_MAX 64
void fc_instance_id(const char *id, char out[FC_ID_MAX + 1]);

/* COVE_FIRECRACKER_JAILER (NULL: unset) as what it asks for. */
enum fc_jailer_mode { FC_JAILER_AUTO, FC_JAILER_OFF, FC_JAILER_NAMED };
enum fc_jailer_mode fc_jailer_mode(const char *setting);
/* Whether to start Firecracker under its jailer. setting:
 * COVE_FIRECRACKER_JAILER (NULL: auto). auto: the jailer beside the
 * firecracker binary (fc_binary) when there is one; off: never; a path or
 * name: that one, or an error. The jailer's version must be Firecracker's
 * (its documentation asks for the pair): for auto a mismatch means no
 * jailer (logged), for a named one an error. 1 with its path in out, 0 for
 * none, or a negative errno. (jailer.c) */
int fc_jailer_find(const char *setting, const char *fc_binary, char *out, size_t len, struct cove_err *err);

/* How a save maps onto Firecracker's two files (snapshot_path, the
 * device state; mem_file_path, all of the RAM). */
struct fc_save_plan {
	/* Where the state ends: files->state itself (a file), or a
	 * directory there holding FC_STATE_FILE and FC_STATE_MEMORY. */
	bool state_dir;
	/* Firecracker's mem_file_path goes: to the VMM's own memory file
	 * (VMM_MEMORY_NAME, bound from a shared config.mem_file: a template
	 * snapshot), to files->ram, or into the state directory. */
	enum { FC_MEMORY_MEM_FILE, FC_MEMORY_RAM, FC_MEMORY_STATE } memory;
	/* Into the state directory: a Diff over base_memory (FC_STATE_DIFF),
	 * else all of the RAM (FC_STATE_MEMORY). */
	bool diff;
	bool ram_in_state; /* what the report says: base_memory was not used */
};
/* dirty_tracked: fc_dirty_tracked (the VM can make a Diff over its
 * mem_file, which base_memory is a link to). */
void fc_save_plan(const struct vmm_snapshot_files *files, bool shared_mem_file, bool dirty_tracked,
		  struct fc_save_plan *p);
/* COVE_FIRECRACKER_MEMORY as a backend for memory saved as a Diff:
 * "uffd", "file", or unset/"auto" (uffd_usable decides). -EINVAL for
 * another value. */
int fc_backend_choose(const char *setting, bool uffd_usable, enum fc_backend *ret);

/* Finds the binary: override, PATH, /usr/local/bin, /usr/bin. */
int fc_find_binary(const char *override, char *out, size_t len, struct cove_err *err);
int fc_version(const char *binary, char *buf, size_t len, struct cove_err *err);

/* snapshot.c: the driver's snapshot. */
int fc_snapshot(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
		struct cove_err *err);

#endif
