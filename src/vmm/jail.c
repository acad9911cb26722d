/* A VMM's confinement, after Firecracker's jailer: the ids it runs as and
 * what its launch does between fork and exec to become that user in a root
 * of its own (launch.c runs these steps; see docs/security.md).
 *
 * Ids: COVE_VMM_IDS is FIRST:COUNT. FIRST is the group every VMM has as
 * its one supplementary group (the files several VMMs must open, such as a
 * template's memory file, belong to it); each VMM runs as a uid and gid of
 * its own from FIRST+1 on. A uid is claimed by a symlink
 * VMM_JAIL_CLAIMS/UID -> RUN_DIR/ID, made atomically (symlink() fails on
 * an existing name), so processes with different run directories (coved,
 * a `cove run`, the tests) never share one; the claim goes with the run
 * directory (vmm_jail_release), and claims whose run directory is gone are
 * swept (vmm_jail_sweep). A restarted coved finds an adopted VMM's uid in
 * /proc (vmm_jail_read_uid), where the kernel keeps it.
 *
 * The child's steps (vmm_jail_child) take the work directory, already a
 * tmpfs holding the VMM's files, as its root: /usr bound read-only beside
 * them for a dynamically linked VMM (QEMU, which also loads modules; the
 * released Firecracker and Cloud Hypervisor are static and get none),
 * /var/tmp its own, a /dev with null, urandom (read-only), net/tun for a
 * VMM that opens its TAP by name, userfaultfd for one whose memory a page
 * server serves and, when it uses KVM, a kvm node made for it alone; then
 * pivot_root, resource limits, every capability dropped (bounding and
 * ambient sets included), its ids and no_new_privs. QEMU's own seccomp
 * filter comes on top (args.c).
 *
 * Under Firecracker's jailer (vmm_launch.jailer) the child stops short:
 * the tree without the nodes the jailer makes (kvm, net/tun, urandom,
 * userfaultfd), the limits, the ambient capabilities and the bounding set
 * cut to what the jailer's steps need, no supplementary groups and
 * no_new_privs; the jailer pivots into the work directory, makes the nodes
 * and changes ids (vmm_jailer_prepare gives it the ids). */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "vmm/internal.h"

static struct {
	pthread_once_t once;
	int r;
	struct vmm_jail_ids ids;
	char msg[256];
} settings = { .once = PTHREAD_ONCE_INIT };

int vmm_jail_parse_ids(const char *text, struct vmm_jail_ids *ids, struct cove_err *err)
{
	*ids = (struct vmm_jail_ids){ 0 };
	if (!text || strcmp(text, "off") == 0)
		return 0;
	char *end;
	errno = 0;
	/* Digits only: strtoull would take spaces and a sign. */
	unsigned long long first = *text >= '0' && *text <= '9' ? strtoull(text, &end, 10) : (end = (char *)text, 0);
	if (errno || end == text || *end != ':')
		return cove_errf(err, -EINVAL, "COVE_VMM_IDS '%s': not FIRST:COUNT or off", text);
	const char *c = end + 1;
	unsigned long long count = *c >= '0' && *c <= '9' ? strtoull(c, &end, 10) : (end = (char *)c, 0);
	if (errno || end == c || *end)
		return cove_errf(err, -EINVAL, "COVE_VMM_IDS '%s': not FIRST:COUNT or off", text);
	/* uid_t is 32 bits and (uid_t)-1 means "unchanged"; ids below 1000
	 * are the system's and the distribution's users. */
	if (first < 1000 || count < 2 || count > 1u << 24 || first + count > 0xfffffffeull)
		return cove_errf(err, -ERANGE, "COVE_VMM_IDS '%s': need FIRST >= 1000, 2 <= COUNT <= %u, "
				 "and FIRST+COUNT below 4294967294", text, 1u << 24);
	ids->on = true;
	ids->first = (uint32_t)first;
	ids->count = (uint32_t)count;
	return 0;
}

static void read_settings(void)
{
	struct cove_err e = { 0 };
	settings.r = vmm_jail_parse_ids(env_value(ENV_VMM_IDS), &settings.ids, &e);
	snprintf(settings.msg, sizeof(settings.msg), "%s", e.msg);
}

int vmm_jail_ids(struct vmm_jail_ids *ids, struct cove_err *err)
{
	pthread_once(&settings.once, read_settings);
	if (settings.r < 0)
		return cove_errf(err, settings.r, "%s", settings.msg);
	*ids = settings.ids;
	return 0;
}

