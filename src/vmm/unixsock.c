/* Unix sockets between Cove and its VMMs' control channels (QMP, the
 * REST APIs of Firecracker and Cloud Hypervisor): a socket listening for
 * the VMM to be handed, and a connection that waits for a VMM to listen. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proc.h"
#include "vmm/driver.h"

int vmm_unix_listen(const char *path, int *ret, struct cove_err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return cove_errf(err, -ENAMETOOLONG, "socket path %s too long", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cove_errno(err, -errno, "socket for %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		int e = -errno;
		close(fd);
		return cove_errno(err, e, "remove stale %s", path);
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
		int e = -errno;
		close(fd);
		return cove_errno(err, e, "listen on %s", path);
	}
	*ret = fd;
	return 0;
}

static int connect_once(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int vmm_unix_connect(const char *path, int pidfd, int timeout_ms, struct cove_err *err)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return cove_errf(err, -ENAMETOOLONG, "socket path %s too long", path);
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int fd = connect_once(path);
		if (fd >= 0)
			return fd;
		/* Not there yet (a VMM binding its own path), or not listening. */
		if (fd != -ENOENT && fd != -ECONNREFUSED)
			return cove_errno(err, fd, "connect %s", path);
		/* Waiting on the pidfd doubles as the retry sleep. */
		if (pidfd >= 0 && proc_pidfd_wait(pidfd, 2) == 1)
			return cove_errf(err, -ECHILD, "VMM exited before listening on %s", path);
		if (pidfd < 0)
			usleep(2000);
		if (now_ms() > deadline)
			return cove_errf(err, -ETIMEDOUT, "connect %s: VMM did not listen within %d ms", path, timeout_ms);
	}
}
