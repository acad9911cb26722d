/* QEMU under a VMM test double (guest.h). */
#include "guest.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/spawn.h"
#include "vmm/qemu/qemu.h"
#include "vmm/qemu/qmp.h"

#define QEMU_PATH "/usr/bin/qemu-system-x86_64"
#define QMP_CONNECT_MS 10000
#define QMP_COMMAND_MS 30000
/* A migration of a paused guest whose RAM is shared moves only device
 * state: seconds at most, even under TCG. */
#define MIGRATION_MS 120000

struct guest {
	struct spawn_child child;
	struct qmp *qmp;
	bool reaped;
	bool own_ram; /* ram is the scratch file, removed with the guest */
	char ram[4096];
	char qmp_path[4096];
};

const char *guest_root(void)
{
	const char *root = getenv("VMM_DOUBLE_ROOT");
	if (root && *root)
		return root;
	/* Confined by Cove, its root is not its own to write: its /var/tmp is. */
	return access("/", W_OK) == 0 ? "" : "/var/tmp";
}

/* --- configuration --- */

void guest_config_clear(struct guest_config *c)
{
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->tap);
	free(c->mac);
	free(c->mem_file);
	for (size_t i = 0; i < c->ndisks; i++)
		free(c->disks[i].path);
	for (size_t i = 0; i < c->nshares; i++) {
		free(c->shares[i].tag);
		free(c->shares[i].socket);
	}
	*c = (struct guest_config){ 0 };
}

json_t *guest_config_to_json(const struct guest_config *c)
{
	json_t *disks = json_array(), *shares = json_array();
	for (size_t i = 0; disks && i < c->ndisks; i++)
		json_array_append_new(disks, json_pack("{s:s, s:b, s:b, s:b}", "path", c->disks[i].path, "read_only",
						       c->disks[i].read_only, "root", c->disks[i].root, "qcow2",
						       c->disks[i].qcow2));
	for (size_t i = 0; shares && i < c->nshares; i++)
		json_array_append_new(shares, json_pack("{s:s, s:s}", "tag", c->shares[i].tag, "socket",
							c->shares[i].socket));
	return json_pack("{s:i, s:i, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:b, s:o, s:s?, s:b}", "vcpus", (int)c->vcpus,
			 "mem_mib", (int)c->mem_mib, "kernel", c->kernel, "initrd", c->initrd, "cmdline", c->cmdline,
			 "disks", disks, "tap", c->tap, "mac", c->mac, "entropy", c->entropy, "shares", shares,
			 "mem_file", c->mem_file, "serial_off", c->serial_off);
}

static char *dup_or_null(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int guest_config_from_json(json_t *j, struct guest_config *c, struct cove_err *err)
{
	*c = (struct guest_config){
		.vcpus = (unsigned)json_integer_value(json_object_get(j, "vcpus")),
		.mem_mib = (unsigned)json_integer_value(json_object_get(j, "mem_mib")),
		.kernel = dup_or_null(json_object_get(j, "kernel")),
		.initrd = dup_or_null(json_object_get(j, "initrd")),
		.cmdline = dup_or_null(json_object_get(j, "cmdline")),
		.tap = dup_or_null(json_object_get(j, "tap")),
		.mac = dup_or_null(json_object_get(j, "mac")),
		.entropy = json_is_true(json_object_get(j, "entropy")),
		.mem_file = dup_or_null(json_object_get(j, "mem_file")),
		.serial_off = json_is_true(json_object_get(j, "serial_off")),
	};
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(j, "disks"), i, d) {
		if (c->ndisks == GUEST_MAX_DISKS || !json_is_string(json_object_get(d, "path")))
			break;
		c->disks[c->ndisks++] = (struct guest_disk){ .path = dup_or_null(json_object_get(d, "path")),
							     .read_only = json_is_true(json_object_get(d, "read_only")),
							     .root = json_is_true(json_object_get(d, "root")),
							     .qcow2 = json_is_true(json_object_get(d, "qcow2")) };
	}
	json_array_foreach(json_object_get(j, "shares"), i, d) {
		if (c->nshares == GUEST_MAX_SHARES)
			break;
		c->shares[c->nshares++] = (struct guest_share){ .tag = dup_or_null(json_object_get(d, "tag")),
								.socket = dup_or_null(json_object_get(d, "socket")) };
	}
	if (!c->kernel || !c->vcpus || !c->mem_mib) {
		guest_config_clear(c);
		return cove_errf(err, -EINVAL, "saved configuration without kernel, vcpus or memory");
	}
	return 0;
}