static int claim_path(uint32_t uid, char buf[PATH_MAX])
{
	return snprintf(buf, PATH_MAX, "%s/%" PRIu32, VMM_JAIL_CLAIMS, uid) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int vmm_jail_claim(struct vmm *vm, const struct vmm_jail_ids *ids, struct cove_err *err)
{
	int r = fs_mkdir_p(VMM_JAIL_CLAIMS, 0700, err);
	if (r < 0)
		return r;
	uint32_t n = ids->count - 1;
	/* Spread from a point of this VM's own, so that claims seldom meet. */
	uint32_t start = (uint32_t)(now_us() ^ ((uint64_t)getpid() << 16)) % n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t uid = ids->first + 1 + (start + i) % n;
		char path[PATH_MAX];
		if (claim_path(uid, path) < 0)
			return cove_errf(err, -ENAMETOOLONG, "claim a VMM uid: path too long");
		if (symlink(vm->dir, path) == 0) {
			vm->uid = uid;
			vm->shared_gid = ids->first;
			vm->confined = true;
			return 0;
		}
		if (errno != EEXIST)
			return cove_errno(err, -errno, "claim VMM uid %" PRIu32 " (%s)", uid, path);
	}
	return cove_errf(err, -EAGAIN, "no VMM uid free: all %" PRIu32 " of COVE_VMM_IDS are claimed in %s", n,
			 VMM_JAIL_CLAIMS);
}

void vmm_jail_release(struct vmm *vm)
{
	if (!vm->confined)
		return;
	char path[PATH_MAX], target[PATH_MAX];
	if (claim_path(vm->uid, path) < 0)
		return;
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (strcmp(target, vm->dir) == 0)
			unlink(path);
	}
	vm->confined = false;
}

int vmm_jail_sweep(struct cove_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(VMM_JAIL_CLAIMS);
	if (!d)
		return errno == ENOENT ? 0 : cove_errno(err, -errno, "open %s", VMM_JAIL_CLAIMS);
	int swept = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[PATH_MAX], target[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", VMM_JAIL_CLAIMS, e->d_name) >= (int)sizeof(path))
			continue;
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		struct stat st;
		if (stat(target, &st) < 0 && errno == ENOENT && unlink(path) == 0)
			swept++;
	}
	return swept;
}

int vmm_jail_read_uid(pid_t pid, uid_t *uid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long real;
		if (sscanf(line, "Uid: %lu", &real) == 1) {
			*uid = (uid_t)real;
			return 0;
		}
	}
	return -ENODATA;
}

int vmm_jail_prepare_file(const struct vmm *vm, const char *path, enum vmm_bind_access access, struct cove_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return cove_errno(err, -errno, "stat %s", path);
	uid_t owner = (uid_t)-1;
	gid_t group = (gid_t)-1;
	mode_t want = st.st_mode & 07777;
	switch (access) {
	case VMM_BIND_READ:
		/* Readable by anyone already (a template's image), or by the
		 * group every VMM has. */
		if (st.st_mode & S_IROTH || (st.st_gid == vm->shared_gid && st.st_mode & S_IRGRP))
			return 0;
		group = vm->shared_gid;
		want |= S_IRGRP;
		break;
	case VMM_BIND_OWN:
		owner = vm->uid;
		group = vm->uid;
		want = (want & ~(mode_t)077) | S_IRUSR | S_IWUSR;
		break;
	case VMM_BIND_SHARED:
		group = vm->shared_gid;
		want = (want & ~(mode_t)07) | S_IRGRP | S_IWGRP;
		break;
	}
	if ((owner != (uid_t)-1 && st.st_uid != owner) || (group != (gid_t)-1 && st.st_gid != group)) {
		if (chown(path, owner, group) < 0)
			return cove_errno(err, -errno, "hand %s to VMM uid %u", path, (unsigned)vm->uid);
	}
	if ((st.st_mode & 07777) != want && chmod(path, want) < 0)
		return cove_errno(err, -errno, "chmod %s for VMM uid %u", path, (unsigned)vm->uid);
	return 0;
}

