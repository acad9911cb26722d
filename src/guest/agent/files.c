/* GET /files and POST /files: whole files in and out of the sandbox. */
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
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/fs_service.h"
#include "agent/metadata.h"
#include "agent/state.h"
#include "agent/users.h"
#include "common/fs.h"
#include "proto/utf8.h"

/* A download compressed as it is read (Accept-Encoding: gzip). */
struct gzip_stream {
	int fd;
	z_stream z;
	bool finished;
	unsigned char in[65536];
};

static ssize_t gzip_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct gzip_stream *g = cls;
	if (g->finished)
		return MHD_CONTENT_READER_END_OF_STREAM;
	g->z.next_out = (Bytef *)out;
	g->z.avail_out = (uInt)max;
	while (g->z.avail_out == max) {
		int flush = Z_NO_FLUSH;
		if (g->z.avail_in == 0) {
			ssize_t n = read(g->fd, g->in, sizeof(g->in));
			if (n < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			g->z.next_in = g->in;
			g->z.avail_in = (uInt)n;
			if (n == 0)
				flush = Z_FINISH;
		}
		int zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_END) {
			g->finished = true;
			break;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	return (ssize_t)(max - g->z.avail_out);
}

static void gzip_free(void *cls)
{
	struct gzip_stream *g = cls;
	deflateEnd(&g->z);
	close(g->fd);
	free(g);
}

static bool wants_gzip(struct http_request *r)
{
	const char *ae = http_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	return ae && strstr(ae, "gzip");
}

static enum MHD_Result send_gzip(struct http_request *r, int fd)
{
	struct gzip_stream *g = calloc(1, sizeof(*g));
	if (!g || deflateInit2(&g->z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		close(fd);
		return MHD_NO;
	}
	g->fd = fd;
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, gzip_read, g, gzip_free);
	if (!resp) {
		gzip_free(g);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	/* Content-Encoding is why this is not http_stream. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	return http_queue(r, MHD_HTTP_OK, resp);
}

static int files_authorize(struct http_request *r, const char *operation, char *why, size_t len)
{
	struct agent_files_auth a = {
		.header_token = http_header(r, "X-Access-Token"),
		.signature = http_query(r, "signature"),
		.expiration = http_query(r, "signature_expiration"),
		.path = http_query(r, "path"),
		.user = http_query(r, "username"),
		.operation = operation,
	};
	return agent_files_authorize(&a, why, len);
}

int files_authorize_read(struct http_request *r, char *why, size_t len)
{
	return files_authorize(r, "read", why, len);
}

int files_authorize_write(struct http_request *r, char *why, size_t len)
{
	return files_authorize(r, "write", why, len);
}

/* envd's status for a failed file operation: out of space 507, what the
 * client asked wrongly 400, the rest 500. */
static unsigned status_for_errno(int e)
{
	switch (-e) {
	case ENOSPC: case EDQUOT: return 507;
	case EINVAL: case EISDIR: case ENOTDIR: case ENAMETOOLONG: case ELOOP: return 400;
	case ESRCH: return 401;
	case ENOENT: return 404;
	default: return 500;
	}
}

/* The user a /files request acts as. One that carries a signature acts as
 * the user that was signed (?username, else the default user), whatever
 * its Authorization header says: a signed URL cannot be turned to another
 * user (envd takes ?username alone on /files). */
static int files_user(struct http_request *r, struct user_info *out, struct cove_err *err)
{
	if (!http_query(r, "signature"))
		return user_resolve(r, NULL, out, err);
	char name[64] = "";
	const char *q = http_query(r, "username");
	if (q && *q)
		snprintf(name, sizeof(name), "%.63s", q);
	else
		agent_default_user(name, sizeof(name));
	return name[0] ? user_resolve(r, q && *q ? q : name, out, err) : user_by_uid(getuid(), out, err);
}

enum MHD_Result files_get(struct http_request *r)
{
	char path[PATH_MAX];
	struct user_info user;
	struct cove_err err = { 0 };
	int rc = files_user(r, &user, &err);
	if (rc < 0)
		return agent_reply_rest_error(r, status_for_errno(rc), err.msg);
	if (fs_resolve(http_query(r, "path"), user.home, path, sizeof(path)) < 0)
		return agent_reply_rest_error(r, 400, "path is required");
	/* O_NONBLOCK: a FIFO is refused below instead of waiting for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = fd < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		if (fd >= 0)
			close(fd);
		char msg[PATH_MAX + 64];
		if (e == ENOENT)
			snprintf(msg, sizeof(msg), "path '%s' does not exist", path);
		else if (e == EISDIR)
			snprintf(msg, sizeof(msg), "path '%s' is a directory", path);
		else if (e == EINVAL)
			snprintf(msg, sizeof(msg), "path '%s' is not a regular file", path);
		else
			snprintf(msg, sizeof(msg), "read %s: %s", path, strerror(e));
		return agent_reply_rest_error(r, status_for_errno(-e), msg);
	}
	if (wants_gzip(r))
		return send_gzip(r, fd);
	/* The file goes out with sendfile; MHD owns and closes fd. */
	struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	return http_queue(r, MHD_HTTP_OK, resp);
}

/* One file being written. As envd writes it: in place (an existing file
 * keeps its inode and mode, so a watcher sees a write, not a new file), so
 * an upload cut short leaves the file partly written. */
struct part {
	char path[PATH_MAX];
	char filename[PATH_MAX]; /* the multipart part's filename, as sent */
	uint64_t bytes;          /* received so far */
	int fd;
};

/* An upload in progress: one file (application/octet-stream, optionally
 * gzip-encoded) or several (multipart/form-data, parsed as it arrives by
 * libmicrohttpd's post processor). */
struct upload {
	struct http_request *r;
	bool multipart;
	struct MHD_PostProcessor *pp;
	bool gzip, inflate_ready;
	bool gzip_whole;       /* the gzip body ended where a member ends */
	z_stream z;
	struct part cur;
	struct user_info user; /* the files become this user's */
	json_t *metadata;      /* from X-Metadata-* headers, set on every file; NULL: none */
	json_t *results;
	unsigned status;       /* the HTTP status of the first failure; 0: none */
	char message[PATH_MAX + 64];
};

static int fail_upload(struct upload *u, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the first failure (and its HTTP status); returns -1 as the post
 * processor's and the body sink's callers want it. */
static int fail_upload(struct upload *u, unsigned status, const char *fmt, ...)
{
	if (!u->status) {
		u->status = status;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(u->message, sizeof(u->message), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A failed system call on the current file. */
static int fail_errno(struct upload *u, int e, const char *what)
{
	if (e == -ENOSPC || e == -EDQUOT)
		return fail_upload(u, 507, "not enough disk space available");
	return fail_upload(u, status_for_errno(e), "%s %s: %s", what, u->cur.path, strerror(-e));
}

/* Opens the part's file for writing as envd does: its missing parent
 * directories made and given to the user; an existing file given to the
 * user and written over in place; a new one made with 0666 less the umask.
 * The file's metadata set is replaced before its old content goes, so a
 * refused set (a file system without user xattrs) loses nothing. */
static int part_open(struct upload *u, const char *client_path)
{
	if (fs_resolve(client_path, u->user.home, u->cur.path, sizeof(u->cur.path)) < 0)
		return fail_upload(u, 400, "a file needs a path (the path argument, or the part's filename)");
	/* As envd: one upload writes a path once. */
	size_t i;
	json_t *done;
	json_array_foreach(u->results, i, done) {
		if (strcmp(json_string_value(json_object_get(done, "path")), u->cur.path) == 0)
			return fail_upload(u, 400, "one upload cannot write %s twice", u->cur.path);
	}
	u->cur.bytes = 0;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", u->cur.path);
	char *slash = strrchr(dir, '/');
	struct cove_err e = { 0 };
	if (slash && slash != dir) {
		*slash = '\0';
		if (fs_ensure_dirs(dir, u->user.uid, u->user.gid, &e) < 0)
			return fail_upload(u, status_for_errno(e.code), "%s", e.msg);
	}
	struct stat st;
	bool existed = stat(u->cur.path, &st) == 0;
	if (existed && S_ISDIR(st.st_mode))
		return fail_upload(u, 400, "path is a directory: %s", u->cur.path);
	/* O_NONBLOCK: a FIFO without a reader is refused, not waited on. What
	 * it is and who owns it are read and changed on what was opened, not
	 * by its path again: a symlink swapped in meanwhile moves nothing. */
	u->cur.fd = open(u->cur.path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0666);
	if (u->cur.fd < 0)
		return fail_errno(u, -errno, "open");
	if (fstat(u->cur.fd, &st) < 0)
		return fail_errno(u, -errno, "stat");
	/* Only a regular file changes hands (envd would give /dev/null away). */
	bool regular = S_ISREG(st.st_mode);
	int r = regular || u->metadata ? metadata_replace(u->cur.fd, u->metadata) : 0;
	if (r < 0) {
		if (!existed)
			unlink(u->cur.path);
		return fail_upload(u, r == -ENOTSUP ? 400 : 500, "set metadata on %s: %s", u->cur.path, strerror(-r));
	}
	/* After the metadata: a refused upload leaves the owner as it was. */
	if (regular && fchown(u->cur.fd, u->user.uid, u->user.gid) < 0)
		return fail_errno(u, -errno, "chown");
	if (regular && ftruncate(u->cur.fd, 0) < 0)
		return fail_errno(u, -errno, "truncate");
	return 0;
}

/* Completes the current file, reported. Not fsynced: a sandbox that crashes
 * is gone anyway, and fsync of large uploads cost more than half their time
 * (measured: 100 MiB at 75 MiB/s with it). */
static int part_close(struct upload *u)
{
	if (u->cur.fd < 0)
		return 0;
	int rc = close(u->cur.fd) < 0 ? -errno : 0;
	u->cur.fd = -1;
	if (rc < 0)
		return fail_errno(u, rc, "write");
	const char *slash = strrchr(u->cur.path, '/');
	json_t *entry = json_pack("{s:o, s:s, s:o}", "name", json_string_lossy(slash ? slash + 1 : u->cur.path), "type",
				  "file", "path", json_string_lossy(u->cur.path));
	if (entry && u->metadata)
		json_object_set(entry, "metadata", u->metadata);
	json_array_append_new(u->results, entry);
	return 0;
}

static int write_inflated(struct upload *u, const char *data, size_t len)
{
	u->z.next_in = (Bytef *)data;
	u->z.avail_in = (uInt)len;
	unsigned char out[65536];
	do {
		u->z.next_out = out;
		u->z.avail_out = sizeof(out);
		int zr = inflate(&u->z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return fail_upload(u, 400, "error decompressing request body: the body is not valid gzip");
		int r = fs_write_all(u->cur.fd, out, sizeof(out) - u->z.avail_out);
		if (r < 0)
			return fail_errno(u, r, "write");
		/* Members may follow one another (as Go's gzip.Reader, envd's,
		 * reads them); the body is whole only where one ends. */
		u->gzip_whole = zr == Z_STREAM_END;
		if (zr == Z_STREAM_END && u->z.avail_in == 0)
			break;
		if (zr == Z_STREAM_END && inflateReset(&u->z) != Z_OK)
			return fail_upload(u, 400, "error decompressing request body: the body is not valid gzip");
	} while (u->z.avail_in > 0 || u->z.avail_out == 0);
	return 0;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
			       const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	struct upload *u = cls;
	if (u->status)
		return MHD_NO;
	if (!key || strcmp(key, "file") != 0)
		return MHD_YES; /* other fields carry nothing we use */
	/* libmicrohttpd calls this once with no data when a part's headers are
	 * in, then with its data from offset 0: a new part is an offset 0 after
	 * data, or under another filename. */
	const char *name = filename ? filename : "";
	if (off == 0 && (u->cur.fd < 0 || u->cur.bytes > 0 || strcmp(name, u->cur.filename) != 0)) {
		/* The previous part is complete. With the path argument there is
		 * one file; without it each part names its own path. */
		const char *path = http_query(u->r, "path");
		if (part_close(u) < 0 || part_open(u, path && *path ? path : filename) < 0)
			return MHD_NO;
		snprintf(u->cur.filename, sizeof(u->cur.filename), "%s", name);
	}
	u->cur.bytes += size;
	int w = size ? fs_write_all(u->cur.fd, data, size) : 0;
	return w < 0 ? (fail_errno(u, w, "write"), MHD_NO) : MHD_YES;
}

/* envd's content types: multipart (form-data, as libmicrohttpd parses it)
 * or a raw application/octet-stream body; parameters and case aside. */
static bool media_type_is(const char *type, const char *want)
{
	size_t n = strlen(want);
	return type && strncasecmp(type, want, n) == 0 && (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

static int upload_start(struct http_request *r, struct upload **ret)
{
	struct upload *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->r = r;
	u->cur.fd = -1;
	u->results = json_array();
	r->ctx = u;
	*ret = u;
	struct cove_err e = { 0 };
	int rc = files_user(r, &u->user, &e);
	if (rc < 0)
		return fail_upload(u, status_for_errno(rc), "%s", e.msg);
	char why[256];
	if (metadata_from_headers(r->conn, &u->metadata, why, sizeof(why)) < 0)
		return fail_upload(u, 400, "%s", why);
	const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (media_type_is(type, "multipart/form-data")) {
		u->multipart = true;
		u->pp = MHD_create_post_processor(r->conn, 64 * 1024, on_part, u);
		return u->pp ? 0 : fail_upload(u, 400, "malformed multipart/form-data (no boundary?)");
	}
	if (!media_type_is(type, "application/octet-stream"))
		return fail_upload(u, 400, "unsupported content type: %s, expected multipart/form-data or application/octet-stream",
				   type ? type : "");
	const char *enc = http_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
	u->gzip = enc && strcasecmp(enc, "gzip") == 0;
	if (u->gzip) {
		if (inflateInit2(&u->z, 16 + MAX_WBITS) != Z_OK)
			return fail_upload(u, 500, "out of memory");
		u->inflate_ready = true;
	}
	const char *path = http_query(r, "path");
	if (!path || !*path)
		return fail_upload(u, 400, "path query parameter is required for raw body upload");
	return part_open(u, path);
}

int files_post_body(struct http_request *r, const char *data, size_t len)
{
	struct upload *u = r->ctx;
	if (!u) {
		upload_start(r, &u); /* a failure is in u->status */
		if (!u)
			return -ENOMEM;
	}
	if (u->status)
		return -EINVAL;
	if (u->multipart) {
		if (MHD_post_process(u->pp, data, len) != MHD_YES && !u->status)
			fail_upload(u, 400, "malformed multipart/form-data body");
		return u->status ? -EINVAL : 0;
	}
	int rc = u->gzip ? write_inflated(u, data, len) : fs_write_all(u->cur.fd, data, len);
	if (rc < 0 && !u->gzip)
		fail_errno(u, rc, "write");
	return u->status ? -EINVAL : 0;
}

void files_post_cleanup(struct http_request *r)
{
	struct upload *u = r->ctx;
	if (!u)
		return;
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	if (u->inflate_ready)
		inflateEnd(&u->z);
	if (u->cur.fd >= 0)
		close(u->cur.fd); /* a failed upload: the file stays as far as it got */
	json_decref(u->results);
	json_decref(u->metadata);
	free(u);
	r->ctx = NULL;
}

enum MHD_Result files_post(struct http_request *r)
{
	struct upload *u = r->ctx;
	if (!u)
		files_post_body(r, "", 0); /* an empty body: an empty file */
	u = r->ctx;
	if (!u)
		return agent_reply_rest_error(r, 500, "out of memory");
	/* A gzip body cut short (envd's: unexpected EOF) is refused; what came
	 * of it was written in place, as envd leaves it. */
	if (!u->status && u->gzip && !u->gzip_whole)
		fail_upload(u, 400, "error decompressing request body: the gzip stream ended early");
	if (!u->status)
		part_close(u);
	if (!u->status && json_array_size(u->results) == 0)
		fail_upload(u, 400, "the upload held no file");
	if (u->status)
		return agent_reply_rest_error(r, u->status, u->message);
	return http_reply_json(r, MHD_HTTP_OK, json_incref(u->results));
}
