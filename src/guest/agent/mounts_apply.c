/* Mounting /init's volumeMounts in the guest (agent/mounts.h). */
#include "agent/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/proc.h"

/* A guest has a few dozen mounts; this many bytes of them is not a guest's. */
#define MOUNTINFO_MAX (4 * 1024 * 1024)
#define RETRY_SLEEP_MS 200
#define AGENT_NFS_READ_AHEAD_KIB "15360"

static int read_mountinfo(char **ret, size_t *len, struct cove_err *err)
{
	_cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "volumeMounts: open /proc/self/mountinfo");
	size_t cap = 64 * 1024, n = 0;
	_cleanup_free_ char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			return cove_errf(err, -ENOMEM, "volumeMounts: out of memory");
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return cove_errno(err, -errno, "volumeMounts: read /proc/self/mountinfo");
		if (got == 0)
			break;
		n += (size_t)got;
		if (n == cap) {
			if (cap >= MOUNTINFO_MAX)
				return cove_errf(err, -EFBIG, "volumeMounts: /proc/self/mountinfo is over %d bytes",
						 MOUNTINFO_MAX);
			char *bigger = realloc(buf, cap * 2);
			if (!bigger)
				return cove_errf(err, -ENOMEM, "volumeMounts: out of memory");
			buf = bigger;
			cap *= 2;
		}
	}
	*len = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* One directory of the path, made if missing (0755, root's: the agent's
 * umask and a set-group-ID parent do not decide). Links are never
 * followed: a guest's link must not move a mount elsewhere. */
static int open_or_make(int parent, const char *name, const char *path, struct cove_err *err)
{
	int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(parent, name, flags);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
			return cove_errno(err, -errno, "mkdir %.300s", path);
		fd = openat(parent, name, flags);
		if (fd >= 0 && (fchown(fd, 0, 0) < 0 || fchmod(fd, 0755) < 0)) {
			int r = -errno;
			close(fd);
			return cove_errno(err, r, "chmod %.300s", path);
		}
	}
	if (fd < 0) {
		int r = -errno;
		struct stat st;
		if ((r == -ELOOP || r == -ENOTDIR) && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			return cove_errf(err, -ELOOP, "%.300s is a symbolic link (links are not followed)", path);
		return cove_errno(err, r, "open %.300s", path);
	}
	return fd;
}

/* mkdir -p: a descriptor of the directory at path. */
static int make_dirs(const char *path, struct cove_err *err)
{
	char prefix[AGENT_MOUNT_PATH_MAX + 1], name[NAME_MAX + 1];
	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return cove_errno(err, -errno, "open /");
	for (const char *at = path + 1; *at;) {
		const char *end = strchrnul(at, '/');
		size_t n = (size_t)(end - at);
		int next = n > NAME_MAX ? cove_errf(err, -ENAMETOOLONG, "%.300s: a name over %d bytes", path, NAME_MAX)
					: 0;
		if (next == 0) {
			memcpy(name, at, n);
			name[n] = '\0';
			snprintf(prefix, sizeof(prefix), "%.*s", (int)(end - path), path);
			next = open_or_make(dir, name, prefix, err);
		}
		close(dir);
		if (next < 0)
			return next;
		dir = next;
		at = *end ? end + 1 : end;
	}
	return dir;
}

/* What a server says to a client it does not yet let mount an export, or
 * while it is not yet listening: the host changes its export list just
 * before /init. Measured against nfs-ganesha 4.3 (Mount_Path_Pseudo) from
 * a guest: a client not in the export's list and an export it does not
 * have both get EACCES (MNT3ERR_ACCES), a port nobody listens on
 * ECONNREFUSED. The kernel maps MNT3ERR_NOENT and _PERM (other servers'
 * answers for an unknown export) to ENOENT and EPERM. */
static bool retryable(int e)
{
	return e == EACCES || e == ENOENT || e == ECONNREFUSED || e == ETIMEDOUT || e == EIO || e == EPERM ||
	       e == EHOSTUNREACH || e == ENETUNREACH;
}