/* --- the command line (struct qemu_args, src/vmm/qemu/qemu.h) --- */

/* A path inside a QEMU option: commas would need doubling; no file a
 * test or Cove hands a VMM has one, so they are refused. */
static int option_path(const char *what, const char *path, struct cove_err *err)
{
	if (!path || !*path || strchr(path, ','))
		return cove_errf(err, -EINVAL, "%s path '%s' is empty or has a comma", what, path ? path : "");
	return 0;
}

/* KVM where the double's root has /dev/kvm (Cove's launch makes the node
 * only when it found KVM usable), else TCG; VMM_DOUBLE_ACCEL overrides for
 * a double run by hand. */
static bool use_kvm(void)
{
	const char *forced = getenv("VMM_DOUBLE_ACCEL");
	if (forced && *forced)
		return strcmp(forced, "kvm") == 0;
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

static int add_machine(struct qemu_args *a, const struct guest_config *c, const char *ram, struct cove_err *err)
{
	bool kvm = use_kvm();
	int r = option_path("memory", ram, err);
	r = r ?: qemu_args_add(a, err, "-machine");
	/* acpi=on: system_powerdown reaches the guest as a power button. */
	r = r ?: qemu_args_add(a, err, "microvm,accel=%s,acpi=on,memory-backend=mem", kvm ? "kvm" : "tcg");
	r = r ?: qemu_args_add(a, err, "-cpu");
	r = r ?: qemu_args_add(a, err, kvm ? "host" : "max");
	r = r ?: qemu_args_add(a, err, "-smp");
	r = r ?: qemu_args_add(a, err, "%u", c->vcpus);
	r = r ?: qemu_args_add(a, err, "-m");
	r = r ?: qemu_args_add(a, err, "%uM", c->mem_mib);
	r = r ?: qemu_args_add(a, err, "-object");
	r = r ?: qemu_args_add(a, err, "memory-backend-file,id=mem,mem-path=%s,size=%uM,share=on", ram, c->mem_mib);
	if (c->nshares) {
		/* libvhost-user refuses microvm's legacy virtio-mmio. */
		r = r ?: qemu_args_add(a, err, "-global");
		r = r ?: qemu_args_add(a, err, "virtio-mmio.force-legacy=false");
	}
	return r;
}

/* Disks in order, the root one first: it becomes /dev/vda. */
static int add_disks(struct qemu_args *a, const struct guest_config *c, struct cove_err *err)
{
	int r = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; r == 0 && i < c->ndisks; i++) {
			const struct guest_disk *d = &c->disks[i];
			if (d->root != (pass == 0))
				continue;
			r = r ?: option_path("disk", d->path, err);
			r = r ?: qemu_args_add(a, err, "-drive");
			r = r ?: qemu_args_add(a, err, "id=disk%zu,file=%s,format=%s,if=none,cache=writeback%s", i, d->path,
					       d->qcow2 ? "qcow2" : "raw", d->read_only ? ",readonly=on" : "");
			r = r ?: qemu_args_add(a, err, "-device");
			r = r ?: qemu_args_add(a, err, "virtio-blk-device,drive=disk%zu", i);
		}
	}
	return r;
}

