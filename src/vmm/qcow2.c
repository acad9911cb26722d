/* Disk layers as qcow2 images made with QEMU's qemu-img (qcow2.h), for
 * every driver whose VMM opens qcow2 chains (QEMU; Cloud Hypervisor with
 * backing_files). Part of the driver-support layer. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/spawn.h"
#include "vmm/qcow2.h"

/* Runs qemu-img with args (after the program's name); its first line
 * of complaint is the error's message. */
static int qemu_img(char *const *args, size_t nargs, const char *what, struct cove_err *err)
{
	char path[4096];
	int r = fs_find_executable("qemu-img", "/usr/bin:/usr/local/bin", path, sizeof(path));
	if (r < 0)
		return cove_errf(err, -ENOENT, "%s: qemu-img not found; install it with 'apt-get install qemu-utils'", what);
	char *argv[16] = { path };
	for (size_t i = 0; i < nargs && i + 2 < 16; i++)
		argv[i + 1] = args[i];
	struct spawn_options o = { .path = path, .argv = argv, .stdio = { { SPAWN_NULL }, { SPAWN_NULL },
									{ SPAWN_PIPE } } };
	char msg[256];
	struct spawn_capture errors = { msg, sizeof(msg) };
	int status = spawn_run(&o, NULL, &errors, NULL);
	if (status < 0)
		return cove_errno(err, status, "%s: run %s", what, path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		msg[strcspn(msg, "\n")] = '\0';
		return cove_errf(err, -EIO, "%s: qemu-img %s failed: %s", what, args[0], msg[0] ? msg : "no message");
	}
	return 0;
}

int vmm_qcow2_create(const char *path, enum vmm_disk_file file, uint64_t size, struct cove_err *err)
{
	/* An overlay is over a layer; a layer is over the image. */
	bool over_layer = file == VMM_DISK_OVERLAY;
	char *backing = over_layer ? VMM_QCOW2_LAYER : VMM_QCOW2_ROOTFS;
	char size_text[32], what[PATH_MAX + 8];
	snprintf(size_text, sizeof(size_text), "%" PRIu64, size);
	snprintf(what, sizeof(what), "disk %s", path);
	/* -u: the backing file is only resolvable inside the VMM's work
	 * directory, so qemu-img is told the size instead of opening it. */
	char *const args[] = { "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F",
			       over_layer ? "qcow2" : "raw", (char *)path, size_text };
	return qemu_img(args, sizeof(args) / sizeof(args[0]), what, err);
}

int vmm_qcow2_flatten(const char *rootfs, const char *layer, const char *own, const char *out, struct cove_err *err)
{
	char dir[] = "/tmp/cove-flatten.XXXXXX", link[64], target[PATH_MAX], what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "flatten %s", own);
	if (!mkdtemp(dir))
		return cove_errno(err, -errno, "%s: temporary directory", what);
	/* The names each file's backing file is known by. */
	const char *files[] = { rootfs, layer, own };
	const char *names[] = { VMM_QCOW2_ROOTFS, VMM_QCOW2_LAYER, VMM_QCOW2_OWN };
	int r = 0;
	for (size_t i = 0; i < 3 && r == 0; i++) {
		if (!files[i])
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, names[i]);
		if (!realpath(files[i], target))
			r = cove_errno(err, -errno, "%s: %s", what, files[i]);
		else if (symlink(target, link) < 0)
			r = cove_errno(err, -errno, "%s: link %s", what, link);
	}
	snprintf(link, sizeof(link), "%s/" VMM_QCOW2_OWN, dir);
	char *const args[] = { "convert", "-q", "-f", "qcow2", "-O", "raw", link, (char *)out };
	r = r ?: qemu_img(args, sizeof(args) / sizeof(args[0]), what, err);
	fs_remove_tree(dir, NULL);
	return r;
}
