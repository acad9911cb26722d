/* Unit tests for shared directories in the VMM layer (src/vmm/config.c,
 * vmm.c): what a config with shares must be, and the refusal to save,
 * snapshot or fork (a save with memory_whole) a VM that has them, before
 * anything is tried. `cove run` never asks for those, so this is where the
 * refusal is covered; booting with shares is tests/integration/share.sh. */
#include <errno.h>
#include <fcntl.h>
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
#include "common/fs.h"
#include "vmm/vmm.h"

struct files {
	char dir[64];
	char kernel[128];
	char rootfs[128];
	char shared[128];
	char state[128];
};

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/cove-test-shares-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->kernel, sizeof(f->kernel), "%s/vmlinux", f->dir);
	snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs.ext4", f->dir);
	snprintf(f->shared, sizeof(f->shared), "%s/shared", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	touch(f->kernel);
	touch(f->rootfs);
	touch(f->state);
	assert_int_equal(mkdir(f->shared, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct files *f = *state;
	fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

static void make_config(const struct files *f, struct vmm_config *c)
{
	vmm_config_init(c);
	c->id = "sb-shares";
	c->kernel = f->kernel;
	c->rootfs = f->rootfs;
	c->run_dir = f->dir;
	c->log_dir = f->dir;
	c->shares[0] = (struct vmm_share){ f->shared, "cove-share-0", false };
	c->shares[1] = (struct vmm_share){ f->shared, "cove-share-1", true };
	c->nshares = 2;
}

static void expect_invalid(const struct vmm_config *c, int code, const char *msg)
{
	struct cove_err err = { 0 };
	assert_int_equal(vmm_config_validate(c, &err), code);
	if (!strstr(err.msg, msg))
		fail_msg("'%s' does not say '%s'", err.msg, msg);
}

static void test_config_shares(void **state)
{
	struct files *f = *state;
	struct vmm_config c;
	make_config(f, &c);
	struct cove_err err = { 0 };
	assert_int_equal(vmm_config_validate(&c, &err), 0);

	c.shares[1].tag = "cove-share-0";
	expect_invalid(&c, -EINVAL, "shares[1].tag 'cove-share-0' is also shares[0]'s");
	c.shares[1].tag = "Bad Tag";
	expect_invalid(&c, -EINVAL, "shares[1].tag 'Bad Tag' must be");
	c.shares[1].tag = "abcdefghijklmnopqrstuvwxyz0123456789a"; /* 37 */
	expect_invalid(&c, -EINVAL, "shares[1].tag");
	c.shares[1].tag = "t";
	c.shares[1].host_dir = "relative/dir";
	expect_invalid(&c, -EINVAL, "shares[1].host_dir 'relative/dir' must be an absolute path");
	c.shares[1].host_dir = "/nonexistent/cove-share";
	expect_invalid(&c, -ENOENT, "config: shared directory /nonexistent/cove-share: No such file or directory");
	c.shares[1].host_dir = f->kernel;
	expect_invalid(&c, -ENOTDIR, "is not a directory");

	make_config(f, &c);
	c.restore_state = f->state;
	expect_invalid(&c, -EOPNOTSUPP, "cannot be restored from a snapshot");
	make_config(f, &c);
	c.mem_file = "/tmp/cove-memory";
	expect_invalid(&c, -EINVAL, "not a private mem_file");
	c.mem_shared = true;
	assert_int_equal(vmm_config_validate(&c, &err), 0);
	make_config(f, &c);
	c.nshares = VMM_MAX_SHARES + 1;
	expect_invalid(&c, -E2BIG, "at most 8");
}

/* Saving, snapshotting and forking are refused with the reason, before
 * the VMM is asked (it is not even booted here). */
static void test_refuses_saves(void **state)
{
	struct files *f = *state;
	struct vmm_config c;
	make_config(f, &c);
	struct vmm *vm = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(vmm_create(&c, &vm, &err), 0);
	assert_false(vmm_can_save(vm));

	assert_int_equal(vmm_snapshot(vm, f->state, &err), -EOPNOTSUPP);
	assert_string_equal(err.msg, "snapshot sb-shares: it has shared directories (virtiofs), and a VM with them "
				     "cannot be saved, snapshotted or forked (QEMU cannot migrate a vhost-user-fs device)");
	struct vmm_save_paths whole = { .state = f->state, .disk = f->state };
	assert_int_equal(vmm_save(vm, &whole, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "save sb-shares: it has shared directories (virtiofs)"));
	struct vmm_save_paths fork = { .state = f->state, .disk = f->state, .memory = f->state, .memory_whole = true };
	assert_int_equal(vmm_save(vm, &fork, &err), -EOPNOTSUPP);
	struct vmm_save_paths disk_only = { .disk = f->state };
	assert_int_equal(vmm_save(vm, &disk_only, &err), -EOPNOTSUPP);
	vm = vmm_free(vm);

	/* Without shares the same VM gets past that check (and fails only for
	 * not running). */
	c.nshares = 0;
	assert_int_equal(vmm_create(&c, &vm, &err), 0);
	assert_int_equal(vmm_snapshot(vm, f->state, &err), -ESRCH);
	vmm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_saves, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
