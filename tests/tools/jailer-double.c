/* jailer-double: a test double of Firecracker's jailer for Cove's
 * Firecracker driver (src/vmm/fc/jailer.c), on a machine without
 * Firecracker. It takes the jailer's command line as its documentation
 * (docs/jailer.md, Firecracker 1.x) gives it, refuses what the real one
 * refuses (a missing or repeated argument, an unknown one, an id that is
 * not 1 to 64 letters, digits and hyphens, an exec file whose name lacks
 * "firecracker", a chroot base that is not a directory) and then takes the
 * documented steps, in their order:
 *
 *   close every descriptor but 0, 1 and 2, and clear the environment;
 *   copy the exec file to <chroot_base>/<exec_file_name>/<id>/root/;
 *   join --netns; set the resource limits (no-file 2048 unless given);
 *   a new mount namespace, every mount a slave, the chroot bound onto
 *   itself (recursively), pivot_root into it, the old root detached;
 *   /, /dev, /dev/net and /run made (0700) and owned by uid:gid;
 *   /dev/net/tun, /dev/kvm, /dev/urandom and (where /proc/misc lists it)
 *   /dev/userfaultfd made, 0600, owned by uid:gid;
 *   its pid in /<exec_file_name>.pid; where the kernel has Landlock, a
 *   ruleset enforced that allows every file system access beneath the jail
 *   directory and none elsewhere (as the jailer does since it took Landlock
 *   up: src/jailer/src/landlock.rs, ABI 4's rights, best effort); the
 *   supplementary groups dropped, gid and uid set; exec /<exec_file_name>
 *   --id <id> --start-time-us N --start-time-cpu-us N
 *   --parent-cpu-time-us N, then what followed "--".
 *
 * Where it differs: it makes /dev/kvm only where KVM can run a guest
 * (vmm_accel_resolve), since the Firecracker double then runs its guest
 * under QEMU's TCG, which a /dev/kvm would send to KVM; and it refuses the
 * options it does not carry out (--daemonize, --new-pid-ns, --cgroup,
 * --parent-cgroup, a --cgroup-version other than 1), which Cove does not
 * use. Its version is the Firecracker double's (the jailer's
 * documentation asks for the pair). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/landlock.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "vmm/vmm.h"
#include "vmmdouble/openapi.h"
#include "vmmdouble/vmmdouble.h"

/* Landlock ABI 3's right, which Debian 12's headers (Linux 6.1) lack. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

#define MAX_EXTRA 32
#define MAX_LIMITS 8

struct args {
	const char *id, *exec_file, *uid, *gid, *chroot_base, *netns, *cgroup_version;
	const char *limits[MAX_LIMITS];
	size_t nlimits;
	char *extra[MAX_EXTRA];
	size_t nextra;
};

static void fail(const char *fmt, const char *what)
{
	fprintf(stderr, "jailer-double: ");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	exit(1);
}

static void fail_errno(const char *what, const char *path)
{
	fprintf(stderr, "jailer-double: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static uint64_t clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- the command line: "--name value", "--flag", then "--" and Firecracker's --- */

static void set_once(const char **slot, const char *name, const char *value)
{
	if (*slot)
		fail("Arguments parsing error: the argument '--%s' was provided more than once.", name);
	*slot = value;
}

static void parse(int argc, char **argv, struct args *a, const char *version)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			for (i++; i < argc; i++) {
				if (a->nextra == MAX_EXTRA)
					fail("%s", "too many arguments for Firecracker");
				a->extra[a->nextra++] = argv[i];
			}
			break;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("Jailer v%s\n", version);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0)
			fail("Arguments parsing error: Found argument '%s' which wasn't expected.", arg);
		const char *name = arg + 2;
		static const char *const refused[] = { "daemonize", "new-pid-ns", "cgroup", "parent-cgroup" };
		for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
			if (strcmp(name, refused[k]) == 0)
				fail("--%s is not carried out by this double (Cove does not use it)", name);
		const char **slot = strcmp(name, "id") == 0			? &a->id
				    : strcmp(name, "exec-file") == 0		? &a->exec_file
				    : strcmp(name, "uid") == 0			? &a->uid
				    : strcmp(name, "gid") == 0			? &a->gid
				    : strcmp(name, "chroot-base-dir") == 0	? &a->chroot_base
				    : strcmp(name, "netns") == 0		? &a->netns
				    : strcmp(name, "cgroup-version") == 0	? &a->cgroup_version
				    : NULL;
		bool limit = strcmp(name, "resource-limit") == 0;
		if (!slot && !limit)
			fail("Arguments parsing error: Found argument '%s' which wasn't expected.", arg);
		if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
			fail("Arguments parsing error: Missing value for argument '%s'.", arg);
		const char *value = argv[++i];
		if (slot)
			set_once(slot, name, value);
		else if (a->nlimits < MAX_LIMITS)
			a->limits[a->nlimits++] = value;
	}
	static const char *const required[] = { "id", "exec-file", "uid", "gid" };
	const char *const have[] = { a->id, a->exec_file, a->uid, a->gid };
	for (size_t k = 0; k < 4; k++)
		if (!have[k])
			fail("Arguments parsing error: Argument '--%s' required, but not found.", required[k]);
	if (!a->chroot_base)
		a->chroot_base = "/srv/jailer";
	if (a->cgroup_version && strcmp(a->cgroup_version, "1") != 0)
		fail("--cgroup-version %s is not carried out by this double (Cove does not use it)", a->cgroup_version);
}

