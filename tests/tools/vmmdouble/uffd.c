/* Firecracker's side of a Uffd memory backend, for its test double
 * (vmmdouble.h): what Firecracker does at PUT /snapshot/load with
 * backend_type Uffd (docs/snapshotting/handling-page-faults-on-snapshot-
 * resume.md): it makes a userfaultfd (through /dev/userfaultfd where
 * there is one, as on kernels from 6.1, else the system call), maps the
 * guest's memory anonymously and registers it for missing-page faults,
 * connects to backend_path and sends, in one message, a JSON array of
 * GuestRegionUffdMapping (base_host_virt_addr, size, offset, page_size and
 * the deprecated page_size_kib) with the userfaultfd as SCM_RIGHTS.
 *
 * Then the guest's faults go to the page server. The double's guest runs
 * in QEMU, whose memory is not this mapping, so the double reads every
 * page of it here, each read a fault the server answers, and writes what
 * it got to a file QEMU starts from: the server's answers are what the
 * guest resumes with, eagerly instead of on demand. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "vmmdouble.h"

#define PAGE 4096

static int make_uffd(struct cove_err *err)
{
	int fd = -1;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
	} else {
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	}
	if (fd < 0)
		return cove_errno(err, -errno, "Failed to create the userfaultfd (%s)",
				  dev >= 0 ? "/dev/userfaultfd" : "userfaultfd(2); no /dev/userfaultfd");
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE };
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int e = -errno;
		close(fd);
		return cove_errno(err, e, "UFFDIO_API");
	}
	return fd;
}

static int send_handshake(const char *socket_path, int uffd, void *base, uint64_t size, struct cove_err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return cove_errf(err, -ENAMETOOLONG, "backend_path %s too long", socket_path);
	strcpy(addr.sun_path, socket_path);
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return cove_errno(err, -errno, "Failed to connect to the UDS at %s", socket_path);
	char json[256];
	int n = snprintf(json, sizeof(json),
			 "[{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":0,\"page_size\":%d,\"page_size_kib\":%d}]",
			 (unsigned long long)(uintptr_t)base, (unsigned long long)size, PAGE, PAGE);
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct iovec iov = { json, (size_t)n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	if (sendmsg(s, &m, MSG_NOSIGNAL) != n)
		return cove_errno(err, -errno, "send the memory regions to %s", socket_path);
	return 0;
}

/* Every page of the mapping (each first read a fault the server answers)
 * to out, the pages of zeros left holes. */
static int read_through(const uint8_t *mem, uint64_t size, int out)
{
	static const uint8_t zero[PAGE];
	for (uint64_t off = 0; off < size; off += PAGE)
		if (memcmp(mem + off, zero, PAGE) != 0 && pwrite(out, mem + off, PAGE, (off_t)off) != PAGE)
			return -errno;
	return 0;
}

int vmmdouble_uffd_connect(const char *socket_path, uint64_t size, void **mem_ret, int *uffd_ret,
			   struct cove_err *err)
{
	int uffd = make_uffd(err);
	if (uffd < 0)
		return uffd;
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		close(uffd);
		return cove_errno(err, -errno, "map %llu bytes of guest memory", (unsigned long long)size);
	}
	struct uffdio_register reg = { .range = { (uintptr_t)mem, size }, .mode = UFFDIO_REGISTER_MODE_MISSING };
	int r = ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ? cove_errno(err, -errno, "UFFDIO_REGISTER") : 0;
	r = r ?: send_handshake(socket_path, uffd, mem, size, err);
	if (r < 0) {
		munmap(mem, size);
		close(uffd);
		return r;
	}
	*mem_ret = mem;
	*uffd_ret = uffd;
	return 0;
}

int vmmdouble_uffd_fetch(const char *socket_path, uint64_t size, const char *to, struct cove_err *err)
{
	void *mem;
	int uffd;
	int r = vmmdouble_uffd_connect(socket_path, size, &mem, &uffd, err);
	if (r < 0)
		return r;
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || ftruncate(out, (off_t)size) < 0)
		r = cove_errno(err, -errno, "create %s", to);
	if (r == 0 && (r = read_through(mem, size, out)) < 0)
		cove_errno(err, r, "write the served memory to %s", to);
	munmap(mem, size);
	close(uffd);
	return r;
}