static int add_devices(struct qemu_args *a, const struct guest_config *c, int tap_fd, struct cove_err *err)
{
	int r = add_disks(a, c, err);
	if (tap_fd >= 0) {
		r = r ?: qemu_args_add(a, err, "-netdev");
		r = r ?: qemu_args_add(a, err, "tap,id=net0,fd=%d,vhost=off", tap_fd);
		r = r ?: qemu_args_add(a, err, "-device");
		r = r ?: qemu_args_add(a, err, "virtio-net-device,netdev=net0%s%s", c->mac ? ",mac=" : "", c->mac ? c->mac : "");
	}
	if (c->entropy) {
		r = r ?: qemu_args_add(a, err, "-object");
		r = r ?: qemu_args_add(a, err, "rng-builtin,id=rng0");
		r = r ?: qemu_args_add(a, err, "-device");
		r = r ?: qemu_args_add(a, err, "virtio-rng-device,rng=rng0");
	}
	for (size_t i = 0; r == 0 && i < c->nshares; i++) {
		r = r ?: option_path("share socket", c->shares[i].socket, err);
		r = r ?: qemu_args_add(a, err, "-chardev");
		r = r ?: qemu_args_add(a, err, "socket,id=vfs%zu,path=%s", i, c->shares[i].socket);
		r = r ?: qemu_args_add(a, err, "-device");
		r = r ?: qemu_args_add(a, err, "vhost-user-fs-device,chardev=vfs%zu,tag=%s", i, c->shares[i].tag);
	}
	return r;
}

static int build_args(struct qemu_args *a, const struct guest_config *c, const char *ram, bool incoming, int tap_fd,
		      int qmp_fd, struct cove_err *err)
{
	int r = option_path("kernel", c->kernel, err);
	r = r ?: qemu_args_add(a, err, QEMU_PATH);
	r = r ?: qemu_args_add(a, err, "-nodefaults");
	r = r ?: qemu_args_add(a, err, "-no-user-config");
	r = r ?: qemu_args_add(a, err, "-display");
	r = r ?: qemu_args_add(a, err, "none");
	/* A guest reset ends the VMM, as Firecracker's does. */
	r = r ?: qemu_args_add(a, err, "-no-reboot");
	r = r ?: add_machine(a, c, ram, err);
	if (incoming) {
		/* -S: a restored guest stays paused until asked to resume. */
		r = r ?: qemu_args_add(a, err, "-S");
		r = r ?: qemu_args_add(a, err, "-incoming");
		r = r ?: qemu_args_add(a, err, "defer");
	}
	r = r ?: qemu_args_add(a, err, "-kernel");
	r = r ?: qemu_args_add(a, err, "%s", c->kernel);
	if (c->initrd) {
		r = r ?: qemu_args_add(a, err, "-initrd");
		r = r ?: qemu_args_add(a, err, "%s", c->initrd);
	}
	r = r ?: qemu_args_add(a, err, "-append");
	r = r ?: qemu_args_add(a, err, "%s", c->cmdline ? c->cmdline : "");
	r = r ?: add_devices(a, c, tap_fd, err);
	/* The guest's ttyS0 to the double's stdout, as the real VMMs write it. */
	r = r ?: qemu_args_add(a, err, "-chardev");
	r = r ?: qemu_args_add(a, err, c->serial_off ? "null,id=console" : "stdio,id=console,signal=off");
	r = r ?: qemu_args_add(a, err, "-serial");
	r = r ?: qemu_args_add(a, err, "chardev:console");
	r = r ?: qemu_args_add(a, err, "-chardev");
	r = r ?: qemu_args_add(a, err, "socket,id=qmp,fd=%d,server=on,wait=off", qmp_fd);
	r = r ?: qemu_args_add(a, err, "-mon");
	r = r ?: qemu_args_add(a, err, "chardev=qmp,mode=control");
	return r;
}

/* --- the TAP --- */

static int tap_open(const char *name, int *fd, struct cove_err *err)
{
	if (strlen(name) >= IFNAMSIZ)
		return cove_errf(err, -EINVAL, "tap name '%s' longer than %d", name, IFNAMSIZ - 1);
	_cleanup_close_ int t = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t < 0)
		return cove_errno(err, -errno, "open /dev/net/tun for tap %s", name);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(t, TUNSETIFF, &ifr) < 0)
		return cove_errno(err, -errno, "TUNSETIFF tap %s", name);
	*fd = TAKE_FD(t);
	return 0;
}

/* --- start and stop --- */