static uint32_t parse_u32(const char *text, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || *end || v > UINT32_MAX || *text == '-')
		fail(what, text);
	return (uint32_t)v;
}

static void set_limits(const struct args *a)
{
	uint64_t nofile = 2048, fsize = 0;
	bool have_fsize = false;
	for (size_t i = 0; i < a->nlimits; i++) {
		const char *eq = strchr(a->limits[i], '=');
		if (!eq)
			fail("Invalid format for resources limits: %s", a->limits[i]);
		char *end;
		errno = 0;
		uint64_t v = strtoull(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end)
			fail("Invalid limit value for resource: %s", a->limits[i]);
		if (strncmp(a->limits[i], "no-file=", 8) == 0)
			nofile = v;
		else if (strncmp(a->limits[i], "fsize=", 6) == 0)
			fsize = v, have_fsize = true;
		else
			fail("Invalid resource argument: %s", a->limits[i]);
	}
	struct rlimit l = { nofile, nofile };
	if (setrlimit(RLIMIT_NOFILE, &l) < 0)
		fail_errno("setrlimit", "no-file");
	l = (struct rlimit){ fsize, fsize };
	if (have_fsize && setrlimit(RLIMIT_FSIZE, &l) < 0)
		fail_errno("setrlimit", "fsize");
}

/* userfaultfd's minor, from /proc/misc; -1 where it is not listed. */
static int uffd_minor(void)
{
	FILE *f = fopen("/proc/misc", "re");
	char line[128], name[64];
	int minor, found = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %63s", &minor, name) == 2 && strcmp(name, "userfaultfd") == 0)
			found = minor;
	if (f)
		fclose(f);
	return found;
}

static void copy_exec(const char *from, const char *to)
{
	struct stat st;
	if (stat(from, &st) < 0)
		fail_errno("stat", from);
	struct cove_err err = { 0 };
	if (fs_copy_file(from, to, false, &err) < 0)
		fail("Failed to copy the exec file: %s", err.msg);
	if (chmod(to, st.st_mode & 07777) < 0)
		fail_errno("chmod", to);
}

