/* The Cloud Hypervisor driver (ch.h): cloud-hypervisor started with its
 * API socket handed over as a listening descriptor (--api-socket fd=N),
 * then told the whole VM over REST: vm.create and vm.boot, or, restoring,
 * vm.restore and vm.resume (save.c). It opens its TAP by name and its
 * files by the names they are bound to in its work directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/env.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/proc.h"
#include "vmm/ch/ch.h"
#include "vmm/console.h"
#include "vmm/driver.h"
#include "vmm/qcow2.h"
#include "vmm/rest/rest.h"

/* CH listens at once (it is handed the socket); loading the kernel is
 * vm.boot's. Slack for a loaded host. */
#define API_CONNECT_TIMEOUT_MS 10000
#define EARLY_EXIT_WAIT_MS 1000
#define BOOT_TIMEOUT_MS 30000

static struct ch *ch_of(struct vmm *vm)
{
	return vm->driver_data;
}

int ch_find_binary(const char *override, char *out, size_t len, struct cove_err *err)
{
	/* The caller's, else the driver's own setting, else on PATH. */
	const char *name = override ?: env_get(ENV_CLOUD_HYPERVISOR) ?: CH_BINARY;
	int r = fs_find_executable(name, CH_SEARCH_DIRS, out, len);
	if (r == 0)
		return 0;
	if (strchr(name, '/'))
		return cove_errno(err, r, "cloud-hypervisor: %s", name);
	return cove_errf(err, -ENOENT,
			 "cloud-hypervisor: %s not found on PATH or in %s; install a release binary from "
			 "https://github.com/cloud-hypervisor/cloud-hypervisor/releases",
			 name, CH_SEARCH_DIRS);
}

int ch_version(const char *binary, char *buf, size_t len, struct cove_err *err)
{
	char path[4096];
	int r = ch_find_binary(binary, path, sizeof(path), err);
	return r ?: vmm_binary_version("cloud-hypervisor", path, ch_version_parse, buf, len, err);
}

/* The files a VMM is handed, bound into its work directory, and the
 * paths and TAP it is told of. */
struct boot_files {
	char kernel[PATH_MAX], disk[PATH_MAX], memory[PATH_MAX];
	char own_disk[PATH_MAX + 16], config_json[PATH_MAX + 16];
	char cmdline[4096], tap[16];
	char share_host[VMM_MAX_SHARES][PATH_MAX], share_vmm[VMM_MAX_SHARES][PATH_MAX];
	struct ch_paths paths;
	struct vmm_bind binds[8 + VMM_MAX_SHARES];
	size_t nbinds;
};

static void bind(struct boot_files *f, const char *source, const char *name, enum vmm_bind_access access)
{
	f->binds[f->nbinds++] = (struct vmm_bind){ source, name, access };
}

static int root_path(struct vmm *vm, const char *name, char buf[PATH_MAX], struct cove_err *err)
{
	if (vmm_root_path(vm, name, buf) < 0)
		return cove_errf(err, -ENAMETOOLONG, "cloud-hypervisor: path of %s in %s too long", name, vm->work_dir);
	return 0;
}

/* The root disk: the overlay (a copy of a template's) over its layer over
 * the image; the image itself (rootfs_persist); or a throwaway qcow2
 * overlay over it in the run directory (CH has no snapshot=on). */
static int boot_disk(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	snprintf(f->own_disk, sizeof(f->own_disk), "%s/" VMM_QCOW2_OWN, vm->dir);
	f->paths.disk = f->disk;
	if (!c->disk_overlay && c->rootfs_persist) {
		bind(f, c->rootfs, VMM_QCOW2_ROOTFS, VMM_BIND_OWN);
		return root_path(vm, VMM_QCOW2_ROOTFS, f->disk, err);
	}
	int r = 0;
	const char *own = c->disk_overlay;
	if (!c->disk_overlay || c->disk_overlay_copy)
		own = f->own_disk;
	if (c->disk_overlay && c->disk_overlay_copy)
		r = fs_copy_file(c->disk_overlay, f->own_disk, false, err);
	if (!c->disk_overlay) {
		struct stat st;
		r = stat(c->rootfs, &st) < 0 ? cove_errno(err, -errno, "cloud-hypervisor: %s", c->rootfs)
					      : vmm_qcow2_create(f->own_disk, VMM_DISK_LAYER, (uint64_t)st.st_size, err);
	}
	if (r < 0)
		return r;
	bind(f, c->rootfs, VMM_QCOW2_ROOTFS, VMM_BIND_READ);
	bind(f, own, VMM_QCOW2_OWN, VMM_BIND_OWN);
	if (c->disk_layer)
		bind(f, c->disk_layer, VMM_QCOW2_LAYER, VMM_BIND_READ);
	f->paths.disk_qcow2 = true;
	return root_path(vm, VMM_QCOW2_OWN, f->disk, err);
}