static int start_qemu(struct guest *g, const struct guest_config *c, bool incoming, struct cove_err *err)
{
	_cleanup_close_ int tap = -1, qmp_fd = -1;
	int r = c->tap ? tap_open(c->tap, &tap, err) : 0;
	r = r ?: qmp_listen(g->qmp_path, &qmp_fd, err);
	if (r < 0)
		return r;
	int fds[2], nfds = 0;
	if (tap >= 0)
		fds[nfds++] = tap;
	fds[nfds++] = qmp_fd;
	struct qemu_args a = { 0 };
	r = build_args(&a, c, g->ram, incoming, tap >= 0 ? 3 : -1, 3 + nfds - 1, err);
	if (r < 0) {
		qemu_args_clear(&a);
		return r;
	}
	struct spawn_options o = {
		.path = QEMU_PATH,
		.argv = a.argv,
		.stdio = { { .mode = SPAWN_NULL }, { .mode = SPAWN_INHERIT }, { .mode = SPAWN_INHERIT } },
		.pass_fds = fds,
		.npass_fds = (size_t)nfds,
		.parent_death_signal = SIGKILL,
	};
	struct spawn_failure fail = { 0 };
	r = spawn_start(&o, &g->child, &fail);
	qemu_args_clear(&a);
	if (r < 0)
		return cove_errno(err, r, "start %s (step %d)", QEMU_PATH, fail.step);
	return qmp_open(g->qmp_path, g->child.pidfd, QMP_CONNECT_MS, &g->qmp, err);
}

/* Whether a and b name one file (a restore's memory may be bound onto the
 * very file the RAM is in: copying it onto itself would truncate it). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int guest_start(const struct guest_config *c, const char *ram_from, struct guest **ret, struct cove_err *err)
{
	struct guest *g = calloc(1, sizeof(*g));
	if (!g)
		return cove_errf(err, -ENOMEM, "guest: out of memory");
	g->child = (struct spawn_child){ .pid = -1, .pidfd = -1, .stdio = { -1, -1, -1 } };
	g->reaped = true;
	g->own_ram = !c->mem_file;
	if (c->mem_file)
		snprintf(g->ram, sizeof(g->ram), "%s", c->mem_file);
	else
		snprintf(g->ram, sizeof(g->ram), "%s/.double-ram", guest_root());
	snprintf(g->qmp_path, sizeof(g->qmp_path), "%s/.double-qmp.sock", guest_root());
	if (g->own_ram)
		unlink(g->ram);
	int r = ram_from && !same_file(ram_from, g->ram) ? guest_copy_sparse(ram_from, g->ram, err) : 0;
	if (r == 0) {
		g->reaped = false;
		r = start_qemu(g, c, ram_from != NULL, err);
	}
	if (r < 0) {
		guest_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

int guest_qmp(struct guest *g, const char *command, struct cove_err *err)
{
	return qmp_execute(g->qmp, command, NULL, NULL, QMP_COMMAND_MS, err);
}

int guest_pidfd(const struct guest *g)
{
	return g && !g->reaped ? g->child.pidfd : -1;
}

int guest_reap(struct guest *g)
{
	int status = 0;
	if (!g->reaped && g->child.pid > 0)
		spawn_wait(&g->child, &status);
	g->reaped = true;
	return status;
}

struct guest *guest_free(struct guest *g)
{
	if (!g)
		return NULL;
	g->qmp = qmp_close(g->qmp);
	if (!g->reaped && g->child.pidfd >= 0) {
		kill(g->child.pid, SIGKILL);
		guest_reap(g);
	}
	if (g->own_ram)
		unlink(g->ram);
	unlink(g->qmp_path);
	free(g);
	return NULL;
}

/* --- snapshots --- */

