/* The host's secrets key file (see internal.h): 32 bytes from GnuTLS's key
 * generator, made once, beside cove.db, readable by its owner alone. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "secrets/internal.h"

struct secrets_key {
	unsigned char bytes[SECRETS_KEY_BYTES];
	size_t map_len;
};

static struct secrets_key *key_alloc(void)
{
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Best effort: without CAP_IPC_LOCK a small RLIMIT_MEMLOCK may refuse
	 * it, and the key is still zeroed when freed. */
	(void)mlock(p, len);
	(void)madvise(p, len, MADV_DONTDUMP);
	struct secrets_key *k = p;
	k->map_len = len;
	return k;
}

void secrets_key_free(struct secrets_key *k)
{
	if (!k)
		return;
	size_t len = k->map_len;
	explicit_bzero(k, len);
	munlock(k, len);
	munmap(k, len);
}

/* The directory's entries on disk: a key whose rename a power cut undid
 * would leave the values sealed under it unreadable. */
static void sync_dir(const char *state_dir)
{
	_cleanup_close_ int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
}

/* A fresh key written aside (O_EXCL, a name of this process's) and renamed
 * into place without replacing one another process made meanwhile (then
 * that one is used). */
static int key_make(const char *state_dir, const char *path, struct cove_err *err)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d.new", path, (int)getpid()) >= sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "secrets key %s: path too long", path);
	unsigned char raw[SECRETS_KEY_BYTES];
	if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
		return cove_errf(err, -EIO, "secrets key %s: no random bytes from GnuTLS", path);
	/* One left by a crashed process of this pid never became the key. */
	unlink(tmp);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = fd < 0 ? -errno : fs_write_all(fd, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 && errno != EEXIST)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return cove_errno(err, r, "secrets key: write %s", tmp);
	}
	unlink(tmp); /* still there when another one won the race */
	sync_dir(state_dir);
	log_info("op=secrets-key msg=\"made a new secrets key\" path=%s", path);
	return 0;
}

/* The file's owner, mode and size as the key needs them. */
static int key_check(int fd, const char *path, struct cove_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cove_errno(err, -errno, "secrets key: stat %s", path);
	if (!S_ISREG(st.st_mode))
		return cove_errf(err, -EINVAL, "secrets key %s is not a regular file", path);
	if (st.st_uid != geteuid())
		return cove_errf(err, -EPERM, "secrets key %s belongs to uid %u, not to this user (%u)", path,
				 (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return cove_errf(err, -EPERM,
				 "secrets key %s has mode %04o: others than its owner may use it (chmod 600 it)", path,
				 (unsigned)(st.st_mode & 07777));
	if (st.st_size != SECRETS_KEY_BYTES)
		return cove_errf(err, -EINVAL, "secrets key %s is %lld bytes, not %d", path, (long long)st.st_size,
				 SECRETS_KEY_BYTES);
	return 0;
}

static int key_read(const char *path, struct secrets_key *k, struct cove_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : cove_errno(err, -errno, "secrets key: open %s", path);
	int r = key_check(fd, path, err);
	if (r < 0)
		return r;
	ssize_t n = read(fd, k->bytes, sizeof(k->bytes));
	if (n != (ssize_t)sizeof(k->bytes))
		return cove_errf(err, -EIO, "secrets key: read %s: %s", path, n < 0 ? strerror(errno) : "short read");
	return 0;
}

int secrets_key_open(const char *state_dir, struct secrets_key **ret, bool *made, struct cove_err *err)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, SECRETS_KEY_FILE) >= sizeof(path))
		return cove_errf(err, -ENAMETOOLONG, "state directory %s: path too long", state_dir);
	struct secrets_key *k = key_alloc();
	if (!k)
		return cove_errf(err, -ENOMEM, "secrets key: out of memory");
	*made = false;
	int r = key_read(path, k, err);
	if (r == -ENOENT) {
		*made = true;
		r = key_make(state_dir, path, err);
		if (r == 0)
			r = key_read(path, k, err);
		if (r == -ENOENT)
			r = cove_errf(err, r, "secrets key %s: gone as soon as made", path);
	}
	if (r < 0) {
		secrets_key_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

const unsigned char *secrets_key_bytes(const struct secrets_key *k)
{
	return k->bytes;
}
