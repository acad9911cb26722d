/* Snapshots (manager.h): made from a running sandbox, which is paused
 * only while its state is saved (as a fork's parent is), listed, deleted.
 * Their records and files, and creates from them: snaplist.c, create.c. */
#include "manager/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

/* A name a snapshot can take: E2B's id (NAME:TAG) must fit a sandbox's
 * template id, and a template's name is its template's. */
static int name_check(const struct manager *m, const struct template_ref *name, struct cove_err *err)
{
	size_t n = strlen(name->alias) + 1 + strlen(name->tag[0] ? name->tag : "default");
	if (n > 63)
		return cove_errf(err, -EINVAL, "invalid name '%s': with its tag it must be at most 63 characters",
				 name->alias);
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s", m->c.templates_dir, name->alias) < (int)sizeof(dir) &&
	    access(dir, F_OK) == 0)
		return cove_errf(err, -EINVAL, "invalid name '%s': a template has that name", name->alias);
	return 0;
}

/* fsyncs every file of the snapshot in dir, then dir and its parent: the
 * save wrote them for children soon after (sandbox_save's for_fork), and
 * a snapshot is to last through a crash of the host. */
static int snap_sync(const char *dir, struct cove_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return cove_errno(err, -errno, "open %s", dir);
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fsync(fd) < 0)
			r = cove_errno(err, -errno, "sync %s/%s", dir, de->d_name);
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (r == 0)
		r = fs_sync_dir(dir, err);
	if (r == 0 && slash)
		r = fs_sync_dir(parent, err);
	return r;
}

static void snapshot_info(const struct snap *s, struct manager_snapshot *ret)
{
	memset(ret, 0, sizeof(*ret));
	snap_names(&s->rec, ret->id, ret->name);
	snprintf(ret->sandbox, sizeof(ret->sandbox), "%s", s->rec.sandbox);
	snprintf(ret->template_id, sizeof(ret->template_id), "%s", s->rec.template_id);
	ret->created_ms = s->rec.created_ms;
	ret->seq = s->rec.seq;
	ret->disk_bytes = s->disk_bytes;
	ret->vcpus = s->rec.vcpus;
	ret->mem_mib = s->rec.mem_mib;
}

/* A new snapshot of p, being made (under the lock; p is marked busy). */
static struct snap *snap_begin(struct manager *m, struct entry *p, const struct template_ref *name)
{
	struct snap *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	struct store_snapshot *rec = &s->rec;
	new_sandbox_id(rec->id, sizeof(rec->id));
	if (name) {
		snprintf(rec->alias, sizeof(rec->alias), "%s", name->alias);
		snprintf(rec->tag, sizeof(rec->tag), "%s", name->tag);
	}
	rec->state = STORE_SNAPSHOT_MAKING;
	snprintf(rec->sandbox, sizeof(rec->sandbox), "%s", p->id);
	struct snap *under = p->snapshot[0] ? snap_by_id(m, p->snapshot) : NULL;
	snprintf(rec->template_id, sizeof(rec->template_id), "%s", under ? under->rec.template_id : p->template_id);
	snprintf(rec->token, sizeof(rec->token), "%s", p->token);
	rec->vcpus = p->vcpus;
	rec->mem_mib = p->mem_mib;
	rec->created_ms = wall_ms();
	/* Creation order, in microseconds where the clock allows. */
	rec->seq = rec->created_ms * 1000 > m->snap_seq ? rec->created_ms * 1000 : m->snap_seq + 1;
	m->snap_seq = rec->seq;
	s->next = m->snaps;
	m->snaps = s;
	p->busy = true;
	return s;
}

/* The snapshot becomes ready (under the lock): recorded so, and a ready
 * one of the same name is deleted in the same transaction. */
