/* Shared by the generic files of the vmm module only: the driver table
 * (drivers.c) and the identity records of run directories. What drivers
 * see is in driver.h. */
#ifndef COVE_VMM_INTERNAL_H
#define COVE_VMM_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/spawn.h"

#include "vmm/driver.h"

/* The driver called name (NULL: VMM_DEFAULT_DRIVER); NULL when there is none. */
const struct vmm_driver *vmm_driver_find(const char *name);
/* The names of all drivers, ", "-separated, for messages. */
void vmm_driver_names(char *buf, size_t len);

/* Records a process identity as RUN_DIR/ID/name ("pid starttime"); stale.c
 * reads it back. (process.c) */
int vmm_write_identity(const char *dir, const char *name, const struct proc_identity *id, struct cove_err *err);

/* Confinement (jail.c). */
#define VMM_JAIL_CLAIMS "/run/cove-vmm-ids" /* one for the host, whatever the run directory */
#define VMM_JAIL_NOFILE 4096

struct vmm_jail_ids {
	bool on; /* false: COVE_VMM_IDS=off, VMMs run as root */
	uint32_t first; /* the group every VMM has */
	uint32_t count; /* ids first .. first+count-1; VMMs have first+1 on */
};
/* Parses COVE_VMM_IDS ("FIRST:COUNT" or "off"; NULL: off). */
int vmm_jail_parse_ids(const char *text, struct vmm_jail_ids *ids, struct cove_err *err);
/* The setting, read once. */
int vmm_jail_ids(struct vmm_jail_ids *ids, struct cove_err *err);
/* Claims a free uid for vm (its run directory must exist) and marks it
 * confined; vmm_jail_release gives it back. */
int vmm_jail_claim(struct vmm *vm, const struct vmm_jail_ids *ids, struct cove_err *err);
void vmm_jail_release(struct vmm *vm);
/* Removes the claims whose run directory is gone; how many, or -errno. */
int vmm_jail_sweep(struct cove_err *err);
/* The real uid of a process, from /proc. */
int vmm_jail_read_uid(pid_t pid, uid_t *uid);
/* Makes the file at path openable by the confined vm as access says. */
int vmm_jail_prepare_file(const struct vmm *vm, const char *path, enum vmm_bind_access access, struct cove_err *err);

enum { VMM_JAIL_USR, VMM_JAIL_VAR, VMM_JAIL_VAR_TMP, VMM_JAIL_DEV, VMM_JAIL_KVM, VMM_JAIL_NULL, VMM_JAIL_BINARY,
       VMM_JAIL_LIB, VMM_JAIL_LIB64, VMM_JAIL_BIN, VMM_JAIL_NET, VMM_JAIL_TUN, VMM_JAIL_URANDOM, VMM_JAIL_UFFD,
       VMM_JAIL_NPATHS };
/* Steps of vmm_jail_child, numbered after launch.c's. */
enum {
	VMM_JAIL_STEP_USR = SPAWN_STEP_CALLER + 50,
	VMM_JAIL_STEP_TREE,
	VMM_JAIL_STEP_DEV,
	VMM_JAIL_STEP_KVM,
	VMM_JAIL_STEP_TUN,
	VMM_JAIL_STEP_UFFD,
	VMM_JAIL_STEP_BINARY,
	VMM_JAIL_STEP_PIVOT,
	VMM_JAIL_STEP_RLIMIT,
	VMM_JAIL_STEP_CAPS,
	VMM_JAIL_STEP_GID,
	VMM_JAIL_STEP_UID,
	VMM_JAIL_STEP_NNP,
};
/* Everything the child's steps need, made before fork. */
struct vmm_jail_plan {
	uid_t uid;
	gid_t gid, shared_gid;
	bool kvm, tun, die_with_parent, bind_binary;
	bool jailer; /* Firecracker's jailer does the rest (vmm_launch.jailer) */
	bool usr;    /* /usr bound in: the binary is linked dynamically */
	dev_t userfaultfd; /* its own /dev/userfaultfd, this device; 0: none */
	const char *work_dir;
	const char *binary;
	char exec_path[PATH_MAX]; /* the binary as seen from inside */
	char paths[VMM_JAIL_NPATHS][PATH_MAX];
	int cap_last;
	uint64_t fsize; /* RLIMIT_FSIZE */
};
int vmm_jail_plan(const struct vmm *vm, const char *binary, bool jailer, struct vmm_jail_plan *p,
		  struct cove_err *err);
/* Whether binary (an ELF file) names a program interpreter: it is linked
 * dynamically and needs /usr. true too when it cannot be read as ELF. */
bool vmm_jail_needs_loader(const char *binary);
/* In the child, after its work directory is mounted and filled: see jail.c. */
int vmm_jail_child(const struct vmm_jail_plan *p, struct spawn_failure *f);
/* What a VMM_JAIL_STEP_* did, for messages; NULL for another step. */
const char *vmm_jail_step_name(int step);

#endif
