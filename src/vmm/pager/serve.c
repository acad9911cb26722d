/* The page server's socket and fault loop (pager.h). The VMM connects once
 * and sends, in one message, the JSON of its memory regions with the
 * userfaultfd as SCM_RIGHTS; nothing else is said on the socket. The
 * connecting process must be the VMM (SO_PEERCRED), and the server ends
 * when that process does (a pidfd), whether it connected or not. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proc.h"
#include "vmm/pager/pager.h"

#define MSGS_PER_READ 16
/* A fault is answered with the pages after it too, up to this much, where
 * none of them was served yet: memory is mostly read in runs, and each
 * fault costs a fixed ~40 us here (make bench's pager-bench: 256 MiB
 * served in 368 ms in runs of 64 KiB, 292 ms in 128 KiB, 235 ms in
 * 256 KiB). 128 KiB, the kernel's own readahead: a guest touching one
 * page makes at most 32 resident. */
#define PREFETCH_BYTES (128 * 1024)

/* A page's state, a byte per page of each region. */
enum { PAGE_MISSING, PAGE_SERVED, PAGE_REMOVED };

struct server {
	struct pager_region region[PAGER_MAX_REGIONS];
	size_t nregions;
	/* Served (so present in the VMM until given back), or given back
	 * (UFFD_EVENT_REMOVE: a balloon) and then read as zeros. */
	uint8_t *page_state[PAGER_MAX_REGIONS];
	int uffd;
	void *buf; /* a bounce buffer: PREFETCH_BYTES, or the largest page */
	size_t buf_size;
	/* Where each page in buf came from (a layer, or PAGER_ZERO), counted
	 * once it is copied. */
	int from[PREFETCH_BYTES / 4096];
	const struct pager_layers *layers;
	struct pager_stats *stats;
};