static int set_path(char *buf, const char *work_dir, const char *name)
{
	return snprintf(buf, PATH_MAX, "%s/%s", work_dir, name) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Files it writes: its disk overlay (at most the disk's size plus qcow2's
 * tables), a shared memory file, and the state of a save written straight
 * to a descriptor (its RAM with it). RLIMIT_FSIZE. */
static uint64_t fsize_limit(const struct vmm *vm)
{
	struct stat st;
	uint64_t disk = stat(vm->cfg.c.rootfs, &st) == 0 ? (uint64_t)st.st_size : 0;
	uint64_t mem = (uint64_t)(vm->cfg.c.mem_mib ? vm->cfg.c.mem_mib : VMM_DEFAULT_MEM_MIB) << 20;
	return (disk > mem ? disk : mem) + (1ull << 30);
}

bool vmm_jail_needs_loader(const char *binary)
{
	_cleanup_close_ int fd = open(binary, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
		return true; /* not what it looks for: /usr, as before */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return true;
		if (ph.p_type == PT_INTERP)
			return true;
	}
	return false;
}

int vmm_jail_plan(const struct vmm *vm, const char *binary, bool jailer, struct vmm_jail_plan *p,
		  struct cove_err *err)
{
	/* Under the jailer, the nodes of KVM, the TUN device and userfaultfd
	 * are its to make (it fails on any already there). */
	*p = (struct vmm_jail_plan){
		.uid = vm->uid,
		.gid = vm->uid,
		.shared_gid = vm->shared_gid,
		.kvm = vm->accel == VMM_ACCEL_KVM && !jailer,
		.tun = vm->tap_by_name && !jailer,
		.die_with_parent = vm->cfg.c.die_with_parent,
		.jailer = jailer,
		.work_dir = vm->work_dir,
	};
	static const char *const names[VMM_JAIL_NPATHS] = { "usr",   "var", "var/tmp", "dev", "dev/kvm",
									"dev/null", "vmm", "lib",     "lib64", "bin",
									"dev/net", "dev/net/tun", "dev/urandom",
									"dev/userfaultfd" };
	for (int i = 0; i < VMM_JAIL_NPATHS; i++)
		if (set_path(p->paths[i], vm->work_dir, names[i]) < 0)
			return cove_errf(err, -ENAMETOOLONG, "launch %s: path in %s too long", vm->cfg.c.id, vm->work_dir);
	/* A VMM binary outside /usr is bound in as /vmm; the jailer copies its own in. */
	p->bind_binary = !jailer && strncmp(binary, "/usr/", 5) != 0;
	struct stat ust;
	if (vm->userfaultfd && !jailer) {
		if (stat("/dev/userfaultfd", &ust) < 0 || !S_ISCHR(ust.st_mode))
			return cove_errf(err, -ENODEV, "launch %s: its memory is served through userfaultfd, and this host "
						       "has no /dev/userfaultfd", vm->cfg.c.id);
		p->userfaultfd = ust.st_rdev;
	}
	p->binary = binary;
	p->usr = vmm_jail_needs_loader(binary);
	snprintf(p->exec_path, sizeof(p->exec_path), "%s", p->bind_binary ? "/vmm" : binary);
	p->cap_last = 63;
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f && fscanf(f, "%d", &p->cap_last) != 1)
		p->cap_last = 63;
	p->fsize = fsize_limit(vm);
	return 0;
}

int vmm_jailer_prepare(struct vmm *vm, const char *exec_file, const char *id, struct vmm_jailer_args *a,
		       struct cove_err *err)
{
	const char *name = strrchr(exec_file, '/');
	name = name ? name + 1 : exec_file;
	char work[PATH_MAX];
	if (snprintf(a->base, sizeof(a->base), "%s/jail", vm->dir) >= (int)sizeof(a->base) ||
	    snprintf(work, sizeof(work), "%s/%s/%s/root", a->base, name, id) >= (int)sizeof(work))
		return cove_errf(err, -ENAMETOOLONG, "launch %s: jailer's root under %s too long", vm->cfg.c.id, vm->dir);
	int r = fs_mkdir_p(work, 0700, err);
	if (r < 0)
		return cove_err_prefix(err, "launch %s", vm->cfg.c.id);
	/* The plain work directory goes unused. */
	if (strcmp(work, vm->work_dir) != 0) {
		rmdir(vm->work_dir);
		snprintf(vm->work_dir, sizeof(vm->work_dir), "%s", work);
	}
	snprintf(a->uid, sizeof(a->uid), "%u", (unsigned)vm->uid);
	snprintf(a->gid, sizeof(a->gid), "%u", (unsigned)vm->shared_gid);
	snprintf(a->nofile, sizeof(a->nofile), "no-file=%u", (unsigned)VMM_JAIL_NOFILE);
	snprintf(a->fsize, sizeof(a->fsize), "fsize=%" PRIu64, fsize_limit(vm));
	return 0;
}

static int failed(struct spawn_failure *f, int step)
{
	f->step = step;
	f->index = -1;
	return errno ? -errno : -EIO;
}

