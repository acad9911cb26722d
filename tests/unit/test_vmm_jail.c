/* The VMM confinement's pure parts (vmm/jail.c): COVE_VMM_IDS parsed, and
 * files made openable by a confined VMM as their access says. The launch
 * itself is checked from outside by tests/integration/confine.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/internal.h"

static void test_jail_ids_parse(void **state)
{
	(void)state;
	struct vmm_jail_ids ids;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_jail_parse_ids("1879048192:65536", &ids, &err), 0);
	assert_true(ids.on);
	assert_int_equal(ids.first, 1879048192u);
	assert_int_equal(ids.count, 65536u);
	assert_int_equal(vmm_jail_parse_ids("off", &ids, &err), 0);
	assert_false(ids.on);
	assert_int_equal(vmm_jail_parse_ids(NULL, &ids, &err), 0);
	assert_false(ids.on);
	static const char *const bad[] = { "", "1879048192", "1879048192:", ":5", "abc:5", "5000:1x", "5000:-1",
					   "1879048192:65536:1", " 5000:10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct cove_err){ 0 };
		assert_int_equal(vmm_jail_parse_ids(bad[i], &ids, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "COVE_VMM_IDS"));
		assert_false(ids.on);
	}
	/* System users, too few ids, past uid_t's range (and its -1). */
	static const char *const range[] = { "0:65536", "999:10", "5000:1", "5000:0", "4294967000:1000",
					     "4294967200:95", "5000:16777217" };
	for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++)
		assert_int_equal(vmm_jail_parse_ids(range[i], &ids, &err), -ERANGE);
	assert_int_equal(vmm_jail_parse_ids("5000:2", &ids, &err), 0);
}

static void make_file(const char *path, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	assert_int_equal(chown(path, 0, 0), 0);
}

static void test_jail_prepare_file(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip(); /* chown needs root, as coved has */
		return;
	}
	char dir[] = "/tmp/cove-jail-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/f", dir);
	struct vmm vm = { .confined = true, .uid = 1879050000, .shared_gid = 1879048192 };
	struct cove_err err = { 0 };
	struct stat st;

	/* Readable by anyone: left as it is. */
	make_file(path, 0644);
	assert_int_equal(vmm_jail_prepare_file(&vm, path, VMM_BIND_READ, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Root's alone: readable by the VMMs' group, by nobody else. */
	make_file(path, 0600);
	assert_int_equal(vmm_jail_prepare_file(&vm, path, VMM_BIND_READ, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, vm.shared_gid);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Its own: it becomes the owner, read-write for it alone. */
	make_file(path, 0644);
	assert_int_equal(vmm_jail_prepare_file(&vm, path, VMM_BIND_OWN, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, vm.uid);
	assert_int_equal(st.st_gid, vm.uid);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Shared read-write: the VMMs' group, nothing for others. */
	make_file(path, 0604);
	assert_int_equal(vmm_jail_prepare_file(&vm, path, VMM_BIND_SHARED, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, vm.shared_gid);
	assert_int_equal(st.st_mode & 07777, 0660);
	/* A missing file is named. */
	unlink(path);
	assert_int_equal(vmm_jail_prepare_file(&vm, path, VMM_BIND_READ, &err), -ENOENT);
	assert_non_null(strstr(err.msg, path));
	rmdir(dir);
}

/* Under Firecracker's jailer: the work directory moves to where it builds
 * its root, its arguments carry the VMM's uid, the shared gid and Cove's
 * limits, and Cove's plan leaves the nodes and the binary to it. */
static void test_jailer_prepare(void **state)
{
	(void)state;
	char dir[] = "/tmp/cove-jailer-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct vmm vm = { .confined = true, .uid = 1879050000, .shared_gid = 1879048192, .accel = VMM_ACCEL_KVM,
			  .tap_by_name = true };
	vm.cfg.c.id = "sb1";
	vm.cfg.c.rootfs = "/nonexistent";
	vm.cfg.c.mem_mib = 512;
	snprintf(vm.dir, sizeof(vm.dir), "%s", dir);
	snprintf(vm.work_dir, sizeof(vm.work_dir), "%s/root", dir);
	assert_int_equal(mkdir(vm.work_dir, 0700), 0);
	struct vmm_jailer_args a;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_jailer_prepare(&vm, "/opt/fc/firecracker-v1.14.0", "sb1", &a, &err), 0);
	char want[512];
	snprintf(want, sizeof(want), "%s/jail", dir);
	assert_string_equal(a.base, want);
	snprintf(want, sizeof(want), "%s/jail/firecracker-v1.14.0/sb1/root", dir);
	assert_string_equal(vm.work_dir, want);
	struct stat st;
	assert_int_equal(stat(vm.work_dir, &st), 0);
	snprintf(want, sizeof(want), "%s/root", dir);
	assert_int_equal(stat(want, &st), -1); /* the plain one went */
	assert_string_equal(a.uid, "1879050000");
	assert_string_equal(a.gid, "1879048192");
	assert_string_equal(a.nofile, "no-file=4096");
	assert_string_equal(a.fsize, "fsize=1610612736"); /* 512 MiB of memory, no disk, plus 1 GiB */
	struct vmm_jail_plan p;
	assert_int_equal(vmm_jail_plan(&vm, "/opt/fc/firecracker-v1.14.0", true, &p, &err), 0);
	assert_true(p.jailer);
	assert_false(p.kvm);
	assert_false(p.tun);
	assert_false(p.bind_binary);
	assert_int_equal(vmm_jail_plan(&vm, "/opt/fc/firecracker-v1.14.0", false, &p, &err), 0);
	assert_true(p.kvm && p.tun && p.bind_binary && !p.jailer);
	/* /usr for a dynamically linked binary only (Debian's ldconfig is
	 * static); one it cannot read gets /usr, as before. */
	assert_true(vmm_jail_needs_loader("/bin/true"));
	assert_false(vmm_jail_needs_loader("/sbin/ldconfig"));
	assert_true(vmm_jail_needs_loader("/nonexistent"));
	assert_true(vmm_jail_needs_loader("/etc/hostname"));
	assert_int_equal(vmm_jail_plan(&vm, "/sbin/ldconfig", false, &p, &err), 0);
	assert_false(p.usr);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jail_ids_parse),
		cmocka_unit_test(test_jail_prepare_file),
		cmocka_unit_test(test_jailer_prepare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
