/* The QEMU driver's disk layers, qcow2 images made with QEMU's own
 * qemu-img: a template's frozen layer over its raw image, and the empty
 * overlay each sandbox's disk is a copy of. Backing files are named as the
 * VMM sees them in its work directory, so a chain resolves there (and only
 * there). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/spawn.h"
#include "vmm/qemu/qemu.h"

int qemu_disk_create(const char *path, enum vmm_disk_file file, uint64_t size, struct cove_err *err)
{
	/* An overlay is over a layer; a layer is over the image. */
	bool over_layer = file == VMM_DISK_OVERLAY;
	char *backing = over_layer ? QEMU_DISK_LAYER_NAME : QEMU_ROOTFS_NAME;
	char qemu_img[4096];
	int r = fs_find_executable("qemu-img", "/usr/bin:/usr/local/bin", qemu_img, sizeof(qemu_img));
	if (r < 0)
		return cove_errf(err, -ENOENT, "disk %s: qemu-img not found; install it with 'apt-get install qemu-utils'",
				 path);
	char size_text[32];
	snprintf(size_text, sizeof(size_text), "%" PRIu64, size);
	/* -u: the backing file is only resolvable inside the VMM's work
	 * directory, so qemu-img is told the size instead of opening it. */
	char *const argv[] = { qemu_img, "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F",
			       over_layer ? "qcow2" : "raw", (char *)path, size_text, NULL };
	/* Its first line of complaint is the error's message. */
	struct spawn_options o = { .path = qemu_img, .argv = argv, .stdio = { { SPAWN_INHERIT }, { SPAWN_NULL },
									{ SPAWN_PIPE } } };
	char msg[256];
	struct spawn_capture errors = { msg, sizeof(msg) };
	int status = spawn_run(&o, NULL, &errors, NULL);
	if (status < 0)
		return cove_errno(err, status, "disk %s: run %s", path, qemu_img);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		msg[strcspn(msg, "\n")] = '\0';
		return cove_errf(err, -EIO, "disk %s: qemu-img create failed: %s", path, msg[0] ? msg : "no message");
	}
	return 0;
}
