/* Whether Firecracker starts under its own jailer (fc.h: fc_jailer_find).
 *
 * The jailer is Firecracker's documented way to confine it
 * (docs/jailer.md): a copy of the binary in a chroot of its own, the
 * device nodes made there and owned by the VMM's ids, pivot_root, then the
 * ids dropped. Where it is installed Cove uses it for those steps, in the
 * namespaces, cgroup and work directory of Cove's launch (launch.c,
 * jail.c). Each jailer is meant for the Firecracker of its version, so
 * their two --version outputs are compared, once per pair of files. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "vmm/driver.h"
#include "vmm/fc/fc.h"

#define JAILER_NAME "jailer"
#define JAILER_SEARCH_DIRS "/usr/local/bin:/usr/bin"

/* The last pair compared: a host has one of each. */
static struct {
	pthread_mutex_t lock;
	char jailer[PATH_MAX], fc[PATH_MAX];
	struct timespec jailer_mtime, fc_mtime;
	ino_t jailer_ino, fc_ino;
	char jailer_version[32], fc_version[32];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool same_file(const struct stat *st, ino_t ino, const struct timespec *mtime)
{
	return st->st_ino == ino && st->st_mtim.tv_sec == mtime->tv_sec && st->st_mtim.tv_nsec == mtime->tv_nsec;
}

/* Both versions, from the cache when neither file changed. */
static int versions(const char *jailer, const char *fc, char jv[32], char fv[32], struct cove_err *err)
{
	struct stat js, fs;
	if (stat(jailer, &js) < 0)
		return cove_errno(err, -errno, "firecracker: jailer %s", jailer);
	if (stat(fc, &fs) < 0)
		return cove_errno(err, -errno, "firecracker: %s", fc);
	pthread_mutex_lock(&cache.lock);
	bool hit = strcmp(cache.jailer, jailer) == 0 && strcmp(cache.fc, fc) == 0 &&
		   same_file(&js, cache.jailer_ino, &cache.jailer_mtime) && same_file(&fs, cache.fc_ino, &cache.fc_mtime);
	if (hit) {
		memcpy(jv, cache.jailer_version, 32);
		memcpy(fv, cache.fc_version, 32);
	}
	pthread_mutex_unlock(&cache.lock);
	if (hit)
		return 0;
	int r = vmm_binary_version("firecracker jailer", jailer, fc_parse_jailer_version, jv, 32, err);
	r = r ?: vmm_binary_version("firecracker", fc, fc_parse_version, fv, 32, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&cache.lock);
	snprintf(cache.jailer, sizeof(cache.jailer), "%s", jailer);
	snprintf(cache.fc, sizeof(cache.fc), "%s", fc);
	cache.jailer_ino = js.st_ino;
	cache.jailer_mtime = js.st_mtim;
	cache.fc_ino = fs.st_ino;
	cache.fc_mtime = fs.st_mtim;
	memcpy(cache.jailer_version, jv, 32);
	memcpy(cache.fc_version, fv, 32);
	pthread_mutex_unlock(&cache.lock);
	return 0;
}

int fc_jailer_find(const char *setting, const char *fc_binary, char *out, size_t len, struct cove_err *err)
{
	bool automatic = !setting || !*setting || strcmp(setting, "auto") == 0;
	if (setting && strcmp(setting, "off") == 0)
		return 0;
	if (automatic) {
		/* Beside the binary: a release ships the two together. */
		const char *slash = strrchr(fc_binary, '/');
		int dir = slash ? (int)(slash - fc_binary) : 0;
		if (!slash || snprintf(out, len, "%.*s/" JAILER_NAME, dir, fc_binary) >= (int)len ||
		    access(out, X_OK) < 0)
			return 0;
	} else {
		int r = fs_find_executable(setting, JAILER_SEARCH_DIRS, out, len);
		if (r < 0)
			return cove_errno(err, r, "COVE_FIRECRACKER_JAILER=%s: not found on PATH or in %s", setting,
					  JAILER_SEARCH_DIRS);
	}
	char jv[32], fv[32];
	struct cove_err e = { 0 };
	int r = versions(out, fc_binary, jv, fv, &e);
	if (r == 0 && strcmp(jv, fv) != 0)
		r = cove_errf(&e, -EPROTO, "firecracker: jailer %s is version %s, firecracker %s is %s: a jailer is "
					   "meant for the Firecracker of its version", out, jv, fc_binary, fv);
	if (r < 0 && automatic) {
		static bool said;
		if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
			log_warn("op=boot msg=\"firecracker runs without its jailer: %s\"", e.msg);
		return 0;
	}
	if (r < 0) {
		if (err)
			*err = e;
		return r;
	}
	return 1;
}
