/* Statements under the store's lock, shared by the files of the store
 * module that keep tables of their own (snapshots.c, builds.c). */
#include <stdio.h>

#include "store/internal.h"

/* A statement under the store's lock, which the caller lets go (after
 * sqlite3_finalize) with done(). */
int store_stmt_begin(struct store *s, sqlite3_stmt **st, const char *sql, const char *what, struct cove_err *err)
{
	pthread_mutex_lock(&s->lock);
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	if (rc == SQLITE_OK)
		return 0;
	int r = store_sql_fail(s, rc, what, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Steps a statement that returns no rows, and lets it go. */
int store_stmt_run(struct store *s, sqlite3_stmt *st, const char *what, struct cove_err *err)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : store_sql_fail(s, rc, what, err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void store_text_column(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	snprintf(buf, len, "%s", t ? t : "");
}

/* A statement of one text parameter and no rows. */
int store_run_with_text(struct store *s, const char *sql, const char *text, const char *what, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, sql, what, err);
	if (r < 0)
		return r;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	return store_stmt_run(s, st, what, err);
}