static int child_tree(const struct vmm_jail_plan *p, struct spawn_failure *f)
{
	/* A static binary (Firecracker's and Cloud Hypervisor's releases)
	 * gets no /usr. */
	if (p->usr && (mkdir(p->paths[VMM_JAIL_USR], 0755) < 0 ||
		       mount("/usr", p->paths[VMM_JAIL_USR], NULL, MS_BIND, NULL) < 0 ||
		       mount(NULL, p->paths[VMM_JAIL_USR], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
			     NULL) < 0))
		return failed(f, VMM_JAIL_STEP_USR);
	/* Debian's merged /usr: the loader is found as /lib64/..., libraries in /lib/... */
	if (p->usr && (symlink("usr/lib", p->paths[VMM_JAIL_LIB]) < 0 ||
		       symlink("usr/lib64", p->paths[VMM_JAIL_LIB64]) < 0 || symlink("usr/bin", p->paths[VMM_JAIL_BIN]) < 0))
		return failed(f, VMM_JAIL_STEP_TREE);
	if (mkdir(p->paths[VMM_JAIL_VAR], 0755) < 0 || mkdir(p->paths[VMM_JAIL_VAR_TMP], 0700) < 0 ||
	    chown(p->paths[VMM_JAIL_VAR_TMP], p->uid, p->gid) < 0)
		return failed(f, VMM_JAIL_STEP_TREE);
	/* /dev/null (QEMU probes file locking on it), /dev/urandom to read
	 * (Cloud Hypervisor's virtio-rng reads it; it has no other source),
	 * and with KVM its own /dev/kvm. mknod's mode is masked by the umask:
	 * chmod after. */
	if (mkdir(p->paths[VMM_JAIL_DEV], 0755) < 0 ||
	    mount("tmpfs", p->paths[VMM_JAIL_DEV], "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=16k") < 0 ||
	    mknod(p->paths[VMM_JAIL_NULL], S_IFCHR | 0666, makedev(1, 3)) < 0 || chmod(p->paths[VMM_JAIL_NULL], 0666) < 0)
		return failed(f, VMM_JAIL_STEP_DEV);
	/* The jailer makes its own (its uid's). */
	if (!p->jailer && (mknod(p->paths[VMM_JAIL_URANDOM], S_IFCHR | 0444, makedev(1, 9)) < 0 ||
			   chmod(p->paths[VMM_JAIL_URANDOM], 0444) < 0))
		return failed(f, VMM_JAIL_STEP_DEV);
	if (p->kvm && (mknod(p->paths[VMM_JAIL_KVM], S_IFCHR | 0600, makedev(10, 232)) < 0 ||
		       chown(p->paths[VMM_JAIL_KVM], p->uid, p->gid) < 0))
		return failed(f, VMM_JAIL_STEP_KVM);
	/* A VMM that opens its TAP by name (vmm_tap_by_name): the TAP is its
	 * uid's, so the node lets it attach to that one only. */
	if (p->tun && (mkdir(p->paths[VMM_JAIL_NET], 0755) < 0 ||
		       mknod(p->paths[VMM_JAIL_TUN], S_IFCHR | 0666, makedev(10, 200)) < 0 ||
		       chmod(p->paths[VMM_JAIL_TUN], 0666) < 0))
		return failed(f, VMM_JAIL_STEP_TUN);
	/* A Uffd memory backend (Firecracker): the node is its uid's alone, as
	 * the jailer makes it; the page server is handed what it makes there. */
	if (p->userfaultfd && (mknod(p->paths[VMM_JAIL_UFFD], S_IFCHR | 0600, p->userfaultfd) < 0 ||
			       chown(p->paths[VMM_JAIL_UFFD], p->uid, p->gid) < 0))
		return failed(f, VMM_JAIL_STEP_UFFD);
	if (p->bind_binary) {
		int fd = open(p->paths[VMM_JAIL_BINARY], O_CREAT | O_WRONLY | O_CLOEXEC, 0700);
		if (fd < 0)
			return failed(f, VMM_JAIL_STEP_BINARY);
		close(fd);
		if (mount(p->binary, p->paths[VMM_JAIL_BINARY], NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, p->paths[VMM_JAIL_BINARY], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV | MS_NOSUID,
			  NULL) < 0)
			return failed(f, VMM_JAIL_STEP_BINARY);
	}
	return 0;
}

/* pivot_root(".", "."): the old root ends up stacked on the new one, and
 * detaching it leaves the work directory alone as "/". */
static int child_pivot(const struct vmm_jail_plan *p, struct spawn_failure *f)
{
	if (chdir(p->work_dir) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
	    chdir("/") < 0)
		return failed(f, VMM_JAIL_STEP_PIVOT);
	return 0;
}