/* The VMM's connection, within the time limit; -ESRCH once it exited. */
static int accept_vmm(const struct pager_options *o, int pidfd, struct cove_err *err)
{
	int64_t deadline = now_ms() + o->accept_timeout_ms;
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return cove_errf(err, -ETIMEDOUT, "pager: the VMM (pid %d) did not connect within %d ms",
					 (int)o->vmm_pid, o->accept_timeout_ms);
		struct pollfd p[2] = { { o->listen_fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		if (poll(p, 2, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return cove_errno(err, -errno, "pager: poll");
		}
		if (p[1].revents)
			return cove_errf(err, -ESRCH, "pager: the VMM (pid %d) exited before it connected", (int)o->vmm_pid);
		if (!p[0].revents)
			continue;
		int c = accept4(o->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				continue;
			return cove_errno(err, -errno, "pager: accept");
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == o->vmm_pid)
			return c;
		/* Not the VMM: nobody else is served. */
		close(c);
	}
}

/* The handshake: text up to the message's end, the descriptor with it. */
static int receive(int conn, int pidfd, char *buf, size_t cap, size_t *len, int *uffd, struct cove_err *err)
{
	*len = 0;
	*uffd = -1;
	int64_t deadline = now_ms() + 10000;
	for (;;) {
		struct pollfd p[2] = { { conn, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		int64_t left = deadline - now_ms();
		if (left <= 0 || poll(p, 2, (int)left) == 0)
			return cove_errf(err, -ETIMEDOUT, "pager: the VMM connected but sent no memory regions in 10 s");
		if (p[1].revents)
			return cove_errf(err, -ESRCH, "pager: the VMM exited during the handshake");
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { buf + *len, cap - 1 - *len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return cove_errno(err, -errno, "pager: receive the handshake");
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && *uffd < 0 &&
			    c->cmsg_len >= CMSG_LEN(sizeof(int)))
				memcpy(uffd, CMSG_DATA(c), sizeof(int));
		*len += (size_t)n;
		buf[*len] = '\0';
		/* The message is whole once it parses; a stream may split it. */
		json_error_t je;
		json_t *v = *len ? json_loadb(buf, *len, 0, &je) : NULL;
		if (v) {
			json_decref(v);
			if (*uffd < 0)
				return cove_errf(err, -EPROTO, "pager: the handshake came without a userfaultfd");
			return 0;
		}
		if (n == 0 || *len + 1 >= cap)
			return cove_errf(err, -EPROTO, "pager: the handshake ended after %zu bytes that are not whole JSON",
					 *len);
	}
}

static const struct pager_region *find(const struct server *s, uint64_t addr, size_t *index)
{
	for (size_t i = 0; i < s->nregions; i++)
		if (addr >= s->region[i].base && addr - s->region[i].base < s->region[i].size) {
			*index = i;
			return &s->region[i];
		}
	return NULL;
}

/* Fills s->buf with pages [first, first + n) of region i. */
static void fill(struct server *s, size_t i, uint64_t first, uint64_t n)
{
	const struct pager_region *r = &s->region[i];
	for (uint64_t k = 0; k < n; k++) {
		uint8_t *dst = (uint8_t *)s->buf + k * r->page_size;
		if (s->page_state[i][first + k] == PAGE_REMOVED) {
			memset(dst, 0, r->page_size);
			s->from[k] = PAGER_ZERO;
		} else {
			s->from[k] = pager_layers_read(s->layers, r->offset + (first + k) * r->page_size, dst,
						       r->page_size);
		}
	}
}

static int copy(struct server *s, uint64_t dst, uint64_t len, uint64_t *copied)
{
	struct uffdio_copy c = { .dst = dst, .src = (uint64_t)(uintptr_t)s->buf, .len = len };
	int r = ioctl(s->uffd, UFFDIO_COPY, &c) == 0 ? 0 : -errno;
	*copied = c.copy > 0 ? (uint64_t)c.copy : 0;
	return r;
}

static int fault(struct server *s, uint64_t addr, struct cove_err *err)
{
	size_t i;
	const struct pager_region *r = find(s, addr, &i);
	if (!r)
		return cove_errf(err, -EFAULT, "pager: a fault at 0x%llx, outside every memory region",
				 (unsigned long long)addr);
	uint64_t pages = r->size / r->page_size, first = (addr - r->base) / r->page_size;
	uint64_t n = 1, most = s->buf_size / r->page_size;
	while (n < most && first + n < pages && s->page_state[i][first + n] != PAGE_SERVED)
		n++;
	s->stats->faults++;
	for (;;) {
		fill(s, i, first, n);
		uint64_t copied = 0;
		int e = copy(s, r->base + first * r->page_size, n * r->page_size, &copied);
		for (uint64_t k = 0; k < copied / r->page_size; k++) {
			s->page_state[i][first + k] = PAGE_SERVED;
			if (s->from[k] == PAGER_ZERO)
				s->stats->zero++;
			else
				s->stats->from_layer[s->from[k]]++;
		}
		if (e == 0)
			return 0;
		if (e == -EEXIST && n > 1) {
			/* Some page of the run is there after all (a race with
			 * another fault): the faulting page alone. */
			n = 1;
			continue;
		}
		if (e == -EEXIST) { /* another fault on it was answered first */
			s->page_state[i][first] = PAGE_SERVED;
			s->stats->eexist++;
			return 0;
		}
		if (e == -EAGAIN) /* the VMM's mappings are changing: again */
			continue;
		if (e == -ESRCH || e == -ENOENT)
			return -ESRCH; /* the VMM is exiting */
		return cove_errno(err, e, "pager: UFFDIO_COPY of %llu bytes at 0x%llx",
				  (unsigned long long)(n * r->page_size), (unsigned long long)(r->base + first * r->page_size));
	}
}

/* Pages the VMM gave back (madvise DONTNEED: a balloon) read as zeros. */
static void removed(struct server *s, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < s->nregions; i++) {
		const struct pager_region *r = &s->region[i];
		uint64_t lo = start > r->base ? start : r->base, hi = end < r->base + r->size ? end : r->base + r->size;
		for (uint64_t a = lo & ~(r->page_size - 1); a < hi; a += r->page_size) {
			s->page_state[i][(a - r->base) / r->page_size] = PAGE_REMOVED;
			s->stats->removed++;
		}
	}
}

static int events(struct server *s, struct cove_err *err)
{
	struct uffd_msg msg[MSGS_PER_READ];
	ssize_t n = read(s->uffd, msg, sizeof(msg));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : cove_errno(err, -errno, "pager: read the userfaultfd");
	for (size_t k = 0; k < (size_t)n / sizeof(msg[0]); k++) {
		int r = 0;
		if (msg[k].event == UFFD_EVENT_PAGEFAULT)
			r = fault(s, msg[k].arg.pagefault.address, err);
		else if (msg[k].event == UFFD_EVENT_REMOVE)
			removed(s, msg[k].arg.remove.start, msg[k].arg.remove.end);
		if (r < 0)
			return r;
	}
	return 0;
}

int pager_serve(const struct pager_options *o, const struct pager_layers *l, struct pager_stats *stats,
		struct cove_err *err)
{
	*stats = (struct pager_stats){ 0 };
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, o->vmm_pid, 0);
	if (pidfd < 0)
		return cove_errno(err, -errno, "pager: the VMM, pid %d", (int)o->vmm_pid);
	_cleanup_close_ int conn = accept_vmm(o, pidfd, err);
	if (conn < 0)
		return conn;
	char *buf = malloc(PAGER_HANDSHAKE_MAX);
	if (!buf)
		return cove_errf(err, -ENOMEM, "pager: out of memory");
	struct server s = { .layers = l, .stats = stats, .uffd = -1 };
	size_t len;
	int r = receive(conn, pidfd, buf, PAGER_HANDSHAKE_MAX, &len, &s.uffd, err);
	r = r ?: pager_parse_mappings(buf, len, s.region, PAGER_MAX_REGIONS, &s.nregions, err);
	free(buf);
	s.buf_size = PREFETCH_BYTES;
	for (size_t i = 0; r == 0 && i < s.nregions; i++) {
		s.buf_size = s.region[i].page_size > s.buf_size ? s.region[i].page_size : s.buf_size;
		if (!(s.page_state[i] = calloc(s.region[i].size / s.region[i].page_size, 1)))
			r = cove_errf(err, -ENOMEM, "pager: out of memory");
	}
	if (r == 0 && (s.buf = aligned_alloc(4096, s.buf_size)) == NULL)
		r = cove_errf(err, -ENOMEM, "pager: out of memory");
	if (r == 0 && fcntl(s.uffd, F_SETFL, fcntl(s.uffd, F_GETFL) | O_NONBLOCK) < 0)
		r = cove_errno(err, -errno, "pager: the userfaultfd");
	while (r == 0) {
		struct pollfd p[2] = { { s.uffd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			r = errno == EINTR ? 0 : cove_errno(err, -errno, "pager: poll");
			continue;
		}
		if (p[0].revents & POLLIN)
			r = events(&s, err);
		else if (p[0].revents & (POLLERR | POLLHUP))
			break; /* the VMM's memory is gone */
		if (p[1].revents)
			break;
	}
	if (r == -ESRCH)
		r = 0; /* it exited while a fault was answered */
	/* Connected, a VMM whose handshake or fault cannot be answered waits
	 * for that page forever: it is ended, so that its sandbox is seen
	 * dead, not hung (what Firecracker asks of a page server that
	 * fails). */
	if (r < 0 && syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == 0)
		cove_err_prefix(err, "the VMM (pid %d) is killed: it cannot go on without its memory", (int)o->vmm_pid);
	for (size_t i = 0; i < PAGER_MAX_REGIONS; i++)
		free(s.page_state[i]);
	free(s.buf);
	if (s.uffd >= 0)
		close(s.uffd);
	return r;
}
