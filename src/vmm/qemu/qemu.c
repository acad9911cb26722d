/* The QEMU driver (qemu.h): booting QEMU with the command line args.c
 * builds, control over QMP on a unix socket it listens on for us, and saves and restores as
 * migrations over a descriptor, filtered (qemu_stream.h) where the RAM is
 * a private mapping of a file or goes to a file of its own. */
#include "vmm/qemu/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/fs.h"
#include "common/proc.h"
#include "common/log.h"
#include "vmm/console.h"
#include "vmm/driver.h"
#include "vmm/qemu/qemu_stream.h"
#include "vmm/qemu/qmp.h"

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
		_cleanup_json_ json_t *st = NULL;
		int r = qmp_execute(q->qmp, "query-migrate", NULL, &st, QMP_TIMEOUT_MS, err);
		if (r < 0)
			return r;
		const char *status = json_string_value(json_object_get(st, "status"));
		if (status && strcmp(status, "completed") == 0)
			return 0;
		if (status && strcmp(status, "failed") == 0) {
			const char *desc = json_string_value(json_object_get(st, "error-desc"));
			return cove_errf(err, -EIO, "qemu: %s failed: %s", what, desc ? desc : "no reason given");
		}
		if (now_ms() > deadline)
			return cove_errf(err, -ETIMEDOUT, "qemu: %s did not finish within %d ms (%s)", what,
					 MIGRATION_TIMEOUT_MS, status ? status : "no status");
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

/* Saves into fd: the whole migration, or (base_fd, ram_fd) filtered. A
 * stream the filter does not know (another QEMU) is saved again without
 * it, all of the RAM into fd. */
static int snapshot_to(struct vmm *vm, struct qemu *q, int fd, const char *path, int base_fd, int ram_fd,
		       struct vmm_snapshot_report *report, struct cove_err *err)
{
	if (base_fd < 0 && ram_fd < 0)
		return migrate(q, "migrate", "snapshot", fd, "snapshot", err);
	int r = snapshot_filtered(vm, q, fd, base_fd, ram_fd, err);
	if (r != -EPROTO)
		return r;
	log_warn("vmm=%s op=save msg=\"saving all of its RAM: %s\"", vm->cfg.c.id, err ? err->msg : "");
	report->ram_in_state = true;
	/* QEMU writes at the descriptor's offset, which the filter moved on:
	 * back to the start, or the state would begin with a hole. */
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return cove_errno(err, -errno, "truncate %s", path);
	return migrate(q, "migrate", "snapshot", fd, "snapshot", err);
}

/* QEMU is handed descriptors (its seccomp filter forbids opening files
 * itself): the state's, the base memory's, and the RAM file's. */