static int child_limits(const struct vmm_jail_plan *p, struct spawn_failure *f)
{
	const struct rlimit nofile = { VMM_JAIL_NOFILE, VMM_JAIL_NOFILE }, core = { 0, 0 },
			    fsize = { p->fsize, p->fsize }, nproc = { VMM_MAX_PIDS, VMM_MAX_PIDS };
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 || setrlimit(RLIMIT_CORE, &core) < 0 ||
	    setrlimit(RLIMIT_FSIZE, &fsize) < 0 || setrlimit(RLIMIT_NPROC, &nproc) < 0)
		return failed(f, VMM_JAIL_STEP_RLIMIT);
	return 0;
}

/* Every capability goes: the bounding and ambient sets first (that needs
 * CAP_SETPCAP), then the ids (leaving uid 0 empties the permitted and
 * effective sets), then the inheritable set, and no_new_privs so that no
 * exec can give any back. */
static int child_drop(const struct vmm_jail_plan *p, struct spawn_failure *f)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return failed(f, VMM_JAIL_STEP_CAPS);
	for (int c = 0; c <= p->cap_last; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return failed(f, VMM_JAIL_STEP_CAPS);
	gid_t groups[1] = { p->shared_gid };
	if (setgroups(1, groups) < 0 || setresgid(p->gid, p->gid, p->gid) < 0)
		return failed(f, VMM_JAIL_STEP_GID);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return failed(f, VMM_JAIL_STEP_UID);
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	if (syscall(SYS_capset, &h, d) < 0)
		return failed(f, VMM_JAIL_STEP_CAPS);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return failed(f, VMM_JAIL_STEP_NNP);
	/* A change of ids clears the parent-death signal: set again. */
	if (p->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return failed(f, VMM_JAIL_STEP_NNP);
	return 0;
}

/* Before the jailer: it keeps, of root's capabilities, only what its
 * documented steps need (mounts and pivot_root, its nodes, their owners,
 * its copy of Firecracker, the limits, the ids), and no exec can give any
 * back. Its change of ids then empties the rest. */
static int child_hand_to_jailer(const struct vmm_jail_plan *p, struct spawn_failure *f)
{
	static const int keep[] = { CAP_CHOWN,	 CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,	  CAP_SETGID,
				    CAP_SETUID,	 CAP_SYS_CHROOT,   CAP_SYS_ADMIN,	CAP_SYS_RESOURCE, CAP_MKNOD };
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return failed(f, VMM_JAIL_STEP_CAPS);
	for (int c = 0; c <= p->cap_last; c++) {
		bool kept = false;
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			kept = kept || keep[i] == c;
		if (!kept && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return failed(f, VMM_JAIL_STEP_CAPS);
	}
	if (setgroups(0, NULL) < 0)
		return failed(f, VMM_JAIL_STEP_GID);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return failed(f, VMM_JAIL_STEP_NNP);
	return 0;
}

int vmm_jail_child(const struct vmm_jail_plan *p, struct spawn_failure *f)
{
	int r = child_tree(p, f);
	if (p->jailer) {
		r = r ?: child_limits(p, f);
		return r ?: child_hand_to_jailer(p, f);
	}
	r = r ?: child_pivot(p, f);
	r = r ?: child_limits(p, f);
	return r ?: child_drop(p, f);
}

const char *vmm_jail_step_name(int step)
{
	switch (step) {
	case VMM_JAIL_STEP_USR: return "bind /usr read-only";
	case VMM_JAIL_STEP_TREE: return "make its root's directories";
	case VMM_JAIL_STEP_DEV: return "make its /dev/null and /dev/urandom";
	case VMM_JAIL_STEP_KVM: return "make its /dev/kvm";
	case VMM_JAIL_STEP_BINARY: return "bind the VMM binary";
	case VMM_JAIL_STEP_TUN: return "make its /dev/net/tun";
	case VMM_JAIL_STEP_UFFD: return "make its /dev/userfaultfd";
	case VMM_JAIL_STEP_PIVOT: return "pivot_root into its work directory";
	case VMM_JAIL_STEP_RLIMIT: return "set resource limits";
	case VMM_JAIL_STEP_CAPS: return "drop capabilities";
	case VMM_JAIL_STEP_GID: return "set its group ids";
	case VMM_JAIL_STEP_UID: return "set its user id";
	case VMM_JAIL_STEP_NNP: return "set no_new_privs";
	default: return NULL;
	}
}