static int snap_finish(struct manager *m, struct snap *s, struct cove_err *err)
{
	struct snap *old = NULL;
	for (struct snap *o = m->snaps; o && s->rec.alias[0]; o = o->next)
		if (o != s && o->rec.state == STORE_SNAPSHOT_READY && strcmp(o->rec.alias, s->rec.alias) == 0 &&
		    strcmp(o->rec.tag, s->rec.tag) == 0)
			old = o;
	int r = store_begin(m->c.store, err);
	if (r < 0)
		return r;
	struct store_snapshot rec = s->rec;
	rec.state = STORE_SNAPSHOT_READY;
	if (old) {
		struct store_snapshot gone = old->rec;
		gone.state = STORE_SNAPSHOT_DELETED;
		r = store_snapshot_put(m->c.store, &gone, err);
	}
	if (r == 0)
		r = store_snapshot_put(m->c.store, &rec, err);
	if (r < 0) {
		store_rollback(m->c.store);
		return r;
	}
	if ((r = store_commit(m->c.store, err)) < 0)
		return r;
	s->rec.state = STORE_SNAPSHOT_READY;
	if (old) {
		old->rec.state = STORE_SNAPSHOT_DELETED;
		log_info("snapshot=%s op=delete reason=name-taken by=%s", old->rec.id, s->rec.id);
	}
	return 0;
}

/* A snapshot that failed (under the lock): out of the list, freed; its
 * files and record go with snap_remove, without the lock. */
static void snap_abandon(struct manager *m, struct snap *s)
{
	for (struct snap **q = &m->snaps; *q; q = &(*q)->next)
		if (*q == s) {
			*q = s->next;
			break;
		}
	free(s);
}

/* text into dir/name, whole. */
static int snap_write_file(const char *dir, const char *name, const char *text, struct cove_err *err)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "write %s", path);
	int r = fs_write_all(fd, text, strlen(text));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r < 0 ? cove_errno(err, r, "write %s", path) : 0;
}

/* Beside the snapshot's state: the environment p's guest was given
 * (envs_encode's text; none: "[]"), for a sandbox made from it that
 * reboots (a filesystem-only pause, a connect without memory); and the
 * volumes it mounts (volumes.c's text; none: no file), which a sandbox
 * made from it mounts too (its guest has them mounted already). */
static int snap_write_extras(const char *dir, const struct entry *p, struct cove_err *err)
{
	int r = snap_write_file(dir, SNAP_ENVS_FILE, p->envs ? p->envs : "[]", err);
	return r < 0 || !p->volumes_text ? r : snap_write_file(dir, SNAP_VOLUMES_FILE, p->volumes_text, err);
}

/* Saves p aside into s's directory and lets it run on; then makes the
 * copy durable. *pause_ms: how long p's guest stood still. */
static int snap_make(struct manager *m, struct entry *p, struct snap *s, int64_t *pause_ms, struct cove_err *err)
{
	char dir[PATH_MAX];
	snap_path(m, s->rec.id, dir);
	int r = store_snapshot_put(m->c.store, &s->rec, err);
	struct template tpl;
	if (r == 0)
		r = entry_template_load(m, p, &tpl, err);
	if (r < 0)
		return r;
	struct sandbox_config sc;
	entry_sandbox_config(m, p, &tpl, &sc);
	int64_t t0 = now_us();
	r = sandbox_save(p->sb, &sc, dir, true, err);
	if (r == -EOPNOTSUPP)
		return cove_errf(err, r, "sandbox '%s' was booted without a template snapshot and cannot be snapshotted",
				 p->id);
	if (r < 0)
		return r;
	/* It goes on where it was. */
	r = sandbox_resume(p->sb, err);
	if (r == 0)
		r = snap_write_extras(dir, p, err);
	*pause_ms = (now_us() - t0) / 1000;
	if (r < 0) {
		log_warn("sandbox=%s op=snapshot msg=\"%s\"", p->id, err->msg);
		return r;
	}
	return snap_sync(dir, err);
}

