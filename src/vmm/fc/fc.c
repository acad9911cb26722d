/* The Firecracker driver (fc.h): Firecracker started with an API socket
 * and configured over it (machine, kernel, root drive, network interface,
 * then InstanceStart), or restored from a snapshot instead; control over
 * the same API.
 *
 * Every path it is given is relative to its work directory, which is its
 * current directory whether confined (then also its root) or not: a
 * snapshot records its drive's path, so the path must be the same in every
 * VMM that restores it, whatever its id.
 *
 * Firecracker writes the guest's serial console (ttyS0) to its stdout:
 * the console is in the VMM log (LOG_DIR/ID.vmm.log), and the console log
 * stays empty. */
#include "vmm/fc/fc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "vmm/console.h"
#include "vmm/driver.h"
#include "vmm/fc/fc_internal.h"

#define FC_BINARY "firecracker"
#define FC_SEARCH_DIRS "/usr/local/bin:/usr/bin"
#define EARLY_EXIT_WAIT_MS 1000

int fc_find_binary(const char *override, char *out, size_t len, struct cove_err *err)
{
	/* The caller's, else the driver's own setting, else on PATH. */
	const char *name = override ?: env_get(ENV_FIRECRACKER) ?: FC_BINARY;
	int r = fs_find_executable(name, FC_SEARCH_DIRS, out, len);
	if (r == 0)
		return 0;
	if (strchr(name, '/'))
		return cove_errno(err, r, "firecracker: %s", name);
	return cove_errf(err, -ENOENT, "firecracker: %s not found on PATH or in %s; install a release from "
				       "https://github.com/firecracker-microvm/firecracker/releases", name, FC_SEARCH_DIRS);
}

int fc_version(const char *binary, char *buf, size_t len, struct cove_err *err)
{
	char path[4096];
	int r = fc_find_binary(binary, path, sizeof(path), err);
	return r ?: vmm_binary_version("firecracker", path, fc_parse_version, buf, len, err);
}

/* The files a VMM is handed, bound into its work directory. */
struct boot_files {
	char dir[PATH_MAX + 8];      /* RUN_DIR/ID/fc */
	char own[PATH_MAX + 16];     /* RUN_DIR/ID/disk.raw, when it gets a copy */
	char state[PATH_MAX + 16];   /* the state a restore loads */
	char memory[PATH_MAX + 16];  /* the memory a restore maps from a state directory */
	struct fc_restore_memory mem; /* how (memory.c) */
	struct vmm_bind binds[6];
	size_t nbinds;
};

/* Its root drive: a copy of the disk its chain stands for (an own overlay,
 * or a throwaway disk), the chain's top file filled in place (a template
 * being made writes its layer), or the image itself (rootfs_persist). */
static int root_disk(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	const char *chain[] = { c->disk_overlay, c->disk_layer, c->rootfs };
	const char *source = c->rootfs;
	enum vmm_bind_access access = VMM_BIND_OWN;
	int r = 0;
	if (c->disk_overlay && !c->disk_overlay_copy) {
		source = c->disk_overlay;
		r = vmm_raw_disk_fill(c->disk_overlay, chain + 1, 2, err);
	} else if (c->disk_overlay || !c->rootfs_persist) {
		snprintf(f->own, sizeof(f->own), "%s/" FC_DISK_OWN_NAME, vm->dir);
		const char *image = vmm_raw_disk_image(chain, 3);
		r = image ? vmm_raw_clone(image, f->own, false, err)
			  : cove_errf(err, -ENOENT, "firecracker: no file of the disk of %s has any bytes", c->id);
		source = f->own;
	}
	f->binds[f->nbinds++] = (struct vmm_bind){ source, FC_ROOTFS_NAME, access };
	return r;
}

/* What a restore reads: the state, and the memory a state directory has
 * (all of it, or a Diff over mem_file), else mem_file. */
