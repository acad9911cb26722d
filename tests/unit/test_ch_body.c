/* Unit tests for the Cloud Hypervisor driver's request bodies, version
 * parse and snapshot file mapping (src/vmm/ch/body.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/ch/ch.h"
#include "vmm/driver.h"
#include "vmm/vmm.h"

static void make_config(struct vmm_config *c)
{
	vmm_config_init(c);
	c->id = "sb-1";
	c->kernel = "/images/vmlinux";
	c->rootfs = "/images/rootfs.ext4";
	c->vcpus = 2;
	c->mem_mib = 768;
	c->net.mac = "06:00:ac:10:00:02";
}

static const struct ch_paths base_paths = {
	.kernel = "/kernel",
	.cmdline = "console=ttyS0 root=/dev/vda",
	.disk = "/disk.qcow2",
	.disk_qcow2 = true,
	.tap = "tap-sb1",
};

static json_t *build(const struct vmm_config *c, const struct ch_paths *p)
{
	json_t *v = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(ch_vm_config(c, p, &v, &err), 0);
	assert_non_null(v);
	return v;
}

static const char *str(json_t *v, const char *path)
{
	json_t *cur = v;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(k)) : json_object_get(cur, k);
	return json_string_value(cur);
}

static json_int_t num(json_t *v, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(v, a), b));
}

static void test_vm_config_plain(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	json_t *v = build(&c, &base_paths);
	assert_int_equal(num(v, "cpus", "boot_vcpus"), 2);
	assert_int_equal(num(v, "cpus", "max_vcpus"), 2);
	assert_int_equal(num(v, "memory", "size"), (json_int_t)768 << 20);
	assert_null(json_object_get(json_object_get(v, "memory"), "zones"));
	assert_string_equal(str(v, "payload.kernel"), "/kernel");
	assert_string_equal(str(v, "payload.cmdline"), "console=ttyS0 root=/dev/vda");
	json_t *disk = json_array_get(json_object_get(v, "disks"), 0);
	assert_string_equal(json_string_value(json_object_get(disk, "path")), "/disk.qcow2");
	assert_true(json_is_false(json_object_get(disk, "readonly")));
	assert_true(json_is_true(json_object_get(disk, "backing_files")));
	assert_string_equal(str(v, "net.0.tap"), "tap-sb1");
	assert_string_equal(str(v, "net.0.mac"), "06:00:ac:10:00:02");
	/* CH would configure the TAP with these: it has no capabilities. */
	assert_null(json_object_get(json_array_get(json_object_get(v, "net"), 0), "ip"));
	assert_null(json_object_get(json_array_get(json_object_get(v, "net"), 0), "mask"));
	assert_string_equal(str(v, "serial.mode"), "Tty");
	assert_string_equal(str(v, "console.mode"), "Off");
	json_decref(v);
}

static void test_vm_config_raw_no_net(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	c.vcpus = 0; /* the default */
	struct ch_paths p = base_paths;
	p.disk = "/rootfs";
	p.disk_qcow2 = false;
	p.tap = NULL;
	json_t *v = build(&c, &p);
	assert_int_equal(num(v, "cpus", "boot_vcpus"), VMM_DEFAULT_VCPUS);
	json_t *disk = json_array_get(json_object_get(v, "disks"), 0);
	assert_null(json_object_get(disk, "backing_files"));
	assert_int_equal(json_array_size(json_object_get(v, "net")), 0);
	json_decref(v);
}

static void test_vm_config_memory_file(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct ch_paths p = base_paths;
	p.memory = "/memory";
	p.memory_shared = true;
	json_t *v = build(&c, &p);
	json_t *m = json_object_get(v, "memory");
	assert_int_equal(json_integer_value(json_object_get(m, "size")), 0);
	assert_true(json_is_true(json_object_get(m, "shared")));
	json_t *z = json_array_get(json_object_get(m, "zones"), 0);
	assert_string_equal(json_string_value(json_object_get(z, "id")), CH_MEMORY_ZONE);
	assert_int_equal(json_integer_value(json_object_get(z, "size")), (json_int_t)768 << 20);
	assert_string_equal(json_string_value(json_object_get(z, "file")), "/memory");
	assert_true(json_is_true(json_object_get(z, "shared")));
	json_decref(v);
}

