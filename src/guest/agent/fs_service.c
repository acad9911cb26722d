#include "agent/fs_service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "agent/metadata.h"
#include "agent/users.h"
#include "proto/process.h"
#include "proto/utf8.h"

/* ListDir refuses to walk deeper than this, and to return more entries. */
#define LIST_MAX_DEPTH 64
#define LIST_MAX_ENTRIES 100000

/* Relative paths are the user's home's (envd resolves them so). */
int fs_resolve(const char *in, const char *home, char *out, size_t len)
{
	if (!in || !*in)
		return -EINVAL;
	if (in[0] == '/')
		return (size_t)snprintf(out, len, "%s", in) < len ? 0 : -ENAMETOOLONG;
	if (!home || !*home)
		home = "/";
	if (strcmp(in, "~") == 0)
		in = ".";
	else if (strncmp(in, "~/", 2) == 0)
		in += 2;
	return (size_t)snprintf(out, len, "%s/%s", home, in) < len ? 0 : -ENAMETOOLONG;
}

/* Go's os.FileMode.String() of an lstat mode, as envd reports it: one letter
 * per type or special bit ("dalTLDpSugct?", of which Linux files have d, L,
 * D, p, S, u, g, c, t), "-" when none, then rwxrwxrwx: "-rw-r--r--",
 * "drwxr-xr-x", "Lrwxrwxrwx", "dtrwxrwxrwx" (/tmp), "Dcrw-rw-rw-" (/dev/null). */
static void permissions_string(mode_t m, char out[16])
{
	size_t w = 0;
	if (S_ISDIR(m))
		out[w++] = 'd';
	if (S_ISLNK(m))
		out[w++] = 'L';
	if (S_ISBLK(m) || S_ISCHR(m))
		out[w++] = 'D';
	if (S_ISFIFO(m))
		out[w++] = 'p';
	if (S_ISSOCK(m))
		out[w++] = 'S';
	if (m & S_ISUID)
		out[w++] = 'u';
	if (m & S_ISGID)
		out[w++] = 'g';
	if (S_ISCHR(m))
		out[w++] = 'c';
	if (m & S_ISVTX)
		out[w++] = 't';
	if (w == 0)
		out[w++] = '-';
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[w++] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[w] = '\0';
}

static void rfc3339(const struct timespec *ts, char out[40])
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%09ldZ", ts->tv_nsec);
}

/* envd's file types: anything but a regular file, a directory or a symlink
 * is unspecified. */
static const char *file_type(mode_t m)
{
	return S_ISREG(m) ? "FILE_TYPE_FILE" : S_ISDIR(m) ? "FILE_TYPE_DIRECTORY" : S_ISLNK(m) ? "FILE_TYPE_SYMLINK"
											: "FILE_TYPE_UNSPECIFIED";
}

/* envd's EntryInfo, from lstat. A symlink is reported as envd does: its
 * target resolved through every link to an absolute path (the link's own
 * path when it dangles), with the type and permission bits of what it
 * points to (unspecified and 0 when it dangles); name, path, size, times,
 * owner and the permissions string are the link's own. */
static json_t *entry_info(const char *path, const struct stat *st)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash && slash[1] ? slash + 1 : path;
	char perms[16], mtime[40], owner[64], group[64];
	permissions_string(st->st_mode, perms);
	rfc3339(&st->st_mtim, mtime);
	const char *type = file_type(st->st_mode);
	mode_t mode = st->st_mode & 0777;
	char target[PATH_MAX] = "";
	if (S_ISLNK(st->st_mode)) {
		struct stat to;
		if (realpath(path, target) && stat(target, &to) == 0) {
			type = file_type(to.st_mode);
			mode = to.st_mode & 0777;
		} else {
			snprintf(target, sizeof(target), "%s", path);
			type = "FILE_TYPE_UNSPECIFIED";
			mode = 0;
		}
	}
	json_t *e = json_pack("{s:o, s:s, s:o, s:I, s:i, s:s, s:s, s:s, s:s}", "name", json_string_lossy(name), "type",
			      type, "path", json_string_lossy(path),
			      "size", (json_int_t)st->st_size, "mode", (int)mode, "permissions", perms,
			      "owner", user_name_of(st->st_uid, owner, sizeof(owner)), "group",
			      group_name_of(st->st_gid, group, sizeof(group)), "modifiedTime", mtime);
	if (e && target[0])
		json_object_set_new(e, "symlinkTarget", json_string_lossy(target));
	json_t *md = e ? metadata_read(path) : NULL;
	if (md)
		json_object_set_new(e, "metadata", md);
	return e;
}

json_t *fs_entry_json(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? entry_info(path, &st) : NULL;
}

