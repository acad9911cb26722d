/* A volume's content, for the volume content API (see volume.h): every path
 * resolved by the kernel beneath the volume's directory, every last
 * component acted on through its parent's descriptor without following it,
 * and files opened for reading only once they are known to be regular. A
 * guest that mounts the volume may put anything in it (symlinks to the
 * host's files, FIFOs, device nodes, trees swapped while we look), so
 * nothing here trusts a name twice. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fs.h"
#include "volume/internal.h"

#define LIST_ENTRIES_MAX 100000
#define DEFAULT_FILE_MODE 0644
#define DEFAULT_DIR_MODE 0755

/* A path as given, normalized: rel is relative to the volume's root ("" for
 * the root itself), dir its parent ("" for the root's), base its last
 * component (within rel; "" for the root). */
struct vpath {
	char rel[VOLUME_PATH_MAX];
	char dir[VOLUME_PATH_MAX];
	const char *base;
	char shown[VOLUME_PATH_MAX + 1]; /* "/" + rel */
};

static int vpath_parse(const char *path, struct vpath *p, struct cove_err *err)
{
	if (!path)
		return cove_errf(err, -EINVAL, "path: missing");
	size_t n = 0;
	const char *s = path;
	while (*s) {
		while (*s == '/')
			s++;
		const char *end = strchr(s, '/');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len == 0)
			break;
		if (!(len == 1 && s[0] == '.')) {
			if (n + len + 2 > sizeof(p->rel))
				return cove_errf(err, -ENAMETOOLONG, "path: longer than %d bytes", VOLUME_PATH_MAX - 2);
			if (n)
				p->rel[n++] = '/';
			memcpy(p->rel + n, s, len);
			n += len;
		}
		s += len;
	}
	p->rel[n] = '\0';
	const char *slash = strrchr(p->rel, '/');
	p->base = slash ? slash + 1 : p->rel;
	size_t dir_len = slash ? (size_t)(slash - p->rel) : 0;
	memcpy(p->dir, p->rel, dir_len);
	p->dir[dir_len] = '\0';
	if (strcmp(p->base, "..") == 0)
		return cove_errf(err, -EINVAL, "path: '%s' ends in '..'", path);
	snprintf(p->shown, sizeof(p->shown), "/%s", p->rel);
	return 0;
}

static int fail(struct cove_err *err, int e, const char *what, const char *shown)
{
	switch (e) {
	case -EXDEV:
		return cove_errf(err, e, "path '%s': it leaves the volume (through '..', a symlink or a mount)", shown);
	case -ENOENT:
		return cove_errf(err, e, "path '%s': no such file or directory", shown);
	case -ENOTDIR:
		return cove_errf(err, e, "path '%s': a part of it is not a directory", shown);
	case -ELOOP:
		return cove_errf(err, e, "path '%s': too many symlinks", shown);
	case -ENOSPC:
	case -EDQUOT:
		return cove_errf(err, -ENOSPC, "path '%s': %s: no space left", shown, what);
	default:
		return cove_errf(err, e, "path '%s': %s: %s", shown, what, strerror(-e));
	}
}

/* A full volume's error names it and its size (the API answers 507). */
static int named_if_full(const char *id, uint64_t size_mib, int r, struct cove_err *err)
{
	if (r == -ENOSPC)
		cove_err_prefix(err, "volume %s is full (its size is %" PRIu64 " MiB)", id, size_mib);
	return r;
}

/* openat2 beneath the volume's root: "" is the root. */
static int beneath(const struct volume_content *c, const char *rel, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };
	long fd = syscall(SYS_openat2, c->root, rel[0] ? rel : ".", &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int open_parent(const struct volume_content *c, const struct vpath *p, struct cove_err *err)
{
	int fd = beneath(c, p->dir, O_PATH | O_DIRECTORY);
	return fd < 0 ? fail(err, fd, "open its directory", p->shown) : fd;
}

void volume_entry_clear(struct volume_entry *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->path);
	free(e->target);
	memset(e, 0, sizeof(*e));
}

