/* Unit tests for src/sandbox/conf.c: what a template snapshot or a saved
 * sandbox records (the VMM and its version among it), and the reason a
 * record that does not match is refused with. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/internal.h"

static void write_conf(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_mismatch_names_what(void **state)
{
	(void)state;
	char dir[] = "/tmp/cove-conf-test.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/snapshot.conf", dir);
	const char *made = "vcpus=2\nmem_mib=512\nvmm=qemu 7.2.19\nkernel=/k 1 2\nrootfs=/r 3 4\n";
	write_conf(path, made);
	struct cove_err why = { 0 };
	assert_int_equal(sandbox_conf_check(path, made, true, &why), 0);
	const char *other = "vcpus=2\nmem_mib=512\nvmm=qemu 10.0.2\nkernel=/k 1 2\nrootfs=/r 3 4\n";
	assert_int_equal(sandbox_conf_check(path, other, true, &why), -ESTALE);
	assert_non_null(strstr(why.msg, "was made with vmm=qemu 7.2.19, this host has vmm=qemu 10.0.2"));
	/* A disk-only reboot: any VMM. */
	assert_int_equal(sandbox_conf_check(path, other, false, &why), 0);
	assert_int_equal(sandbox_conf_check(path, "vcpus=2\nmem_mib=1024\nvmm=qemu 7.2.19\nkernel=/k 1 2\nrootfs=/r 3 4\n",
					    true, &why),
			 -ESTALE);
	assert_non_null(strstr(why.msg, "mem_mib=512, this host has mem_mib=1024"));
	/* A record an older Cove wrote, without the VMM: its other settings
	 * still count. */
	write_conf(path, "vcpus=2\nmem_mib=512\nkernel=/k 1 2\nrootfs=/r 3 4\n");
	assert_int_equal(sandbox_conf_check(path, made, true, &why), 0);
	assert_int_equal(sandbox_conf_check(path, "vcpus=4\nmem_mib=512\nvmm=qemu 7.2.19\nkernel=/k 1 2\nrootfs=/r 3 4\n",
					    true, &why),
			 -ESTALE);
	assert_non_null(strstr(why.msg, "vcpus=2, this host has vcpus=4"));
	/* What this host's QEMU says, as a record has it. */
	char vmm[96];
	struct cove_err err = { 0 };
	if (vmm_describe(NULL, NULL, vmm, sizeof(vmm), &err) == 0)
		assert_true(strncmp(vmm, "qemu ", 5) == 0 && vmm[5] >= '0' && vmm[5] <= '9');
	else
		assert_non_null(strstr(err.msg, "qemu"));
	assert_int_equal(vmm_describe("no-such-vmm", NULL, vmm, sizeof(vmm), &err), -EINVAL);
	fs_remove_tree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mismatch_names_what),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
