/* The seam between the generic VMM lifecycle (vmm.c) and the VMM backends
 * (vmm/qemu/ today; Cloud Hypervisor and Firecracker next). A backend
 * implements a struct vmm_driver, says in its features what it can do, and
 * is listed by name in drivers.c; the generic code checks features and
 * never names a backend.
 *
 * Saves are described by files, not by any VMM's stream: the generic code
 * decides where the device state, a base memory file and a RAM file go (it
 * writes aside and renames, links the files it keeps, and undoes a failed
 * save); the driver writes them however its VMM does (QEMU: a migration
 * stream over a descriptor, filtered; Firecracker: /snapshot/create with a
 * snapshot and a memory file; Cloud Hypervisor: vm.snapshot into a
 * directory) and reports where the RAM ended up.
 *
 * What a driver may call is declared here too, the driver-support layer:
 * vmm_launch (launch.c) starts the VMM process; process.c reaps it, cleans
 * up after it and explains an early exit. That layer never calls up into
 * vmm.c, drivers.c or a driver (it reaches a driver only through
 * vm->driver). */
#ifndef COVE_VMM_DRIVER_H
#define COVE_VMM_DRIVER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/cgroup.h"
#include "vmm/vmm.h"

/* What a driver can do (struct vmm_driver.features). */
enum vmm_feature {
	VMM_FEATURE_SNAPSHOTS = 1 << 0,   /* .snapshot, and booting from config.restore_state */
	VMM_FEATURE_MEMORY_FILE = 1 << 1, /* guest RAM in config.mem_file, shared or private */
	VMM_FEATURE_DISK_LAYERS = 1 << 2, /* config.disk_overlay over disk_layer; .disk, .disk_create */
	VMM_FEATURE_ADOPT = 1 << 3,       /* .attach: taking over a VMM an earlier process started */
	VMM_FEATURE_HOTPLUG = 1 << 4,     /* devices added to a running guest (no driver has it yet) */
	VMM_FEATURE_SHARES = 1 << 5,      /* config.shares, each handed as vmm_share_socket */
	/* The VMM opens its TAP itself, by name (vmm_tap_by_name): its jail
	 * gets /dev/net/tun, the TAP becomes its uid's. */
	VMM_FEATURE_TAP_BY_NAME = 1 << 6,
	/* config.shares, each a socket path the VMM connects to itself
	 * (vmm_share_socket_path) rather than a connected socket. */
	VMM_FEATURE_SHARES_BY_PATH = 1 << 7,
};

/* Where a save goes (paths the driver creates). */
struct vmm_snapshot_files {
	/* The device state, and the RAM that is not in a shared mem_file
	 * and not going to ram below. A file or, where the VMM writes its
	 * snapshot as one (Cloud Hypervisor), a directory. */
	const char *state;
	/* NULL, or the file the RAM is a private mapping of (a hard link the
	 * generic code made): only the pages that differ from it are saved. */
	const char *base_memory;
	/* NULL, or a new file for all of the RAM (zero pages may be holes):
	 * the state then holds none of it. */
	const char *ram;
};

/* What a driver's save did. */
struct vmm_snapshot_report {
	/* All of the RAM went into the state after all (the VMM could not
	 * leave out base_memory's pages or write ram): no file is left at
	 * ram. */
	bool ram_in_state;
};

/* The names of a driver's disk files (their format is the driver's): in
 * template snapshots and saved sandboxes, and in the VMM's work directory,
 * where a chain's backing files are found by these names. */
struct vmm_disk_names {
	const char *layer;   /* a frozen layer over the root filesystem image */
	const char *overlay; /* an empty overlay over a layer, copied for each VMM */
	const char *own;     /* a VMM's own overlay (the copy), in its run directory */
};

struct vmm;

/* A VMM backend. boot starts the process (through vmm_launch) and connects
 * its control channel; the rest talk to a running VMM. An entry a feature
 * bit stands for may be NULL without the bit. */
struct vmm_driver {
	const char *name;
	unsigned features; /* enum vmm_feature */
	struct vmm_disk_names disk; /* VMM_FEATURE_DISK_LAYERS */
	int (*boot)(struct vmm *vm, struct cove_err *err);
	int (*pause)(struct vmm *vm, struct cove_err *err);
	int (*resume)(struct vmm *vm, struct cove_err *err);
	/* Asks the guest to power off; returns without waiting. */
	int (*request_poweroff)(struct vmm *vm, struct cove_err *err);
	/* VMM_FEATURE_ADOPT: connects to the control channel of a VMM an
	 * earlier process started (vm->identity and vm->pidfd are set) and
	 * sets vm->state and vm->accel from what the VMM reports. */
	int (*attach)(struct vmm *vm, struct cove_err *err);
	/* VMM_FEATURE_SNAPSHOTS: saves the paused guest to files (see struct
	 * vmm_snapshot_files), the state made durable (fsynced; the ram file
	 * need not be: it is for restores soon after). On failure it leaves no
	 * file at ram; the generic code removes the state. Restoring is part
	 * of boot (config.restore_state). */
	int (*snapshot)(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
			struct cove_err *err);
	/* VMM_FEATURE_DISK_LAYERS: makes an empty VMM_DISK_LAYER (over the
	 * root filesystem image) or VMM_DISK_OVERLAY (over a layer) at path,
	 * of size bytes; see vmm_disk_create. */
	int (*disk_create)(const char *path, enum vmm_disk_file file, uint64_t size, struct cove_err *err);
	/* VMM_FEATURE_DISK_LAYERS: see vmm_disk_flatten. */
	int (*disk_flatten)(const char *rootfs, const char *layer, const char *own, const char *out,
			    struct cove_err *err);
	/* Its VMM's version ("7.2.19"), binary as config.vmm_binary has it
	 * (NULL: the driver's own search). */
	int (*version)(const char *binary, char *buf, size_t len, struct cove_err *err);
	/* Frees driver-private state (control connections); the process is gone. */
	void (*release)(struct vmm *vm);
};

