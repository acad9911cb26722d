/* The VMM layer: one microVM process per sandbox, behind a driver interface.
 *
 * A struct vmm owns one VMM process (QEMU today; Cloud Hypervisor and
 * Firecracker later) and everything made for it: the per-VM work directory,
 * the control socket, the pidfd. The process model follows the reference
 * hosts' launchers (Firecracker's jailer, Cloud Hypervisor under E2B):
 *  - the VMM runs in its own session and process group, in a private mount
 *    namespace whose tmpfs work directory holds bind mounts of the kernel and
 *    disk (the only host files it is handed), and in the sandbox's network
 *    namespace with its TAP device passed in as a file descriptor;
 *  - confined (unless COVE_VMM_IDS=off; jail.c, docs/security.md): as a uid
 *    and gid of its own, with no capabilities and no_new_privs, its work
 *    directory pivoted to as its root, resource limits set, QEMU's seccomp
 *    filter on; its QMP socket and console log are descriptors it is handed;
 *  - its stdout/stderr go to LOG_DIR/ID.vmm.log, the guest serial console to
 *    LOG_DIR/ID.console.log, both through descriptors Cove reads and writes
 *    to the files, capped and rotated (console.h);
 *  - it is named by pid plus start time and held by a pidfd, so no recycled
 *    pid is ever signalled;
 *  - stopping asks the guest to power off, then sends SIGTERM to the process
 *    group, then SIGKILL; every path reaps the child and removes RUN_DIR/ID.
 *
 * Nothing outside src/vmm/ names a particular VMM: drivers (vmm/driver.h)
 * register in a table and are chosen by name (config.driver). */
#ifndef COVE_VMM_H
#define COVE_VMM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/env.h"
#include "common/err.h"
#include "common/proc.h"

enum vmm_accel { VMM_ACCEL_AUTO, VMM_ACCEL_KVM, VMM_ACCEL_TCG };

enum vmm_state {
	VMM_STATE_CREATED, /* configured, no process yet */
	VMM_STATE_RUNNING,
	VMM_STATE_PAUSED,
	VMM_STATE_STOPPED, /* the process has exited and was reaped */
};

/* Defaults, chosen to match the reference hosts' (Firecracker: 1 vCPU, 128 MiB;
 * E2B's base template: 2 vCPU, 512 MiB) at the small end. */
#define VMM_DEFAULT_VCPUS 1
#define VMM_DEFAULT_MEM_MIB 512
/* What QEMU needs beside guest RAM (TCG's translation cache is 32 MiB of
 * it); the memory limit leaves this much room so the guest, not the kernel's
 * OOM killer, meets any shortage. */
#define VMM_MEMORY_OVERHEAD_MIB 384
#define VMM_MAX_PIDS 512
#define VMM_MAX_VCPUS 64
#define VMM_MIN_MEM_MIB 64
#define VMM_MAX_MEM_MIB (256 * 1024)
#define VMM_DEFAULT_DRIVER "qemu"
#define VMM_DEFAULT_INIT "/sbin/cove-init"
#define VMM_DEFAULT_RUN_DIR COVE_DEFAULT_RUN_DIR
#define VMM_DEFAULT_LOG_DIR COVE_DEFAULT_LOG_DIR
#define VMM_ID_MAX 48

struct vmm_guest_net {
	const char *address; /* guest's IPv4 address, e.g. 169.254.0.21 */
	const char *gateway; /* the TAP's address, e.g. 169.254.0.22 */
	const char *netmask; /* e.g. 255.255.255.252 */
	const char *mac;     /* guest NIC MAC, e.g. 06:00:ac:10:00:02 */
};

/* A host directory the guest sees through virtiofs (vhost-user-fs): a
 * virtiofsd sidecar per share, started before the VMM and ended with it
 * (share.c). A VM with shares boots cold and cannot be saved, snapshotted
 * or forked: QEMU refuses to migrate a vhost-user-fs device. */
#define VMM_MAX_SHARES 8
/* virtio-fs's tag field: 36 bytes, no NUL needed (virtio spec 5.11.4). */
#define VMM_SHARE_TAG_MAX 36
struct vmm_share {
	const char *host_dir; /* absolute, an existing directory */
	const char *tag;      /* [a-z0-9_-], 1..VMM_SHARE_TAG_MAX, unique: what the guest mounts */
	bool read_only;       /* enforced on the host: virtiofsd gets a read-only bind mount */
};

