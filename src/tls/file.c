/* PEM files in and out, and GnuTLS's errors in Cove's form. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "tls/internal.h"

int tls_gnutls_err(struct cove_err *err, int rc, const char *fmt, ...)
{
	char msg[COVE_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cove_errf(err, rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL, "%s: %s", msg, gnutls_strerror(rc));
}

/* A private file is this user's and no one else may read or write it:
 * checked on the descriptor read, so the file checked is the file read. */
static int file_read(const char *path, const char *what, bool private, char **ret, size_t *len,
		     struct cove_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cove_errno(err, -errno, "tls: read %s %s", what, path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cove_errno(err, -errno, "tls: read %s %s", what, path);
	if (!S_ISREG(st.st_mode))
		return cove_errf(err, -EINVAL, "tls: %s %s is not a file", what, path);
	if (private && (st.st_uid != geteuid() || (st.st_mode & 077)))
		return cove_errf(err, -EPERM, "tls: %s %s is open to other users (mode %04o, owner %u); it must be "
					      "this user's with mode 0600",
				 what, path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
	if (st.st_size == 0 || st.st_size > TLS_FILE_MAX)
		return cove_errf(err, -EINVAL, "tls: %s %s is %s", what, path,
				 st.st_size ? "too large for a PEM file (256 KiB at most)" : "empty");
	size_t n = (size_t)st.st_size, got = 0;
	_cleanup_free_ char *buf = malloc(n + 1);
	if (!buf)
		return cove_errf(err, -ENOMEM, "tls: out of memory");
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cove_errno(err, -errno, "tls: read %s %s", what, path);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (memchr(buf, '\0', got))
		return cove_errf(err, -EINVAL, "tls: %s %s is not PEM (binary data)", what, path);
	*ret = TAKE_PTR(buf);
	if (len)
		*len = got;
	return 0;
}

int tls_file_read(const char *path, const char *what, char **ret, size_t *len, struct cove_err *err)
{
	return file_read(path, what, false, ret, len, err);
}

int tls_file_write(const char *path, const char *data, size_t len, mode_t mode, struct cove_err *err)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	(void)unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return cove_errno(err, -errno, "tls: write %s", tmp);
	int rc = fs_write_all(fd, data, len);
	if (rc == 0 && fchmod(fd, mode) < 0) /* the umask may have taken bits */
		rc = -errno;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		(void)unlink(tmp);
		return cove_errno(err, rc, "tls: write %s", path);
	}
	return 0;
}

int tls_crt_import(const char *pem, size_t len, const char *path, gnutls_x509_crt_t *ret, struct cove_err *err)
{
	gnutls_x509_crt_t crt;
	int rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: certificate %s", path);
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)len };
	if ((rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
		gnutls_x509_crt_deinit(crt);
		return tls_gnutls_err(err, rc, "tls: certificate %s", path);
	}
	*ret = crt;
	return 0;
}

int tls_key_import(const char *pem, size_t len, const char *path, gnutls_x509_privkey_t *ret, struct cove_err *err)
{
	gnutls_x509_privkey_t key;
	int rc = gnutls_x509_privkey_init(&key);
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: key %s", path);
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)len };
	rc = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(key);
		if (rc == GNUTLS_E_DECRYPTION_FAILED || strstr(pem, "ENCRYPTED"))
			return cove_errf(err, -EINVAL, "tls: key %s is encrypted; coved needs it unencrypted", path);
		return tls_gnutls_err(err, rc, "tls: key %s", path);
	}
	*ret = key;
	return 0;
}

int tls_crt_read(const char *path, gnutls_x509_crt_t *ret, struct cove_err *err)
{
	_cleanup_free_ char *pem = NULL;
	size_t len;
	int rc = tls_file_read(path, "certificate", &pem, &len, err);
	return rc < 0 ? rc : tls_crt_import(pem, len, path, ret, err);
}

int tls_key_read(const char *path, bool private, gnutls_x509_privkey_t *ret, struct cove_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	int rc = file_read(path, "key", private, &pem, &len, err);
	if (rc == 0)
		rc = tls_key_import(pem, len, path, ret, err);
	if (pem)
		explicit_bzero(pem, len); /* the key's text leaves no copy behind */
	free(pem);
	return rc;
}

int tls_crt_pem(gnutls_x509_crt_t crt, gnutls_datum_t *ret, struct cove_err *err)
{
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, ret);
	return rc < 0 ? tls_gnutls_err(err, rc, "tls: export a certificate") : 0;
}

int tls_key_pem(gnutls_x509_privkey_t key, gnutls_datum_t *ret, struct cove_err *err)
{
	int rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, ret);
	return rc < 0 ? tls_gnutls_err(err, rc, "tls: export a key") : 0;
}

bool tls_key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t na = sizeof(a), nb = sizeof(b);
	return gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na) == 0 &&
	       gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) == 0 && na == nb &&
	       memcmp(a, b, na) == 0;
}
