/* The QEMU driver: the `microvm` machine (virtio-mmio devices, no PCI, no
 * firmware tables beyond a minimal ACPI), the guest kernel booted directly
 * through its PVH entry point, and control over QMP on a unix socket. */
#include "vmm/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/proc.h"
#include "common/log.h"
#include "vmm/internal.h"
#include "vmm/qemu_stream.h"
#include "vmm/qmp.h"

#define QEMU_BINARY "qemu-system-x86_64"
#define QEMU_SEARCH_DIRS "/usr/bin:/usr/local/bin:/usr/libexec:/opt/qemu/bin"
/* QMP replies come in microseconds; a slow host under load gets slack. */
#define QMP_TIMEOUT_MS 5000
/* QEMU opens its QMP socket before loading the kernel (measured: ~40 ms). */
#define QMP_CONNECT_TIMEOUT_MS 10000
/* After a failed handshake, how long to wait for QEMU to exit and explain. */
#define EARLY_EXIT_WAIT_MS 1000
/* Device state is small (a few hundred KB): seconds mean something is wrong. */
#define MIGRATION_TIMEOUT_MS 30000
#define MIGRATION_POLL_US 2000

struct qemu {
	struct qmp *qmp;
};

static int add(struct qemu_args *a, struct cove_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int add(struct qemu_args *a, struct cove_err *err, const char *fmt, ...)
{
	if (a->argc >= QEMU_MAX_ARGS)
		return cove_errf(err, -E2BIG, "qemu: more than %d arguments", QEMU_MAX_ARGS);
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&a->argv[a->argc], fmt, ap);
	va_end(ap);
	if (n < 0) {
		a->argv[a->argc] = NULL;
		return cove_errf(err, -ENOMEM, "qemu: out of memory");
	}
	a->argc++;
	a->argv[a->argc] = NULL;
	return 0;
}

void qemu_args_clear(struct qemu_args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
	a->argv[0] = NULL;
}

/* A QEMU option value is a comma-separated list; a comma inside a path must
 * be doubled (QemuOpts escaping). */
static int add_opt_path(struct qemu_args *a, struct cove_err *err, const char *prefix, const char *path,
			const char *suffix)
{
	char escaped[2 * 4096 + 1];
	size_t j = 0;
	for (const char *p = path; *p; p++) {
		if (j + 2 >= sizeof(escaped))
			return cove_errf(err, -ENAMETOOLONG, "qemu: path %s too long", path);
		if (*p == ',')
			escaped[j++] = ',';
		escaped[j++] = *p;
	}
	escaped[j] = '\0';
	return add(a, err, "%s%s%s", prefix, escaped, suffix);
}

/* Guest RAM in a file: shared (snapshots write it) or a private
 * copy-on-write mapping of it (restores read it lazily). */
static int add_memory(const struct vmm_config *c, const struct qemu_paths *p, struct qemu_args *a,
		      struct cove_err *err)
{
	/* Always a backend named "mem": a saved guest's RAM is restored by
	 * that name, whatever backs it. */
	int r = add(a, err, "-object");
	if (!c->mem_file)
		return r ?: add(a, err, "memory-backend-ram,id=mem,size=%uM", c->mem_mib);
	char suffix[64];
	snprintf(suffix, sizeof(suffix), ",size=%uM,share=%s", c->mem_mib, c->mem_shared ? "on" : "off");
	return r ?: add_opt_path(a, err, "memory-backend-file,id=mem,mem-path=", p->mem_file, suffix);
}

/* Restored: the device state (and RAM, if it was saved with it) comes over
 * a descriptor once QEMU runs. */
static int add_incoming(const struct vmm_config *c, struct qemu_args *a, struct cove_err *err)
{
	if (!c->restore_state)
		return 0;
	int r = add(a, err, "-incoming");
	return r ?: add(a, err, "defer");
}