/* Shares: an FsConfig each (all of its required fields), and shared
 * anonymous memory for virtiofsd to map; none without shares. */
static void test_vm_config_shares(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	json_t *v = build(&c, &base_paths);
	assert_null(json_object_get(v, "fs"));
	assert_null(json_object_get(json_object_get(v, "memory"), "shared"));
	json_decref(v);
	c.shares[0] = (struct vmm_share){ "/srv/a", "share0", false };
	c.shares[1] = (struct vmm_share){ "/srv/b", "share1", true };
	c.nshares = 2;
	struct ch_paths p = base_paths;
	p.fs_socket[0] = "/vfs-0.sock";
	p.fs_socket[1] = "/vfs-1.sock";
	v = build(&c, &p);
	assert_int_equal(json_array_size(json_object_get(v, "fs")), 2);
	assert_string_equal(str(v, "fs.0.tag"), "share0");
	assert_string_equal(str(v, "fs.1.socket"), "/vfs-1.sock");
	json_t *fs1 = json_array_get(json_object_get(v, "fs"), 1);
	assert_int_equal(json_integer_value(json_object_get(fs1, "num_queues")), 1);
	assert_int_equal(json_integer_value(json_object_get(fs1, "queue_size")), 1024);
	json_t *m = json_object_get(v, "memory");
	assert_int_equal(json_integer_value(json_object_get(m, "size")), (json_int_t)768 << 20);
	assert_true(json_is_true(json_object_get(m, "shared")));
	json_decref(v);
	/* A share without its socket is no VmConfig. */
	p.fs_socket[1] = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(ch_vm_config(&c, &p, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "share 1 (share1) has no socket"));
}

static void test_restore_config(void **state)
{
	(void)state;
	json_t *saved = json_pack("{s:{s:i, s:i}, s:{s:s}, s:[{s:s, s:s}], s:[{s:s, s:s}], s:{s:i}, s:b}", "cpus",
				  "boot_vcpus", 2, "max_vcpus", 2, "payload", "kernel", "/run/cove/tpl/root/kernel",
				  "disks", "path", "/old/disk.qcow2", "id", "_disk0", "net", "tap", "tap-old", "id",
				  "_net1", "memory", "size", 0, "watchdog", 0);
	struct vmm_config c;
	make_config(&c);
	json_t *fresh = build(&c, &base_paths);
	json_t *v = ch_restore_config(saved, fresh);
	assert_non_null(v);
	assert_string_equal(str(v, "payload.kernel"), "/kernel");
	assert_string_equal(str(v, "disks.0.path"), "/disk.qcow2");
	assert_string_equal(str(v, "disks.0.id"), "_disk0");
	assert_string_equal(str(v, "net.0.tap"), "tap-sb1");
	assert_string_equal(str(v, "net.0.id"), "_net1");
	assert_int_equal(num(v, "memory", "size"), (json_int_t)768 << 20);
	assert_non_null(json_object_get(v, "watchdog"));
	/* The saved document is left as it was. */
	assert_string_equal(str(saved, "net.0.tap"), "tap-old");
	assert_null(json_object_get(json_array_get(json_object_get(fresh, "disks"), 0), "id"));
	json_decref(v);
	json_decref(fresh);
	json_decref(saved);
}

static void test_restore_and_snapshot_bodies(void **state)
{
	(void)state;
	json_t *b = ch_restore_body("/", true);
	assert_string_equal(str(b, "source_url"), "file:///");
	assert_string_equal(str(b, "memory_restore_mode"), "OnDemand");
	assert_true(json_is_false(json_object_get(b, "prefault")));
	json_decref(b);
	b = ch_restore_body("/run/cove/sb-2/root/", false);
	assert_string_equal(str(b, "source_url"), "file:///run/cove/sb-2/root/");
	assert_null(json_object_get(b, "memory_restore_mode"));
	json_decref(b);
	b = ch_snapshot_body("/snapshot");
	assert_string_equal(str(b, "destination_url"), "file:///snapshot");
	assert_int_equal(json_object_size(b), 1);
	json_decref(b);
}