struct vmm_config {
	const char *driver;     /* default VMM_DEFAULT_DRIVER */
	const char *id;         /* required: [a-z0-9-], 1..VMM_ID_MAX-1 chars */
	const char *kernel;     /* required: uncompressed vmlinux with a PVH note */
	const char *rootfs;     /* required: raw ext4 image, becomes /dev/vda */
	bool rootfs_persist;    /* false (default): guest writes go to a throwaway overlay */
	unsigned vcpus;         /* default VMM_DEFAULT_VCPUS */
	unsigned mem_mib;       /* default VMM_DEFAULT_MEM_MIB */
	enum vmm_accel accel;   /* default auto: KVM when the probe finds it usable */
	const char *init;       /* guest PID 1, default VMM_DEFAULT_INIT */
	const char *hostname;   /* default "cove" */
	const char *extra_cmdline; /* appended to the kernel command line, may be NULL */
	const char *run_dir;    /* default VMM_DEFAULT_RUN_DIR */
	const char *log_dir;    /* default VMM_DEFAULT_LOG_DIR */
	const char *vmm_binary; /* default: the driver's setting (COVE_QEMU, COVE_FIRECRACKER,
				 * COVE_CLOUD_HYPERVISOR), else PATH and the usual places */
	int netns_fd;           /* network namespace to run in, -1 for none (default) */
	/* TAP device inside it, -1 for none (default); vmm_boot takes it:
	 * it is closed when vmm_boot returns, whatever it returns. */
	int tap_fd;
	struct vmm_guest_net net; /* used when tap_fd >= 0 */
	/* A mount point whose mounts the VMM's private mount namespace must not
	 * keep copies of (the network slots' namespaces: a copy would keep every
	 * other sandbox's namespace alive as long as this VMM runs). May be NULL. */
	const char *hide_mounts;
	/* Run in a cgroup of its own (cgroup.h) limited to vcpus CPUs, the
	 * guest's memory plus VMM_MEMORY_OVERHEAD_MIB plus the disk's size
	 * (its throwaway overlay is in tmpfs, unless rootfs_persist), and
	 * VMM_MAX_PIDS. */
	bool cgroup;
	bool die_with_parent;   /* SIGKILL the VMM if its launcher dies (for `cove run`) */
	/* Guest RAM in this file (created by QEMU if missing) instead of
	 * anonymous memory: shared (writes reach the file; what vmm_snapshot
	 * needs) or private (a copy-on-write mapping: pages load lazily from
	 * the page cache, shared by every VMM mapping the same file). */
	const char *mem_file;
	bool mem_shared;
	/* Boot by restoring the device state vmm_snapshot saved here, over
	 * mem_file as it was saved with (or, saved by vmm_save with its RAM,
	 * over the memory file it kept, mapped privately, or into fresh memory
	 * without one); the guest carries on where it was. */
	const char *restore_state;
	/* The root disk as a chain of layers instead of a throwaway overlay
	 * (a driver with disk layers; QEMU's are qcow2 images): guest writes
	 * go to disk_overlay (read-write), whose backing file is disk_layer
	 * (read-only) or, without one, rootfs; a layer's backing file is
	 * rootfs. Made by vmm_disk_create. */
	const char *disk_overlay;
	const char *disk_layer;
	/* disk_overlay is a template (an empty overlay): the VMM gets a copy of
	 * it in its run directory, removed with it. */
	bool disk_overlay_copy;
	/* Shared host directories (at most VMM_MAX_SHARES): guest RAM becomes
	 * shared memory virtiofsd maps; no restore_state, and mem_file only
	 * shared. */
	struct vmm_share shares[VMM_MAX_SHARES];
	size_t nshares;
};

struct vmm;

void vmm_config_init(struct vmm_config *config);
/* Checks every field and names the first bad or missing one. Also checks that
 * the kernel and root filesystem files exist. */
int vmm_config_validate(const struct vmm_config *config, struct cove_err *err);
/* The guest kernel command line for this config (console, root disk, init,
 * static network configuration through the kernel's ip= parameter). */
int vmm_kernel_cmdline(const struct vmm_config *config, char *buf, size_t len, struct cove_err *err);

