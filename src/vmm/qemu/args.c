/* The QEMU driver's command line: the `microvm` machine (virtio-mmio
 * devices, no PCI, no firmware tables beyond a minimal ACPI), the guest
 * kernel booted directly through its PVH entry point, the devices a sandbox
 * has, the console and QMP on descriptors it is handed. Pure (no process
 * is started here), so the unit tests check it whole. */
#include "vmm/qemu/qemu.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"
#include "common/fs.h"
#include "vmm/driver.h"

#define QEMU_BINARY "qemu-system-x86_64"
#define QEMU_SEARCH_DIRS "/usr/bin:/usr/local/bin:/usr/libexec:/opt/qemu/bin"

int qemu_args_add(struct qemu_args *a, struct cove_err *err, const char *fmt, ...)
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
	return qemu_args_add(a, err, "%s%s%s", prefix, escaped, suffix);
}

/* Guest RAM in a file: shared (snapshots write it) or a private
 * copy-on-write mapping of it (restores read it lazily). */
static int add_memory(const struct vmm_config *c, const struct qemu_paths *p, struct qemu_args *a,
		      struct cove_err *err)
{
	/* Always a backend named "mem": a saved guest's RAM is restored by
	 * that name, whatever backs it. */
	int r = qemu_args_add(a, err, "-object");
	/* Shares: virtiofsd maps guest RAM (handed over the vhost-user
	 * socket), so it must be shared memory; with share=off the guest's
	 * first I/O on a mount hangs (measured). */
	if (!c->mem_file && c->nshares)
		return r ?: qemu_args_add(a, err, "memory-backend-memfd,id=mem,size=%uM,share=on", c->mem_mib);
	if (!c->mem_file)
		return r ?: qemu_args_add(a, err, "memory-backend-ram,id=mem,size=%uM", c->mem_mib);
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
	int r = qemu_args_add(a, err, "-incoming");
	return r ?: qemu_args_add(a, err, "defer");
}

static int add_machine(const struct vmm_config *c, enum vmm_accel accel, struct qemu_args *a, struct cove_err *err)
{
	int r = 0;
	/* microvm: virtio-mmio only. Its legacy PIT stays on: without it (or
	 * HPET) the guest kernel cannot calibrate the TSC under TCG and hangs.
	 * acpi=on lets system_powerdown reach the
	 * guest as a power-button press (ACPI GED) and lets it power off. */
	r = r ?: qemu_args_add(a, err, "-machine");
	r = r ?: qemu_args_add(a, err, "microvm,accel=%s,acpi=on,memory-backend=mem", accel == VMM_ACCEL_KVM ? "kvm" : "tcg");
	r = r ?: qemu_args_add(a, err, "-cpu");
	r = r ?: qemu_args_add(a, err, accel == VMM_ACCEL_KVM ? "host" : "max");
	r = r ?: qemu_args_add(a, err, "-smp");
	r = r ?: qemu_args_add(a, err, "%u", c->vcpus);
	r = r ?: qemu_args_add(a, err, "-m");
	r = r ?: qemu_args_add(a, err, "%uM", c->mem_mib);
	/* microvm's virtio-mmio is legacy (version 1) by default, which
	 * libvhost-user refuses (virtiofsd panics: "virtio legacy devices
	 * aren't supported"). Machine-wide, so only with shares: the device
	 * state of every other VM stays what its snapshots were made with. */
	if (c->nshares) {
		r = r ?: qemu_args_add(a, err, "-global");
		r = r ?: qemu_args_add(a, err, "virtio-mmio.force-legacy=false");
	}
	return r;
}

/* Each share: a vhost-user-fs device on its connected socket (a chardev
 * in client mode on a descriptor), under its tag. */
static int add_shares(const struct vmm_config *c, const struct qemu_paths *p, struct qemu_args *a,
		      struct cove_err *err)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < c->nshares; i++) {
		r = r ?: qemu_args_add(a, err, "-chardev");
		r = r ?: qemu_args_add(a, err, "socket,id=vfs%zu,fd=%d", i, p->share_fds[i]);
		r = r ?: qemu_args_add(a, err, "-device");
		r = r ?: qemu_args_add(a, err, "vhost-user-fs-device,chardev=vfs%zu,tag=%s", i, c->shares[i].tag);
	}
	return r;
}

