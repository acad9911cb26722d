/* POST /files/compose: envd's assembly of a file uploaded in parts. The
 * sources are concatenated in order into a temporary file beside the
 * destination, which is then renamed over it (so a compose that fails
 * leaves any earlier destination whole), and the sources are removed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fs_service.h"
#include "agent/users.h"
#include "common/fs.h"
#include "common/log.h"
#include "proto/compose.h"
#include "proto/utf8.h"

/* A compose resolved against its user: the paths it acts on. */
struct compose {
	struct compose_request req;
	struct user_info user;
	char dest[PATH_MAX];
	char **sources; /* req.nsources absolute paths */
	char tmp[PATH_MAX];
	int fd;
	unsigned status; /* of the first failure; 0: none */
	char message[PATH_MAX + 128];
};

static int compose_fail(struct compose *c, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int compose_fail(struct compose *c, unsigned status, const char *fmt, ...)
{
	c->status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Out of space is envd's 507; the rest of what goes wrong while writing is
 * the sandbox's, 500. */
static int compose_fail_errno(struct compose *c, int e, const char *what, const char *path)
{
	if (e == -ENOSPC || e == -EDQUOT)
		return compose_fail(c, 507, "not enough disk space available");
	return compose_fail(c, 500, "%s %s: %s", what, path, strerror(-e));
}

static void compose_free(struct compose *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->tmp[0])
		unlink(c->tmp); /* still there only when the compose failed */
	for (size_t i = 0; c->sources && i < c->req.nsources; i++)
		free(c->sources[i]);
	free(c->sources);
	compose_request_clear(&c->req);
}

/* The checks envd makes, in its order, before anything is written: the
 * user, the destination, then each source (not the destination, existing,
 * a regular file). */
static int compose_resolve(struct compose *c, struct http_request *r)
{
	struct cove_err err = { 0 };
	int rc = user_resolve(r, c->req.username, &c->user, &err);
	if (rc < 0)
		return compose_fail(c, rc == -ESRCH ? 401 : 400, "%s", err.msg);
	if (fs_resolve(c->req.destination, c->user.home, c->dest, sizeof(c->dest)) < 0)
		return compose_fail(c, 400, "destination path is too long");
	struct stat st;
	if (stat(c->dest, &st) == 0 && S_ISDIR(st.st_mode))
		return compose_fail(c, 400, "destination is a directory: %s", c->dest);
	c->sources = calloc(c->req.nsources, sizeof(char *));
	if (!c->sources)
		return compose_fail(c, 500, "out of memory");
	for (size_t i = 0; i < c->req.nsources; i++) {
		const char *src = c->req.sources[i];
		char path[PATH_MAX];
		if (fs_resolve(src, c->user.home, path, sizeof(path)) < 0)
			return compose_fail(c, 400, "source path is too long: %s", src);
		/* By name as envd, and by inode too: a source that is the
		 * destination under another name would be removed at the end. */
		if (strcmp(path, c->dest) == 0 || fs_same_file(path, c->dest))
			return compose_fail(c, 400, "source path \"%s\" cannot be the same as destination", src);
		if (stat(path, &st) < 0)
			return compose_fail(c, 404, "source file not found: %s", src);
		if (!S_ISREG(st.st_mode))
			return compose_fail(c, 400, "source path is not a regular file: %s", src);
		if (!(c->sources[i] = strdup(path)))
			return compose_fail(c, 500, "out of memory");
	}
	return 0;
}

/* Appends the whole of the file at path to c->fd: in the kernel where it
 * can (copy_file_range), else through a buffer. */
static int append_file(struct compose *c, const char *path, uint64_t *total)
{
	/* O_NONBLOCK and a check on what was opened: a source swapped for a
	 * FIFO since it was looked at is refused, not waited on forever. */
	int in = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		return compose_fail_errno(c, -errno, "open", path);
	struct stat st;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return compose_fail(c, 400, "source path is not a regular file: %s", path);
	}
	int rc = 0;
	bool kernel = true;
	for (;;) {
		ssize_t n = kernel ? copy_file_range(in, NULL, c->fd, NULL, 1 << 30, 0) : 0;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			kernel = false;
			continue;
		}
		if (!kernel) {
			char buf[65536];
			n = read(in, buf, sizeof(buf));
			if (n > 0 && (rc = fs_write_all(c->fd, buf, (size_t)n)) < 0)
				break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		*total += (uint64_t)n;
	}
	close(in);
	return rc < 0 ? compose_fail_errno(c, rc, "compose", path) : 0;
}

/* The temporary file beside the destination, the user's, mode 0666 less the
 * umask (as envd makes it). */
static int compose_open(struct compose *c)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", c->dest);
	char *slash = strrchr(dir, '/');
	struct cove_err err = { 0 };
	if (slash && slash != dir) {
		*slash = '\0';
		if (fs_ensure_dirs(dir, c->user.uid, c->user.gid, &err) < 0)
			return compose_fail(c, err.code == -ENOTDIR ? 400 : 500, "%s", err.msg);
	}
	char hex[17];
	if (random_hex(hex, 8) < 0)
		return compose_fail(c, 500, "no random bytes for a temporary name");
	if ((size_t)snprintf(c->tmp, sizeof(c->tmp), "%s.cove-compose.%s.tmp", c->dest, hex) >= sizeof(c->tmp)) {
		c->tmp[0] = '\0';
		return compose_fail(c, 400, "destination path is too long");
	}
	c->fd = open(c->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (c->fd < 0) {
		int e = -errno;
		c->tmp[0] = '\0';
		return compose_fail_errno(c, e, "create", c->dest);
	}
	if (fchown(c->fd, c->user.uid, c->user.gid) < 0)
		return compose_fail_errno(c, -errno, "chown", c->tmp);
	return 0;
}

static int compose_run(struct compose *c, uint64_t *total)
{
	if (compose_open(c) < 0)
		return -1;
	for (size_t i = 0; i < c->req.nsources; i++)
		if (append_file(c, c->sources[i], total) < 0)
			return -1;
	int rc = close(c->fd) < 0 ? -errno : 0;
	c->fd = -1;
	if (rc < 0)
		return compose_fail_errno(c, rc, "write", c->tmp);
	if (rename(c->tmp, c->dest) < 0)
		return compose_fail_errno(c, -errno, "rename over", c->dest);
	c->tmp[0] = '\0';
	for (size_t i = 0; i < c->req.nsources; i++)
		unlink(c->sources[i]); /* as envd: a source already gone is no error */
	return 0;
}

enum MHD_Result files_compose(struct http_request *r)
{
	struct compose c = { .fd = -1 };
	struct cove_err err = { 0 };
	if (compose_request_parse(r->body ? r->body : "", r->len, &c.req, &err) < 0)
		compose_fail(&c, err.code == -ENOMEM ? 500 : 400, "%s", err.msg);
	uint64_t total = 0;
	if (!c.status && compose_resolve(&c, r) == 0)
		compose_run(&c, &total);
	if (c.status) {
		enum MHD_Result ret = agent_reply_rest_error(r, c.status, c.message);
		compose_free(&c);
		return ret;
	}
	log_debug("op=compose path=%s sources=%zu bytes=%llu", c.dest, c.req.nsources, (unsigned long long)total);
	const char *slash = strrchr(c.dest, '/');
	json_t *j = json_pack("{s:o, s:o, s:s}", "path", json_string_lossy(c.dest), "name",
			      json_string_lossy(slash ? slash + 1 : c.dest), "type", "file");
	compose_free(&c);
	return http_reply_json(r, MHD_HTTP_OK, j);
}
