/* Cloud Hypervisor's VmConfig as what QEMU is started from
 * (vmmdouble.h). The request was checked against CH's document before;
 * what is refused here is what the double does not serve, with CH's own
 * meaning of each field kept (its defaults: one vCPU, 512 MiB, a
 * virtio-rng always, serial Null, console Tty). */
#include "vmmdouble.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"

/* vmm/src/vm_config.rs: DEFAULT_MEMORY_MB */
#define CH_DEFAULT_MEMORY (512ULL << 20)

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* qcow2 by its magic ("QFI\xfb"); its backing file offset is the
 * big-endian u64 at byte 8 (qcow2 specification, the header). */
static int disk_format(const char *path, bool *qcow2, bool *backing, struct cove_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "Error opening disk file %s", path);
	unsigned char h[16] = { 0 };
	ssize_t n = pread(fd, h, sizeof(h), 0);
	*qcow2 = n == (ssize_t)sizeof(h) && memcmp(h, "QFI\xfb", 4) == 0;
	uint64_t off = 0;
	for (int i = 8; i < 16; i++)
		off = off << 8 | h[i];
	*backing = *qcow2 && off != 0;
	return 0;
}

static int add_disks(json_t *disks, struct guest_config *c, struct cove_err *err)
{
	size_t i;
	json_t *d;
	json_array_foreach(disks, i, d) {
		const char *path = str(d, "path");
		if (json_is_true(json_object_get(d, "vhost_user")) || !path)
			return cove_errf(err, -EOPNOTSUPP, "disk %zu: the test double serves disks with a path only", i);
		if (c->ndisks == GUEST_MAX_DISKS)
			return cove_errf(err, -E2BIG, "the test double serves at most %d disks", GUEST_MAX_DISKS);
		bool qcow2 = false, backing = false;
		int r = disk_format(path, &qcow2, &backing, err);
		if (r < 0)
			return r;
		/* CH opens a qcow2 image's backing file only when told to. */
		if (backing && !json_is_true(json_object_get(d, "backing_files")))
			return cove_errf(err, -EPERM, "Error opening disk file %s: backing file not allowed (backing_files=off)",
					 path);
		c->disks[c->ndisks++] = (struct guest_disk){ .path = strdup(path),
							     .read_only = json_is_true(json_object_get(d, "readonly")),
							     .root = i == 0,
							     .qcow2 = qcow2 };
	}
	return 0;
}

static int add_net(json_t *net, struct guest_config *c, struct cove_err *err)
{
	if (json_array_size(net) == 0)
		return 0;
	json_t *n = json_array_get(net, 0);
	if (json_array_size(net) > 1 || json_is_true(json_object_get(n, "vhost_user")) || !str(n, "tap"))
		return cove_errf(err, -EOPNOTSUPP, "the test double serves one net device on a TAP named by tap");
	c->tap = strdup(str(n, "tap"));
	c->mac = dup_str(str(n, "mac"));
	return 0;
}

/* memory.size, or (size 0) its zones; a file in a shared zone is the RAM
 * itself, as in CH, so that what the guest writes reaches it. */
static int add_memory(json_t *m, struct guest_config *c, struct cove_err *err)
{
	uint64_t size = m ? (uint64_t)json_integer_value(json_object_get(m, "size")) : CH_DEFAULT_MEMORY;
	bool shared = json_is_true(json_object_get(m, "shared"));
	size_t i;
	json_t *z;
	json_array_foreach(json_object_get(m, "zones"), i, z) {
		size += (uint64_t)json_integer_value(json_object_get(z, "size"));
		const char *file = str(z, "file");
		if (!file)
			continue;
		if (c->mem_file || json_array_size(json_object_get(m, "zones")) > 1)
			return cove_errf(err, -EOPNOTSUPP, "the test double serves one memory zone with a file");
		/* A private file only gives the RAM its first content: the
		 * double's RAM is a scratch file then, its content unused. */
		if (shared || json_is_true(json_object_get(z, "shared")))
			c->mem_file = strdup(file);
	}
	if (size == 0 || size % (1ULL << 20) != 0 || size >> 20 > UINT32_MAX)
		return cove_errf(err, -EINVAL, "memory of %llu bytes: not a positive whole number of MiB",
				 (unsigned long long)size);
	c->mem_mib = (unsigned)(size >> 20);
	return 0;
}