static void pivot(const char *chroot_dir)
{
	if (unshare(CLONE_NEWNS) < 0)
		fail_errno("unshare", "mount namespace");
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail_errno("make mounts slaves from", "/");
	if (mount(chroot_dir, chroot_dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail_errno("bind the jail root onto itself:", chroot_dir);
	if (chdir(chroot_dir) < 0 || mkdir("old_root", 0600) < 0 || syscall(SYS_pivot_root, ".", "old_root") < 0 ||
	    chdir("/") < 0 || umount2("old_root", MNT_DETACH) < 0 || rmdir("old_root") < 0)
		fail_errno("pivot_root into", chroot_dir);
}

/* A Landlock ruleset allowing every file system access beneath dir (held
 * by an O_PATH descriptor, which outlives pivot_root); -1 where the kernel
 * has no Landlock. Taken before the pivot, enforced before exec. */
static int landlock_prepare(const char *dir)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return -1;
	/* ABI 4's file system rights (up to TRUNCATE, ABI 3's), as many as
	 * this kernel knows. */
	uint64_t all = (LANDLOCK_ACCESS_FS_TRUNCATE << 1) - 1;
	if (abi < 2)
		all &= ~(uint64_t)LANDLOCK_ACCESS_FS_REFER;
	if (abi < 3)
		all &= ~(uint64_t)LANDLOCK_ACCESS_FS_TRUNCATE;
	struct landlock_ruleset_attr attr = { .handled_access_fs = all };
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	int beneath = open(dir, O_PATH | O_CLOEXEC);
	struct landlock_path_beneath_attr rule = { .allowed_access = all, .parent_fd = beneath };
	if (ruleset < 0 || beneath < 0 ||
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
		fail_errno("Failed to create Landlock ruleset for", dir);
	close(beneath);
	return ruleset;
}

static void own_dir(const char *path, uid_t uid, gid_t gid)
{
	if ((mkdir(path, 0700) < 0 && errno != EEXIST) || chmod(path, 0700) < 0 || chown(path, uid, gid) < 0)
		fail_errno("make the jail's folder", path);
}

static void make_node(const char *path, dev_t dev, uid_t uid, gid_t gid, bool must)
{
	if (mknod(path, S_IFCHR | 0600, dev) == 0 && chown(path, uid, gid) == 0)
		return;
	if (must)
		fail_errno("Failed to create via mknod inside the jail:", path);
	fprintf(stderr, "Warning! Could not create %s inside jailer: %s.\n", path, strerror(errno));
}

int main(int argc, char **argv)
{
	uint64_t start_us = clock_us(CLOCK_REALTIME), start_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	closefrom(3);
	clearenv();
	struct openapi *api;
	struct cove_err err = { 0 };
	size_t len = (size_t)(vmmdouble_firecracker_yaml_end - vmmdouble_firecracker_yaml);
	if (openapi_parse(vmmdouble_firecracker_yaml, len, "", &api, &err) < 0)
		fail("%s", err.msg);
	struct args a = { 0 };
	parse(argc, argv, &a, openapi_version(api));
	if (!vmmdouble_fc_id_valid(a.id))
		fail("Invalid instance ID: '%s' (1 to 64 letters, digits and hyphens)", a.id);
	uid_t uid = parse_u32(a.uid, "Invalid uid: %s");
	gid_t gid = parse_u32(a.gid, "Invalid gid: %s");
	char exec_file[PATH_MAX], base[PATH_MAX], chroot_dir[PATH_MAX * 2], copy[PATH_MAX * 3];
	struct stat st;
	if (!realpath(a.exec_file, exec_file))
		fail_errno("Failed to canonicalize path", a.exec_file);
	if (stat(exec_file, &st) < 0 || !S_ISREG(st.st_mode))
		fail("%s is not a file", exec_file);
	const char *name = strrchr(exec_file, '/') + 1;
	if (!strstr(name, "firecracker"))
		fail("Invalid filename. The filename of `--exec-file` option must contain \"firecracker\": %s", name);
	if (!realpath(a.chroot_base, base))
		fail_errno("Failed to canonicalize path", a.chroot_base);
	if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
		fail("%s is not a directory", base);
	snprintf(chroot_dir, sizeof(chroot_dir), "%s/%s/%s/root", base, name, a.id);
	int minor = uffd_minor();
	int landlock = -1;
	const char *reason;
	bool kvm = vmm_accel_resolve(VMM_ACCEL_AUTO, &reason) == VMM_ACCEL_KVM;

	if (fs_mkdir_p(chroot_dir, 0755, &err) < 0)
		fail("%s", err.msg);
	snprintf(copy, sizeof(copy), "%s/%s", chroot_dir, name);
	copy_exec(exec_file, copy);
	if (a.netns) {
		int fd = open(a.netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			fail_errno("Failed to join network namespace:", a.netns);
		close(fd);
	}
	set_limits(&a);
	landlock = landlock_prepare(chroot_dir);
	pivot(chroot_dir);
	static const char *const folders[] = { "/", "/dev", "/dev/net", "/run" };
	for (size_t i = 0; i < 4; i++)
		own_dir(folders[i], uid, gid);
	make_node("/dev/net/tun", makedev(10, 200), uid, gid, true);
	if (kvm)
		make_node("/dev/kvm", makedev(10, 232), uid, gid, true);
	make_node("/dev/urandom", makedev(1, 9), uid, gid, false);
	if (minor >= 0)
		make_node("/dev/userfaultfd", makedev(10, (unsigned)minor), uid, gid, true);
	char pid_file[PATH_MAX], exec_path[PATH_MAX];
	snprintf(pid_file, sizeof(pid_file), "/%s.pid", name);
	snprintf(exec_path, sizeof(exec_path), "/%s", name);
	FILE *pf = fopen(pid_file, "wx");
	if (!pf || fprintf(pf, "%d", (int)getpid()) < 0 || fclose(pf) != 0)
		fail_errno("write", pid_file);

	char id[80], t0[24], t1[24], t2[24];
	snprintf(id, sizeof(id), "%s", a.id);
	snprintf(t0, sizeof(t0), "%" PRIu64, start_us);
	snprintf(t1, sizeof(t1), "%" PRIu64, clock_us(CLOCK_PROCESS_CPUTIME_ID));
	snprintf(t2, sizeof(t2), "%" PRIu64, clock_us(CLOCK_PROCESS_CPUTIME_ID) - start_cpu_us);
	char *exec_argv[9 + MAX_EXTRA + 1] = { exec_path, "--id", id, "--start-time-us", t0, "--start-time-cpu-us", t1,
					       "--parent-cpu-time-us", t2 };
	for (size_t i = 0; i < a.nextra; i++)
		exec_argv[9 + i] = a.extra[i];
	openapi_free(api);
	if (landlock >= 0 && syscall(SYS_landlock_restrict_self, landlock, 0) < 0)
		fail_errno("Failed to enforce Landlock ruleset on", "itself");
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		fail_errno("drop privileges to", a.uid);
	execv(exec_path, exec_argv);
	fail_errno("Failed to exec into Firecracker:", exec_path);
}