static int add_machine(const struct vmm_config *c, enum vmm_accel accel, struct qemu_args *a, struct cove_err *err)
{
	int r = 0;
	/* microvm: virtio-mmio only. Its legacy PIT stays on: without it (or
	 * HPET) the guest kernel cannot calibrate the TSC under TCG and hangs.
	 * acpi=on lets system_powerdown reach the
	 * guest as a power-button press (ACPI GED) and lets it power off. */
	r = r ?: add(a, err, "-machine");
	r = r ?: add(a, err, "microvm,accel=%s,acpi=on,memory-backend=mem", accel == VMM_ACCEL_KVM ? "kvm" : "tcg");
	r = r ?: add(a, err, "-cpu");
	r = r ?: add(a, err, accel == VMM_ACCEL_KVM ? "host" : "max");
	r = r ?: add(a, err, "-smp");
	r = r ?: add(a, err, "%u", c->vcpus);
	r = r ?: add(a, err, "-m");
	r = r ?: add(a, err, "%uM", c->mem_mib);
	return r;
}

static int add_devices(const struct vmm_config *c, const struct qemu_paths *p, struct qemu_args *a,
		       struct cove_err *err)
{
	int r = 0;
	r = r ?: add(a, err, "-drive");
	if (c->disk_overlay)
		r = r ?: add_opt_path(a, err, "id=rootfs,file=", p->disk, ",format=qcow2,if=none,cache=writeback");
	else
		r = r ?: add_opt_path(a, err, "id=rootfs,file=", p->rootfs,
				      c->rootfs_persist ? ",format=raw,if=none,cache=writeback"
							: ",format=raw,if=none,cache=writeback,snapshot=on");
	r = r ?: add(a, err, "-device");
	r = r ?: add(a, err, "virtio-blk-device,drive=rootfs");
	if (c->tap_fd >= 0) {
		/* The TAP is passed as fd 3 (see vmm_launch's pass_fds). */
		r = r ?: add(a, err, "-netdev");
		r = r ?: add(a, err, "tap,id=net0,fd=3");
		r = r ?: add(a, err, "-device");
		r = r ?: add(a, err, "virtio-net-device,netdev=net0,mac=%s", c->net.mac);
	}
	/* Entropy from the host, so the guest's first getrandom() does not wait. */
	r = r ?: add(a, err, "-object");
	r = r ?: add(a, err, "rng-random,id=rng0,filename=/dev/urandom");
	r = r ?: add(a, err, "-device");
	r = r ?: add(a, err, "virtio-rng-device,rng=rng0");
	return r;
}