/* What a driver names the guest's memory file in the VMM's work directory. */
#define VMM_MEMORY_NAME "memory"

struct vmm_config_copy {
	struct vmm_config c;
	char *strings[24 + 2 * VMM_MAX_SHARES]; /* owned copies the pointers in c refer to */
	size_t nstrings;
};

/* A VMM, as the generic code and its driver share it. */
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
	/* Confined (jail.c): it runs as uid (and gid uid) with shared_gid as
	 * its one supplementary group, its work directory as its root. */
	bool confined;
	uid_t uid;
	gid_t shared_gid;
	struct vmm_logs *logs; /* the reader of its console and output (console.h); NULL: none */
	struct vmm_sidecars *sidecars; /* its shares' virtiofsd (share.c); NULL: none */
	bool tap_by_name; /* the VMM opens its TAP by name (vmm_tap_by_name) */
	/* Its jail gets a /dev/userfaultfd of its own (the host's device, owned
	 * by its uid), as Firecracker's jailer gives one: a Uffd memory backend
	 * makes its userfaultfd there (kernels from 6.1). */
	bool userfaultfd;
};

/* A host file (or directory: a place for files the VMM makes) made
 * visible inside the VMM's work directory. */
struct vmm_bind {
	const char *source;
	const char *name; /* file name inside the work directory */
	/* What a confined VMM may do with it; the launch makes the file's
	 * owner and mode say so (vmm_jail_prepare_file). */
	enum vmm_bind_access {
		VMM_BIND_READ,   /* read-only, bound read-only */
		VMM_BIND_OWN,    /* read-write, this VMM's alone: it becomes the owner */
		VMM_BIND_SHARED, /* read-write, opened by several VMMs: the group every VMM has */
	} access;
};

struct vmm_launch {
	const char *binary;
	char *const *argv;
	const struct vmm_bind *binds;
	size_t nbinds;
	const int *pass_fds; /* become fds 3, 4, ... in the VMM */
	size_t npass_fds;
	/* Its stdout and stderr (vmm_logs_prepare's FIFO); -1: LOG_DIR/ID.vmm.log itself. */
	int output_fd;
	/* Firecracker's jailer (a confined VMM only): exec'd as root in place
	 * of binary, with argv its command line, once the work directory is
	 * mounted and filled (at the path vmm_jailer_prepare gave it). It
	 * makes the device nodes, pivots into the work directory, changes ids
	 * and execs the VMM; the launch does the rest of jail.c's steps. */
	const char *jailer;
};

/* A launch under Firecracker's jailer: its arguments, as text. */
struct vmm_jailer_args {
	char base[PATH_MAX]; /* --chroot-base-dir: RUN_DIR/ID/jail */
	char uid[16], gid[16];
	char nofile[32], fsize[48]; /* --resource-limit values, as jail.c sets them */
};
/* Moves vm's work directory to where the jailer builds its root,
 * BASE/EXEC_FILE_NAME/ID/root (id: the jailer's --id, valid for it), and
 * fills a. Its uid is vm's; its gid the group all VMMs share, since the
 * jailer gives it no supplementary group. (jail.c) */
int vmm_jailer_prepare(struct vmm *vm, const char *exec_file, const char *id, struct vmm_jailer_args *a,
		       struct cove_err *err);

/* The path the VMM opens its work directory's file name by: "/NAME" when
 * confined (the work directory is its root), WORK_DIR/NAME otherwise.
 * (launch.c) */
int vmm_root_path(const struct vmm *vm, const char *name, char buf[PATH_MAX]);

/* Starts the VMM process as described at the top of vmm.h. On success the
 * child has exec'd: vm->identity and vm->pidfd are set. (launch.c) */
int vmm_launch(struct vmm *vm, const struct vmm_launch *spec, struct cove_err *err);

/* Reports why a just-started VMM died: its exit status and the last line of
 * its log. Reaps it. (process.c) */
int vmm_report_early_exit(struct vmm *vm, struct cove_err *err);

/* Reaps an exited VMM and removes its run directory. Idempotent. (process.c) */
void vmm_cleanup_after_exit(struct vmm *vm);