static int restore_files(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const char *state = vm->cfg.c.restore_state;
	char diff[PATH_MAX + 16] = "";
	struct stat st;
	if (stat(state, &st) < 0)
		return cove_errno(err, -errno, "firecracker: restore from %s", state);
	if (!S_ISDIR(st.st_mode)) {
		snprintf(f->state, sizeof(f->state), "%s", state);
	} else {
		snprintf(f->state, sizeof(f->state), "%s/" FC_STATE_FILE, state);
		snprintf(f->memory, sizeof(f->memory), "%s/" FC_STATE_MEMORY, state);
		snprintf(diff, sizeof(diff), "%s/" FC_STATE_DIFF, state);
		if (access(f->memory, F_OK) < 0)
			f->memory[0] = '\0';
		else
			f->binds[f->nbinds++] = (struct vmm_bind){ f->memory, FC_RESTORE_MEMORY_NAME, VMM_BIND_READ };
		if (f->memory[0] || access(diff, F_OK) < 0)
			diff[0] = '\0';
	}
	int r = fc_restore_memory_prepare(vm, diff[0] ? diff : NULL, f->memory[0] != '\0', &f->mem, err);
	if (r < 0)
		return r;
	if (f->mem.merged[0])
		f->binds[f->nbinds++] = (struct vmm_bind){ f->mem.merged, FC_RESTORE_MEMORY_NAME, VMM_BIND_READ };
	if (!f->memory[0] && !vm->cfg.c.mem_file)
		return cove_errf(err, -ENOENT, "firecracker: restore from %s: no memory file with it", state);
	f->binds[f->nbinds++] = (struct vmm_bind){ f->state, FC_RESTORE_NAME, VMM_BIND_READ };
	return 0;
}