static int add_consoles(json_t *v, struct guest_config *c, struct cove_err *err)
{
	const char *serial = str(json_object_get(v, "serial"), "mode");
	const char *console = str(json_object_get(v, "console"), "mode");
	serial = serial ? serial : "Null";
	if (strcmp(serial, "Tty") != 0 && strcmp(serial, "Off") != 0 && strcmp(serial, "Null") != 0)
		return cove_errf(err, -EOPNOTSUPP, "the test double serves serial mode Tty, Off or Null, not %s", serial);
	c->serial_off = strcmp(serial, "Tty") != 0;
	/* No virtio-console: a guest told of none (console Off) is the same. */
	if (console && strcmp(console, "Off") != 0 && strcmp(console, "Null") != 0 && strcmp(console, "Tty") != 0)
		return cove_errf(err, -EOPNOTSUPP, "the test double serves console mode Off, Null or Tty, not %s", console);
	return 0;
}

static int add_shares(json_t *fs, struct guest_config *c, struct cove_err *err)
{
	size_t i;
	json_t *f;
	json_array_foreach(fs, i, f) {
		if (c->nshares == GUEST_MAX_SHARES)
			return cove_errf(err, -E2BIG, "the test double serves at most %d fs devices", GUEST_MAX_SHARES);
		c->shares[c->nshares++] = (struct guest_share){ .tag = dup_str(str(f, "tag")),
								.socket = dup_str(str(f, "socket")) };
	}
	return 0;
}

/* CH always has a virtio-rng, reading rng.src (default /dev/urandom),
 * which it opens as it makes its devices (vm.boot, vm.restore): a VMM
 * that cannot open it does not boot. QEMU's rng-builtin stands in. */
static int add_rng(json_t *rng, struct cove_err *err)
{
	const char *src = str(rng, "src");
	src = src ? src : "/dev/urandom";
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "Error creating virtio-rng device: cannot open %s", src);
	return 0;
}

/* Devices the double has no QEMU counterpart for. */
static int refuse_unserved(json_t *v, struct cove_err *err)
{
	static const char *const unserved[] = { "pmem", "devices", "user_devices", "vdpa", "vsock", "balloon",
						"numa", "generic_vhost_user", "tpm", "debug_console" };
	for (size_t i = 0; i < sizeof(unserved) / sizeof(unserved[0]); i++) {
		json_t *d = json_object_get(v, unserved[i]);
		if (d && !json_is_null(d) && !(json_is_array(d) && json_array_size(d) == 0))
			return cove_errf(err, -EOPNOTSUPP, "the test double does not serve %s", unserved[i]);
	}
	return 0;
}

int vmmdouble_ch_config(json_t *v, struct guest_config *c, struct cove_err *err)
{
	*c = (struct guest_config){ .vcpus = 1, .entropy = true };
	json_t *payload = json_object_get(v, "payload");
	if (!str(payload, "kernel"))
		return cove_errf(err, -EOPNOTSUPP, "the test double boots a kernel (payload.kernel), not firmware");
	json_t *boot = json_object_get(json_object_get(v, "cpus"), "boot_vcpus");
	if (boot)
		c->vcpus = (unsigned)json_integer_value(boot);
	c->kernel = strdup(str(payload, "kernel"));
	c->cmdline = dup_str(str(payload, "cmdline"));
	c->initrd = dup_str(str(payload, "initramfs"));
	int r = refuse_unserved(v, err);
	r = r ?: add_memory(json_object_get(v, "memory"), c, err);
	r = r ?: add_disks(json_object_get(v, "disks"), c, err);
	r = r ?: add_net(json_object_get(v, "net"), c, err);
	r = r ?: add_consoles(v, c, err);
	r = r ?: add_shares(json_object_get(v, "fs"), c, err);
	r = r ?: add_rng(json_object_get(v, "rng"), err);
	if (r < 0)
		guest_config_clear(c);
	return r;
}
