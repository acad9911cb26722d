/* Unit tests for the QEMU driver's command line (src/vmm/qemu/args.c):
 * qemu_build_args and qemu_find_binary. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/qemu/qemu.h"
#include "vmm/vmm.h"

static const struct qemu_paths test_paths = {
	.binary = "/usr/bin/qemu-system-x86_64",
	.kernel = "/run/cove/sb-1/root/kernel",
	.rootfs = "/run/cove/sb-1/root/rootfs",
	.tsc_khz = 2400000,
	.tap_fd = 3,
	.qmp_fd = 4,
	.console_fd = 5,
};

static void make_config(struct vmm_config *c)
{
	vmm_config_init(c);
	c->id = "sb-1";
	c->kernel = "/images/vmlinux";
	c->rootfs = "/images/rootfs.ext4";
	c->vcpus = 2;
	c->mem_mib = 768;
}

static void build(const struct vmm_config *c, enum vmm_accel accel, const struct qemu_paths *p,
		  struct qemu_args *a)
{
	struct cove_err err = { 0 };
	int r = qemu_build_args(c, accel, p, a, &err);
	if (r != 0)
		fail_msg("qemu_build_args: %d %s", r, err.msg);
	assert_true(a->argc > 0 && a->argc <= QEMU_MAX_ARGS);
	assert_null(a->argv[a->argc]);
}

/* The value after the first `flag` whose value contains `needle` (NULL: any). */
static const char *option(const struct qemu_args *a, const char *flag, const char *needle)
{
	for (int i = 0; i + 1 < a->argc; i++)
		if (strcmp(a->argv[i], flag) == 0 && (!needle || strstr(a->argv[i + 1], needle)))
			return a->argv[i + 1];
	return NULL;
}

static int count(const struct qemu_args *a, const char *flag)
{
	int n = 0;
	for (int i = 0; i < a->argc; i++)
		n += strcmp(a->argv[i], flag) == 0;
	return n;
}

static void assert_prefix(const char *s, const char *prefix)
{
	assert_non_null(s);
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

/* A sandbox saved whole comes back into fresh memory, with -incoming. */
static void test_qemu_args_restore_saved(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	c.restore_state = "/state/saved/sb-1/state";
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	assert_string_equal(option(&a, "-incoming", NULL), "defer");
	assert_string_equal(option(&a, "-object", "memory-backend"), "memory-backend-ram,id=mem,size=768M");
	qemu_args_clear(&a);
}

static void test_qemu_args_tcg_machine(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	assert_string_equal(a.argv[0], test_paths.binary);
	assert_prefix(option(&a, "-machine", NULL), "microvm,accel=tcg");
	assert_string_equal(option(&a, "-cpu", NULL), "max");
	assert_string_equal(option(&a, "-smp", NULL), "2");
	assert_string_equal(option(&a, "-m", NULL), "768M");
	/* RAM is always the backend "mem": a saved guest's RAM is restored by
	 * that name. */
	assert_string_equal(option(&a, "-object", "memory-backend"), "memory-backend-ram,id=mem,size=768M");
	assert_non_null(strstr(option(&a, "-machine", NULL), ",memory-backend=mem"));
	assert_null(option(&a, "-incoming", NULL));
	assert_string_equal(option(&a, "-kernel", NULL), test_paths.kernel);
	assert_string_equal(option(&a, "-name", NULL), "cove-sb-1");
	assert_int_equal(count(&a, "-machine"), 1);
	qemu_args_clear(&a);
	assert_int_equal(a.argc, 0);
	assert_null(a.argv[0]);
}

static void test_qemu_args_tcg_passes_tsc_khz(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	const char *append = option(&a, "-append", NULL);
	assert_non_null(append);
	assert_non_null(strstr(append, " tsc=reliable tsc_early_khz=2400000"));
	assert_non_null(strstr(append, "console=ttyS0"));
	assert_non_null(strstr(append, "init=/sbin/cove-init"));
	qemu_args_clear(&a);

	/* Extra arguments come last, so what follows their "--" is init's. */
	c.extra_cmdline = "loglevel=7 -- sh -c x";
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	append = option(&a, "-append", NULL);
	assert_non_null(strstr(append, " tsc=reliable tsc_early_khz=2400000 loglevel=7 -- sh -c x"));
	qemu_args_clear(&a);
	c.extra_cmdline = NULL;

	/* An unknown frequency adds nothing. */
	struct qemu_paths p = test_paths;
	p.tsc_khz = 0;
	build(&c, VMM_ACCEL_TCG, &p, &a);
	assert_null(strstr(option(&a, "-append", NULL), "tsc_early_khz"));
	qemu_args_clear(&a);
}

static void test_qemu_args_kvm_uses_host_cpu(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_KVM, &test_paths, &a);
	assert_prefix(option(&a, "-machine", NULL), "microvm,accel=kvm");
	assert_string_equal(option(&a, "-cpu", NULL), "host");
	const char *append = option(&a, "-append", NULL);
	assert_non_null(append);
	assert_null(strstr(append, "tsc_early_khz"));
	assert_null(strstr(append, "tsc=reliable")); /* kvm-clock there */
	qemu_args_clear(&a);
}