static int boot_files(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	snprintf(f->dir, sizeof(f->dir), "%s/" FC_DIR_NAME, vm->dir);
	if (mkdir(f->dir, 0700) < 0)
		return cove_errno(err, -errno, "firecracker: create %s", f->dir);
	f->binds[f->nbinds++] = (struct vmm_bind){ c->kernel, FC_KERNEL_NAME, VMM_BIND_READ };
	f->binds[f->nbinds++] = (struct vmm_bind){ f->dir, FC_DIR_NAME, VMM_BIND_OWN };
	int r = root_disk(vm, f, err);
	if (r < 0)
		return r;
	/* A template being made: Firecracker runs on memory of its own (it
	 * cannot boot on a file) and writes all of it to this file when
	 * snapshotted; a restore maps it privately. */
	if (c->mem_file) {
		int fd = open(c->mem_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return cove_errno(err, -errno, "firecracker: memory file %s", c->mem_file);
		close(fd);
		f->binds[f->nbinds++] = (struct vmm_bind){ c->mem_file, VMM_MEMORY_NAME,
							   c->mem_shared ? VMM_BIND_SHARED : VMM_BIND_READ };
	}
	return c->restore_state ? restore_files(vm, f, err) : 0;
}

/* 1: under the jailer at out. Its steps need a VMM of its own ids; and
 * its change of ids clears the parent-death signal a VMM that must die
 * with its parent (`cove run`) has, so that one stays in Cove's jail. */
static int use_jailer(const struct vmm *vm, const char *binary, char out[PATH_MAX], struct cove_err *err)
{
	const char *setting = env_get(ENV_FIRECRACKER_JAILER);
	if (!vm->confined && fc_jailer_mode(setting) == FC_JAILER_NAMED)
		return cove_errf(err, -EINVAL, "COVE_FIRECRACKER_JAILER=%s: the jailer needs VMMs to run as ids of "
					       "their own (COVE_VMM_IDS is off)", setting);
	if (!vm->confined || vm->cfg.c.die_with_parent)
		return 0;
	int r = fc_jailer_find(setting, binary, out, PATH_MAX, err);
	if (r > 0)
		log_debug("vmm=%s op=launch msg=\"under Firecracker's jailer %s\"", vm->cfg.c.id, out);
	return r;
}

/* jailer: NULL, or Firecracker's jailer to start it under (use_jailer). */
static int launch(struct vmm *vm, const char *binary, const char *jailer, const struct boot_files *f,
		  struct cove_err *err)
{
	int console_fd, output_fd;
	/* The console socket goes unused: the console is on stdout. */
	int r = vmm_logs_prepare(vm, &console_fd, &output_fd, err);
	if (r < 0)
		return r;
	char id[FC_ID_MAX + 1];
	fc_instance_id(vm->cfg.c.id, id);
	char *argv[] = { (char *)binary, "--api-sock", FC_API_SOCK, "--id", id, NULL };
	struct vmm_launch spec = {
		.binary = binary,
		.argv = argv,
		.binds = f->binds,
		.nbinds = f->nbinds,
		.output_fd = output_fd,
	};
	struct vmm_jailer_args a;
	if (jailer && (r = vmm_jailer_prepare(vm, binary, id, &a, err)) == 0) {
		/* Its own --id goes to Firecracker; what follows "--" too. */
		char *jargv[] = { (char *)jailer,    "--id",	       id,	     "--exec-file",    (char *)binary,
				  "--uid",   a.uid,	       "--gid",	     a.gid,	       "--chroot-base-dir",
				  a.base,    "--resource-limit", a.nofile,     "--resource-limit", a.fsize,
				  "--",	     "--api-sock",       FC_API_SOCK, NULL };
		spec.argv = jargv;
		spec.jailer = jailer;
		r = vmm_launch(vm, &spec, err);
	} else if (!jailer) {
		r = vmm_launch(vm, &spec, err);
	}
	return r ?: vmm_logs_start(vm, err);
}

static int configure(struct vmm *vm, const char *boot_args, const char *tap, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	struct fc_machine m = { c->vcpus, c->mem_mib, FC_KERNEL_NAME, boot_args, FC_ROOTFS_NAME, false, tap,
				c->net.mac };
	struct fc_request req[FC_BOOT_REQUESTS];
	int n = fc_boot_requests(&m, req);
	if (n < 0)
		return cove_errf(err, n, "firecracker: out of memory");
	int r = 0;
	for (int i = 0; i < n && r == 0; i++)
		r = fc_call(vm, "PUT", req[i].path, req[i].body, NULL, err);
	fc_requests_clear(req, n);
	return r;
}

static int restore(struct vmm *vm, const struct boot_files *f, struct cove_err *err)
{
	const struct fc_restore_memory *m = &f->mem;
	const char *memory = m->backend == FC_BACKEND_UFFD		? FC_UFFD_SOCK
			     : f->memory[0] || m->merged[0] ? FC_RESTORE_MEMORY_NAME
							    : VMM_MEMORY_NAME;
	int r = fc_pager_start(vm, m, err);
	if (r == 0) {
		json_t *body = fc_snapshot_load(FC_RESTORE_NAME, m->backend, memory, m->track);
		r = fc_call(vm, "PUT", "/snapshot/load", body, NULL, err);
		json_decref(body);
	}
	/* Loaded: Firecracker has connected to its page server, or mapped the
	 * merged file (which its jail's bind mount holds). */
	if (m->backend == FC_BACKEND_UFFD)
		fc_pager_loaded(vm);
	if (m->merged[0])
		unlink(m->merged);
	return r < 0 ? cove_err_prefix(err, "restore %s from %s", vm->cfg.c.id, vm->cfg.c.restore_state) : 0;
}

static int fc_boot(struct vmm *vm, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	/* Firecracker runs guests on KVM only: where the accelerator resolved
	 * to TCG (no usable KVM), its jail has no /dev/kvm and a real
	 * Firecracker fails saying so; only a stand-in (tests/tools' double,
	 * QEMU underneath) runs there, told the TSC's frequency as QEMU is. */
	if (vm->accel == VMM_ACCEL_TCG)
		log_warn("vmm=%s op=boot msg=\"firecracker needs KVM, and it is not usable here: TCG\"", c->id);
	char binary[4096], cmdline[2048], tap[16] = "", jailer[PATH_MAX];
	int r = fc_find_binary(c->vmm_binary, binary, sizeof(binary), err);
	int jailed = r < 0 ? 0 : use_jailer(vm, binary, jailer, err);
	if (jailed < 0)
		r = jailed;
	/* The command line's ip= needs tap_fd, which vmm_tap_by_name closes. */
	r = r ?: vmm_guest_cmdline(c, vm->accel, vm->accel == VMM_ACCEL_TCG ? vmm_host_tsc_khz() : 0, cmdline,
				   sizeof(cmdline), err);
	/* Under the jailer its gid is the shared group's (vmm_jailer_prepare). */
	if (r == 0 && c->tap_fd >= 0)
		r = vmm_tap_by_name(vm, jailed > 0 ? vm->shared_gid : vm->uid, tap, err);
	if (r < 0)
		return r;
	struct boot_files *f = calloc(1, sizeof(*f));
	if (!f)
		return cove_errf(err, -ENOMEM, "firecracker: out of memory");
	r = boot_files(vm, f, err);
	r = r ?: launch(vm, binary, jailed > 0 ? jailer : NULL, f, err);
	r = r ?: fc_api_open(vm, err);
	if (r == -ECHILD || (r < 0 && vm->pidfd >= 0 && proc_pidfd_wait(vm->pidfd, EARLY_EXIT_WAIT_MS) == 1)) {
		free(f);
		return vmm_report_early_exit(vm, err);
	}
	if (r == 0)
		r = c->restore_state ? restore(vm, f, err) : configure(vm, cmdline, tap[0] ? tap : NULL, err);
	free(f);
	/* A refused configuration often means Firecracker is dying of it. */
	if (r < 0 && r != -ECHILD && proc_pidfd_wait(vm->pidfd, 100) == 1) {
		log_warn("vmm=%s op=boot msg=\"%s\"", c->id, err ? err->msg : "");
		return vmm_report_early_exit(vm, err);
	}
	return r;
}

static int fc_attach(struct vmm *vm, struct cove_err *err)
{
	int r = fc_api_open(vm, err);
	json_t *info = NULL;
	r = r ?: fc_call(vm, "GET", "/", NULL, &info, err);
	if (r == 0 && fc_instance_state(info, &vm->state) < 0) {
		const char *s = json_string_value(json_object_get(info, "state"));
		r = cove_errf(err, -EPROTO, "firecracker: guest is '%s', neither Running nor Paused", s ? s : "?");
	}
	json_decref(info);
	/* As its boot resolved it (a real Firecracker has KVM only). */
	const char *reason;
	vm->accel = vmm_accel_resolve(vm->cfg.c.accel, &reason);
	return r;
}

static int set_state(struct vmm *vm, bool paused, struct cove_err *err)
{
	json_t *body = fc_vm_state(paused);
	int r = fc_call(vm, "PATCH", "/vm", body, NULL, err);
	json_decref(body);
	return r;
}

static int fc_pause(struct vmm *vm, struct cove_err *err)
{
	return set_state(vm, true, err);
}

static int fc_resume(struct vmm *vm, struct cove_err *err)
{
	return set_state(vm, false, err);
}

/* Ctrl-Alt-Del on the guest's i8042 keyboard: cove-init, having disabled
 * the kernel's own reboot on it, gets SIGINT and powers off. */
static int fc_request_poweroff(struct vmm *vm, struct cove_err *err)
{
	json_t *body = fc_action("SendCtrlAltDel");
	int r = fc_call(vm, "PUT", "/actions", body, NULL, err);
	json_decref(body);
	return r;
}

static int fc_disk_create(const char *path, enum vmm_disk_file file, uint64_t size, struct cove_err *err)
{
	(void)file;
	(void)size; /* an empty one is the size of what it is over */
	return vmm_raw_disk_create(path, err);
}

const struct vmm_driver vmm_driver_firecracker = {
	.name = "firecracker",
	.features = VMM_FEATURE_SNAPSHOTS | VMM_FEATURE_MEMORY_FILE | VMM_FEATURE_DISK_LAYERS | VMM_FEATURE_ADOPT |
		    VMM_FEATURE_TAP_BY_NAME,
	.disk = { FC_DISK_LAYER_NAME, FC_DISK_OVERLAY_NAME, FC_DISK_OWN_NAME },
	.boot = fc_boot,
	.pause = fc_pause,
	.resume = fc_resume,
	.request_poweroff = fc_request_poweroff,
	.attach = fc_attach,
	.snapshot = fc_snapshot,
	.disk_create = fc_disk_create,
	.disk_flatten = vmm_raw_disk_flatten,
	.version = fc_version,
	.release = fc_api_close,
};