/* Guest RAM in config.mem_file, bound as "memory": always when shared
 * (a snapshot's memory is that file); a private one only on a cold boot,
 * since a restore reads its RAM from memory-ranges (save.c). */
static int boot_memory(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	if (!c->mem_file || (c->restore_state && !c->mem_shared))
		return 0;
	int fd = open(c->mem_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "cloud-hypervisor: memory file %s", c->mem_file);
	/* CH maps the file as it is: an empty one is sized here. */
	off_t size = (off_t)(c->mem_mib ? c->mem_mib : VMM_DEFAULT_MEM_MIB) << 20;
	struct stat st;
	int r = fstat(fd, &st) < 0 || (st.st_size < size && ftruncate(fd, size) < 0)
			? cove_errno(err, -errno, "cloud-hypervisor: size memory file %s", c->mem_file)
			: 0;
	close(fd);
	if (r < 0)
		return r;
	bind(f, c->mem_file, VMM_MEMORY_NAME, VMM_BIND_SHARED);
	f->paths.memory = f->memory;
	f->paths.memory_shared = c->mem_shared;
	return root_path(vm, VMM_MEMORY_NAME, f->memory, err);
}

/* Each share's virtiofsd socket (share.c), bound as vfs-I.sock. */
static int boot_shares(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	for (size_t i = 0; i < vm->cfg.c.nshares; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vfs-%zu.sock", i);
		if (vmm_share_socket_path(vm, i, f->share_host[i]) < 0)
			return cove_errf(err, -ENOENT, "cloud-hypervisor: share %zu of %s has no socket", i, vm->cfg.c.id);
		int r = root_path(vm, name, f->share_vmm[i], err);
		if (r < 0)
			return r;
		/* The bind's name lives in f too: share_vmm ends with it. */
		bind(f, f->share_host[i], strrchr(f->share_vmm[i], '/') + 1, VMM_BIND_OWN);
		f->paths.fs_socket[i] = f->share_vmm[i];
	}
	return 0;
}

/* The kernel command line first: its ip= part needs the TAP descriptor,
 * which vmm_tap_by_name closes. */
static int boot_files(struct vmm *vm, struct boot_files *f, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	int r = vmm_guest_cmdline(c, vm->accel, vm->accel == VMM_ACCEL_TCG ? vmm_host_tsc_khz() : 0, f->cmdline,
				  sizeof(f->cmdline), err);
	if (r < 0)
		return r;
	if ((r = root_path(vm, "kernel", f->kernel, err)) < 0)
		return r;
	f->paths.kernel = f->kernel;
	f->paths.cmdline = f->cmdline;
	bind(f, c->kernel, "kernel", VMM_BIND_READ);
	r = boot_disk(vm, f, err);
	r = r ?: boot_memory(vm, f, err);
	r = r ?: boot_shares(vm, f, err);
	if (r == 0 && c->tap_fd >= 0 && (r = vmm_tap_by_name(vm, vm->uid, f->tap, err)) == 0)
		f->paths.tap = f->tap;
	return r;
}

static int launch(struct vmm *vm, const char *binary, const struct boot_files *f, const char *api_path,
		  struct cove_err *err)
{
	int console_fd, output_fd;
	int api_fd = -1;
	/* The console socket stays unused: CH's serial goes to its stdout. */
	int r = vmm_logs_prepare(vm, &console_fd, &output_fd, err);
	r = r ?: vmm_unix_listen(api_path, &api_fd, err);
	if (r < 0)
		return r;
	char *argv[] = { (char *)binary, "--api-socket", "fd=3", NULL };
	struct vmm_launch spec = {
		.binary = binary,
		.argv = argv,
		.binds = f->binds,
		.nbinds = f->nbinds,
		.pass_fds = &api_fd,
		.npass_fds = 1,
		.output_fd = output_fd,
	};
	r = vmm_launch(vm, &spec, err);
	close(api_fd);
	return r ?: vmm_logs_start(vm, err);
}

static int api_call(struct vmm *vm, const char *method, const char *path, json_t *body, json_t **reply,
		    int timeout_ms, struct cove_err *err)
{
	struct ch *ch = ch_of(vm);
	if (!ch || !ch->api)
		return cove_errf(err, -ENOTCONN, "cloud-hypervisor: no API connection to %s", vm->cfg.c.id);
	return rest_call(ch->api, method, path, body, reply, timeout_ms, err);
}

static int create_and_boot(struct vmm *vm, json_t *config, struct cove_err *err)
{
	int r = api_call(vm, "PUT", "/api/v1/vm.create", config, NULL, CH_API_TIMEOUT_MS, err);
	return r ?: api_call(vm, "PUT", "/api/v1/vm.boot", NULL, NULL, BOOT_TIMEOUT_MS, err);
}