int qemu_build_args(const struct vmm_config *c, enum vmm_accel accel, const struct qemu_paths *p,
		    struct qemu_args *a, struct cove_err *err)
{
	if (accel == VMM_ACCEL_AUTO)
		return cove_errf(err, -EINVAL, "qemu: accelerator must be resolved before building arguments");
	char cmdline[2048];
	/* The extra arguments go last: after a "--" in them, the rest is
	 * init's, so the TSC parameters below must come before. */
	struct vmm_config base = *c;
	base.extra_cmdline = NULL;
	int r = vmm_kernel_cmdline(&base, cmdline, sizeof(cmdline), err);
	if (r < 0)
		return r;
	/* Under TCG the guest reads the host's TSC; see tsc.c for why it must
	 * be told the frequency. That TSC is the host's, invariant and the same
	 * on every vCPU, but the guest's boot-time sync test between vCPUs
	 * fails under TCG's scheduling, and a guest that marks its TSC unstable
	 * falls back to the jiffies clocksource: 4 ms clock resolution, and a
	 * tick on every vCPU 250 times a second even when idle (measured: an
	 * idle 2-vCPU guest cost 10% of a host core; with tsc=reliable, 1%). */
	size_t used = strlen(cmdline);
	if (accel == VMM_ACCEL_TCG && p->tsc_khz &&
	    (size_t)snprintf(cmdline + used, sizeof(cmdline) - used, " tsc=reliable tsc_early_khz=%u", p->tsc_khz) >=
		    sizeof(cmdline) - used)
		return cove_errf(err, -ENAMETOOLONG, "qemu: kernel command line too long");
	used = strlen(cmdline);
	if (c->extra_cmdline && *c->extra_cmdline &&
	    (size_t)snprintf(cmdline + used, sizeof(cmdline) - used, " %s", c->extra_cmdline) >= sizeof(cmdline) - used)
		return cove_errf(err, -ENAMETOOLONG, "qemu: kernel command line too long");
	*a = (struct qemu_args){ 0 };
	r = r ?: add(a, err, "%s", p->binary);
	r = r ?: add(a, err, "-name");
	r = r ?: add(a, err, "cove-%s", c->id);
	r = r ?: add(a, err, "-nodefaults");
	r = r ?: add(a, err, "-no-user-config");
	r = r ?: add(a, err, "-display");
	r = r ?: add(a, err, "none");
	r = r ?: add(a, err, "-no-reboot");
	/* QEMU's own seccomp filter: no new privileges, no spawning helpers. */
	r = r ?: add(a, err, "-sandbox");
	r = r ?: add(a, err, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	r = r ?: add_machine(c, accel, a, err);
	r = r ?: add_memory(c, p, a, err);
	r = r ?: add_incoming(c, a, err);
	r = r ?: add(a, err, "-kernel");
	r = r ?: add(a, err, "%s", p->kernel);
	r = r ?: add(a, err, "-append");
	r = r ?: add(a, err, "%s", cmdline);
	r = r ?: add_devices(c, p, a, err);
	r = r ?: add(a, err, "-chardev");
	r = r ?: add_opt_path(a, err, "file,id=console,path=", p->console_log, "");
	r = r ?: add(a, err, "-serial");
	r = r ?: add(a, err, "chardev:console");
	r = r ?: add(a, err, "-chardev");
	r = r ?: add_opt_path(a, err, "socket,id=qmp,path=", p->qmp_socket, ",server=on,wait=off");
	r = r ?: add(a, err, "-mon");
	r = r ?: add(a, err, "chardev=qmp,mode=control");
	if (r < 0)
		qemu_args_clear(a);
	return r;
}

int qemu_find_binary(const char *override, char *out, size_t len, struct cove_err *err)
{
	const char *name = override ? override : QEMU_BINARY;
	int r = fs_find_executable(name, QEMU_SEARCH_DIRS, out, len);
	if (r == 0)
		return 0;
	if (strchr(name, '/'))
		return cove_errno(err, r, "qemu: %s", name);
	return cove_errf(err, -ENOENT, "qemu: %s not found on PATH or in %s; install it with 'apt-get install qemu-system-x86'",
			 name, QEMU_SEARCH_DIRS);
}

static struct qemu *qemu_of(struct vmm *vm)
{
	return vm->driver_data;
}

/* Device state goes over a descriptor (QEMU's own seccomp forbids the exec:
 * URIs), and RAM that is in a file both sides map not at all. RAM that is
 * not (a sandbox saved whole) goes at full speed: QEMU's default cap of
 * 128 MiB/s is for live migration over a network, not a paused guest. */
static int migration_setup(struct qemu *q, struct cove_err *err)
{
	json_t *caps = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared", "state", 1);
	int r = caps ? qmp_execute(q->qmp, "migrate-set-capabilities", caps, NULL, QMP_TIMEOUT_MS, err)
		     : cove_errf(err, -ENOMEM, "qemu: out of memory");
	json_decref(caps);
	json_t *params = json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 40);
	r = r ?: (params ? qmp_execute(q->qmp, "migrate-set-parameters", params, NULL, QMP_TIMEOUT_MS, err)
			 : cove_errf(err, -ENOMEM, "qemu: out of memory"));
	json_decref(params);
	return r;
}

static int pass_fd(struct qemu *q, const char *name, int fd, struct cove_err *err)
{
	json_t *args = json_pack("{s:s}", "fdname", name);
	int r = args ? qmp_execute_fd(q->qmp, "getfd", args, fd, NULL, QMP_TIMEOUT_MS, err)
		     : cove_errf(err, -ENOMEM, "qemu: out of memory");
	json_decref(args);
	return r;
}