const char *vmm_accel_name(enum vmm_accel accel);
int vmm_accel_parse(const char *name, enum vmm_accel *ret);
/* Decides auto: KVM only when a raw KVM VM runs 64-bit ring-0 code at
 * hardware speed (see accel.c). Probed once per process and logged. */
enum vmm_accel vmm_accel_resolve(enum vmm_accel requested, const char **reason);

/* Validates and copies config (strings included; fds are borrowed and must
 * stay open until vmm_boot returns, which closes tap_fd). */
int vmm_create(const struct vmm_config *config, struct vmm **ret, struct cove_err *err);
int vmm_boot(struct vmm *vm, struct cove_err *err);
/* Takes over a VMM an earlier process booted with this config (a daemon
 * restarting): the process named by id (pid plus start time), its run
 * directory, cgroup and control socket. The new vmm is running or paused, as
 * the VMM reports, and owned like a booted one. On failure the VMM is left
 * as it was. */
int vmm_adopt(const struct vmm_config *config, const struct proc_identity *id, struct vmm **ret,
	      struct cove_err *err);
int vmm_pause(struct vmm *vm, struct cove_err *err);
/* Pauses the guest and saves its device state to state_path (memory is
 * mem_file, which must be shared); the VMM stays paused. A failure leaves no
 * file at state_path and the guest as it was. -EOPNOTSUPP: no shared
 * mem_file, or a driver without snapshots. */
int vmm_snapshot(struct vmm *vm, const char *state_path, struct cove_err *err);
/* Where vmm_save puts a VM. */
struct vmm_save_paths {
	/* Device state and RAM; NULL: the disk alone (memory NULL too), the
	 * guest paused with its disks flushed, for a later boot from it. */
	const char *state;
	const char *disk;  /* a copy of its disk overlay as it stands */
	const char *layer; /* the disk_layer its overlay is over, kept; NULL: not kept */
	/* The file its RAM is a private mapping of (a template snapshot's
	 * memory), kept: the state then holds only the pages that differ from
	 * it, and restoring means mapping it privately again (mem_file). */
	const char *memory;
	/* Instead: memory gets all of its RAM as a new file (zero pages are
	 * holes) and the state none, so that VMMs restored from it (fork
	 * children) map it privately and share every page until they write
	 * it. Not made durable: for restores soon after. */
	bool memory_whole;
};
/* Saves the whole VM for a later restore_state boot (a sandbox paused to
 * disk): pauses it, writes its device state and RAM to paths->state (all
 * pages that are not zero; with a private mem_file, the pages that differ
 * from that file, which is kept at paths->memory; with a shared one, none;
 * with memory_whole, none: see above),
 * copies its disk overlay (disk_overlay) and, when it has one, keeps the
 * disk_layer it is over. Kept files are hard links to the ones the VMM has
 * open (copies where a link cannot be made), so a template snapshot made
 * again meanwhile changes nothing. The VMM stays paused; a failure leaves
 * none of the files and the guest as it was (running again if it ran).
 * -EOPNOTSUPP: a throwaway disk, a driver without snapshots, or shares. */
int vmm_save(struct vmm *vm, const struct vmm_save_paths *paths, struct cove_err *err);
/* Whether vmm_save can save this VM: a driver with snapshots, a disk of
 * its own (disk_overlay), not a throwaway one, and no shares. */
bool vmm_can_save(const struct vmm *vm);
int vmm_resume(struct vmm *vm, struct cove_err *err);
/* Graceful power-off request, then SIGTERM to the process group after
 * grace_ms, then SIGKILL after as long again; reaps and cleans up. */
int vmm_stop(struct vmm *vm, int grace_ms, struct cove_err *err);
/* SIGKILL now; reaps and cleans up. */
int vmm_kill(struct vmm *vm, struct cove_err *err);
/* The current state; notices a VMM that died (and reaps and cleans it up). */
enum vmm_state vmm_state(struct vmm *vm);
const char *vmm_state_name(enum vmm_state state);
/* Kills the VMM if it still runs, removes the work directory, frees. NULL-safe. */
struct vmm *vmm_free(struct vmm *vm);
/* Lets go of a VMM that is to outlive this process (for vmm_adopt in the
 * next): closes the control connection and handles, leaves the process, its
 * run directory and cgroup. NULL-safe. */
struct vmm *vmm_detach(struct vmm *vm);