/* An NFS mount's read-ahead: Linux 5.4 on gives it the block devices'
 * 128 KiB, not 15 rsizes as before; at 1 MiB rsize, each sequential
 * read then waits on a round trip through the host. */
static void nfs_read_ahead(const char *path, size_t i)
{
	const char *kib = AGENT_NFS_READ_AHEAD_KIB;
	struct stat st;
	char sys[96];
	if (stat(path, &st) < 0)
		return;
	snprintf(sys, sizeof(sys), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
	_cleanup_close_ int fd = open(sys, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, kib, strlen(kib)) < 0)
		log_warn("op=init msg=\"volumeMounts[%zu]: read-ahead of %.200s (%s): %s\"", i, path, sys,
			 strerror(errno));
}

static int mount_one(const struct agent_mount *m, size_t i, int64_t deadline, struct cove_err *err)
{
	char source[AGENT_MOUNT_SOURCE_MAX], options[AGENT_MOUNT_OPTIONS_MAX], target[64];
	agent_mount_source(m, source);
	agent_mount_options(m, options);
	_cleanup_close_ int dir = make_dirs(m->path, err);
	if (dir < 0)
		return cove_err_prefix(err, "volumeMounts[%zu]", i);
	/* The directory just checked, not whatever the path names by now. */
	snprintf(target, sizeof(target), "/proc/self/fd/%d", dir);
	/* A virtiofs device is there from boot: nothing to wait for. */
	if (m->type == AGENT_MOUNT_VIRTIOFS) {
		unsigned long flags = MS_NOSUID | MS_NODEV | (m->read_only ? MS_RDONLY : 0);
		int r;
		while ((r = mount(source, target, "virtiofs", flags, NULL)) < 0 && errno == EINTR)
			;
		return r == 0 ? 0 : cove_errno(err, -errno, "volumeMounts[%zu]: mount virtiofs %s on %.300s", i,
					       source, m->path);
	}
	int tries = 0;
	for (;;) {
		tries++;
		if (mount(source, target, "nfs", MS_NOSUID | MS_NODEV, options) == 0) {
			nfs_read_ahead(m->path, i);
			return 0;
		}
		int e = errno;
		if (e == EINTR || (retryable(e) && now_ms() + RETRY_SLEEP_MS < deadline)) {
			struct timespec pause = { 0, RETRY_SLEEP_MS * 1000000L };
			nanosleep(&pause, NULL);
			continue;
		}
		return cove_errf(err, -e, "volumeMounts[%zu]: mount %s on %.300s (%d tries): %s", i, source, m->path,
				 tries, strerror(e));
	}
}

int agent_mounts_apply(const struct agent_mounts *m, struct cove_err *err)
{
	if (!m->count)
		return 0;
	_cleanup_free_ char *info = NULL;
	size_t len = 0;
	int r = read_mountinfo(&info, &len, err);
	if (r < 0)
		return r;
	bool made[AGENT_MOUNTS_MAX] = { false };
	int64_t deadline = now_ms() + AGENT_MOUNT_RETRY_MS;
	size_t i = 0;
	for (; r == 0 && i < m->count; i++) {
		char source[AGENT_MOUNT_SOURCE_MAX];
		agent_mount_source(&m->mount[i], source);
		if (agent_mountinfo_has(info, len, m->mount[i].path, agent_mount_fstype(&m->mount[i]), source))
			continue; /* an earlier /init's, before a resume or fork */
		int64_t t0 = now_ms();
		r = mount_one(&m->mount[i], i, deadline, err);
		made[i] = r == 0;
		if (r == 0)
			log_info("op=init mount=%s path=%s ms=%lld", source, m->mount[i].path,
				 (long long)(now_ms() - t0));
	}
	if (r == 0)
		return 0;
	/* All or none: what this call mounted goes again. */
	log_error("op=init msg=\"%s\"", err->msg);
	while (i-- > 0)
		if (made[i] && umount2(m->mount[i].path, MNT_DETACH) < 0)
			log_warn("op=init msg=\"volumeMounts[%zu]: detach %s: %s\"", i, m->mount[i].path,
				 strerror(errno));
	return r;
}
