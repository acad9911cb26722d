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

static void permissions_string(mode_t m, char out[11])
{
	out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISCHR(m) ? 'c' : S_ISBLK(m) ? 'b' : S_ISFIFO(m) ? 'p' : S_ISSOCK(m) ? 's' : '-';
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	if (m & S_ISUID)
		out[3] = (m & S_IXUSR) ? 's' : 'S';
	if (m & S_ISGID)
		out[6] = (m & S_IXGRP) ? 's' : 'S';
	if (m & S_ISVTX)
		out[9] = (m & S_IXOTH) ? 't' : 'T';
	out[10] = '\0';
}

static void rfc3339(const struct timespec *ts, char out[40])
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%09ldZ", ts->tv_nsec);
}

/* envd's EntryInfo. A symlink is described by lstat, with its target. */
static json_t *entry_info(const char *path, const struct stat *st)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash && slash[1] ? slash + 1 : path;
	char perms[11], mtime[40], owner[64], group[64];
	permissions_string(st->st_mode, perms);
	rfc3339(&st->st_mtim, mtime);
	const char *type = S_ISDIR(st->st_mode) ? "FILE_TYPE_DIRECTORY" : S_ISLNK(st->st_mode) ? "FILE_TYPE_SYMLINK" : "FILE_TYPE_FILE";
	json_t *e = json_pack("{s:o, s:s, s:o, s:I, s:i, s:s, s:s, s:s, s:s}", "name", json_string_lossy(name), "type",
			      type, "path", json_string_lossy(path),
			      "size", (json_int_t)st->st_size, "mode", (int)(st->st_mode & 07777), "permissions", perms,
			      "owner", user_name_of(st->st_uid, owner, sizeof(owner)), "group",
			      group_name_of(st->st_gid, group, sizeof(group)), "modifiedTime", mtime);
	if (e && S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n >= 0) {
			target[n] = '\0';
			json_object_set_new(e, "symlinkTarget", json_string_lossy(target));
		}
	}
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
	const char *c = code == -EEXIST ? "already_exists" : code == -ENOTDIR || code == -EISDIR ? "invalid_argument"
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
	if (fs_mkdir_p(path, 0755, &err) < 0 || lstat(path, &st) < 0)
		return fail(r, err.code ? err.code : -errno, err.msg);
	/* The directory is the requesting user's, as envd makes it. */
	if (lchown(path, user.uid, user.gid) == 0)
		lstat(path, &st);
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

static int list_into(json_t *entries, const char *dir, int depth, struct cove_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return cove_errno(err, -errno, "list %s", dir);
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (json_array_size(entries) >= LIST_MAX_ENTRIES) {
			rc = cove_errf(err, -E2BIG, "more than %d entries under %s", LIST_MAX_ENTRIES, dir);
			break;
		}
		char path[PATH_MAX];
		struct stat st;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", de->d_name) >= sizeof(path) ||
		    lstat(path, &st) < 0)
			continue; /* vanished, or beyond PATH_MAX: not listable */
		json_array_append_new(entries, entry_info(path, &st));
		if (S_ISDIR(st.st_mode) && depth > 1)
			rc = list_into(entries, path, depth - 1, err);
	}
	closedir(d);
	return rc;
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

enum MHD_Result fs_remove(struct http_request *r)
{
	struct cove_err err = { 0 };
	char path[PATH_MAX];
	struct user_info user;
	if (path_only(r, path, &user, &err) < 0)
		return fail(r, err.code, err.msg);
	struct stat st;
	if (lstat(path, &st) < 0) {
		cove_errno(&err, -errno, "remove %s", path);
		return fail(r, err.code, err.msg);
	}
	if (fs_remove_tree(path, &err) < 0)
		return fail(r, err.code, err.msg);
	return http_reply_json(r, MHD_HTTP_OK, json_object());
}