static void test_qemu_args_netdev_only_with_tap(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	assert_int_equal(count(&a, "-netdev"), 0);
	assert_null(option(&a, "-device", "virtio-net-device"));
	assert_null(strstr(option(&a, "-append", NULL), " ip="));
	qemu_args_clear(&a);

	c.netns_fd = 5;
	c.tap_fd = 6;
	c.net.address = "169.254.0.21";
	c.net.gateway = "169.254.0.22";
	c.net.netmask = "255.255.255.252";
	c.net.mac = "06:00:ac:10:00:02";
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	assert_int_equal(count(&a, "-netdev"), 1);
	/* The TAP always arrives as fd 3, whatever its number here. */
	assert_string_equal(option(&a, "-netdev", NULL), "tap,id=net0,fd=3");
	assert_string_equal(option(&a, "-device", "virtio-net-device"),
			    "virtio-net-device,netdev=net0,mac=06:00:ac:10:00:02");
	assert_non_null(strstr(option(&a, "-append", NULL), " ip=169.254.0.21::169.254.0.22:"));
	qemu_args_clear(&a);
}

static void test_qemu_args_drive_snapshot_unless_persist(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	assert_string_equal(option(&a, "-drive", NULL),
			    "id=rootfs,file=/run/cove/sb-1/root/rootfs,format=raw,if=none,cache=writeback,snapshot=on");
	assert_non_null(option(&a, "-device", "virtio-blk-device,drive=rootfs"));
	qemu_args_clear(&a);

	c.rootfs_persist = true;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	const char *drive = option(&a, "-drive", NULL);
	assert_non_null(drive);
	assert_null(strstr(drive, "snapshot"));
	assert_prefix(drive, "id=rootfs,file=/run/cove/sb-1/root/rootfs,");
	qemu_args_clear(&a);
}

static void test_qemu_args_escapes_commas(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_paths p = test_paths;
	p.rootfs = "/tmp/a,b/rootfs";
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &p, &a);
	assert_prefix(option(&a, "-drive", NULL), "id=rootfs,file=/tmp/a,,b/rootfs,format=raw,");
	qemu_args_clear(&a);
}

static void test_qemu_args_qmp_and_console(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	/* Both are descriptors it is handed: it opens no host path. */
	assert_string_equal(option(&a, "-chardev", "id=qmp"), "socket,id=qmp,fd=4,server=on,wait=off");
	assert_string_equal(option(&a, "-mon", NULL), "chardev=qmp,mode=control");
	assert_string_equal(option(&a, "-chardev", "id=console"), "socket,id=console,fd=5,server=on,wait=off");
	assert_string_equal(option(&a, "-serial", NULL), "chardev:console");
	assert_int_equal(count(&a, "-nodefaults"), 1);
	assert_int_equal(count(&a, "-no-reboot"), 1);
	qemu_args_clear(&a);
}

