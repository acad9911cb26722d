/* Shared by the files of the store module only: the database handle, and
 * the failure of a statement as an errno and a message. */
#ifndef COVE_STORE_INTERNAL_H
#define COVE_STORE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

struct store {
	sqlite3 *db;
	char path[PATH_MAX];
	/* Recursive: store_begin() holds it until commit or rollback, and each
	 * statement takes it too, so another thread's statement never lands
	 * inside this thread's transaction. */
	pthread_mutex_t lock;
};

/* SQLite's rc as a negative errno (-EBUSY, -ENOSPC, -EIO, ...), with what
 * failed and SQLite's message in err. */
int store_sql_fail(struct store *s, int rc, const char *what, struct cove_err *err);

/* stmt.c: a statement prepared under the store's lock, which the caller
 * lets go (after sqlite3_finalize) with store_stmt_run or by unlocking
 * s->lock; store_stmt_run steps one that returns no rows and lets it go;
 * store_run_with_text runs sql with one text parameter (NULL: none). */
int store_stmt_begin(struct store *s, sqlite3_stmt **st, const char *sql, const char *what, struct cove_err *err);
int store_stmt_run(struct store *s, sqlite3_stmt *st, const char *what, struct cove_err *err);
void store_text_column(sqlite3_stmt *st, int col, char *buf, size_t len);
int store_run_with_text(struct store *s, const char *sql, const char *text, const char *what, struct cove_err *err);

#endif
