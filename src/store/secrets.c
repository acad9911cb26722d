/* The secrets module's rows in the state database (see store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define SECRET_COLUMNS "id, name, version, metadata, created_ms, updated_ms, seq, nonce, sealed"

void store_secret_clear(struct store_secret *sec)
{
	if (!sec)
		return;
	free(sec->metadata);
	free(sec->sealed);
	sec->metadata = NULL;
	sec->sealed = NULL;
	sec->sealed_len = 0;
}

/* The row as sec; with_value: the nonce and sealed value too. */
static int secret_from_row(sqlite3_stmt *st, bool with_value, struct store_secret *sec)
{
	memset(sec, 0, sizeof(*sec));
	store_text_column(st, 0, sec->id, sizeof(sec->id));
	store_text_column(st, 1, sec->name, sizeof(sec->name));
	sec->version = sqlite3_column_int64(st, 2);
	const char *meta = (const char *)sqlite3_column_text(st, 3);
	sec->created_ms = sqlite3_column_int64(st, 4);
	sec->updated_ms = sqlite3_column_int64(st, 5);
	sec->seq = sqlite3_column_int64(st, 6);
	if (!(sec->metadata = strdup(meta ? meta : "{}")))
		return -ENOMEM;
	if (!with_value)
		return 0;
	const void *nonce = sqlite3_column_blob(st, 7);
	const void *sealed = sqlite3_column_blob(st, 8);
	int sealed_len = sqlite3_column_bytes(st, 8);
	if (!nonce || sqlite3_column_bytes(st, 7) != STORE_SECRET_NONCE || !sealed || sealed_len <= 0)
		return -EUCLEAN;
	memcpy(sec->nonce, nonce, STORE_SECRET_NONCE);
	if (!(sec->sealed = malloc((size_t)sealed_len)))
		return -ENOMEM;
	memcpy(sec->sealed, sealed, (size_t)sealed_len);
	sec->sealed_len = (size_t)sealed_len;
	return 0;
}

int store_secret_insert(struct store *s, const struct store_secret *sec, struct cove_err *err)
{
	sqlite3_stmt *st;
	/* seq: the creator's, or one past the newest when that is not more
	 * (two in one microsecond): listings page by it, so it is unique. */
	int r = store_stmt_begin(s, &st,
				 "INSERT INTO secrets (" SECRET_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?,"
				 " MAX(?7, COALESCE((SELECT MAX(seq) FROM secrets), 0) + 1), ?, ?)",
				 "write secret", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, sec->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sec->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, sec->version);
	sqlite3_bind_text(st, 4, sec->metadata ? sec->metadata : "{}", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, sec->created_ms);
	sqlite3_bind_int64(st, 6, sec->updated_ms);
	sqlite3_bind_int64(st, 7, sec->seq);
	sqlite3_bind_blob(st, 8, sec->nonce, STORE_SECRET_NONCE, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 9, sec->sealed, (int)sec->sealed_len, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		r = cove_errf(err, -EEXIST, "a secret named '%s' exists", sec->name);
	else if (rc != SQLITE_DONE)
		r = store_sql_fail(s, rc, "write secret", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* A statement that changes one row: -ENOENT when it changed none. */
static int run_one_row(struct store *s, sqlite3_stmt *st, const char *what, const char *id, struct cove_err *err)
{
	int rc = sqlite3_step(st);
	int r = rc != SQLITE_DONE           ? store_sql_fail(s, rc, what, err)
	      : sqlite3_changes(s->db) == 0 ? cove_errf(err, -ENOENT, "no secret '%s'", id)
					    : 0;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_secret_replace(struct store *s, const struct store_secret *sec, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 "UPDATE secrets SET version = ?, metadata = ?, nonce = ?, sealed = ?, updated_ms = ?"
				 " WHERE id = ?",
				 "update secret", err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, sec->version);
	sqlite3_bind_text(st, 2, sec->metadata ? sec->metadata : "{}", -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, sec->nonce, STORE_SECRET_NONCE, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 4, sec->sealed, (int)sec->sealed_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, sec->updated_ms);
	sqlite3_bind_text(st, 6, sec->id, -1, SQLITE_TRANSIENT);
	return run_one_row(s, st, "update secret", sec->id, err);
}

int store_secret_get(struct store *s, const char *id, const char *name, struct store_secret *ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "SELECT " SECRET_COLUMNS " FROM secrets WHERE id = ? OR name = ?",
				 "read secret", err);
	if (r < 0)
		return r;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (name)
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = secret_from_row(st, true, ret);
		if (r < 0) {
			store_secret_clear(ret);
			r = r == -ENOMEM ? cove_errf(err, r, "out of memory")
					 : cove_errf(err, r, "state %s: secret '%s': bad row", s->path, id ? id : name);
		}
	} else {
		r = rc == SQLITE_DONE ? cove_errf(err, -ENOENT, "no secret '%s'",
						  id     ? id
						  : name ? name
							 : "")
				      : store_sql_fail(s, rc, "read secret", err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_secret_delete(struct store *s, const char *id, struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st, "DELETE FROM secrets WHERE id = ?", "delete secret", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	return run_one_row(s, st, "delete secret", id, err);
}

int store_secret_each(struct store *s, int64_t before_seq, size_t limit, store_secret_fn fn, void *ctx,
		      struct cove_err *err)
{
	sqlite3_stmt *st;
	int r = store_stmt_begin(s, &st,
				 "SELECT " SECRET_COLUMNS " FROM secrets WHERE ?1 = 0 OR seq < ?1"
				 " ORDER BY seq DESC, id LIMIT ?2",
				 "list secrets", err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, before_seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_secret sec;
		r = secret_from_row(st, false, &sec);
		if (r < 0)
			r = cove_errf(err, r, "out of memory");
		else
			r = fn(ctx, &sec);
		store_secret_clear(&sec);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_fail(s, rc, "list secrets", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}