const char *volume_entry_type_name(enum volume_entry_type t)
{
	switch (t) {
	case VOLUME_ENTRY_FILE:
		return "file";
	case VOLUME_ENTRY_DIRECTORY:
		return "directory";
	case VOLUME_ENTRY_SYMLINK:
		return "symlink";
	default:
		return "unknown";
	}
}

/* The entry name of dirfd ("": dirfd itself), shown as path. */
static int entry_at(int dirfd, const char *name, const char *path, const char *shown_name, struct volume_entry *e)
{
	struct stat st;
	memset(e, 0, sizeof(*e));
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0)
		return -errno;
	e->type = S_ISREG(st.st_mode)	 ? VOLUME_ENTRY_FILE
		  : S_ISDIR(st.st_mode) ? VOLUME_ENTRY_DIRECTORY
		  : S_ISLNK(st.st_mode) ? VOLUME_ENTRY_SYMLINK
					: VOLUME_ENTRY_UNKNOWN;
	e->size = st.st_size;
	e->mode = st.st_mode & 07777;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->atime = st.st_atim;
	e->mtime = st.st_mtim;
	e->ctime = st.st_ctim;
	if (!(e->name = strdup(shown_name)) || !(e->path = strdup(path)))
		goto nomem;
	if (e->type == VOLUME_ENTRY_SYMLINK) {
		char buf[VOLUME_PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		if (!(e->target = strdup(buf)))
			goto nomem;
	}
	return 0;
nomem:
	volume_entry_clear(e);
	return -ENOMEM;
}

/* The entry p names, through parent (-1: open it here). */
static int entry_of(const struct volume_content *c, const struct vpath *p, struct volume_entry *ret,
		    struct cove_err *err)
{
	if (!p->rel[0]) {
		int r = entry_at(c->root, "", "/", "/", ret);
		return r < 0 ? fail(err, r, "stat", "/") : 0;
	}
	int parent = open_parent(c, p, err);
	if (parent < 0)
		return parent;
	int r = entry_at(parent, p->base, p->shown, p->base, ret);
	close(parent);
	return r < 0 ? fail(err, r, "stat", p->shown) : 0;
}

int volume_stat(struct volume_content *c, const char *path, struct volume_entry *ret, struct cove_err *err)
{
	struct vpath p;
	int r = vpath_parse(path, &p, err);
	return r < 0 ? r : entry_of(c, &p, ret, err);
}

/* --- listing --- */

struct listing {
	struct volume_entry *v;
	size_t n, cap;
};

static int walk(int dirfd, const char *shown, unsigned depth, struct listing *l)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return e;
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (l->n == LIST_ENTRIES_MAX) {
			r = -E2BIG;
			break;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			void *v = realloc(l->v, cap * sizeof(*l->v));
			if (!v) {
				r = -ENOMEM;
				break;
			}
			l->v = v;
			l->cap = cap;
		}
		char path[VOLUME_PATH_MAX + 256];
		snprintf(path, sizeof(path), "%s%s%s", shown, strcmp(shown, "/") ? "/" : "", de->d_name);
		r = entry_at(dirfd, de->d_name, path, de->d_name, &l->v[l->n]);
		if (r == -ENOENT) { /* gone meanwhile */
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		struct volume_entry *e = &l->v[l->n++];
		if (depth > 1 && e->type == VOLUME_ENTRY_DIRECTORY) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				r = walk(sub, e->path, depth - 1, l);
				close(sub);
			} else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
				r = -errno;
			}
		}
	}
	closedir(d);
	return r;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct volume_entry *)a)->path, ((const struct volume_entry *)b)->path);
}

