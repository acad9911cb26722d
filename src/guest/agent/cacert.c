#include "agent/cacert.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/rootfs.h"

/* Debian's bundle is about 200 KiB; one much larger is not a bundle. */
#define BUNDLE_MAX (16 * 1024 * 1024)
#define CA_DIR "usr/local/share/ca-certificates"
#define CA_NEW ".cove-egress.crt.new"

/* The system bundles, inside the tree: Debian's and Ubuntu's, RHEL's and
 * Fedora's, Alpine's and others'. Several may be one file (Alpine's
 * cert.pem links to the first): it gets the certificates once. */
static const char *const bundles[] = { &AGENT_CA_DEBIAN_BUNDLE[1], "etc/pki/tls/certs/ca-bundle.crt",
				       "etc/ssl/cert.pem" };

static const char BEGIN[] = "-----BEGIN CERTIFICATE-----", END[] = "-----END CERTIFICATE-----";

static bool line_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* A line of base64: RFC 7468 says 64 characters; some encoders write 76. */
static bool base64_line(const char *s, size_t n)
{
	if (n == 0 || n > 76)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' && s[i] != '=')
			return false;
	return true;
}

/* One or more PEM certificates and nothing else (blank lines between). */
static bool pem_certificates(const char *s, size_t n)
{
	size_t certs = 0, body = 0;
	bool inside = false;
	for (size_t at = 0; at < n;) {
		const char *line = s + at, *nl = memchr(line, '\n', n - at);
		size_t len = nl ? (size_t)(nl - line) : n - at;
		at += len + (nl != NULL);
		if (!inside && line_is(line, len, BEGIN)) {
			inside = true;
			body = 0;
		} else if (inside && line_is(line, len, END)) {
			if (!body)
				return false;
			inside = false;
			certs++;
		} else if (inside && base64_line(line, len)) {
			body++;
		} else if (inside || len) {
			return false;
		}
	}
	return certs > 0 && !inside;
}

int agent_ca_parse(json_t *req, char **ret, struct cove_err *err)
{
	json_t *v = json_object_get(req, "caBundle");
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;
	if (v && !json_is_null(v) && (!s || n > AGENT_CA_MAX))
		return cove_errf(err, -EINVAL, "caBundle must be a string of at most %d bytes", AGENT_CA_MAX);
	if (n && (memchr(s, '\0', n) || !pem_certificates(s, n)))
		return cove_errf(err, -EINVAL, "caBundle must be PEM certificates and nothing else");
	for (; n && *s == '\n'; n--)
		s++;
	while (n && s[n - 1] == '\n')
		n--;
	char *copy = n ? malloc(n + 2) : NULL;
	if (n && !copy)
		return cove_errf(err, -ENOMEM, "out of memory");
	if (copy) {
		memcpy(copy, s, n);
		memcpy(copy + n, "\n", 2);
	}
	*ret = copy;
	return 0;
}

/* The whole of a regular file of at most max bytes, NUL-terminated. */
static int read_all(int fd, size_t max, char **ret, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			break;
		got += r > 0 ? (size_t)r : 0;
	}
	buf[got] = '\0';
	*len = got;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Whether the file at path in the tree (not a link) holds exactly pem. */
static bool file_holds(int root, const char *path, const char *pem, size_t len)
{
	_cleanup_close_ int fd = rootfs_open(root, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	_cleanup_free_ char *text = NULL;
	size_t got;
	return fd >= 0 && read_all(fd, AGENT_CA_MAX, &text, &got) == 0 && got == len && memcmp(text, pem, len) == 0;
}

/* AGENT_CA_FILE, written aside and renamed over what is there (a reader
 * sees the old file or the new one; a link there is replaced, not
 * followed), unless it holds pem already. */
static int write_file(int root, const char *pem, size_t len, struct cove_err *err)
{
	const char *path = &AGENT_CA_FILE[1];
	if (file_holds(root, path, pem, len))
		return 0;
	int fd = rootfs_create(root, CA_DIR "/" CA_NEW, 0644, err);
	if (fd < 0)
		return fd;
	int r = fs_write_all(fd, pem, len);
	close(fd);
	_cleanup_close_ int dir = r == 0 ? rootfs_open(root, CA_DIR, O_PATH | O_DIRECTORY, 0) : -1;
	if (r == 0 && dir < 0)
		r = dir;
	if (r == 0 && renameat(dir, CA_NEW, dir, strrchr(path, '/') + 1) < 0)
		r = -errno;
	return r < 0 ? cove_errno(err, r, "write %s", AGENT_CA_FILE) : 0;
}

/* Appends pem to the bundle at path unless it holds it: 1 appended, 0 held
 * it, -ENOENT no such bundle, else an error. The bundle may be a link
 * (inside the tree) to the file itself. */
static int bundle_add(int root, const char *path, const char *pem, size_t len, struct cove_err *err)
{
	_cleanup_close_ int fd = rootfs_open(root, path, O_RDWR | O_APPEND | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -ENOENT)
		return fd;
	_cleanup_free_ char *text = NULL;
	size_t got = 0;
	int r = fd < 0 ? fd : read_all(fd, BUNDLE_MAX, &text, &got);
	if (r < 0)
		return cove_errno(err, r, "read /%s", path);
	if (memmem(text, got, pem, len))
		return 0;
	if (got && text[got - 1] != '\n')
		r = fs_write_all(fd, "\n", 1);
	if (r == 0)
		r = fs_write_all(fd, pem, len);
	return r < 0 ? cove_errno(err, r, "append to /%s", path) : 1;
}

/* Nothing is fsynced: this is on every create's way, a guest that crashes
 * is gone with its disk, and a saved sandbox's disk is synced before it
 * is saved; what is lost anyway the next /init, which checks each file
 * again, writes again. */
void agent_ca_install(const char *root_path, const char *pem, struct agent_ca_installed *ret)
{
	*ret = (struct agent_ca_installed){ 0 };
	_cleanup_close_ int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		log_warn("op=init msg=\"egress CA: open %s: %s\"", root_path, strerror(errno));
		return;
	}
	size_t len = strlen(pem);
	struct cove_err err = { 0 };
	if (write_file(root, pem, len, &err) == 0)
		ret->file = true;
	else
		log_warn("op=init msg=\"egress CA: %s\"", err.msg);
	for (size_t i = 0; i < sizeof(bundles) / sizeof(*bundles); i++) {
		int r = bundle_add(root, bundles[i], pem, len, &err);
		if (r == 1)
			log_info("op=init msg=\"egress CA added to /%s\"", bundles[i]);
		else if (r < 0 && r != -ENOENT)
			log_warn("op=init msg=\"egress CA: %s\"", err.msg);
		if (i == 0)
			ret->debian_bundle = r >= 0;
	}
}

void agent_ca_envs(const struct agent_ca_installed *in, const char *out[4])
{
	size_t n = 0;
	if (in->file)
		out[n++] = "NODE_EXTRA_CA_CERTS=" AGENT_CA_FILE;
	if (in->debian_bundle) {
		out[n++] = "REQUESTS_CA_BUNDLE=" AGENT_CA_DEBIAN_BUNDLE;
		out[n++] = "SSL_CERT_FILE=" AGENT_CA_DEBIAN_BUNDLE;
	}
	out[n] = NULL;
}