int manager_snapshot_create(struct manager *m, const char *id, const struct template_ref *name,
			    struct manager_snapshot *ret, struct cove_err *err)
{
	int64_t t0 = now_us();
	if (!m->snapshots_dir[0])
		return cove_errf(err, -EOPNOTSUPP, "snapshots need a state directory");
	if (name && name_check(m, name, err) < 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct entry *p = entry_find_visible(m, id, err);
	struct snap *s = NULL;
	int r = 0;
	if (!p)
		r = -ENOENT;
	else if (m->stop)
		r = cove_errf(err, -ESHUTDOWN, "coved is shutting down");
	else if (p->busy)
		r = cove_errf(err, -EBUSY, "sandbox '%s' is being paused, resumed, forked or snapshotted; try again", id);
	else if (p->state == STORE_SANDBOX_PAUSED)
		r = cove_errf(err, -EALREADY, "sandbox '%s' is paused: a snapshot is made of a running sandbox", id);
	else if (!(s = snap_begin(m, p, name)))
		r = cove_errf(err, -ENOMEM, "snapshot: out of memory");
	/* Its id, for once it is anyone's (ready, it may be deleted at once). */
	char sid[sizeof(s->rec.id)] = "", dir[PATH_MAX];
	if (r == 0)
		snprintf(sid, sizeof(sid), "%s", s->rec.id);
	pthread_mutex_unlock(&m->lock);
	if (r < 0)
		return r;
	int64_t pause_ms = 0;
	r = snap_make(m, p, s, &pause_ms, err);
	pthread_mutex_lock(&m->lock);
	entry_settle(m, p);
	if (r == 0)
		r = snap_finish(m, s, err);
	if (r < 0)
		snap_abandon(m, s);
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		snap_remove(m, sid, "failed");
		return cove_err_prefix(err, "snapshot %s", id);
	}
	snap_path(m, sid, dir);
	uint64_t used = snap_usage(dir);
	snap_collect(m); /* the one whose name it took, if nothing uses it */
	/* Ready, it is anyone's to delete from here: found again by its id. */
	pthread_mutex_lock(&m->lock);
	s = snap_by_id(m, sid);
	if (s) {
		s->disk_bytes = used;
		snapshot_info(s, ret);
	}
	pthread_mutex_unlock(&m->lock);
	if (!s)
		return cove_errf(err, -ENOENT, "snapshot %s: deleted as soon as it was made", sid);
	ret->pause_ms = pause_ms;
	log_info("sandbox=%s op=snapshot snapshot=%s id=%s pause_ms=%lld disk_mib=%.1f ms=%.1f", id, sid, ret->id,
		 (long long)pause_ms, (double)used / 1048576.0, (double)(now_us() - t0) / 1000.0);
	return 0;
}

int manager_snapshots(struct manager *m, const struct manager_snapshot_filter *f, manager_snapshot_fn fn, void *ctx)
{
	int r = 0;
	pthread_mutex_lock(&m->lock);
	for (struct snap *s = m->snaps; s && r == 0; s = s->next) {
		if (s->rec.state != STORE_SNAPSHOT_READY || (f->sandbox && strcmp(f->sandbox, s->rec.sandbox) != 0) ||
		    (f->name && !snap_matches(&s->rec, f->name, true)) || (f->before_seq && s->rec.seq >= f->before_seq))
			continue;
		struct manager_snapshot info;
		snapshot_info(s, &info);
		r = fn(ctx, &info);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int manager_snapshot_delete(struct manager *m, const struct template_ref *ref, struct cove_err *err)
{
	pthread_mutex_lock(&m->lock);
	struct snap *s = snap_find(m, ref);
	int r = 0;
	char id[sizeof(s->rec.id)] = "";
	if (!s) {
		r = cove_errf(err, -ENOENT, "snapshot '%s%s%s' not found", ref->alias, ref->tag[0] ? ":" : "", ref->tag);
	} else {
		struct store_snapshot gone = s->rec;
		gone.state = STORE_SNAPSHOT_DELETED;
		if ((r = store_snapshot_put(m->c.store, &gone, err)) == 0)
			s->rec.state = STORE_SNAPSHOT_DELETED;
		snprintf(id, sizeof(id), "%s", s->rec.id);
	}
	pthread_mutex_unlock(&m->lock);
	if (r < 0)
		return r;
	log_info("snapshot=%s op=delete", id);
	snap_collect(m);
	return 0;
}

void manager_snapshot_stats(struct manager *m, unsigned *count, uint64_t *disk_bytes)
{
	*count = 0;
	*disk_bytes = 0;
	pthread_mutex_lock(&m->lock);
	for (struct snap *s = m->snaps; s; s = s->next) {
		*count += s->rec.state == STORE_SNAPSHOT_READY;
		*disk_bytes += s->disk_bytes;
	}
	pthread_mutex_unlock(&m->lock);
}
