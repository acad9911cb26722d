/* coved's template builds and tags in the state database (see store.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

static const char *const build_state_names[] = { "waiting", "queued", "building", "ready", "failed" };

const char *store_build_state_name(enum store_build_state state)
{
	return (unsigned)state < 5 ? build_state_names[state] : "?";
}

#define BUILD_COLUMNS                                                                                          \
	"id, template, state, tags, vcpus, mem_mib, min_free_mib, reason, reason_step, created_ms, started_ms, " \
	"finished_ms, seq"

static int build_from_row(sqlite3_stmt *st, struct store_build *b)
{
	memset(b, 0, sizeof(*b));
	store_text_column(st, 0, b->id, sizeof(b->id));
	store_text_column(st, 1, b->template_id, sizeof(b->template_id));
	const char *state = (const char *)sqlite3_column_text(st, 2);
	unsigned i = 0;
	while (i < 5 && !(state && strcmp(state, build_state_names[i]) == 0))
		i++;
	if (i == 5)
		return -EINVAL;
	b->state = (enum store_build_state)i;
	store_text_column(st, 3, b->tags, sizeof(b->tags));
	b->vcpus = (unsigned)sqlite3_column_int64(st, 4);
	b->mem_mib = (unsigned)sqlite3_column_int64(st, 5);
	b->min_free_mib = (unsigned)sqlite3_column_int64(st, 6);
	store_text_column(st, 7, b->reason, sizeof(b->reason));
	store_text_column(st, 8, b->reason_step, sizeof(b->reason_step));
	b->created_ms = sqlite3_column_int64(st, 9);
	b->started_ms = sqlite3_column_int64(st, 10);
	b->finished_ms = sqlite3_column_int64(st, 11);
	b->seq = sqlite3_column_int64(st, 12);
	return 0;
}

int store_build_put(struct store *s, const struct store_build *b, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 "INSERT INTO builds (" BUILD_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
				 " ON CONFLICT (id) DO UPDATE SET template = excluded.template, state = excluded.state,"
				 " tags = excluded.tags, vcpus = excluded.vcpus, mem_mib = excluded.mem_mib,"
				 " min_free_mib = excluded.min_free_mib, reason = excluded.reason,"
				 " reason_step = excluded.reason_step, created_ms = excluded.created_ms,"
				 " started_ms = excluded.started_ms, finished_ms = excluded.finished_ms, seq = excluded.seq",
				 "write build", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, b->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, b->template_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, store_build_state_name(b->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, b->tags, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, b->vcpus);
	sqlite3_bind_int64(st, 6, b->mem_mib);
	sqlite3_bind_int64(st, 7, b->min_free_mib);
	sqlite3_bind_text(st, 8, b->reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, b->reason_step, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 10, b->created_ms);
	sqlite3_bind_int64(st, 11, b->started_ms);
	sqlite3_bind_int64(st, 12, b->finished_ms);
	sqlite3_bind_int64(st, 13, b->seq);
	return store_stmt_run(s, st, "write build", err);
}

int store_build_get(struct store *s, const char *id, struct store_build *ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT " BUILD_COLUMNS " FROM builds WHERE id = ?", "read build", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = build_from_row(st, ret) < 0 ? cove_errf(err, -EUCLEAN, "state %s: build %s: bad row", s->path, id) : 0;
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_sql_fail(s, rc, "read build", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_build_delete(struct store *s, const char *id, struct cove_err *err)
{
	return store_run_with_text(s, "DELETE FROM builds WHERE id = ?", id, "delete build", err);
}

int store_build_spec_set(struct store *s, const char *id, const char *spec, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "UPDATE builds SET spec = ? WHERE id = ?", "write build spec", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, spec, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
	return store_stmt_run(s, st, "write build spec", err);
}

int store_build_spec_get(struct store *s, const char *id, char **ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT spec FROM builds WHERE id = ?", "read build spec", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	*ret = NULL;
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (!(*ret = strdup(t ? t : "")))
			r = cove_errf(err, -ENOMEM, "read build spec: out of memory");
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : store_sql_fail(s, rc, "read build spec", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_build_each(struct store *s, const char *template_id, store_build_fn fn, void *ctx, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 template_id ? "SELECT " BUILD_COLUMNS " FROM builds WHERE template = ? ORDER BY seq, id"
					     : "SELECT " BUILD_COLUMNS " FROM builds ORDER BY seq, id",
				 "list builds", err);
	if (r < 0)
		return r;
	if (template_id)
		sqlite3_bind_text(st, 1, template_id, -1, SQLITE_TRANSIENT);
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_build b;
		r = build_from_row(st, &b) < 0 ? cove_errf(err, -EUCLEAN, "state %s: list builds: bad row", s->path)
					       : fn(ctx, &b);
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_fail(s, rc, "list builds", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tag_put(struct store *s, const struct store_tag *t, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 "INSERT OR REPLACE INTO template_tags (template, tag, build, created_ms) VALUES (?, ?, ?, ?)",
				 "write tag", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, t->template_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, t->tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, t->build, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, t->created_ms);
	return store_stmt_run(s, st, "write tag", err);
}

static void tag_from_row(sqlite3_stmt *st, struct store_tag *t)
{
	memset(t, 0, sizeof(*t));
	store_text_column(st, 0, t->template_id, sizeof(t->template_id));
	store_text_column(st, 1, t->tag, sizeof(t->tag));
	store_text_column(st, 2, t->build, sizeof(t->build));
	t->created_ms = sqlite3_column_int64(st, 3);
}

int store_tag_get(struct store *s, const char *template_id, const char *tag, struct store_tag *ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 "SELECT template, tag, build, created_ms FROM template_tags WHERE template = ? AND tag = ?",
				 "read tag", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, template_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, tag, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		tag_from_row(st, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_sql_fail(s, rc, "read tag", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tag_delete(struct store *s, const char *template_id, const char *tag, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 tag ? "DELETE FROM template_tags WHERE template = ? AND tag = ?"
				     : "DELETE FROM template_tags WHERE template = ?",
				 "delete tag", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, template_id, -1, SQLITE_TRANSIENT);
	if (tag)
		sqlite3_bind_text(st, 2, tag, -1, SQLITE_TRANSIENT);
	return store_stmt_run(s, st, "delete tag", err);
}

int store_tag_each(struct store *s, const char *template_id, store_tag_fn fn, void *ctx, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 template_id ? "SELECT template, tag, build, created_ms FROM template_tags"
					       " WHERE template = ? ORDER BY tag"
					     : "SELECT template, tag, build, created_ms FROM template_tags ORDER BY template, tag",
				 "list tags", err);
	if (r < 0)
		return r;
	if (template_id)
		sqlite3_bind_text(st, 1, template_id, -1, SQLITE_TRANSIENT);
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_tag t;
		tag_from_row(st, &t);
		r = fn(ctx, &t);
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_fail(s, rc, "list tags", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}