const char *vmm_id(const struct vmm *vm);
const struct proc_identity *vmm_identity(const struct vmm *vm);
const char *vmm_log_path(const struct vmm *vm);
const char *vmm_console_path(const struct vmm *vm);
enum vmm_accel vmm_accel_used(const struct vmm *vm);
/* When the VMM process was started (monotonic microseconds, now_us()). */
int64_t vmm_launch_time_us(const struct vmm *vm);
/* Exit status of the VMM process as waitpid() reported it, once stopped. */
int vmm_exit_status(const struct vmm *vm);
/* CPU time used (microseconds) and memory in use (bytes) by the VMM's
 * cgroup; -ENODATA when it runs without one. */
int vmm_usage(const struct vmm *vm, uint64_t *cpu_usec, uint64_t *mem_bytes);
/* Removes run directories under run_dir whose owner and VMM have both died
 * (a `cove run` that was SIGKILLed), and the cgroups no VMM is in any more.
 * Returns how many directories, or a negative errno. */
int vmm_sweep_stale(const char *run_dir, struct cove_err *err);

/* Ends what is left of VMM id after its owner died part way (a daemon killed
 * while it booted one): the VMM named by known (may be NULL) or recorded in
 * RUN_DIR/ID, everything in its cgroup, then the run directory, cgroup and
 * the logs in log_dir. run_dir, log_dir NULL: the defaults. */
int vmm_end_orphan(const char *run_dir, const char *log_dir, const char *id, const struct proc_identity *known,
		   struct cove_err *err);

/* RUN_DIR/ID, the run directory of VMM id (run_dir NULL:
 * VMM_DEFAULT_RUN_DIR); -ENAMETOOLONG when it does not fit. */
int vmm_run_dir(const char *run_dir, const char *id, char buf[PATH_MAX]);

/* The files of a disk chain (config.disk_overlay, disk_layer), in the
 * driver's format under the driver's names. */
enum vmm_disk_file {
	VMM_DISK_LAYER,   /* a frozen layer over the root filesystem image */
	VMM_DISK_OVERLAY, /* an empty overlay over a layer, copied for each VMM (disk_overlay_copy) */
	VMM_DISK_OWN,     /* that copy: a VMM's own overlay, in its run directory */
};
/* The file name driver (NULL: the default) gives such a file; NULL for a
 * driver that is unknown or has no disk layers. */
const char *vmm_disk_name(const char *driver, enum vmm_disk_file file);
/* The own overlay a VMM of config c writes to with disk_overlay_copy, in
 * its run directory; -ENAMETOOLONG, or -EOPNOTSUPP for a driver without
 * disk layers. */
int vmm_disk_path(const struct vmm_config *c, char buf[PATH_MAX]);
/* Makes an empty VMM_DISK_LAYER over the root filesystem image, or a
 * VMM_DISK_OVERLAY over a layer, of size bytes at path, as driver (NULL:
 * the default) makes them. Backing files are named as the VMM sees them in
 * its work directory, so a chain resolves there (and only there).
 * -EOPNOTSUPP: a driver without disk layers. */
int vmm_disk_create(const char *driver, const char *path, enum vmm_disk_file file, uint64_t size,
		    struct cove_err *err);

/* Writes the disk a chain of driver's files stands for (own, a VMM's own
 * overlay, over layer (NULL: none) over the raw image rootfs, as a saved
 * sandbox keeps them) to out as a raw image, sparse: a new image of its
 * own, with nothing of the chain's. -EOPNOTSUPP: a driver without disk
 * layers. */
int vmm_disk_flatten(const char *driver, const char *rootfs, const char *layer, const char *own, const char *out,
		     struct cove_err *err);

/* Whether this build has the VMM driver name (NULL: the default): 0,
 * -ENOSYS for one Cove knows of but has not built yet (firecracker),
 * -EINVAL for any other; err names the drivers it has. */
int vmm_driver_check(const char *name, struct cove_err *err);

/* What made a snapshot or a save and must restore it: "DRIVER VERSION"
 * ("qemu 7.2.19") for driver (NULL: the default) with binary (NULL: the
 * driver's own search). -EINVAL for an unknown driver. */
int vmm_describe(const char *driver, const char *binary, char *buf, size_t len, struct cove_err *err);

/* Removes the two log files (the caller decides: `cove run` keeps them only
 * when something failed). */
void vmm_remove_logs(const struct vmm *vm);

#endif