/* Polls query-migrate until the migration (either way) is over. */
static int wait_migration(struct qemu *q, const char *what, struct cove_err *err)
{
	int64_t deadline = now_ms() + MIGRATION_TIMEOUT_MS;
	for (;;) {
		json_t *st = NULL;
		int r = qmp_execute(q->qmp, "query-migrate", NULL, &st, QMP_TIMEOUT_MS, err);
		if (r < 0)
			return r;
		const char *status = json_string_value(json_object_get(st, "status"));
		if (status && strcmp(status, "completed") == 0) {
			json_decref(st);
			return 0;
		}
		if (status && strcmp(status, "failed") == 0) {
			const char *desc = json_string_value(json_object_get(st, "error-desc"));
			r = cove_errf(err, -EIO, "qemu: %s failed: %s", what, desc ? desc : "no reason given");
		} else if (now_ms() > deadline) {
			r = cove_errf(err, -ETIMEDOUT, "qemu: %s did not finish within %d ms (%s)", what,
				      MIGRATION_TIMEOUT_MS, status ? status : "no status");
		}
		json_decref(st);
		if (r < 0)
			return r;
		usleep(MIGRATION_POLL_US);
	}
}

static int migrate(struct qemu *q, const char *command, const char *fdname, int fd, const char *what,
		   struct cove_err *err)
{
	char uri[64];
	snprintf(uri, sizeof(uri), "fd:%s", fdname);
	json_t *args = json_pack("{s:s}", "uri", uri);
	int r = migration_setup(q, err);
	r = r ?: pass_fd(q, fdname, fd, err);
	r = r ?: (args ? qmp_execute(q->qmp, command, args, NULL, QMP_TIMEOUT_MS, err)
		       : cove_errf(err, -ENOMEM, "qemu: out of memory"));
	json_decref(args);
	return r ?: wait_migration(q, what, err);
}

/* A VMM started with -incoming defer: its device state from path, then on. */
static int restore(struct vmm *vm, struct qemu *q, const char *path, struct cove_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "qemu: restore from %s", path);
	int r = migrate(q, "migrate-incoming", "restore", fd, "restore", err);
	close(fd);
	r = r ?: qmp_execute(q->qmp, "cont", NULL, NULL, QMP_TIMEOUT_MS, err);
	if (r < 0)
		cove_err_prefix(err, "restore %s from %s", vm->cfg.c.id, path);
	return r;
}

struct filter_job {
	int in, out;
	struct qemu_stream_filter opt;
	struct qemu_stream_stats stats;
	struct cove_err err;
	int r;
};

static void *filter_main(void *arg)
{
	struct filter_job *j = arg;
	j->r = qemu_stream_filter(j->in, j->out, &j->opt, &j->stats, &j->err);
	close(j->in); /* QEMU's writes fail from here on, if it had more */
	return NULL;
}

/* The migration goes through a pipe to a thread that leaves out the pages
 * the memory file already holds, or moves all of them to ram_fd
 * (qemu_stream.h). */
static int snapshot_filtered(struct vmm *vm, struct qemu *q, int fd, int base_fd, int ram_fd, struct cove_err *err)
{
	struct filter_job j = { .out = fd, .opt = { .block = "mem", .ram_fd = ram_fd } };
	struct stat st;
	void *base = NULL;
	if (base_fd >= 0) {
		if (fstat(base_fd, &st) < 0 || st.st_size <= 0)
			return cove_errf(err, -EINVAL, "qemu: the memory file of %s is empty or unreadable", vm->cfg.c.id);
		base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, base_fd, 0);
		if (base == MAP_FAILED)
			return cove_errno(err, -errno, "qemu: map the memory file of %s", vm->cfg.c.id);
		j.opt.base = base;
		j.opt.base_len = (size_t)st.st_size;
	}
	int p[2];
	int r = pipe2(p, O_CLOEXEC) < 0 ? cove_errno(err, -errno, "qemu: pipe") : 0;
	pthread_t t;
	if (r == 0) {
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; the default works too */
		j.in = p[0];
		if ((r = -pthread_create(&t, NULL, filter_main, &j)) < 0) {
			close(p[0]);
			close(p[1]);
			cove_errno(err, r, "qemu: start the stream filter");
		}
	}
	if (r < 0) {
		if (base)
			munmap(base, j.opt.base_len);
		return r;
	}
	int64_t t0 = now_us();
	r = migrate(q, "migrate", "snapshot", p[1], "snapshot", err);
	int64_t t1 = now_us();
	close(p[1]); /* the filter reads to the end once QEMU closes its copy */
	pthread_join(t, NULL);
	if (base)
		munmap(base, j.opt.base_len);
	/* A failed write (disk full) says more than QEMU's broken pipe; a stream
	 * cut short says less than why QEMU stopped. */
	if (j.r < 0 && (j.r != -EPROTO || r == 0)) {
		if (err)
			*err = j.err;
		return j.r;
	}
	if (r == 0)
		log_debug("vmm=%s op=save-memory pages=%llu left_out=%llu to=%s mib_in=%.1f mib_out=%.1f ms=%.1f",
			  vm->cfg.c.id, (unsigned long long)j.stats.pages, (unsigned long long)j.stats.dropped,
			  ram_fd >= 0 ? "ram-file" : "same-as-base", (double)j.stats.bytes_in / 1048576.0,
			  (double)j.stats.bytes_out / 1048576.0, (double)(t1 - t0) / 1000.0);
	return r;
}