/* Shared directories (share.c): a virtiofsd per config.shares entry,
 * each on a listening socket this process made and connected to, so that
 * the VMM is handed a connected socket (no socket path in its jail, no
 * wait for virtiofsd to listen). Started before the VMM by the generic
 * boot; ended (signalled, reaped) by vmm_sidecars_stop on every path the
 * VMM ends by. */
int vmm_sidecars_start(struct vmm *vm, struct cove_err *err);
/* The connected vhost-user socket of share i for the driver to hand on;
 * -1 when there is none. */
int vmm_share_socket(const struct vmm *vm, size_t i);
/* For a driver with VMM_FEATURE_SHARES_BY_PATH (its VMM connects by
 * path): share i's listening socket on the host, the VMM's uid's alone,
 * to bind into its work directory; unlinked once the VMM has booted
 * (vmm_sidecars_close_sockets). -ENOENT when there is none. */
int vmm_share_socket_path(const struct vmm *vm, size_t i, char buf[PATH_MAX]);
/* Closes this process's copies of the sockets once the VMM holds them:
 * then virtiofsd sees the VMM go; removes the paths of sockets the VMM
 * connected to by path. Idempotent. */
void vmm_sidecars_close_sockets(struct vmm *vm);
/* Ends and reaps every sidecar, closes what is left. Idempotent. */
void vmm_sidecars_stop(struct vmm *vm);
/* Lets go of the sidecars without ending them (vmm_detach). Idempotent. */
void vmm_sidecars_release(struct vmm *vm);
/* LOG_DIR/ID.virtiofsd-I.log for share i. */
int vmm_sidecar_log_path(const struct vmm *vm, size_t i, char buf[PATH_MAX]);

/* The guest kernel's command line as a driver hands it over:
 * vmm_kernel_cmdline's, and under TCG (accel) the host's TSC frequency
 * (tsc_khz, vmm_host_tsc_khz(); 0: unknown) before config.extra_cmdline.
 * Pure. (config.c) */
int vmm_guest_cmdline(const struct vmm_config *c, enum vmm_accel accel, unsigned tsc_khz, char *buf, size_t len,
		      struct cove_err *err);

/* Unix sockets to a VMM's control channel (unixsock.c): one listening at
 * path (a stale one replaced) for the VMM to be handed, and a connection
 * that retries while the VMM starts, giving up with -ECHILD as soon as
 * pidfd (may be -1) shows it exited. */
int vmm_unix_listen(const char *path, int *fd, struct cove_err *err);
int vmm_unix_connect(const char *path, int pidfd, int timeout_ms, struct cove_err *err);

/* For a driver whose VMM opens its TAP by name (Firecracker, Cloud
 * Hypervisor): the TAP config.tap_fd is attached to, in name; made the
 * confined VMM's (its owner, and group the gid it runs as: the kernel lets
 * a process attach only when both match), and the descriptor closed, since
 * a TAP takes one queue at a time (the VMM's attach would get EBUSY). Call
 * before vmm_launch: its jail then gets /dev/net/tun. (tap.c) */
int vmm_tap_by_name(struct vmm *vm, gid_t group, char name[16], struct cove_err *err);

/* The file the running VMM has as name in its work directory, as this
 * process reaches it: through /proc/PID/root, its mount namespace.
 * (launch.c) */
int vmm_host_path(const struct vmm *vm, const char *name, char *out, size_t len, struct cove_err *err);

/* Raw disk layers (rawdisk.c), for drivers whose drives are raw files: a
 * layer or overlay is a whole raw image; made empty it has no bytes and
 * stands for the image it is over. */
/* An empty layer or overlay at path (replacing one there). */
int vmm_raw_disk_create(const char *path, struct cove_err *err);
/* The first of chain[0..n) (NULL entries skipped) that has bytes: the
 * image the chain stands for; NULL: none. */
const char *vmm_raw_disk_image(const char *const *chain, size_t n);
/* A new file at to with from's data (fs_copy_file: a reflink, else copied
 * extent by extent, holes kept), its time logged; durable: fsynced. */
int vmm_raw_clone(const char *from, const char *to, bool durable, struct cove_err *err);

/* Runs path --version and parses what it prints to stdout with parse
 * (0, or a negative errno where no version is in it; at most 63
 * characters); name is the driver's, for messages and the log line when
 * first asked. Kept while the file is unchanged: the next call for the
 * same binary runs nothing (version.c). */
int vmm_binary_version(const char *name, const char *path, int (*parse)(const char *out, char *buf, size_t len),
		       char *buf, size_t len, struct cove_err *err);
/* An empty file at path filled in place with the image under it
 * (vmm_raw_disk_image of under); one with bytes is left as it is. */
int vmm_raw_disk_fill(const char *path, const char *const *under, size_t n, struct cove_err *err);
/* vmm_disk_flatten for raw layers: a copy of the image the chain stands for. */
int vmm_raw_disk_flatten(const char *rootfs, const char *layer, const char *own, const char *out,
			 struct cove_err *err);

/* The host's TSC frequency in kHz (0 if unknown); see tsc.c. */
unsigned vmm_host_tsc_khz(void);

#endif
