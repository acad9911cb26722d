/* The QEMU driver's version: what `qemu-system-x86_64 --version` says
 * ("QEMU emulator version 7.2.19 (Debian ...)": "7.2.19"), asked once per
 * binary and kept while the file is unchanged (same size, modification time
 * and inode: an upgrade in place is seen at the next call). Template
 * snapshots and saved sandboxes record it, so that another QEMU refuses
 * them with the reason instead of failing part way through a restore.
 * Logged when first asked. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "vmm/driver.h"
#include "vmm/qemu/qemu.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char path[4096];
	struct stat st;
	char version[64];
} cached;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* "QEMU emulator version X.Y.Z..." -> "X.Y.Z". */
static int parse(const char *out, char *buf, size_t len)
{
	const char *p = strstr(out, "version ");
	if (!p)
		return -EPROTO;
	p += strlen("version ");
	size_t n = strspn(p, "0123456789.");
	if (n == 0 || n >= len)
		return -EPROTO;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int qemu_version(const char *binary, char *buf, size_t len, struct cove_err *err)
{
	char path[4096];
	int r = qemu_find_binary(binary, path, sizeof(path), err);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(path, &st) < 0)
		return cove_errno(err, -errno, "qemu: %s", path);
	pthread_mutex_lock(&lock);
	bool hit = strcmp(cached.path, path) == 0 && same_file(&cached.st, &st);
	if (hit)
		snprintf(buf, len, "%s", cached.version);
	pthread_mutex_unlock(&lock);
	if (hit)
		return 0;
	char version[64];
	r = vmm_binary_version("qemu", path, parse, version, sizeof(version), err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	snprintf(cached.path, sizeof(cached.path), "%s", path);
	cached.st = st;
	snprintf(cached.version, sizeof(cached.version), "%s", version);
	pthread_mutex_unlock(&lock);
	log_info("vmm: qemu %s (%s)", version, path);
	snprintf(buf, len, "%s", version);
	return 0;
}