static int add_devices(const struct vmm_config *c, const struct qemu_paths *p, struct qemu_args *a,
		       struct cove_err *err)
{
	int r = 0;
	r = r ?: qemu_args_add(a, err, "-drive");
	if (c->disk_overlay)
		r = r ?: add_opt_path(a, err, "id=rootfs,file=", p->disk, ",format=qcow2,if=none,cache=writeback");
	else
		r = r ?: add_opt_path(a, err, "id=rootfs,file=", p->rootfs,
				      c->rootfs_persist ? ",format=raw,if=none,cache=writeback"
							: ",format=raw,if=none,cache=writeback,snapshot=on");
	r = r ?: qemu_args_add(a, err, "-device");
	r = r ?: qemu_args_add(a, err, "virtio-blk-device,drive=rootfs");
	if (c->tap_fd >= 0) {
		r = r ?: qemu_args_add(a, err, "-netdev");
		r = r ?: qemu_args_add(a, err, "tap,id=net0,fd=%d", p->tap_fd);
		r = r ?: qemu_args_add(a, err, "-device");
		r = r ?: qemu_args_add(a, err, "virtio-net-device,netdev=net0,mac=%s", c->net.mac);
	}
	/* Entropy from the host (QEMU's getrandom(), no device node to open),
	 * so the guest's first getrandom() does not wait. */
	r = r ?: qemu_args_add(a, err, "-object");
	r = r ?: qemu_args_add(a, err, "rng-builtin,id=rng0");
	r = r ?: qemu_args_add(a, err, "-device");
	r = r ?: qemu_args_add(a, err, "virtio-rng-device,rng=rng0");
	return r ?: add_shares(c, p, a, err);
}

int qemu_build_args(const struct vmm_config *c, enum vmm_accel accel, const struct qemu_paths *p,
		    struct qemu_args *a, struct cove_err *err)
{
	if (accel == VMM_ACCEL_AUTO)
		return cove_errf(err, -EINVAL, "qemu: accelerator must be resolved before building arguments");
	char cmdline[2048];
	int r = vmm_guest_cmdline(c, accel, p->tsc_khz, cmdline, sizeof(cmdline), err);
	if (r < 0)
		return r;
	*a = (struct qemu_args){ 0 };
	r = r ?: qemu_args_add(a, err, "%s", p->binary);
	r = r ?: qemu_args_add(a, err, "-name");
	r = r ?: qemu_args_add(a, err, "cove-%s", c->id);
	r = r ?: qemu_args_add(a, err, "-nodefaults");
	r = r ?: qemu_args_add(a, err, "-no-user-config");
	r = r ?: qemu_args_add(a, err, "-display");
	r = r ?: qemu_args_add(a, err, "none");
	r = r ?: qemu_args_add(a, err, "-no-reboot");
	/* QEMU's own seccomp filter: no new privileges, no spawning helpers. */
	r = r ?: qemu_args_add(a, err, "-sandbox");
	r = r ?: qemu_args_add(a, err, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	r = r ?: add_machine(c, accel, a, err);
	r = r ?: add_memory(c, p, a, err);
	r = r ?: add_incoming(c, a, err);
	r = r ?: qemu_args_add(a, err, "-kernel");
	r = r ?: qemu_args_add(a, err, "%s", p->kernel);
	r = r ?: qemu_args_add(a, err, "-append");
	r = r ?: qemu_args_add(a, err, "%s", cmdline);
	r = r ?: add_devices(c, p, a, err);
	/* The console is a socket Cove listens on and reads (vmm/console.h):
	 * without a client, QEMU drops the output; with one that reads
	 * slowly, the serial port waits. QMP too is a listening socket it is
	 * handed. */
	r = r ?: qemu_args_add(a, err, "-chardev");
	r = r ?: qemu_args_add(a, err, "socket,id=console,fd=%d,server=on,wait=off", p->console_fd);
	r = r ?: qemu_args_add(a, err, "-serial");
	r = r ?: qemu_args_add(a, err, "chardev:console");
	r = r ?: qemu_args_add(a, err, "-chardev");
	r = r ?: qemu_args_add(a, err, "socket,id=qmp,fd=%d,server=on,wait=off", p->qmp_fd);
	r = r ?: qemu_args_add(a, err, "-mon");
	r = r ?: qemu_args_add(a, err, "chardev=qmp,mode=control");
	if (r < 0)
		qemu_args_clear(a);
	return r;
}

int qemu_find_binary(const char *override, char *out, size_t len, struct cove_err *err)
{
	/* The caller's, else the driver's own setting, else on PATH. */
	const char *name = override ?: env_get(ENV_QEMU) ?: QEMU_BINARY;
	int r = fs_find_executable(name, QEMU_SEARCH_DIRS, out, len);
	if (r == 0)
		return 0;
	if (strchr(name, '/'))
		return cove_errno(err, r, "qemu: %s", name);
	return cove_errf(err, -ENOENT, "qemu: %s not found on PATH or in %s; install it with 'apt-get install qemu-system-x86'",
			 name, QEMU_SEARCH_DIRS);
}