/* --- unary calls ------------------------------------------------------ */

static enum MHD_Result fail(struct http_request *r, int code, const char *message)
{
	/* ELOOP: a symlink cycle, envd's failed_precondition. */
	const char *c = code == -EEXIST ? "already_exists"
			: code == -ENOTDIR || code == -EISDIR ? "invalid_argument"
			: code == -ELOOP ? "failed_precondition"
					  : connect_code_for_errno(code);
	return agent_reply_error(r, c, message);
}

/* Reads the request, finds its user, and resolves its string field `field`
 * to a path. */
static json_t *path_request(struct http_request *r, const char *field, char *path, struct user_info *user,
			    struct cove_err *err)
{
	if (user_for_request(r, user, err) < 0)
		return NULL;
	json_t *j = agent_json_body(r, err);
	if (!j)
		return NULL;
	int rc = fs_resolve(json_string_value(json_object_get(j, field)), user->home, path, PATH_MAX);
	if (rc < 0) {
		cove_errf(err, rc, "%s must be a path", field);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* path_request for a call whose one field is its path. */
static int path_only(struct http_request *r, char *path, struct user_info *user, struct cove_err *err)
{
	json_t *j = path_request(r, "path", path, user, err);
	json_decref(j);
	return j ? 0 : err->code;
}

enum MHD_Result fs_stat(struct http_request *r)
{
	struct cove_err err = { 0 };
	char path[PATH_MAX];
	struct user_info user;
	if (path_only(r, path, &user, &err) < 0)
		return fail(r, err.code, err.msg);
	struct stat st;
	if (lstat(path, &st) < 0) {
		cove_errno(&err, -errno, "stat %s", path);
		return fail(r, err.code, err.msg);
	}
	return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "entry", entry_info(path, &st)));
}

enum MHD_Result fs_make_dir(struct http_request *r)
{
	struct cove_err err = { 0 };
	char path[PATH_MAX];
	struct user_info user;
	if (path_only(r, path, &user, &err) < 0)
		return fail(r, err.code, err.msg);
	struct stat st;
	if (lstat(path, &st) == 0)
		return fail(r, -EEXIST, S_ISDIR(st.st_mode) ? "directory already exists" : "path exists and is not a directory");
	/* Each directory made is the requesting user's, as envd makes them. */
	if (fs_ensure_dirs(path, user.uid, user.gid, &err) < 0)
		return fail(r, err.code, err.msg);
	if (lstat(path, &st) < 0) {
		cove_errno(&err, -errno, "stat %s", path);
		return fail(r, err.code, err.msg);
	}
	return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "entry", entry_info(path, &st)));
}

enum MHD_Result fs_move(struct http_request *r)
{
	struct cove_err err = { 0 };
	char from[PATH_MAX], to[PATH_MAX];
	struct user_info user;
	json_t *j = path_request(r, "source", from, &user, &err);
	if (!j)
		return fail(r, err.code, err.msg);
	int rc = fs_resolve(json_string_value(json_object_get(j, "destination")), user.home, to, sizeof(to));
	json_decref(j);
	if (rc < 0)
		return fail(r, -EINVAL, "destination must be a path");
	struct stat st;
	if (rename(from, to) < 0 || lstat(to, &st) < 0) {
		cove_errno(&err, -errno, "move %s to %s", from, to);
		return fail(r, err.code, err.msg);
	}
	return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "entry", entry_info(to, &st)));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in dir (not . and ..) in byte order, as Go's os.ReadDir gives
 * them to envd's walk. At most room of them: more is -E2BIG. */
static int sorted_names(const char *dir, size_t room, char ***ret, size_t *count, struct cove_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return cove_errno(err, -errno, "list %s", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n >= room) {
			rc = cove_errf(err, -E2BIG, "more than %d entries under %s", LIST_MAX_ENTRIES, dir);
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **more = realloc(names, ncap * sizeof(char *));
			if (!more) {
				rc = cove_errf(err, -ENOMEM, "list %s: out of memory", dir);
				break;
			}
			names = more;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name)))
			rc = cove_errf(err, -ENOMEM, "list %s: out of memory", dir);
		else
			n++;
	}
	closedir(d);
	if (rc < 0) {
		names_free(names, n);
		return rc;
	}
	if (n)
		qsort(names, n, sizeof(char *), by_name);
	*ret = names;
	*count = n;
	return 0;
}

/* envd's ListDir walk (filepath.WalkDir): each directory's entries in name
 * order, a directory followed at once by its own (to depth), symlinks never
 * followed. */