static void test_qemu_args_rejects_auto_accel(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a = { 0 };
	struct cove_err err = { 0 };
	assert_int_equal(qemu_build_args(&c, VMM_ACCEL_AUTO, &test_paths, &a, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_non_null(strstr(err.msg, "accelerator"));
	assert_int_equal(a.argc, 0);
	assert_null(a.argv[0]);
}

static void test_qemu_args_rejects_long_cmdline(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	char extra[2100];
	memset(extra, 'x', sizeof(extra) - 1);
	extra[sizeof(extra) - 1] = '\0';
	c.extra_cmdline = extra;
	struct qemu_args a = { 0 };
	struct cove_err err = { 0 };
	assert_int_equal(qemu_build_args(&c, VMM_ACCEL_TCG, &test_paths, &a, &err), -ENAMETOOLONG);
	assert_int_equal(err.code, -ENAMETOOLONG);
}

/* Without shares: private anonymous RAM, legacy virtio-mmio, no
 * vhost-user device (what snapshots were made with stays as it was). */
static void test_qemu_args_no_shares_unchanged(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &test_paths, &a);
	assert_string_equal(option(&a, "-object", "memory-backend"), "memory-backend-ram,id=mem,size=768M");
	assert_int_equal(count(&a, "-global"), 0);
	assert_null(option(&a, "-device", "vhost-user-fs"));
	assert_null(option(&a, "-chardev", "vfs"));
	assert_int_equal(count(&a, "-chardev"), 2);
	qemu_args_clear(&a);
}

/* With shares: shared memfd RAM, modern virtio-mmio, and per share a
 * chardev on its descriptor and a vhost-user-fs device with its tag. */
static void test_qemu_args_shares(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	c.shares[0] = (struct vmm_share){ "/srv/data", "cove-share-0", false };
	c.shares[1] = (struct vmm_share){ "/srv/ro", "cove-share-1", true };
	c.nshares = 2;
	struct qemu_paths p = test_paths;
	p.share_fds[0] = 6;
	p.share_fds[1] = 7;
	struct qemu_args a;
	build(&c, VMM_ACCEL_KVM, &p, &a);
	assert_string_equal(option(&a, "-object", "memory-backend"), "memory-backend-memfd,id=mem,size=768M,share=on");
	assert_string_equal(option(&a, "-global", NULL), "virtio-mmio.force-legacy=false");
	assert_int_equal(count(&a, "-global"), 1);
	assert_string_equal(option(&a, "-chardev", "id=vfs0"), "socket,id=vfs0,fd=6");
	assert_string_equal(option(&a, "-chardev", "id=vfs1"), "socket,id=vfs1,fd=7");
	assert_string_equal(option(&a, "-device", "chardev=vfs0"), "vhost-user-fs-device,chardev=vfs0,tag=cove-share-0");
	assert_string_equal(option(&a, "-device", "chardev=vfs1"), "vhost-user-fs-device,chardev=vfs1,tag=cove-share-1");
	assert_string_equal(option(&a, "-machine", NULL), "microvm,accel=kvm,acpi=on,memory-backend=mem");
	qemu_args_clear(&a);
}

/* Eight shares (the most) fit in the argument list. */
static void test_qemu_args_eight_shares_fit(void **state)
{
	(void)state;
	struct vmm_config c;
	make_config(&c);
	static const char *const tags[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
	struct qemu_paths p = test_paths;
	for (int i = 0; i < VMM_MAX_SHARES; i++) {
		c.shares[i] = (struct vmm_share){ "/srv", tags[i], false };
		p.share_fds[i] = 6 + i;
	}
	c.nshares = VMM_MAX_SHARES;
	c.restore_state = NULL;
	struct qemu_args a;
	build(&c, VMM_ACCEL_TCG, &p, &a);
	assert_int_equal(count(&a, "-chardev"), 2 + VMM_MAX_SHARES);
	assert_string_equal(option(&a, "-device", "chardev=vfs7"), "vhost-user-fs-device,chardev=vfs7,tag=h");
	qemu_args_clear(&a);
}

static void test_qemu_find_binary_override_missing(void **state)
{
	(void)state;
	char out[256];
	struct cove_err err = { 0 };
	int r = qemu_find_binary("/nonexistent/qemu", out, sizeof(out), &err);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/qemu"));
}

static void test_qemu_find_binary_default_locations(void **state)
{
	(void)state;
	char dir[] = "/tmp/cove-test-path-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	assert_int_equal(setenv("PATH", dir, 1), 0);

	char out[256];
	struct cove_err err = { 0 };
	int r = qemu_find_binary(NULL, out, sizeof(out), &err);
	if (access("/usr/bin/qemu-system-x86_64", X_OK) == 0) {
		assert_int_equal(r, 0);
		assert_string_equal(out, "/usr/bin/qemu-system-x86_64");
	} else {
		assert_int_equal(r, -ENOENT);
		assert_non_null(strstr(err.msg, "apt-get install qemu-system-x86"));
	}

	if (old)
		setenv("PATH", old, 1);
	else
		unsetenv("PATH");
	free(old);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_args_tcg_machine),
		cmocka_unit_test(test_qemu_args_restore_saved),
		cmocka_unit_test(test_qemu_args_tcg_passes_tsc_khz),
		cmocka_unit_test(test_qemu_args_kvm_uses_host_cpu),
		cmocka_unit_test(test_qemu_args_netdev_only_with_tap),
		cmocka_unit_test(test_qemu_args_drive_snapshot_unless_persist),
		cmocka_unit_test(test_qemu_args_escapes_commas),
		cmocka_unit_test(test_qemu_args_qmp_and_console),
		cmocka_unit_test(test_qemu_args_rejects_auto_accel),
		cmocka_unit_test(test_qemu_args_rejects_long_cmdline),
		cmocka_unit_test(test_qemu_args_no_shares_unchanged),
		cmocka_unit_test(test_qemu_args_shares),
		cmocka_unit_test(test_qemu_args_eight_shares_fit),
		cmocka_unit_test(test_qemu_find_binary_override_missing),
		cmocka_unit_test(test_qemu_find_binary_default_locations),
	};
	return cmocka_run_group_tests_name("qemu_args", tests, NULL, NULL);
}
