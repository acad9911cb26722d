/* The volumes module's rows in the state database (see store.h). */
#include <errno.h>
#include <string.h>

#include "store/internal.h"

#define VOLUME_COLUMNS "id, name, token, created_ms"

static void volume_from_row(sqlite3_stmt *st, struct store_volume *v)
{
	memset(v, 0, sizeof(*v));
	store_text_column(st, 0, v->id, sizeof(v->id));
	store_text_column(st, 1, v->name, sizeof(v->name));
	store_text_column(st, 2, v->token, sizeof(v->token));
	v->created_ms = sqlite3_column_int64(st, 3);
}

int store_volume_insert(struct store *s, const struct store_volume *v, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "INSERT INTO volumes (" VOLUME_COLUMNS ") VALUES (?, ?, ?, ?)",
				 "write volume", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, v->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, v->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, v->token, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, v->created_ms);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		r = cove_errf(err, -EEXIST, "a volume named '%s' exists", v->name);
	else if (rc != SQLITE_DONE)
		r = store_sql_fail(s, rc, "write volume", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_volume_get(struct store *s, const char *id, struct store_volume *ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE id = ?", "read volume", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		volume_from_row(st, ret);
	else
		r = rc == SQLITE_DONE ? cove_errf(err, -ENOENT, "no volume '%s'", id)
				      : store_sql_fail(s, rc, "read volume", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_volume_delete(struct store *s, const char *id, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "DELETE FROM volumes WHERE id = ?", "delete volume", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	r = rc != SQLITE_DONE		    ? store_sql_fail(s, rc, "delete volume", err)
	    : sqlite3_changes(s->db) == 0 ? cove_errf(err, -ENOENT, "no volume '%s'", id)
					  : 0;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_volume_each(struct store *s, store_volume_fn fn, void *ctx, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT " VOLUME_COLUMNS " FROM volumes ORDER BY rowid",
				 "list volumes", err);
	if (r < 0)
		return r;
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_volume v;
		volume_from_row(st, &v);
		r = fn(ctx, &v);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_fail(s, rc, "list volumes", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}
