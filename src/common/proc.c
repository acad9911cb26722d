#include "common/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

int proc_stat_parse(const char *stat_text, char *state, uint64_t *start_time)
{
	const char *p = strrchr(stat_text, ')');
	if (!p || p[1] != ' ' || p[2] == '\0')
		return -EINVAL;
	char st = p[2];
	p++;
	/* After the comm field: field 3 (state) ... field 22 (starttime). */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
	}
	if (p[1] < '0' || p[1] > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + 1, &end, 10);
	if (errno || end == p + 1 || (*end != ' ' && *end != '\0' && *end != '\n'))
		return -EINVAL;
	if (state)
		*state = st;
	*start_time = v;
	return 0;
}

int proc_stat_parse_start_time(const char *stat_text, uint64_t *ret)
{
	return proc_stat_parse(stat_text, NULL, ret);
}

static int read_stat(pid_t pid, char *state, uint64_t *start, struct cove_err *err)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, errno == ENOENT ? -ESRCH : -errno, "open %s", path);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return cove_errno(err, -errno, "read %s", path);
	buf[n] = '\0';
	if (proc_stat_parse(buf, state, start) < 0)
		return cove_errf(err, -EINVAL, "parse %s: no state or start time field", path);
	return 0;
}

int proc_identity_read(pid_t pid, struct proc_identity *ret, struct cove_err *err)
{
	uint64_t start;
	int r = read_stat(pid, NULL, &start, err);
	if (r < 0)
		return r;
	ret->pid = pid;
	ret->start_time = start;
	return 0;
}

bool proc_identity_matches(const struct proc_identity *id)
{
	char state;
	uint64_t start;
	if (id->pid <= 0 || read_stat(id->pid, &state, &start, NULL) < 0)
		return false;
	/* A zombie has exited; it only waits for a parent (which may never
	 * come, if it was reparented to an init that does not reap). */
	return start == id->start_time && state != 'Z' && state != 'X';
}

int proc_pidfd_open(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

int proc_pidfd_send_signal(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int proc_identity_pidfd(const struct proc_identity *id, int *ret_fd, struct cove_err *err)
{
	_cleanup_close_ int fd = proc_pidfd_open(id->pid);
	if (fd < 0)
		return cove_errno(err, fd, "pidfd_open %d", (int)id->pid);
	/* Checked after opening: if the start time still matches, the pidfd is
	 * bound to the process we mean and no later reuse can change that. */
	if (!proc_identity_matches(id))
		return cove_errf(err, -ESRCH, "process %d (start time %" PRIu64 ") is gone; the pid now names another process",
				 (int)id->pid, id->start_time);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int proc_pidfd_wait(int pidfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		int left = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && left < 0)
			left = 0;
		int r = poll(&pfd, 1, left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_ms(void)
{
	return now_us() / 1000;
}

int64_t wall_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
