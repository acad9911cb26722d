/* The store of COPY uploads (see files.h): temp files, commits, lookups. */
#include "build/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

/* A temp file is ".<hash>.tmp.<random>": hidden, and never a <hash>.tar. */
#define TMP_MARK ".tmp."

struct files_upload {
	const struct files_store *store;
	char hash[BUILD_HASH_HEX + 1];
	char tmp[PATH_MAX];
	int fd;
	uint64_t written;
};

static int hash_check(const char *hash, struct cove_err *err)
{
	if (hash && build_hash_ok(hash))
		return 0;
	return cove_errf(err, -EINVAL, "invalid files hash '%.70s': it must be 64 of 0-9, a-f", hash ? hash : "");
}

/* Removes what a crash left of uploads (no upload is running yet). */
static int sweep_temps(const char *dir, struct cove_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return cove_errno(err, -errno, "files store %s: open", dir);
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strstr(e->d_name, TMP_MARK) && unlinkat(dirfd(d), e->d_name, 0) < 0 &&
		    errno != ENOENT)
			return cove_errno(err, -errno, "files store %s: remove %s", dir, e->d_name);
	return 0;
}

int files_store_open(const char *dir, struct files_store *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (strlen(dir) + 1 + BUILD_HASH_HEX + 32 >= sizeof(ret->dir))
		return cove_errf(err, -ENAMETOOLONG, "files store %.64s...: the path is too long", dir);
	int r = fs_mkdir_p(dir, 0700, err);
	if (r == 0)
		r = sweep_temps(dir, err);
	if (r < 0)
		return r;
	snprintf(ret->dir, sizeof(ret->dir), "%s", dir);
	ret->limits = (struct files_limits){ FILES_MAX_UPLOAD, FILES_MAX_CONTENT, FILES_MAX_ENTRIES };
	return 0;
}

int files_begin(const struct files_store *store, const char *hash, struct files_upload **ret, struct cove_err *err)
{
	int r = hash_check(hash, err);
	if (r < 0)
		return r;
	struct files_upload *u = calloc(1, sizeof(*u));
	char rnd[17];
	if (!u)
		return cove_errf(err, -ENOMEM, "out of memory");
	if ((r = random_hex(rnd, 8)) < 0) {
		free(u);
		return cove_errno(err, r, "files %s: random name", hash);
	}
	u->store = store;
	memcpy(u->hash, hash, sizeof(u->hash));
	snprintf(u->tmp, sizeof(u->tmp), "%s/.%s" TMP_MARK "%s", store->dir, hash, rnd);
	u->fd = open(u->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		r = cove_errno(err, -errno, "files %s: create %s", hash, u->tmp);
		free(u);
		return r;
	}
	*ret = u;
	return 0;
}

int files_write(struct files_upload *u, const void *buf, size_t len, struct cove_err *err)
{
	if (len > u->store->limits.max_upload - u->written)
		return cove_errf(err, -EFBIG, "files %s: the upload is over %llu bytes", u->hash,
				 (unsigned long long)u->store->limits.max_upload);
	int r = fs_write_all(u->fd, buf, len);
	if (r < 0)
		return cove_errno(err, r, "files %s: write %s", u->hash, u->tmp);
	u->written += len;
	return 0;
}

struct files_upload *files_abort(struct files_upload *u)
{
	if (!u)
		return NULL;
	if (u->fd >= 0)
		close(u->fd);
	unlink(u->tmp);
	free(u);
	return NULL;
}

/* Checks and puts u's file in place; u stays for the caller to free. */
static int commit(struct files_upload *u, uint64_t expected_len, struct cove_err *err)
{
	if (u->written != expected_len)
		return cove_errf(err, -EIO, "files %s: the upload said %llu bytes and %llu came", u->hash,
				 (unsigned long long)expected_len, (unsigned long long)u->written);
	int r = files_archive_check(u->fd, u->hash, &u->store->limits, err);
	if (r < 0)
		return r;
	if (fsync(u->fd) < 0)
		return cove_errno(err, -errno, "files %s: fsync %s", u->hash, u->tmp);
	char path[PATH_MAX];
	files_path(u->store, u->hash, path, NULL);
	/* Atomic over an earlier one: a reader has the old file or the new. */
	if (rename(u->tmp, path) < 0)
		return cove_errno(err, -errno, "files %s: rename %s to %s", u->hash, u->tmp, path);
	u->tmp[0] = '\0';
	return fs_sync_dir(u->store->dir, err);
}

int files_commit(struct files_upload *u, uint64_t expected_len, struct cove_err *err)
{
	int r = commit(u, expected_len, err);
	if (!u->tmp[0]) {
		/* In place: nothing to remove, whatever the directory's sync said. */
		close(u->fd);
		free(u);
		return r;
	}
	files_abort(u);
	return r;
}

int files_path(const struct files_store *store, const char *hash, char buf[PATH_MAX], struct cove_err *err)
{
	int r = hash_check(hash, err);
	if (r < 0)
		return r;
	snprintf(buf, PATH_MAX, "%s/%s.tar", store->dir, hash);
	return 0;
}

bool files_has(const struct files_store *store, const char *hash)
{
	char path[PATH_MAX];
	struct stat st;
	return files_path(store, hash, path, NULL) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int files_remove(const struct files_store *store, const char *hash, struct cove_err *err)
{
	char path[PATH_MAX];
	int r = files_path(store, hash, path, err);
	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return cove_errno(err, -errno, "files %s: remove %s", hash, path);
	return 0;
}