static int qemu_snapshot(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
			 struct cove_err *err)
{
	struct qemu *q = qemu_of(vm);
	if (!q || !q->qmp)
		return cove_errf(err, -ENOTCONN, "qemu: no QMP connection");
	int fd = open(files->state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "create %s", files->state);
	int base_fd = -1, ram_fd = -1, r = 0;
	if (files->base_memory && (base_fd = open(files->base_memory, O_RDONLY | O_CLOEXEC)) < 0)
		r = cove_errno(err, -errno, "open %s", files->base_memory);
	if (r == 0 && files->ram && (ram_fd = open(files->ram, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		r = cove_errno(err, -errno, "create %s", files->ram);
	r = r ?: snapshot_to(vm, q, fd, files->state, base_fd, ram_fd, report, err);
	if (r == 0 && fsync(fd) < 0)
		r = cove_errno(err, -errno, "write %s", files->state);
	close(fd);
	if (base_fd >= 0)
		close(base_fd);
	if (ram_fd >= 0) {
		close(ram_fd);
		if (r < 0 || report->ram_in_state)
			unlink(files->ram); /* half written, or not needed */
	}
	return r;
}

/* The files a VMM is handed: bound into its work directory (a VMM_BIND_OWN
 * one becomes the confined VMM's), and the paths it sees them by. */
struct boot_files {
	char kernel[PATH_MAX], rootfs[PATH_MAX], memory[PATH_MAX], disk[PATH_MAX];
	char overlay_copy[PATH_MAX + 16];
	struct vmm_bind binds[5];
	size_t nbinds;
};

static int boot_files(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	if (vmm_root_path(vm, "kernel", f->kernel) < 0 || vmm_root_path(vm, QEMU_ROOTFS_NAME, f->rootfs) < 0 ||
	    vmm_root_path(vm, QEMU_DISK_OWN_NAME, f->disk) < 0 || vmm_root_path(vm, VMM_MEMORY_NAME, f->memory) < 0)
		return cove_errf(err, -ENAMETOOLONG, "qemu: paths in %s too long", vm->work_dir);
	/* A sandbox's own overlay: a copy of the template's empty one. */
	const char *overlay = c->disk_overlay;
	if (c->disk_overlay && c->disk_overlay_copy) {
		snprintf(f->overlay_copy, sizeof(f->overlay_copy), "%s/" QEMU_DISK_OWN_NAME, vm->dir);
		int r = fs_copy_file(c->disk_overlay, f->overlay_copy, false, err);
		if (r < 0)
			return r;
		overlay = f->overlay_copy;
	}
	/* The memory file is bound into the VMM's namespace: it must exist
	 * (QEMU sizes an empty one). */
	if (c->mem_file) {
		int fd = open(c->mem_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return cove_errno(err, -errno, "qemu: memory file %s", c->mem_file);
		close(fd);
	}
	f->binds[0] = (struct vmm_bind){ .source = c->kernel, .name = "kernel", .access = VMM_BIND_READ };
	/* A throwaway overlay means QEMU never writes the image itself. */
	f->binds[1] = (struct vmm_bind){ .source = c->rootfs, .name = QEMU_ROOTFS_NAME,
					 .access = !c->rootfs_persist || c->disk_overlay ? VMM_BIND_READ : VMM_BIND_OWN };
	f->nbinds = 2;
	/* Opened read-write even when mapped privately (QEMU 7.2 does; 8.2
	 * falls back to read-only), and mapped by every VMM restored from it. */
	if (c->mem_file)
		f->binds[f->nbinds++] = (struct vmm_bind){ c->mem_file, VMM_MEMORY_NAME, VMM_BIND_SHARED };
	if (c->disk_overlay)
		f->binds[f->nbinds++] = (struct vmm_bind){ overlay, QEMU_DISK_OWN_NAME, VMM_BIND_OWN };
	if (c->disk_layer)
		f->binds[f->nbinds++] = (struct vmm_bind){ c->disk_layer, QEMU_DISK_LAYER_NAME, VMM_BIND_READ };
	return 0;
}

/* Starts QEMU, handed its TAP, its QMP listening socket and its console's
 * as descriptors 3, 4, ..., its output a FIFO the logs' reader drains
 * (vmm/console.h), and starts that reader. */
static int launch(struct vmm *vm, const char *binary, const struct boot_files *f, const char *qmp_path,
		  struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	int pass[3 + VMM_MAX_SHARES], npass = 0, console_fd, output_fd;
	_cleanup_close_ int qmp_fd = -1;
	/* Both the logs' own (closed by vmm_logs_start, or vmm_logs_stop
	 * when the boot fails). */
	int r = vmm_logs_prepare(vm, &console_fd, &output_fd, err);
	r = r ?: qmp_listen(qmp_path, &qmp_fd, err);
	if (r < 0)
		return r;
	struct qemu_paths paths = { binary, f->kernel, f->rootfs, c->mem_file ? f->memory : NULL, f->disk,
				    vm->accel == VMM_ACCEL_TCG ? vmm_host_tsc_khz() : 0, -1, -1, -1 };
	if (c->tap_fd >= 0) {
		paths.tap_fd = 3 + npass;
		pass[npass++] = c->tap_fd;
	}
	paths.qmp_fd = 3 + npass;
	pass[npass++] = qmp_fd;
	paths.console_fd = 3 + npass;
	pass[npass++] = console_fd;
	for (size_t i = 0; i < c->nshares; i++) {
		paths.share_fds[i] = 3 + npass;
		pass[npass++] = vmm_share_socket(vm, i);
	}
	struct qemu_args args;
	r = qemu_build_args(c, vm->accel, &paths, &args, err);
	if (r < 0)
		return r;
	struct vmm_launch spec = {
		.binary = binary,
		.argv = args.argv,
		.binds = f->binds,
		.nbinds = f->nbinds,
		.pass_fds = pass,
		.npass_fds = (size_t)npass,
		.output_fd = output_fd,
	};
	r = vmm_launch(vm, &spec, err);
	qemu_args_clear(&args);
	return r ?: vmm_logs_start(vm, err);
}

static int qemu_boot(struct vmm *vm, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char binary[4096], qmp_path[PATH_MAX + 16];
	int r = qemu_find_binary(c->vmm_binary, binary, sizeof(binary), err);
	if (r < 0)
		return r;
	snprintf(qmp_path, sizeof(qmp_path), "%s/qmp.sock", vm->dir);
	struct boot_files *f = calloc(1, sizeof(*f));
	if (!f)
		return cove_errf(err, -ENOMEM, "qemu: out of memory");
	r = boot_files(vm, f, err);
	r = r ?: launch(vm, binary, f, qmp_path, err);
	free(f);
	if (r < 0)
		return r;
	struct qemu *q = calloc(1, sizeof(*q));
	if (!q)
		return cove_errf(err, -ENOMEM, "qemu: out of memory");
	vm->driver_data = q;
	r = qmp_open(qmp_path, vm->pidfd, QMP_CONNECT_TIMEOUT_MS, &q->qmp, err);
	/* A connection made before QEMU accepts it drops if QEMU dies first,
	 * so a bad kernel shows up as a handshake that fails. */
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
	.features = VMM_FEATURE_SNAPSHOTS | VMM_FEATURE_MEMORY_FILE | VMM_FEATURE_DISK_LAYERS | VMM_FEATURE_ADOPT |
		    VMM_FEATURE_SHARES,
	.disk = { QEMU_DISK_LAYER_NAME, QEMU_DISK_OVERLAY_NAME, QEMU_DISK_OWN_NAME },
	.disk_flatten = vmm_qcow2_flatten,
	.boot = qemu_boot,
	.pause = qemu_pause,
	.resume = qemu_resume,
	.request_poweroff = qemu_request_poweroff,
	.attach = qemu_attach,
	.snapshot = qemu_snapshot,
	.disk_create = vmm_qcow2_create,
	.version = qemu_version,
	.release = qemu_release,
};