static int list_into(json_t *entries, const char *dir, int depth, struct cove_err *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc = sorted_names(dir, LIST_MAX_ENTRIES - json_array_size(entries), &names, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (json_array_size(entries) >= LIST_MAX_ENTRIES) {
			rc = cove_errf(err, -E2BIG, "more than %d entries under %s", LIST_MAX_ENTRIES, dir);
			break;
		}
		char path[PATH_MAX];
		struct stat st;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", names[i]) >= sizeof(path) ||
		    lstat(path, &st) < 0)
			continue; /* vanished, or beyond PATH_MAX: not listable */
		json_array_append_new(entries, entry_info(path, &st));
		if (S_ISDIR(st.st_mode) && depth > 1)
			rc = list_into(entries, path, depth - 1, err);
	}
	names_free(names, n);
	return rc;
}

/* Lexically cleaned, as Go's filepath.Clean (envd's paths come out of
 * filepath.Join): no "//", "." or trailing "/"; ".." taken back a level. */
static void path_clean(char *p)
{
	char *out = p, *in = p;
	bool abs = *p == '/';
	if (abs)
		*out++ = *in++;
	char *root = out;
	while (*in) {
		if (*in == '/') {
			in++;
		} else if (in[0] == '.' && (in[1] == '/' || !in[1])) {
			in++;
		} else if (in[0] == '.' && in[1] == '.' && (in[2] == '/' || !in[2])) {
			in += 2;
			if (out > root) {
				while (out > root && *--out != '/')
					;
			} else if (!abs) {
				if (out != root)
					*out++ = '/';
				*out++ = '.';
				*out++ = '.';
				root = out;
			}
		} else {
			if (out != root)
				*out++ = '/';
			while (*in && *in != '/')
				*out++ = *in++;
		}
	}
	if (out == p)
		*out++ = '.';
	*out = '\0';
}

enum MHD_Result fs_list_dir(struct http_request *r)
{
	struct cove_err err = { 0 };
	char path[PATH_MAX];
	struct user_info user;
	json_t *j = path_request(r, "path", path, &user, &err);
	if (!j)
		return fail(r, err.code, err.msg);
	json_t *dv = json_object_get(j, "depth");
	long long depth = json_is_integer(dv) ? json_integer_value(dv) : json_is_string(dv) ? atoll(json_string_value(dv)) : 1;
	json_decref(j);
	if (depth == 0)
		depth = 1; /* proto3 default */
	if (depth < 1 || depth > LIST_MAX_DEPTH)
		return fail(r, -EINVAL, "depth must be between 1 and 64");
	/* The entries' paths build on the path asked for, cleaned; the walk
	 * goes where it leads (a symlink to a directory lists the directory). */
	path_clean(path);
	struct stat st;
	if (stat(path, &st) < 0) {
		cove_errno(&err, -errno, "list %s", path);
		return fail(r, err.code, err.msg);
	}
	if (!S_ISDIR(st.st_mode))
		return fail(r, -EINVAL, "path is not a directory");
	json_t *entries = json_array();
	int rc = list_into(entries, path, (int)depth, &err);
	if (rc < 0) {
		json_decref(entries);
		return fail(r, rc, err.msg);
	}
	return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "entries", entries));
}

/* As envd (Go's os.RemoveAll): a file or a whole tree; a path that is
 * already gone is removed, not an error. */
enum MHD_Result fs_remove(struct http_request *r)
{
	struct cove_err err = { 0 };
	char path[PATH_MAX];
	struct user_info user;
	if (path_only(r, path, &user, &err) < 0)
		return fail(r, err.code, err.msg);
	if (fs_remove_tree(path, &err) < 0)
		return fail(r, err.code, err.msg);
	return http_reply_json(r, MHD_HTTP_OK, json_object());
}

int fs_ensure_dirs(const char *dir, uid_t uid, gid_t gid, struct cove_err *err)
{
	char p[PATH_MAX];
	if ((size_t)snprintf(p, sizeof(p), "%s", dir) >= sizeof(p))
		return cove_errf(err, -ENAMETOOLONG, "make %s: path too long", dir);
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (!last && *s != '/')
			continue;
		*s = '\0';
		struct stat st;
		if (s[-1] == '/') {
			/* "//" or a trailing "/": nothing new to make */
		} else if (stat(p, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				return cove_errf(err, -ENOTDIR, "make %s: %s is a file", dir, p);
		} else if (errno != ENOENT) {
			return cove_errno(err, -errno, "make %s: stat %s", dir, p);
		} else if (mkdir(p, 0755) == 0) {
			if (chown(p, uid, gid) < 0)
				return cove_errno(err, -errno, "make %s: chown %s", dir, p);
		} else if (errno != EEXIST) { /* EEXIST: made at the same time */
			return cove_errno(err, -errno, "make %s", p);
		}
		if (last)
			break;
		*s = '/';
	}
	return 0;
}