static void test_version_parse(void **state)
{
	(void)state;
	char v[16];
	assert_int_equal(ch_version_parse("cloud-hypervisor v42.0\n", v, sizeof(v)), 0);
	assert_string_equal(v, "42.0");
	assert_int_equal(ch_version_parse("cloud-hypervisor v42.0.0-dirty\n", v, sizeof(v)), 0);
	assert_string_equal(v, "42.0.0");
	assert_int_equal(ch_version_parse("cloud-hypervisor v39.0-12-gabcdef0\n", v, sizeof(v)), 0);
	assert_string_equal(v, "39.0");
	assert_int_equal(ch_version_parse("cloud-hypervisor 41.0\n", v, sizeof(v)), 0);
	assert_string_equal(v, "41.0");
	assert_int_equal(ch_version_parse("cloud-hypervisor vX\n", v, sizeof(v)), -EPROTO);
	assert_int_equal(ch_version_parse("QEMU emulator version 7.2.19\n", v, sizeof(v)), -EPROTO);
	assert_int_equal(ch_version_parse("cloud-hypervisor v1234567890123456789.0", v, sizeof(v)), -EPROTO);
}

static void test_ranges_fate(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct vmm_snapshot_files f = { .state = "/s/state" };
	/* No memory file: RAM stays in the state. */
	assert_int_equal(ch_ranges_fate(&c, &f, 100, 0), CH_RANGES_KEEP);
	/* A template snapshot: the shared file is the RAM. */
	c.mem_file = "/t/memory";
	c.mem_shared = true;
	assert_int_equal(ch_ranges_fate(&c, &f, 4096, 4096), CH_RANGES_DROP);
	/* ... only when it is surely the same bytes. */
	assert_int_equal(ch_ranges_fate(&c, &f, 8192, 4096), CH_RANGES_KEEP);
	/* A private mapping of a base: CH saves all of it. */
	c.mem_shared = false;
	f.base_memory = "/s/memory";
	assert_int_equal(ch_ranges_fate(&c, &f, 4096, 4096), CH_RANGES_KEEP);
	/* A RAM file of its own (fork children). */
	f.base_memory = NULL;
	f.ram = "/s/memory";
	assert_int_equal(ch_ranges_fate(&c, &f, 4096, 4096), CH_RANGES_TO_RAM);
}

static void test_restore_ranges(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	assert_null(ch_restore_ranges(&c, "/s/state/memory-ranges", false));
	assert_string_equal(ch_restore_ranges(&c, "/s/state/memory-ranges", true), "/s/state/memory-ranges");
	c.mem_file = "/t/memory";
	assert_string_equal(ch_restore_ranges(&c, "/s/state/memory-ranges", false), "/t/memory");
	assert_string_equal(ch_restore_ranges(&c, "/s/state/memory-ranges", true), "/s/state/memory-ranges");
}

static void test_driver_registered(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_driver_check("cloud-hypervisor", &err), 0);
	assert_string_equal(vmm_disk_name("cloud-hypervisor", VMM_DISK_OWN), "disk.qcow2");
	assert_int_equal(vmm_driver_check("firecracker", &err), 0);
	assert_int_equal(vmm_driver_check("bhyve", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "qemu, firecracker, cloud-hypervisor"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_config_plain),
		cmocka_unit_test(test_vm_config_raw_no_net),
		cmocka_unit_test(test_vm_config_memory_file),
		cmocka_unit_test(test_vm_config_shares),
		cmocka_unit_test(test_restore_config),
		cmocka_unit_test(test_restore_and_snapshot_bodies),
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_ranges_fate),
		cmocka_unit_test(test_restore_ranges),
		cmocka_unit_test(test_driver_registered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