int volume_list(struct volume_content *c, const char *path, unsigned depth,
		int (*fn)(void *ctx, const struct volume_entry *e), void *ctx, struct cove_err *err)
{
	struct vpath p;
	int r = vpath_parse(path, &p, err);
	if (r < 0)
		return r;
	if (depth < 1 || depth > VOLUME_LIST_DEPTH_MAX)
		return cove_errf(err, -EINVAL, "depth: 1 to %d", VOLUME_LIST_DEPTH_MAX);
	int fd = beneath(c, p.rel, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fail(err, fd, "open the directory", p.shown);
	struct listing l = { 0 };
	r = walk(fd, p.shown, depth, &l);
	close(fd);
	if (r == -E2BIG)
		cove_errf(err, r, "path '%s': more than %d entries; list a smaller depth or a directory inside it",
			  p.shown, LIST_ENTRIES_MAX);
	else if (r < 0)
		fail(err, r, "list", p.shown);
	if (r == 0 && l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_path);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = fn(ctx, &l.v[i]);
	for (size_t i = 0; i < l.n; i++)
		volume_entry_clear(&l.v[i]);
	free(l.v);
	return r;
}

/* --- making and changing --- */

/* Sets owner and mode of the entry fd holds (not through a path): given
 * values, else the defaults (def_uid/def_gid, def_mode); a symlink takes
 * no mode. */
static int apply_attrs(int fd, const struct volume_attrs *a, bool defaults, uid_t def_uid, gid_t def_gid,
		       mode_t def_mode)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uid_t uid = a && a->has_uid ? a->uid : defaults ? def_uid : (uid_t)-1;
	gid_t gid = a && a->has_gid ? a->gid : defaults ? def_gid : (gid_t)-1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	bool has_mode = (a && a->has_mode) || defaults;
	if (!has_mode)
		return 0;
	if (S_ISLNK(st.st_mode))
		return a && a->has_mode ? -EINVAL : 0;
	/* Through the descriptor's own /proc link: the inode held, whatever
	 * its name is now. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return chmod(proc, (a && a->has_mode ? a->mode : def_mode) & 07777) < 0 ? -errno : 0;
}

/* Makes directory name in parent (its owner the parent's unless a says),
 * the attributes a (or the defaults) applied through a descriptor. */
static int make_one(int parent, const char *name, const struct volume_attrs *a)
{
	struct stat pst;
	if (fstat(parent, &pst) < 0)
		return -errno;
	if (mkdirat(parent, name, 0700) < 0)
		return -errno;
	int fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = apply_attrs(fd, a, true, pst.st_uid, pst.st_gid, DEFAULT_DIR_MODE);
	close(fd);
	return r;
}

/* mkdir -p of rel: each missing component made, the last with a. */
static int make_parents(const struct volume_content *c, const char *rel, const struct volume_attrs *a,
			struct cove_err *err, const char *shown)
{
	char prefix[VOLUME_PATH_MAX];
	size_t len = strlen(rel);
	for (size_t i = 0; i <= len; i++) {
		if (rel[i] != '/' && rel[i] != '\0')
			continue;
		memcpy(prefix, rel, i);
		prefix[i] = '\0';
		int fd = beneath(c, prefix, O_PATH | O_DIRECTORY);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (fd != -ENOENT)
			return fail(err, fd, "make its directories", shown);
		const char *slash = strrchr(prefix, '/');
		char dir[VOLUME_PATH_MAX];
		size_t dl = slash ? (size_t)(slash - prefix) : 0;
		memcpy(dir, prefix, dl);
		dir[dl] = '\0';
		int parent = beneath(c, dir, O_PATH | O_DIRECTORY);
		if (parent < 0)
			return fail(err, parent, "make its directories", shown);
		int r = make_one(parent, slash ? slash + 1 : prefix, rel[i] ? NULL : a);
		close(parent);
		if (r < 0 && r != -EEXIST)
			return fail(err, r, "make its directories", shown);
	}
	return 0;
}

static int mkdir_at(struct volume_content *c, const char *path, const struct volume_attrs *a, bool parents,
		    struct volume_entry *ret, struct cove_err *err)
{
	struct vpath p;
	int r = vpath_parse(path, &p, err);
	if (r < 0)
		return r;
	if (!p.rel[0])
		return parents ? entry_of(c, &p, ret, err) : cove_errf(err, -EEXIST, "path '/': the volume's root exists");
	if (parents) {
		if ((r = make_parents(c, p.rel, a, err, p.shown)) < 0)
			return r;
		int fd = beneath(c, p.rel, O_PATH | O_DIRECTORY);
		if (fd < 0)
			return fail(err, fd == -ENOTDIR ? -EEXIST : fd, "make the directory", p.shown);
		close(fd);
		return entry_of(c, &p, ret, err);
	}
	int parent = open_parent(c, &p, err);
	if (parent < 0)
		return parent;
	r = make_one(parent, p.base, a);
	close(parent);
	if (r == -EEXIST)
		return cove_errf(err, r, "path '%s': exists", p.shown);
	return r < 0 ? fail(err, r, "make the directory", p.shown) : entry_of(c, &p, ret, err);
}

int volume_mkdir(struct volume_content *c, const char *path, const struct volume_attrs *a, bool parents,
		 struct volume_entry *ret, struct cove_err *err)
{
	return named_if_full(c->id, c->size_mib, mkdir_at(c, path, a, parents, ret, err), err);
}

int volume_set_attrs(struct volume_content *c, const char *path, const struct volume_attrs *a,
		     struct volume_entry *ret, struct cove_err *err)
{
	struct vpath p;
	int r = vpath_parse(path, &p, err);
	if (r < 0)
		return r;
	int parent = p.rel[0] ? open_parent(c, &p, err) : -1;
	if (p.rel[0] && parent < 0)
		return parent;
	int fd = p.rel[0] ? openat(parent, p.base, O_PATH | O_NOFOLLOW | O_CLOEXEC) : dup(c->root);
	r = fd < 0 ? -errno : apply_attrs(fd, a, false, 0, 0, 0);
	if (fd >= 0)
		close(fd);
	if (parent >= 0)
		close(parent);
	if (r == -EINVAL)
		return cove_errf(err, r, "path '%s': a symlink has no mode of its own", p.shown);
	return r < 0 ? fail(err, r, "change its owner or mode", p.shown) : entry_of(c, &p, ret, err);
}

int volume_remove(struct volume_content *c, const char *path, struct cove_err *err)
{
	struct vpath p;
	int r = vpath_parse(path, &p, err);
	if (r < 0)
		return r;
	if (!p.rel[0])
		return cove_errf(err, -EINVAL, "path '/': the volume's root is not removed (destroy the volume)");
	int parent = open_parent(c, &p, err);
	if (parent < 0)
		return parent;
	struct stat st;
	if (fstatat(parent, p.base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = fail(err, -errno, "remove", p.shown);
	else
		r = fs_remove_tree_at(parent, p.base, err);
	close(parent);
	return r;
}

int volume_open_file(struct volume_content *c, const char *path, int *fd, uint64_t *size, struct cove_err *err)
{
	struct vpath p;
	int r = vpath_parse(path, &p, err);
	if (r < 0)
		return r;
	int pathfd = beneath(c, p.rel, O_PATH);
	if (pathfd < 0)
		return fail(err, pathfd, "open", p.shown);
	struct stat st, st2;
	if (fstat(pathfd, &st) < 0)
		r = fail(err, -errno, "stat", p.shown);
	else if (S_ISDIR(st.st_mode))
		r = cove_errf(err, -EISDIR, "path '%s': a directory (list it)", p.shown);
	else if (!S_ISREG(st.st_mode))
		r = cove_errf(err, -EINVAL, "path '%s': not a regular file", p.shown);
	if (r < 0) {
		close(pathfd);
		return r;
	}
	/* Opened only now it is known regular: a FIFO or device never is. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	int rd = open(proc, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (rd < 0)
		r = fail(err, -errno, "open", p.shown);
	else if (fstat(rd, &st2) < 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)
		r = cove_errf(err, -EAGAIN, "path '%s': changed while opened", p.shown);
	close(pathfd);
	if (r < 0) {
		if (rd >= 0)
			close(rd);
		return r;
	}
	*fd = rd;
	*size = (uint64_t)st2.st_size;
	return 0;
}

/* --- writing --- */

struct volume_write {
	char id[VOLUME_ID_MAX];
	uint64_t size_mib;
	int parent, fd;
	char tmp[32];
	struct vpath p;
	struct volume_attrs a;
	bool replace;
};

int volume_write_begin(struct volume_content *c, const char *path, const struct volume_attrs *a, bool replace,
		       struct volume_write **ret, struct cove_err *err)
{
	struct volume_write *w = calloc(1, sizeof(*w));
	if (!w)
		return cove_errf(err, -ENOMEM, "volumes: out of memory");
	w->parent = w->fd = -1;
	w->replace = replace;
	snprintf(w->id, sizeof(w->id), "%s", c->id);
	w->size_mib = c->size_mib;
	if (a)
		w->a = *a;
	int r = vpath_parse(path, &w->p, err);
	if (r == 0 && !w->p.rel[0])
		r = cove_errf(err, -EISDIR, "path '/': the volume's root is a directory");
	if (r == 0 && w->p.dir[0])
		r = make_parents(c, w->p.dir, NULL, err, w->p.shown);
	if (r == 0 && (w->parent = open_parent(c, &w->p, err)) < 0)
		r = w->parent;
	struct stat st;
	if (r == 0 && fstatat(w->parent, w->p.base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			r = cove_errf(err, -EISDIR, "path '%s': a directory", w->p.shown);
		else if (!replace)
			r = cove_errf(err, -EEXIST, "path '%s': exists (write with force to replace it)", w->p.shown);
	}
	if (r == 0) {
		char hex[17];
		if (random_hex(hex, 8) < 0)
			r = cove_errno(err, -errno, "volumes: random name");
		snprintf(w->tmp, sizeof(w->tmp), ".cove-write-%s", hex);
	}
	if (r == 0 && (w->fd = openat(w->parent, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		r = fail(err, -errno, "make the file", w->p.shown);
	if (r < 0) {
		volume_write_abort(w);
		return named_if_full(c->id, c->size_mib, r, err);
	}
	*ret = w;
	return 0;
}

int volume_write_data(struct volume_write *w, const void *data, size_t len, struct cove_err *err)
{
	int r = fs_write_all(w->fd, data, len);
	return r < 0 ? named_if_full(w->id, w->size_mib, fail(err, r, "write", w->p.shown), err) : 0;
}

int volume_write_commit(struct volume_write *w, struct volume_entry *ret, struct cove_err *err)
{
	struct stat pst, old;
	int r = fstat(w->parent, &pst) < 0 ? -errno : 0;
	/* Given owner and mode, else the file replaced's, else the parent's
	 * owner and 0644. */
	bool had = r == 0 && fstatat(w->parent, w->p.base, &old, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(old.st_mode);
	if (r == 0)
		r = apply_attrs(w->fd, &w->a, true, had ? old.st_uid : pst.st_uid, had ? old.st_gid : pst.st_gid,
				had ? old.st_mode & 07777 : DEFAULT_FILE_MODE);
	if (r == 0 && fsync(w->fd) < 0)
		r = -errno;
	if (r == 0 && renameat2(w->parent, w->tmp, w->parent, w->p.base, w->replace ? 0 : RENAME_NOREPLACE) < 0)
		r = -errno;
	if (r < 0) {
		if (r == -EEXIST)
			cove_errf(err, r, "path '%s': exists (write with force to replace it)", w->p.shown);
		else if (r == -EISDIR)
			cove_errf(err, r, "path '%s': a directory", w->p.shown);
		else
			named_if_full(w->id, w->size_mib, fail(err, r, "put the file in place", w->p.shown), err);
		volume_write_abort(w);
		return r;
	}
	w->tmp[0] = '\0';
	int dfd = openat(w->parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		r = fail(err, -errno, "sync its directory", w->p.shown);
	if (dfd >= 0)
		close(dfd);
	if (r == 0 && (r = entry_at(w->parent, w->p.base, w->p.shown, w->p.base, ret)) < 0)
		fail(err, r, "stat", w->p.shown);
	volume_write_abort(w);
	return r;
}

void volume_write_abort(struct volume_write *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->parent >= 0) {
		if (w->tmp[0])
			unlinkat(w->parent, w->tmp, 0);
		close(w->parent);
	}
	free(w);
}
