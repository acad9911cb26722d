/* The Cloud Hypervisor driver: cloud-hypervisor started with its REST API
 * on a listening socket it is handed (--api-socket fd=N), the VM described
 * to it as one VmConfig (PUT /api/v1/vm.create, then vm.boot), saves as
 * vm.snapshot into a directory and restores as vm.restore from one. Its
 * files:
 *   ch.c        the driver (struct vmm_driver): boot, attach, pause, resume,
 *               power-off, version
 *   save.c      snapshots and the directory a restore reads
 *   body.c      the request bodies and the version parse; pure, exposed here
 *               for unit tests
 * Disk layers are the qcow2 images of vmm/qcow2.h (CH opens their backing
 * files with backing_files). The rest of Cove reaches it through vmm.h, by
 * name ("cloud-hypervisor"). Written against CH's published OpenAPI
 * document (vmm/src/api/openapi/cloud-hypervisor.yaml). */
#ifndef COVE_VMM_CH_CH_H
#define COVE_VMM_CH_CH_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vmm/vmm.h"

struct vmm_driver;
extern const struct vmm_driver vmm_driver_ch;

#define CH_BINARY "cloud-hypervisor"
#define CH_SEARCH_DIRS "/usr/local/bin:/usr/bin"
/* CH's name for the memory zone of a VM configured with a plain size
 * (DEFAULT_MEMORY_ZONE): the one zone Cove's file-backed memory uses too,
 * so that a snapshot's memory state reads the same either way. */
#define CH_MEMORY_ZONE "mem0"
/* What vm.snapshot writes into its directory (docs/snapshot_restore.md). */
#define CH_SNAPSHOT_CONFIG "config.json"
#define CH_SNAPSHOT_STATE "state.json"
#define CH_SNAPSHOT_RANGES "memory-ranges"
/* Where, in its work directory, the VMM writes a snapshot (a host
 * directory mounted there for the while). */
#define CH_SNAPSHOT_MOUNT "snapshot"

/* The VMM's view of its files (vmm_root_path) and of its TAP. */
struct ch_paths {
	const char *kernel;
	const char *cmdline;
	const char *disk;   /* the root disk */
	bool disk_qcow2;    /* a qcow2 image whose backing files CH opens */
	bool disk_readonly;
	const char *memory; /* the file guest RAM is in; NULL: anonymous */
	bool memory_shared;
	const char *tap;    /* the TAP's name; NULL: no network */
	/* config.shares[i]'s vhost-user socket as the VMM sees it; the
	 * memory is shared when there is one (virtiofsd maps it). */
	const char *fs_socket[VMM_MAX_SHARES];
};

/* The VmConfig for c (PUT /vm.create). */
int ch_vm_config(const struct vmm_config *c, const struct ch_paths *p, json_t **ret, struct cove_err *err);
/* The VmConfig a restore reads: the saved one (the snapshot's config.json)
 * with what belongs to this VMM (its files, TAP, memory backing, console)
 * taken from fresh; cpus and the rest as saved. A new reference. */
json_t *ch_restore_config(json_t *saved, json_t *fresh);
/* RestoreConfig for the snapshot directory dir (as the VMM sees it):
 * memory pages loaded as the guest touches them when on_demand (CH's
 * OnDemand: userfaultfd), else copied in up front. */
json_t *ch_restore_body(const char *dir, bool on_demand);
/* VmSnapshotConfig for the directory dir (as the VMM sees it). */
json_t *ch_snapshot_body(const char *dir);

/* "cloud-hypervisor v42.0" -> "42.0" (suffixes such as "-dirty" or
 * "-12-gabcdef" dropped); -EPROTO when out holds none. */
int ch_version_parse(const char *out, char *buf, size_t len);

/* What a save does with the guest RAM CH wrote into its snapshot
 * directory (memory-ranges, ranges_size bytes). */
enum ch_ranges_fate {
	CH_RANGES_KEEP,   /* stays in the state directory */
	CH_RANGES_TO_RAM, /* moved to files->ram */
	CH_RANGES_DROP,   /* removed: it is the shared mem_file, byte for byte */
};
struct vmm_snapshot_files;
struct vmm_snapshot_report;
/* mem_size: the size of config.mem_file (0: none or unknown). */
enum ch_ranges_fate ch_ranges_fate(const struct vmm_config *c, const struct vmm_snapshot_files *files,
				   off_t ranges_size, off_t mem_size);
/* The file a restore's memory-ranges is: the saved one (saved_ranges, when
 * the state directory has it), else the memory file the snapshot left out;
 * NULL when there is neither. */
const char *ch_restore_ranges(const struct vmm_config *c, const char *saved_ranges, bool saved_exists);

/* The driver's version and binary (ch.c). */
int ch_find_binary(const char *override, char *out, size_t len, struct cove_err *err);
int ch_version(const char *binary, char *buf, size_t len, struct cove_err *err);

/* What the driver keeps of a VMM (vm->driver_data). */
struct rest;
struct ch {
	struct rest *api;
};

/* REST calls take milliseconds; a snapshot writes all of guest RAM. */
#define CH_API_TIMEOUT_MS 10000
#define CH_SNAPSHOT_TIMEOUT_MS 120000

/* Saves (save.c). */
int ch_snapshot(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
		struct cove_err *err);
/* Before the launch of a VMM that restores (config.restore_state): the
 * snapshot directory it reads is its work directory, holding a
 * config.json made from the saved one and fresh (written to the run
 * directory), the saved state.json and the memory-ranges
 * ch_restore_ranges names; their binds are added at binds[*nbinds]
 * (room for 3). */
struct vmm_bind;
int ch_restore_prepare(struct vmm *vm, json_t *fresh, struct vmm_bind *binds, size_t *nbinds, char *config_path,
		       struct cove_err *err);
/* After the launch: vm.restore from the work directory, then vm.resume. */
int ch_restore(struct vmm *vm, struct cove_err *err);

#endif
