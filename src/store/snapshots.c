/* coved's snapshots and their users in the state database (see store.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/internal.h"

static const char *const snapshot_state_names[] = { "making", "ready", "deleted" };

const char *store_snapshot_state_name(enum store_snapshot_state state)
{
	return (unsigned)state < 3 ? snapshot_state_names[state] : "?";
}

static int snapshot_state_parse(const char *s, enum store_snapshot_state *ret)
{
	for (unsigned i = 0; i < 3; i++)
		if (s && strcmp(s, snapshot_state_names[i]) == 0) {
			*ret = (enum store_snapshot_state)i;
			return 0;
		}
	return -EINVAL;
}

#define SNAPSHOT_COLUMNS "id, alias, tag, state, sandbox, template, token, vcpus, mem_mib, created_ms, seq"

static int snapshot_from_row(sqlite3_stmt *st, struct store_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	store_text_column(st, 0, snap->id, sizeof(snap->id));
	store_text_column(st, 1, snap->alias, sizeof(snap->alias));
	store_text_column(st, 2, snap->tag, sizeof(snap->tag));
	if (snapshot_state_parse((const char *)sqlite3_column_text(st, 3), &snap->state) < 0)
		return -EINVAL;
	store_text_column(st, 4, snap->sandbox, sizeof(snap->sandbox));
	store_text_column(st, 5, snap->template_id, sizeof(snap->template_id));
	store_text_column(st, 6, snap->token, sizeof(snap->token));
	snap->vcpus = (unsigned)sqlite3_column_int64(st, 7);
	snap->mem_mib = (unsigned)sqlite3_column_int64(st, 8);
	snap->created_ms = sqlite3_column_int64(st, 9);
	snap->seq = sqlite3_column_int64(st, 10);
	return 0;
}

int store_snapshot_put(struct store *s, const struct store_snapshot *snap, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
			   /* An upsert on the id only: a clash of names is an error
			    * (OR REPLACE would delete the other row instead). */
			   "INSERT INTO snapshots (" SNAPSHOT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			   " ON CONFLICT (id) DO UPDATE SET alias = excluded.alias, tag = excluded.tag,"
			   " state = excluded.state, sandbox = excluded.sandbox, template = excluded.template,"
			   " token = excluded.token, vcpus = excluded.vcpus, mem_mib = excluded.mem_mib,"
			   " created_ms = excluded.created_ms, seq = excluded.seq",
			   "write snapshot", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, snap->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, snap->alias, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, snap->tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, store_snapshot_state_name(snap->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, snap->sandbox, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, snap->template_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, snap->token, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, snap->vcpus);
	sqlite3_bind_int64(st, 9, snap->mem_mib);
	sqlite3_bind_int64(st, 10, snap->created_ms);
	sqlite3_bind_int64(st, 11, snap->seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		r = cove_errf(err, -EEXIST, "state %s: another snapshot is named '%s:%s'", s->path, snap->alias,
			      snap->tag[0] ? snap->tag : "default");
	else if (rc != SQLITE_DONE)
		r = store_sql_fail(s, rc, "write snapshot", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_snapshot_delete(struct store *s, const char *id, struct cove_err *err)
{
	return store_run_with_text(s, "DELETE FROM snapshots WHERE id = ?", id, "delete snapshot", err);
}

int store_snapshot_each(struct store *s, store_snapshot_fn fn, void *ctx, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT " SNAPSHOT_COLUMNS " FROM snapshots ORDER BY seq DESC, id", "list snapshots",
			   err);
	if (r < 0)
		return r;
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_snapshot snap;
		if (snapshot_from_row(st, &snap) < 0)
			r = cove_errf(err, -EUCLEAN, "state %s: list snapshots: bad row", s->path);
		else
			r = fn(ctx, &snap);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_fail(s, rc, "list snapshots", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_snapshot_use_put(struct store *s, const char *sandbox, const char *snapshot, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "INSERT OR REPLACE INTO sandbox_snapshots (sandbox, snapshot) VALUES (?, ?)",
			   "write snapshot use", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, snapshot, -1, SQLITE_TRANSIENT);
	return store_stmt_run(s, st, "write snapshot use", err);
}

int store_snapshot_use_delete(struct store *s, const char *sandbox, struct cove_err *err)
{
	return store_run_with_text(s, "DELETE FROM sandbox_snapshots WHERE sandbox = ?", sandbox, "delete snapshot use", err);
}

int store_snapshot_use_get(struct store *s, const char *sandbox, char *snapshot, size_t len, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT snapshot FROM sandbox_snapshots WHERE sandbox = ?", "read snapshot use", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_text_column(st, 0, snapshot, len);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_sql_fail(s, rc, "read snapshot use", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_snapshot_use_prune(struct store *s, struct cove_err *err)
{
	return store_run_with_text(s, "DELETE FROM sandbox_snapshots WHERE sandbox NOT IN (SELECT id FROM sandboxes)", NULL,
			     "prune snapshot uses", err);
}