static int qemu_snapshot(struct vmm *vm, int fd, int base_fd, int ram_fd, struct cove_err *err)
{
	struct qemu *q = qemu_of(vm);
	if (!q || !q->qmp)
		return cove_errf(err, -ENOTCONN, "qemu: no QMP connection");
	if (base_fd >= 0 || ram_fd >= 0)
		return snapshot_filtered(vm, q, fd, base_fd, ram_fd, err);
	return migrate(q, "migrate", "snapshot", fd, "snapshot", err);
}

static int qemu_boot(struct vmm *vm, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char binary[4096], kernel[PATH_MAX + 8], rootfs[PATH_MAX + 8], qmp_path[PATH_MAX + 16], memory[PATH_MAX + 8],
		disk[PATH_MAX + 16];
	int r = qemu_find_binary(c->vmm_binary, binary, sizeof(binary), err);
	if (r < 0)
		return r;
	snprintf(kernel, sizeof(kernel), "%s/kernel", vm->work_dir);
	snprintf(rootfs, sizeof(rootfs), "%s/" VMM_DISK_ROOTFS_NAME, vm->work_dir);
	snprintf(disk, sizeof(disk), "%s/disk.qcow2", vm->work_dir);
	snprintf(qmp_path, sizeof(qmp_path), "%s/qmp.sock", vm->dir);
	snprintf(memory, sizeof(memory), "%s/" VMM_MEMORY_NAME, vm->work_dir);
	struct qemu_paths paths = { binary, kernel, rootfs, qmp_path, vm->console_path, c->mem_file ? memory : NULL,
				    disk, vm->accel == VMM_ACCEL_TCG ? vmm_host_tsc_khz() : 0 };
	/* A sandbox's own overlay: a copy of the template's empty one. */
	char overlay_copy[PATH_MAX + 16];
	const char *overlay = c->disk_overlay;
	if (c->disk_overlay && c->disk_overlay_copy) {
		snprintf(overlay_copy, sizeof(overlay_copy), "%s/disk.qcow2", vm->dir);
		r = fs_copy_file(c->disk_overlay, overlay_copy, false, err);
		if (r < 0)
			return r;
		overlay = overlay_copy;
	}
	/* The memory file is bound into the VMM's namespace: it must exist
	 * (QEMU sizes an empty one). */
	if (c->mem_file) {
		int fd = open(c->mem_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return cove_errno(err, -errno, "qemu: memory file %s", c->mem_file);
		close(fd);
	}
	struct qemu_args args;
	r = qemu_build_args(c, vm->accel, &paths, &args, err);
	if (r < 0)
		return r;
	struct vmm_bind binds[5] = {
		{ .source = c->kernel, .name = "kernel", .read_only = true },
		/* A throwaway overlay means QEMU never writes the image itself. */
		{ .source = c->rootfs, .name = VMM_DISK_ROOTFS_NAME,
		  .read_only = !c->rootfs_persist || c->disk_overlay },
	};
	size_t nbinds = 2;
	/* Opened read-write even when mapped privately. */
	if (c->mem_file)
		binds[nbinds++] = (struct vmm_bind){ .source = c->mem_file, .name = VMM_MEMORY_NAME, .read_only = false };
	if (c->disk_overlay)
		binds[nbinds++] = (struct vmm_bind){ .source = overlay, .name = "disk.qcow2", .read_only = false };
	if (c->disk_layer)
		binds[nbinds++] = (struct vmm_bind){ .source = c->disk_layer, .name = VMM_DISK_LAYER_NAME, .read_only = true };
	int pass[1] = { c->tap_fd };
	struct vmm_launch spec = {
		.binary = binary,
		.argv = args.argv,
		.binds = binds,
		.nbinds = nbinds,
		.pass_fds = pass,
		.npass_fds = c->tap_fd >= 0 ? 1 : 0,
	};
	r = vmm_launch(vm, &spec, err);
	qemu_args_clear(&args);
	if (r < 0)
		return r;
	struct qemu *q = calloc(1, sizeof(*q));
	if (!q)
		return cove_errf(err, -ENOMEM, "qemu: out of memory");
	vm->driver_data = q;
	r = qmp_open(qmp_path, vm->pidfd, QMP_CONNECT_TIMEOUT_MS, &q->qmp, err);
	/* QEMU opens the QMP socket before it loads the kernel, so a bad kernel
	 * can also show up as a connection that drops during the handshake. */
	if (r == -ECHILD || (r < 0 && proc_pidfd_wait(vm->pidfd, EARLY_EXIT_WAIT_MS) == 1))
		return vmm_report_early_exit(vm, err);
	if (r == 0 && c->restore_state)
		r = restore(vm, q, c->restore_state, err);
	return r;
}

static int qemu_attach(struct vmm *vm, struct cove_err *err)
{
	char qmp_path[PATH_MAX + 16];
	snprintf(qmp_path, sizeof(qmp_path), "%s/qmp.sock", vm->dir);
	struct qemu *q = calloc(1, sizeof(*q));
	if (!q)
		return cove_errf(err, -ENOMEM, "qemu: out of memory");
	vm->driver_data = q;
	/* QEMU listens again once its earlier client has gone. */
	int r = qmp_open(qmp_path, vm->pidfd, QMP_CONNECT_TIMEOUT_MS, &q->qmp, err);
	json_t *status = NULL, *kvm = NULL;
	if (r == 0)
		r = qmp_execute(q->qmp, "query-status", NULL, &status, QMP_TIMEOUT_MS, err);
	if (r == 0)
		r = qmp_execute(q->qmp, "query-kvm", NULL, &kvm, QMP_TIMEOUT_MS, err);
	if (r == 0) {
		const char *s = json_string_value(json_object_get(status, "status"));
		if (!s)
			r = cove_errf(err, -EPROTO, "qemu: query-status gave no status");
		else if (strcmp(s, "running") == 0)
			vm->state = VMM_STATE_RUNNING;
		else if (strcmp(s, "paused") == 0)
			vm->state = VMM_STATE_PAUSED;
		else
			r = cove_errf(err, -EPROTO, "qemu: guest is '%s', neither running nor paused", s);
		vm->accel = json_is_true(json_object_get(kvm, "enabled")) ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
	}
	json_decref(status);
	json_decref(kvm);
	return r;
}

static int qemu_simple(struct vmm *vm, const char *command, struct cove_err *err)
{
	struct qemu *q = qemu_of(vm);
	if (!q || !q->qmp)
		return cove_errf(err, -ENOTCONN, "qemu: no QMP connection");
	return qmp_execute(q->qmp, command, NULL, NULL, QMP_TIMEOUT_MS, err);
}

static int qemu_pause(struct vmm *vm, struct cove_err *err)
{
	return qemu_simple(vm, "stop", err);
}

static int qemu_resume(struct vmm *vm, struct cove_err *err)
{
	return qemu_simple(vm, "cont", err);
}

static int qemu_request_poweroff(struct vmm *vm, struct cove_err *err)
{
	return qemu_simple(vm, "system_powerdown", err);
}

static void qemu_release(struct vmm *vm)
{
	struct qemu *q = qemu_of(vm);
	if (q)
		qmp_close(q->qmp);
	free(q);
	vm->driver_data = NULL;
}

const struct vmm_driver vmm_driver_qemu = {
	.name = "qemu",
	.boot = qemu_boot,
	.pause = qemu_pause,
	.resume = qemu_resume,
	.request_poweroff = qemu_request_poweroff,
	.attach = qemu_attach,
	.snapshot = qemu_snapshot,
	.release = qemu_release,
};
