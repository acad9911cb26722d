/* A VMM binary's version, as its own --version says it (driver.h): asked
 * once per binary and kept while the file is unchanged (same device,
 * inode, size and modification time: an upgrade in place is seen at the
 * next call), and logged when first asked. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/spawn.h"
#include "vmm/driver.h"

/* A host has a binary per driver, and Firecracker's jailer. */
#define CACHE_SLOTS 8
#define VERSION_MAX 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char path[PATH_MAX];
	int (*parse)(const char *out, char *buf, size_t len);
	struct stat st;
	char version[VERSION_MAX];
} cache[CACHE_SLOTS];
static unsigned next_slot;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The cached version of path as parse reads it, into buf; false if none. */
static bool lookup(const char *path, int (*parse)(const char *, char *, size_t), const struct stat *st, char *buf,
		   size_t len)
{
	bool hit = false;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < CACHE_SLOTS && !hit; i++)
		if (cache[i].parse == parse && strcmp(cache[i].path, path) == 0 && same_file(&cache[i].st, st) &&
		    strlen(cache[i].version) < len) {
			snprintf(buf, len, "%s", cache[i].version);
			hit = true;
		}
	pthread_mutex_unlock(&lock);
	return hit;
}

static void store(const char *path, int (*parse)(const char *, char *, size_t), const struct stat *st,
		  const char *version)
{
	pthread_mutex_lock(&lock);
	unsigned i = next_slot++ % CACHE_SLOTS;
	snprintf(cache[i].path, sizeof(cache[i].path), "%s", path);
	cache[i].parse = parse;
	cache[i].st = *st;
	snprintf(cache[i].version, sizeof(cache[i].version), "%s", version);
	pthread_mutex_unlock(&lock);
}

int vmm_binary_version(const char *name, const char *path, int (*parse)(const char *out, char *buf, size_t len),
		       char *buf, size_t len, struct cove_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return cove_errno(err, -errno, "%s: %s", name, path);
	if (lookup(path, parse, &st, buf, len))
		return 0;
	char *argv[] = { (char *)path, "--version", NULL };
	struct spawn_options o = { .path = path, .argv = argv, .stdio = { { SPAWN_NULL }, { SPAWN_PIPE }, { SPAWN_NULL } } };
	char out[512] = "";
	struct spawn_capture capture = { out, sizeof(out) };
	int status = spawn_run(&o, &capture, NULL, NULL);
	if (status < 0)
		return cove_errno(err, status, "%s: run %s --version", name, path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || parse(out, buf, len < VERSION_MAX ? len : VERSION_MAX) < 0) {
		out[strcspn(out, "\n")] = '\0';
		return cove_errf(err, -EPROTO, "%s: %s --version: no version in '%.80s'", name, path, out);
	}
	store(path, parse, &st, buf);
	log_info("vmm: %s %s (%s)", name, buf, path);
	return 0;
}