/* Everything up to a running CH with its API connected. */
static int start(struct vmm *vm, struct boot_files *f, json_t **config, struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char binary[4096], api_path[PATH_MAX + 16];
	int r = ch_find_binary(c->vmm_binary, binary, sizeof(binary), err);
	r = r ?: boot_files(vm, f, err);
	r = r ?: ch_vm_config(c, &f->paths, config, err);
	if (r == 0 && c->restore_state)
		r = ch_restore_prepare(vm, *config, f->binds, &f->nbinds, f->config_json, err);
	snprintf(api_path, sizeof(api_path), "%s/api.sock", vm->dir);
	r = r ?: launch(vm, binary, f, api_path, err);
	if (r < 0)
		return r;
	struct ch *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return cove_errf(err, -ENOMEM, "cloud-hypervisor: out of memory");
	vm->driver_data = ch;
	return rest_open("cloud-hypervisor", api_path, vm->pidfd, API_CONNECT_TIMEOUT_MS, &ch->api, err);
}

static int ch_boot(struct vmm *vm, struct cove_err *err)
{
	struct boot_files *f = calloc(1, sizeof(*f));
	if (!f)
		return cove_errf(err, -ENOMEM, "cloud-hypervisor: out of memory");
	json_t *config = NULL;
	int r = start(vm, f, &config, err);
	if (r == 0)
		r = vm->cfg.c.restore_state ? ch_restore(vm, err) : create_and_boot(vm, config, err);
	json_decref(config);
	free(f);
	/* A kernel CH cannot load, a file it cannot open: it says so and exits. */
	if (vm->pidfd >= 0 && (r == -ECHILD || (r < 0 && proc_pidfd_wait(vm->pidfd, EARLY_EXIT_WAIT_MS) == 1)))
		return vmm_report_early_exit(vm, err);
	return r;
}

static int ch_attach(struct vmm *vm, struct cove_err *err)
{
	char api_path[PATH_MAX + 16];
	snprintf(api_path, sizeof(api_path), "%s/api.sock", vm->dir);
	struct ch *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return cove_errf(err, -ENOMEM, "cloud-hypervisor: out of memory");
	vm->driver_data = ch;
	int r = rest_open("cloud-hypervisor", api_path, vm->pidfd, API_CONNECT_TIMEOUT_MS, &ch->api, err);
	_cleanup_json_ json_t *info = NULL;
	r = r ?: api_call(vm, "GET", "/api/v1/vm.info", NULL, &info, CH_API_TIMEOUT_MS, err);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(info, "state"));
	if (s && strcmp(s, "Running") == 0)
		vm->state = VMM_STATE_RUNNING;
	else if (s && strcmp(s, "Paused") == 0)
		vm->state = VMM_STATE_PAUSED;
	else
		return cove_errf(err, -EPROTO, "cloud-hypervisor: VM is '%s', neither Running nor Paused",
				 s ? s : "(no state)");
	/* CH has no other accelerator than the hypervisor it was built for. */
	const char *reason;
	vm->accel = vmm_accel_resolve(vm->cfg.c.accel, &reason);
	return 0;
}

static int ch_pause(struct vmm *vm, struct cove_err *err)
{
	return api_call(vm, "PUT", "/api/v1/vm.pause", NULL, NULL, CH_API_TIMEOUT_MS, err);
}

static int ch_resume(struct vmm *vm, struct cove_err *err)
{
	return api_call(vm, "PUT", "/api/v1/vm.resume", NULL, NULL, CH_API_TIMEOUT_MS, err);
}

static int ch_request_poweroff(struct vmm *vm, struct cove_err *err)
{
	return api_call(vm, "PUT", "/api/v1/vm.power-button", NULL, NULL, CH_API_TIMEOUT_MS, err);
}

static void ch_release(struct vmm *vm)
{
	struct ch *ch = ch_of(vm);
	if (ch)
		rest_close(ch->api);
	free(ch);
	vm->driver_data = NULL;
}

const struct vmm_driver vmm_driver_ch = {
	.name = "cloud-hypervisor",
	.features = VMM_FEATURE_SNAPSHOTS | VMM_FEATURE_MEMORY_FILE | VMM_FEATURE_DISK_LAYERS | VMM_FEATURE_ADOPT |
		    VMM_FEATURE_TAP_BY_NAME | VMM_FEATURE_SHARES | VMM_FEATURE_SHARES_BY_PATH,
	.disk = { VMM_QCOW2_LAYER, VMM_QCOW2_OVERLAY, VMM_QCOW2_OWN },
	.boot = ch_boot,
	.pause = ch_pause,
	.resume = ch_resume,
	.request_poweroff = ch_request_poweroff,
	.attach = ch_attach,
	.snapshot = ch_snapshot,
	.disk_create = vmm_qcow2_create,
	.disk_flatten = vmm_qcow2_flatten,
	.version = ch_version,
	.release = ch_release,
};
