/* The QEMU driver's disk layers, qcow2 images made with QEMU's own
 * qemu-img: a template's frozen layer over its raw image, and the empty
 * overlay each sandbox's disk is a copy of. Backing files are named as the
 * VMM sees them in its work directory, so a chain resolves there (and only
 * there). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "vmm/qemu/qemu.h"

extern char **environ;

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
	char size_text[32], errlog[] = "/tmp/cove-qemu-img.XXXXXX";
	snprintf(size_text, sizeof(size_text), "%" PRIu64, size);
	/* -u: the backing file is only resolvable inside the VMM's work
	 * directory, so qemu-img is told the size instead of opening it. */
	char *const argv[] = { qemu_img, "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F",
			       over_layer ? "qcow2" : "raw", (char *)path, size_text, NULL };
	int log = mkstemp(errlog);
	if (log < 0)
		return cove_errno(err, -errno, "disk %s: temporary file", path);
	unlink(errlog);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, log, STDERR_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	r = -posix_spawn(&pid, qemu_img, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	int status = 0;
	if (r == 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (r < 0) {
		r = cove_errno(err, r, "disk %s: run %s", path, qemu_img);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[256] = "";
		ssize_t n = pread(log, msg, sizeof(msg) - 1, 0);
		msg[n > 0 ? n : 0] = '\0';
		msg[strcspn(msg, "\n")] = '\0';
		r = cove_errf(err, -EIO, "disk %s: qemu-img create failed: %s", path, msg[0] ? msg : "no message");
	}
	close(log);
	return r;
}
