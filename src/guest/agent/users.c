#include "agent/users.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/state.h"
#include "proto/base64.h"

/* The agent serves each connection in a thread of its own, so these read
 * the files with the reentrant calls: fgetpwent and fgetgrent return one
 * static buffer, and two lookups at once read each other's entries. On
 * ERANGE glibc puts the stream back at the line, which is read again into
 * a buffer twice the size. */
enum { ENTRY_MAX = 1 << 20 };

struct entry_buf {
	char *p;
	size_t len;
};

static int entry_buf_grow(struct entry_buf *b)
{
	size_t len = b->len ? b->len * 2 : 4096;
	char *p = len <= ENTRY_MAX ? realloc(b->p, len) : NULL;
	if (!p)
		return len <= ENTRY_MAX ? ENOMEM : ERANGE;
	b->p = p;
	b->len = len;
	return 0;
}

/* 0 with *out set, ENOENT at the end, else an errno. */
static int next_passwd(FILE *f, struct passwd *pw, struct entry_buf *b, struct passwd **out)
{
	for (;;) {
		int r = b->p ? fgetpwent_r(f, pw, b->p, b->len, out) : ERANGE;
		if (r != ERANGE || (r = entry_buf_grow(b)) != 0)
			return r;
	}
}

static int next_group(FILE *f, struct group *g, struct entry_buf *b, struct group **out)
{
	for (;;) {
		int r = b->p ? fgetgrent_r(f, g, b->p, b->len, out) : ERANGE;
		if (r != ERANGE || (r = entry_buf_grow(b)) != 0)
			return r;
	}
}

static void add_groups(struct user_info *u)
{
	u->groups[0] = u->gid;
	u->ngroups = 1;
	FILE *f = fopen("/etc/group", "re");
	struct entry_buf b = { 0 };
	struct group g, *gr;
	while (f && next_group(f, &g, &b, &gr) == 0 && u->ngroups < USER_MAX_GROUPS) {
		if (gr->gr_gid == u->gid)
			continue;
		for (char **m = gr->gr_mem; m && *m; m++)
			if (strcmp(*m, u->name) == 0) {
				u->groups[u->ngroups++] = gr->gr_gid;
				break;
			}
	}
	free(b.p);
	if (f)
		fclose(f);
}

static int lookup(const char *name, uid_t uid, struct user_info *out, struct cove_err *err)
{
	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return cove_errno(err, -errno, "open /etc/passwd");
	struct entry_buf b = { 0 };
	struct passwd pwd, *pw;
	int r;
	while ((r = next_passwd(f, &pwd, &b, &pw)) == 0) {
		if (name ? strcmp(pw->pw_name, name) != 0 : pw->pw_uid != uid)
			continue;
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", pw->pw_name);
		out->uid = pw->pw_uid;
		out->gid = pw->pw_gid;
		snprintf(out->home, sizeof(out->home), "%s", pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
		snprintf(out->shell, sizeof(out->shell), "%s", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
		break;
	}
	free(b.p);
	fclose(f);
	if (r != 0 && r != ENOENT)
		return cove_errno(err, -r, "read /etc/passwd");
	if (r != 0)
		return name ? cove_errf(err, -ESRCH, "user '%s' does not exist", name)
			    : cove_errf(err, -ESRCH, "uid %u has no /etc/passwd entry", (unsigned)uid);
	add_groups(out);
	return 0;
}

int user_by_name(const char *name, struct user_info *out, struct cove_err *err)
{
	return lookup(name, 0, out, err);
}

int user_by_uid(uid_t uid, struct user_info *out, struct cove_err *err)
{
	return lookup(NULL, uid, out, err);
}

const char *user_name_of(uid_t uid, char *buf, size_t len)
{
	struct user_info u;
	if (user_by_uid(uid, &u, NULL) == 0)
		snprintf(buf, len, "%s", u.name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
	return buf;
}

const char *group_name_of(gid_t gid, char *buf, size_t len)
{
	snprintf(buf, len, "%u", (unsigned)gid);
	FILE *f = fopen("/etc/group", "re");
	struct entry_buf b = { 0 };
	struct group g, *gr;
	while (f && next_group(f, &g, &b, &gr) == 0)
		if (gr->gr_gid == gid) {
			snprintf(buf, len, "%s", gr->gr_name);
			break;
		}
	free(b.p);
	if (f)
		fclose(f);
	return buf;
}

/* "Basic base64(user:password)": the user part. */
static int basic_user(const char *auth, char *out, size_t len)
{
	if (strncasecmp(auth, "Basic ", 6) != 0)
		return -EINVAL;
	const char *b64 = auth + 6;
	size_t n = strlen(b64);
	if (n > 512)
		return -EINVAL;
	unsigned char dec[400];
	long d = base64_decode(b64, n, dec);
	if (d < 0)
		return -EINVAL;
	size_t ulen = 0;
	while ((long)ulen < d && dec[ulen] != ':')
		ulen++;
	if (ulen == 0 || ulen >= len)
		return -EINVAL;
	memcpy(out, dec, ulen);
	out[ulen] = '\0';
	return 0;
}

int user_resolve(struct http_request *r, const char *named, struct user_info *out, struct cove_err *err)
{
	char name[64] = "";
	if (named && *named) {
		if (strlen(named) >= sizeof(name))
			return cove_errf(err, -ESRCH, "user '%.64s...' does not exist", named);
		snprintf(name, sizeof(name), "%s", named);
	}
	const char *auth = name[0] ? NULL : http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *q = http_query(r, "username");
	if (auth && basic_user(auth, name, sizeof(name)) < 0)
		return cove_errf(err, -EINVAL, "Authorization must be Basic base64(\"<user>:\")");
	if (!name[0] && q && *q)
		snprintf(name, sizeof(name), "%s", q);
	if (!name[0])
		agent_default_user(name, sizeof(name));
	return name[0] ? user_by_name(name, out, err) : user_by_uid(getuid(), out, err);
}

int user_for_request(struct http_request *r, struct user_info *out, struct cove_err *err)
{
	int rc = user_resolve(r, NULL, out, err);
	if (rc == -ESRCH) { /* an unknown user is the client's mistake */
		rc = -EINVAL;
		if (err)
			err->code = rc;
	}
	return rc;
}
