/* Unit tests for src/vmm/config.c: defaults, validation and the guest kernel
 * command line, plus the accelerator names from accel.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/vmm.h"

/* A temporary directory holding empty "vmlinux" and "rootfs.ext4" files. */
struct files {
	char dir[64];
	char kernel[128];
	char rootfs[128];
};

static void files_make(struct files *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/cove-test-config-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->kernel, sizeof(f->kernel), "%s/vmlinux", f->dir);
	snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs.ext4", f->dir);
	const char *paths[] = { f->kernel, f->rootfs };
	for (size_t i = 0; i < 2; i++) {
		int fd = open(paths[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

static void files_remove(struct files *f)
{
	unlink(f->kernel);
	unlink(f->rootfs);
	assert_int_equal(rmdir(f->dir), 0);
}

/* One set of files for the whole group, handed to each test as *state. */
static int files_setup(void **state)
{
	static struct files f;
	files_make(&f);
	*state = &f;
	return 0;
}

static int files_teardown(void **state)
{
	files_remove(*state);
	return 0;
}

/* A config that passes validation, built on f's files. */
static void valid_config(struct vmm_config *c, const struct files *f)
{
	vmm_config_init(c);
	c->id = "sb-1";
	c->kernel = f->kernel;
	c->rootfs = f->rootfs;
}

static void with_network(struct vmm_config *c)
{
	c->netns_fd = 10;
	c->tap_fd = 11;
	c->net.address = "169.254.0.21";
	c->net.gateway = "169.254.0.22";
	c->net.netmask = "255.255.255.252";
	c->net.mac = "06:00:ac:10:00:02";
}

/* Validates c, expecting failure with code and a message containing needle. */
static void expect_invalid(const struct vmm_config *c, int code, const char *needle)
{
	struct cove_err err = { 0 };
	assert_int_equal(vmm_config_validate(c, &err), code);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_config_init_sets_defaults(void **state)
{
	(void)state;
	struct vmm_config c;
	memset(&c, 0xab, sizeof(c));
	vmm_config_init(&c);
	assert_int_equal(c.vcpus, 1);
	assert_int_equal(c.mem_mib, 512);
	assert_int_equal(c.accel, VMM_ACCEL_AUTO);
	assert_string_equal(c.init, "/sbin/cove-init");
	assert_string_equal(c.driver, "qemu");
	assert_string_equal(c.hostname, "cove");
	assert_int_equal(c.netns_fd, -1);
	assert_int_equal(c.tap_fd, -1);
	assert_null(c.id);
	assert_null(c.kernel);
	assert_null(c.rootfs);
	assert_null(c.extra_cmdline);
	assert_false(c.rootfs_persist);
}

static void test_config_accepts_valid(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	struct cove_err err = { 0 };
	assert_int_equal(vmm_config_validate(&c, &err), 0);
	assert_int_equal(err.code, 0);
	with_network(&c);
	assert_int_equal(vmm_config_validate(&c, &err), 0);
}

static void test_config_rejects_missing_id(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	c.id = NULL;
	expect_invalid(&c, -EINVAL, "id");
	c.id = "";
	expect_invalid(&c, -EINVAL, "id ''");
}

static void test_config_rejects_bad_id(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	c.id = "Sb_1";
	expect_invalid(&c, -EINVAL, "id 'Sb_1'");
	/* VMM_ID_MAX - 1 characters is the longest accepted. */
	char id[VMM_ID_MAX + 1];
	memset(id, 'a', VMM_ID_MAX);
	id[VMM_ID_MAX] = '\0';
	c.id = id;
	expect_invalid(&c, -EINVAL, "id");
	id[VMM_ID_MAX - 1] = '\0';
	assert_int_equal(vmm_config_validate(&c, NULL), 0);
}

static void test_config_rejects_vcpus_out_of_range(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	c.vcpus = 0;
	expect_invalid(&c, -EINVAL, "vcpus 0");
	c.vcpus = 65;
	expect_invalid(&c, -EINVAL, "vcpus 65");
	c.vcpus = 64;
	assert_int_equal(vmm_config_validate(&c, NULL), 0);
}

static void test_config_rejects_small_memory(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	c.mem_mib = 32;
	expect_invalid(&c, -EINVAL, "mem_mib 32");
	c.mem_mib = 64;
	assert_int_equal(vmm_config_validate(&c, NULL), 0);
}

static void test_config_rejects_bad_init(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	c.init = "sbin/init";
	expect_invalid(&c, -EINVAL, "init 'sbin/init'");
	c.init = "/sbin/my init";
	expect_invalid(&c, -EINVAL, "init '/sbin/my init'");
}

static void test_config_rejects_missing_kernel(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no-such-vmlinux", ((struct files *)*state)->dir);
	c.kernel = missing;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_config_validate(&c, &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_non_null(strstr(err.msg, "kernel"));
	assert_non_null(strstr(err.msg, missing));
	c.kernel = NULL;
	expect_invalid(&c, -EINVAL, "kernel is required");
}

static void test_config_rejects_missing_rootfs(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no-such-rootfs", ((struct files *)*state)->dir);
	c.rootfs = missing;
	expect_invalid(&c, -ENOENT, "rootfs");
	expect_invalid(&c, -ENOENT, missing);
	/* A directory is neither a regular file nor a block device. */
	c.rootfs = ((struct files *)*state)->dir;
	expect_invalid(&c, -EINVAL, "is not a regular file");
}

static void test_config_rejects_netns_without_tap(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	c.netns_fd = 10;
	expect_invalid(&c, -EINVAL, "netns_fd and tap_fd");
	c.netns_fd = -1;
	c.tap_fd = 11;
	expect_invalid(&c, -EINVAL, "netns_fd and tap_fd");
}

static void test_config_rejects_bad_guest_net(void **state)
{
	struct vmm_config c;
	valid_config(&c, *state);
	with_network(&c);
	c.net.mac = "06:00:ac:10:00";
	expect_invalid(&c, -EINVAL, "net.mac '06:00:ac:10:00'");
	c.net.mac = "06:00:ac:10:00:zz";
	expect_invalid(&c, -EINVAL, "net.mac");
	/* sscanf's %2x would take these; a MAC is two hex digits a group. */
	c.net.mac = "-1:-2:-3:-4:-5:-6";
	expect_invalid(&c, -EINVAL, "net.mac");
	c.net.mac = " 1: 2: 3: 4: 5: 6";
	expect_invalid(&c, -EINVAL, "net.mac");
	c.net.mac = NULL;
	expect_invalid(&c, -EINVAL, "net.mac");
	c.net.mac = "06:00:ac:10:00:02";
	c.net.netmask = "255.0.255.0";
	expect_invalid(&c, -EINVAL, "net.netmask '255.0.255.0'");
	c.net.netmask = "0.0.0.0";
	expect_invalid(&c, -EINVAL, "net.netmask");
	with_network(&c);
	c.net.address = "169.254.0.300";
	expect_invalid(&c, -EINVAL, "net.address '169.254.0.300'");
	with_network(&c);
	c.net.gateway = NULL;
	expect_invalid(&c, -EINVAL, "net.gateway");
	/* Without a TAP the guest network fields are not looked at. */
	c.netns_fd = c.tap_fd = -1;
	assert_int_equal(vmm_config_validate(&c, NULL), 0);
}

static void test_config_cmdline_with_network(void **state)
{
	(void)state;
	struct vmm_config c;
	vmm_config_init(&c);
	c.id = "sb-1";
	with_network(&c);
	char buf[1024];
	struct cove_err err = { 0 };
	assert_int_equal(vmm_kernel_cmdline(&c, buf, sizeof(buf), &err), 0);
	assert_non_null(strstr(buf, "console=ttyS0"));
	assert_non_null(strstr(buf, "root=/dev/vda"));
	assert_non_null(strstr(buf, "init=/sbin/cove-init"));
	assert_non_null(strstr(buf, " ip=169.254.0.21::169.254.0.22:255.255.255.252:cove:eth0:off"));
	assert_null(strstr(buf, "cove.hostname="));
}

static void test_config_cmdline_without_network(void **state)
{
	(void)state;
	struct vmm_config c;
	vmm_config_init(&c);
	c.id = "sb-1";
	c.hostname = "box";
	c.init = "/bin/sh";
	c.extra_cmdline = "loglevel=7 cove.debug=1";
	char buf[1024];
	assert_int_equal(vmm_kernel_cmdline(&c, buf, sizeof(buf), NULL), 0);
	assert_non_null(strstr(buf, " cove.hostname=box"));
	assert_non_null(strstr(buf, "init=/bin/sh"));
	assert_null(strstr(buf, " ip="));
	/* The extra words come last. */
	const char *tail = " loglevel=7 cove.debug=1";
	size_t n = strlen(buf);
	assert_true(n > strlen(tail));
	assert_string_equal(buf + n - strlen(tail), tail);
}

static void test_config_cmdline_too_long(void **state)
{
	(void)state;
	struct vmm_config c;
	vmm_config_init(&c);
	c.id = "sb-1";
	char full[1024];
	assert_int_equal(vmm_kernel_cmdline(&c, full, sizeof(full), NULL), 0);
	size_t need = strlen(full) + 1;
	struct cove_err err = { 0 };
	char small[16];
	assert_int_equal(vmm_kernel_cmdline(&c, small, sizeof(small), &err), -ENAMETOOLONG);
	assert_int_equal(err.code, -ENAMETOOLONG);
	/* One byte short of the full line still fails; the exact size fits. */
	char *buf = malloc(need);
	assert_non_null(buf);
	assert_int_equal(vmm_kernel_cmdline(&c, buf, need - 1, NULL), -ENAMETOOLONG);
	assert_int_equal(vmm_kernel_cmdline(&c, buf, need, NULL), 0);
	assert_string_equal(buf, full);
	free(buf);
}

static void test_config_accel_names_round_trip(void **state)
{
	(void)state;
	const enum vmm_accel all[] = { VMM_ACCEL_AUTO, VMM_ACCEL_KVM, VMM_ACCEL_TCG };
	const char *names[] = { "auto", "kvm", "tcg" };
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(vmm_accel_name(all[i]), names[i]);
		enum vmm_accel a = (enum vmm_accel)-1;
		assert_int_equal(vmm_accel_parse(names[i], &a), 0);
		assert_int_equal(a, all[i]);
	}
	enum vmm_accel untouched = VMM_ACCEL_KVM;
	assert_int_equal(vmm_accel_parse("hvf", &untouched), -EINVAL);
	assert_int_equal(vmm_accel_parse("KVM", &untouched), -EINVAL);
	assert_int_equal(vmm_accel_parse("", &untouched), -EINVAL);
	assert_int_equal(untouched, VMM_ACCEL_KVM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_init_sets_defaults),
		cmocka_unit_test(test_config_accepts_valid),
		cmocka_unit_test(test_config_rejects_missing_id),
		cmocka_unit_test(test_config_rejects_bad_id),
		cmocka_unit_test(test_config_rejects_vcpus_out_of_range),
		cmocka_unit_test(test_config_rejects_small_memory),
		cmocka_unit_test(test_config_rejects_bad_init),
		cmocka_unit_test(test_config_rejects_missing_kernel),
		cmocka_unit_test(test_config_rejects_missing_rootfs),
		cmocka_unit_test(test_config_rejects_netns_without_tap),
		cmocka_unit_test(test_config_rejects_bad_guest_net),
		cmocka_unit_test(test_config_cmdline_with_network),
		cmocka_unit_test(test_config_cmdline_without_network),
		cmocka_unit_test(test_config_cmdline_too_long),
		cmocka_unit_test(test_config_accel_names_round_trip),
	};
	return cmocka_run_group_tests_name("config", tests, files_setup, files_teardown);
}