static int migration_done(struct guest *g, struct cove_err *err)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		json_t *st = NULL;
		int r = qmp_execute(g->qmp, "query-migrate", NULL, &st, QMP_COMMAND_MS, err);
		const char *s = r == 0 ? json_string_value(json_object_get(st, "status")) : NULL;
		if (r == 0 && s && strcmp(s, "completed") == 0)
			r = 1;
		else if (r == 0 && s && strcmp(s, "failed") == 0)
			r = cove_errf(err, -EIO, "migration failed: %s",
				      json_string_value(json_object_get(st, "error-desc")) ?: "no reason given");
		json_decref(st);
		if (r != 0)
			return r < 0 ? r : 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 > MIGRATION_MS)
			return cove_errf(err, -ETIMEDOUT, "migration not done in %d ms", MIGRATION_MS);
		usleep(20 * 1000);
	}
}

/* Shared RAM stays out of the stream (x-ignore-shared): it is in the
 * scratch file both ends map. */
static int migrate_over(struct guest *g, const char *command, int fd, struct cove_err *err)
{
	json_t *caps = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared", "state", 1);
	json_t *fdname = json_pack("{s:s}", "fdname", "double-state");
	json_t *uri = json_pack("{s:s}", "uri", "fd:double-state");
	int r = caps && fdname && uri ? 0 : cove_errf(err, -ENOMEM, "guest: out of memory");
	r = r ?: qmp_execute(g->qmp, "migrate-set-capabilities", caps, NULL, QMP_COMMAND_MS, err);
	r = r ?: qmp_execute_fd(g->qmp, "getfd", fdname, fd, NULL, QMP_COMMAND_MS, err);
	r = r ?: qmp_execute(g->qmp, command, uri, NULL, QMP_COMMAND_MS, err);
	json_decref(caps);
	json_decref(fdname);
	json_decref(uri);
	return r ?: migration_done(g, err);
}

int guest_save(struct guest *g, int state_fd, const char *mem_path, struct cove_err *err)
{
	int r = migrate_over(g, "migrate", state_fd, err);
	return r ?: guest_copy_sparse(g->ram, mem_path, err);
}

int guest_restore(struct guest *g, int state_fd, struct cove_err *err)
{
	return migrate_over(g, "migrate-incoming", state_fd, err);
}

/* The pages of cur that differ from base's (-1: from zeros) to out (cut
 * to cur's size): guest RAM is mostly untouched or zeroed pages, which stay
 * holes. */
static int write_diff(int cur, int base, int out)
{
	static const char zero_page[4096];
	char a[64 * 4096], b[sizeof(a)];
	for (off_t at = 0;;) {
		ssize_t n = pread(cur, a, sizeof(a), at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		ssize_t m = base >= 0 ? pread(base, b, (size_t)n, at) : 0;
		if (m < 0)
			return -errno;
		for (ssize_t off = 0; off < n; off += (ssize_t)sizeof(zero_page)) {
			size_t len = (size_t)(n - off) < sizeof(zero_page) ? (size_t)(n - off) : sizeof(zero_page);
			const char *was = off + (ssize_t)len <= m ? b + off : zero_page;
			if (memcmp(a + off, was, len) != 0 && pwrite(out, a + off, len, at + off) != (ssize_t)len)
				return -errno;
		}
		at += n;
	}
}

int guest_copy_sparse(const char *from, const char *to, struct cove_err *err)
{
	/* The pages that differ from zeros. */
	return guest_write_diff(from, NULL, to, err);
}

const char *guest_ram_path(const struct guest *g)
{
	return g->ram;
}

int guest_write_diff(const char *cur, const char *base, const char *to, struct cove_err *err)
{
	_cleanup_close_ int in = open(cur, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int was = base ? open(base, O_RDONLY | O_CLOEXEC) : -1;
	if (in < 0 || (base && was < 0))
		return cove_errno(err, -errno, "open %s", in < 0 ? cur : base);
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return cove_errno(err, -errno, "create %s", to);
	struct stat st;
	int r = fstat(in, &st) < 0 ? -errno : 0;
	r = r ?: (ftruncate(out, st.st_size) < 0 ? -errno : 0);
	r = r ?: write_diff(in, was, out);
	if (r < 0 && !base)
		return cove_errno(err, r, "copy %s to %s", cur, to);
	return r < 0 ? cove_errno(err, r, "write the pages of %s that differ from %s to %s", cur, base, to) : 0;
}
