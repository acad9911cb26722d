#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fs.h"
#include "store/internal.h"

/* Busy waits are short: transactions hold the lock for a few statements. */
#define STORE_BUSY_TIMEOUT_MS 10000

/* Schema versions, applied in order; PRAGMA user_version counts the ones done.
 * Add, never change: a database made by an older Cove is brought forward. */
static const char *const migrations[] = {
	"CREATE TABLE slots ("
	" idx INTEGER PRIMARY KEY,"
	" state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'used', 'destroying')),"
	" sandbox TEXT NOT NULL DEFAULT '',"
	" holder_pid INTEGER NOT NULL DEFAULT 0, holder_start INTEGER NOT NULL DEFAULT 0,"
	" vmm_pid INTEGER NOT NULL DEFAULT 0, vmm_start INTEGER NOT NULL DEFAULT 0,"
	" updated_ms INTEGER NOT NULL);"
	"CREATE INDEX slots_by_state ON slots (state, idx);"
	"CREATE INDEX slots_by_sandbox ON slots (sandbox);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
	/* The sandbox's egress policy, so recovery can restore its rules. */
	"ALTER TABLE slots ADD COLUMN policy TEXT NOT NULL DEFAULT '';",
	/* coved's sandboxes. Times are wall-clock milliseconds since the epoch. */
	"CREATE TABLE sandboxes ("
	" id TEXT PRIMARY KEY,"
	" template TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('creating', 'running', 'paused', 'dead')),"
	" metadata TEXT NOT NULL DEFAULT '{}',"
	" token TEXT NOT NULL DEFAULT '',"
	" vcpus INTEGER NOT NULL DEFAULT 0, mem_mib INTEGER NOT NULL DEFAULT 0,"
	" started_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
	" vmm_pid INTEGER NOT NULL DEFAULT 0, vmm_start INTEGER NOT NULL DEFAULT 0,"
	" auto_pause INTEGER NOT NULL DEFAULT 0,"
	" seq INTEGER NOT NULL);"
	"CREATE INDEX sandboxes_by_seq ON sandboxes (seq);",
	/* A paused sandbox's time left (paused time does not count). */
	"ALTER TABLE sandboxes ADD COLUMN left_ms INTEGER NOT NULL DEFAULT 0;",
	/* 5: the egress policy a sandbox was created with (the net module's
	 * text; "" the default), for its info and for the slot it gets on a
	 * resume or fork. NULL: made before this, not known. */
	"ALTER TABLE sandboxes ADD COLUMN policy TEXT;",
	/* 6: the lifecycle as E2B has it: a filesystem-only auto-pause,
	 * auto-resume by traffic, the timeout the sandbox was made with (an
	 * auto-resume's), and the environment /init gave it (a reboot from its
	 * disk gives it again). */
	"ALTER TABLE sandboxes ADD COLUMN auto_pause_fs_only INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sandboxes ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sandboxes ADD COLUMN timeout_s INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sandboxes ADD COLUMN envs TEXT NOT NULL DEFAULT '';",
	/* 7: coved's snapshots (snapshots.c), at most one ready one per name,
	 * and which snapshot each sandbox made from one uses. */
	"CREATE TABLE snapshots ("
	" id TEXT PRIMARY KEY,"
	" alias TEXT NOT NULL DEFAULT '', tag TEXT NOT NULL DEFAULT '',"
	" state TEXT NOT NULL CHECK (state IN ('making', 'ready', 'deleted')),"
	" sandbox TEXT NOT NULL, template TEXT NOT NULL, token TEXT NOT NULL,"
	" vcpus INTEGER NOT NULL, mem_mib INTEGER NOT NULL,"
	" created_ms INTEGER NOT NULL, seq INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX snapshots_by_name ON snapshots (alias, tag) WHERE state = 'ready' AND alias != '';"
	"CREATE INDEX snapshots_by_seq ON snapshots (seq);"
	"CREATE TABLE sandbox_snapshots (sandbox TEXT PRIMARY KEY, snapshot TEXT NOT NULL);",
	/* Template builds (E2B's build API) and the tags naming them. */
	"CREATE TABLE builds ("
	" id TEXT PRIMARY KEY, template TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('waiting', 'queued', 'building', 'ready', 'failed')),"
	" tags TEXT NOT NULL DEFAULT '', vcpus INTEGER NOT NULL, mem_mib INTEGER NOT NULL,"
	" min_free_mib INTEGER NOT NULL DEFAULT 0, spec TEXT NOT NULL DEFAULT '',"
	" reason TEXT NOT NULL DEFAULT '', reason_step TEXT NOT NULL DEFAULT '',"
	" created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL DEFAULT 0,"
	" finished_ms INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);"
	"CREATE INDEX builds_by_template ON builds (template, seq);"
	"CREATE TABLE template_tags ("
	" template TEXT NOT NULL, tag TEXT NOT NULL, build TEXT NOT NULL, created_ms INTEGER NOT NULL,"
	" PRIMARY KEY (template, tag));",
	/* 9: a sandbox's ingress (E2B's allowPublicTraffic false and
	 * maskRequestHost): its traffic access token ("": public) and the
	 * Host its servers see ("": the routing's). */
	"ALTER TABLE sandboxes ADD COLUMN traffic_token TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE sandboxes ADD COLUMN mask_host TEXT NOT NULL DEFAULT '';",
	/* 10: secrets (E2B's Secret API; secrets.c): metadata in the clear,
	 * each value sealed by src/secrets under the host's key (nonce, and
	 * ciphertext with its tag), names unique. */
	"CREATE TABLE secrets ("
	" id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" version INTEGER NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',"
	" nonce BLOB NOT NULL, sealed BLOB NOT NULL,"
	" created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, seq INTEGER NOT NULL);"
	"CREATE INDEX secrets_by_seq ON secrets (seq);",
	/* 11: E2B's httpsPorts, the ports whose servers the routing reaches
	 * over TLS, as the manager writes them ("": none). */
	"ALTER TABLE sandboxes ADD COLUMN https_ports TEXT NOT NULL DEFAULT '';",
	/* 12: volumes (E2B's Volume API; volumes.c), names unique. */
	"CREATE TABLE volumes ("
	" id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, token TEXT NOT NULL, created_ms INTEGER NOT NULL);",
	/* 13: the volumes a sandbox mounts, as the manager writes them ("": none). */
	"ALTER TABLE sandboxes ADD COLUMN volumes TEXT NOT NULL DEFAULT '';",
};

static const char *const slot_state_names[] = { "creating", "ready", "used", "destroying" };

const char *store_slot_state_name(enum store_slot_state state)
{
	return (unsigned)state < 4 ? slot_state_names[state] : "?";
}

static int slot_state_parse(const char *s, enum store_slot_state *ret)
{
	for (unsigned i = 0; i < 4; i++)
		if (s && strcmp(s, slot_state_names[i]) == 0) {
			*ret = (enum store_slot_state)i;
			return 0;
		}
	return -EINVAL;
}

static int sql_error(struct store *s, struct cove_err *err, int rc, const char *what)
{
	int code = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY
		 : rc == SQLITE_FULL				? -ENOSPC
		 : rc == SQLITE_READONLY || rc == SQLITE_PERM ? -EROFS
		 : rc == SQLITE_NOMEM			    ? -ENOMEM
		 : rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? -EUCLEAN
							       : -EIO;
	return cove_errf(err, code, "state %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int store_sql_fail(struct store *s, int rc, const char *what, struct cove_err *err)
{
	return sql_error(s, err, rc, what);
}

static int exec_sql(struct store *s, const char *sql, const char *what, struct cove_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_error(s, err, rc, what);
}

static int user_version(struct store *s, int *ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_error(s, err, rc, "read schema version");
	rc = sqlite3_step(st);
	*ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sql_error(s, err, rc, "read schema version");
}

static int migrate(struct store *s, struct cove_err *err)
{
	int r = store_begin(s, err);
	if (r < 0)
		return r;
	int version = 0;
	r = user_version(s, &version, err);
	if (r == 0 && version > (int)(sizeof(migrations) / sizeof(migrations[0])))
		r = cove_errf(err, -EPROTO, "state %s: schema version %d is newer than this Cove knows (%zu)",
			      s->path, version, sizeof(migrations) / sizeof(migrations[0]));
	for (size_t i = (size_t)(version > 0 ? version : 0); r == 0 && i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		r = exec_sql(s, migrations[i], "apply schema", err);
		if (r == 0)
			r = exec_sql(s, sql, "set schema version", err);
	}
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s, err);
}

int store_open(const char *state_dir, struct store **ret, struct cove_err *err)
{
	if (!state_dir)
		state_dir = STORE_DEFAULT_STATE_DIR;
	int r = fs_mkdir_p(state_dir, 0700, err);
	if (r < 0)
		return cove_err_prefix(err, "state directory");
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "state: out of memory");
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if ((size_t)snprintf(s->path, sizeof(s->path), "%s/%s", state_dir, STORE_FILE) >= sizeof(s->path)) {
		store_close(s);
		return cove_errf(err, -ENAMETOOLONG, "state directory %s: path too long", state_dir);
	}
	int rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = s->db ? sql_error(s, err, rc, "open") : cove_errf(err, -ENOMEM, "state %s: open", s->path);
		store_close(s);
		return r;
	}
	chmod(s->path, 0600);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* WAL: readers do not block the writer. synchronous=NORMAL keeps every
	 * committed transaction across a process crash (only a power cut may lose
	 * the last ones), at a fraction of FULL's fsyncs. */
	r = exec_sql(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
		     "set journal mode", err);
	if (r == 0)
		r = migrate(s, err);
	if (r < 0) {
		store_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct store *store_close(struct store *s)
{
	if (!s)
		return NULL;
	if (s->db)
		sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

int store_begin(struct store *s, struct cove_err *err)
{
	pthread_mutex_lock(&s->lock);
	int r = exec_sql(s, "BEGIN IMMEDIATE", "begin transaction", err);
	if (r < 0)
		pthread_mutex_unlock(&s->lock);
	return r;
}

int store_commit(struct store *s, struct cove_err *err)
{
	int r = exec_sql(s, "COMMIT", "commit", err);
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void store_rollback(struct store *s)
{
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->lock);
}

/* --- slots --- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define SLOT_COLUMNS "idx, state, sandbox, holder_pid, holder_start, vmm_pid, vmm_start, updated_ms"

static int prepare(struct store *s, sqlite3_stmt **st, const char *sql, const char *what, struct cove_err *err)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : sql_error(s, err, rc, what);
}

static int slot_from_row(sqlite3_stmt *st, struct store_slot *slot)
{
	memset(slot, 0, sizeof(*slot));
	slot->index = (unsigned)sqlite3_column_int64(st, 0);
	if (slot_state_parse((const char *)sqlite3_column_text(st, 1), &slot->state) < 0)
		return -EINVAL;
	const char *sb = (const char *)sqlite3_column_text(st, 2);
	snprintf(slot->sandbox, sizeof(slot->sandbox), "%s", sb ? sb : "");
	slot->holder.pid = (pid_t)sqlite3_column_int64(st, 3);
	slot->holder.start_time = (uint64_t)sqlite3_column_int64(st, 4);
	slot->vmm.pid = (pid_t)sqlite3_column_int64(st, 5);
	slot->vmm.start_time = (uint64_t)sqlite3_column_int64(st, 6);
	slot->updated_ms = sqlite3_column_int64(st, 7);
	return 0;
}

/* Runs a statement whose parameters are bound; at most one row goes to ret. */
static int step_one(struct store *s, sqlite3_stmt *st, struct store_slot *ret, const char *what, struct cove_err *err)
{
	int rc = sqlite3_step(st);
	int r = 0;
	if (rc == SQLITE_ROW)
		r = ret && slot_from_row(st, ret) < 0 ? cove_errf(err, -EUCLEAN, "state %s: %s: bad row", s->path, what) : 0;
	else if (rc == SQLITE_DONE)
		r = ret ? -ENOENT : 0;
	else
		r = sql_error(s, err, rc, what);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_slot_put(struct store *s, const struct store_slot *slot, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	/* An upsert, so the policy column (written on its own) is kept. */
	int r = prepare(s, &st,
			"INSERT INTO slots (" SLOT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idx) DO UPDATE SET"
			" state = excluded.state, sandbox = excluded.sandbox, holder_pid = excluded.holder_pid,"
			" holder_start = excluded.holder_start, vmm_pid = excluded.vmm_pid, vmm_start = excluded.vmm_start,"
			" updated_ms = excluded.updated_ms",
			"write slot", err);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	sqlite3_bind_int64(st, 1, slot->index);
	sqlite3_bind_text(st, 2, store_slot_state_name(slot->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, slot->sandbox, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, slot->holder.pid);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)slot->holder.start_time);
	sqlite3_bind_int64(st, 6, slot->vmm.pid);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)slot->vmm.start_time);
	sqlite3_bind_int64(st, 8, wall_ms());
	return step_one(s, st, NULL, "write slot", err);
}

int store_slot_delete(struct store *s, unsigned index, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "DELETE FROM slots WHERE idx = ?", "delete slot", err);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	sqlite3_bind_int64(st, 1, index);
	return step_one(s, st, NULL, "delete slot", err);
}

static int query_one(struct store *s, const char *sql, const char *text, int64_t num, struct store_slot *ret,
		     const char *what, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, sql, what, err);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	else if (num >= 0)
		sqlite3_bind_int64(st, 1, num);
	return step_one(s, st, ret, what, err);
}

int store_slot_get(struct store *s, unsigned index, struct store_slot *ret, struct cove_err *err)
{
	return query_one(s, "SELECT " SLOT_COLUMNS " FROM slots WHERE idx = ?", NULL, index, ret, "read slot", err);
}

int store_slot_find_sandbox(struct store *s, const char *sandbox, struct store_slot *ret, struct cove_err *err)
{
	return query_one(s, "SELECT " SLOT_COLUMNS " FROM slots WHERE sandbox = ? AND sandbox != ''"
			 " ORDER BY state = 'used' DESC, idx LIMIT 1", sandbox,
			 -1, ret, "find slot", err);
}

int store_slot_first_ready(struct store *s, struct store_slot *ret, struct cove_err *err)
{
	return query_one(s, "SELECT " SLOT_COLUMNS " FROM slots WHERE state = 'ready' ORDER BY idx LIMIT 1", NULL, -1,
			 ret, "find ready slot", err);
}

int store_slot_free_index(struct store *s, unsigned limit, unsigned *ret, struct cove_err *err)
{
	/* The first gap: 0 when it is free, else the lowest idx+1 that is. */
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st,
			"SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM slots WHERE idx = 0) THEN 0 ELSE"
			" (SELECT MIN(a.idx) + 1 FROM slots a WHERE NOT EXISTS"
			"  (SELECT 1 FROM slots b WHERE b.idx = a.idx + 1)) END",
			"find free slot", err);
	if (r == 0) {
		int rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			r = sql_error(s, err, rc, "find free slot");
		else if (sqlite3_column_int64(st, 0) >= limit)
			r = cove_errf(err, -ENOSPC, "all %u network slots are in use", limit);
		else
			*ret = (unsigned)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_slot_each(struct store *s, store_slot_fn fn, void *ctx, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "SELECT " SLOT_COLUMNS " FROM slots ORDER BY idx", "list slots", err);
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_slot slot;
		if (slot_from_row(st, &slot) < 0)
			r = cove_errf(err, -EUCLEAN, "state %s: list slots: bad row", s->path);
		else
			r = fn(ctx, &slot);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_error(s, err, rc, "list slots");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_slot_count(struct store *s, enum store_slot_state state, unsigned *ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "SELECT COUNT(*) FROM slots WHERE state = ?", "count slots", err);
	if (r == 0) {
		sqlite3_bind_text(st, 1, store_slot_state_name(state), -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*ret = (unsigned)sqlite3_column_int64(st, 0);
		else
			r = sql_error(s, err, rc, "count slots");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* --- settings that must not change under existing state --- */

int store_meta_get(struct store *s, const char *key, char *buf, size_t len, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "SELECT value FROM meta WHERE key = ?", "read setting", err);
	if (r == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
		else if (rc == SQLITE_DONE)
			r = -ENOENT;
		else
			r = sql_error(s, err, rc, "read setting");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_meta_set(struct store *s, const char *key, const char *value, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", "write setting", err);
	if (r == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			r = sql_error(s, err, rc, "write setting");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_slot_set_policy(struct store *s, unsigned index, const char *policy, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "UPDATE slots SET policy = ? WHERE idx = ?", "write slot policy", err);
	if (r == 0) {
		sqlite3_bind_text(st, 1, policy ? policy : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, index);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			r = sql_error(s, err, rc, "write slot policy");
		else if (sqlite3_changes(s->db) == 0)
			r = cove_errf(err, -ENOENT, "state %s: slot %u has no record", s->path, index);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_slot_get_policy(struct store *s, unsigned index, char **ret, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "SELECT policy FROM slots WHERE idx = ?", "read slot policy", err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, index);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *text = (const char *)sqlite3_column_text(st, 0);
			*ret = strdup(text ? text : "");
			if (!*ret)
				r = cove_errf(err, -ENOMEM, "state: out of memory");
		} else {
			r = rc == SQLITE_DONE ? -ENOENT : sql_error(s, err, rc, "read slot policy");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* --- sandboxes --- */

static const char *const sandbox_state_names[] = { "creating", "running", "paused", "dead" };

const char *store_sandbox_state_name(enum store_sandbox_state state)
{
	return (unsigned)state < 4 ? sandbox_state_names[state] : "?";
}

int store_sandbox_state_parse(const char *s, enum store_sandbox_state *ret)
{
	for (unsigned i = 0; i < 4; i++)
		if (s && strcmp(s, sandbox_state_names[i]) == 0) {
			*ret = (enum store_sandbox_state)i;
			return 0;
		}
	return -EINVAL;
}

#define SANDBOX_COLUMNS \
	"id, template, state, metadata, token, vcpus, mem_mib, started_ms, end_ms, vmm_pid, vmm_start, auto_pause, seq, " \
	"left_ms, policy"
/* Schema 6's, after those: the lifecycle. */
#define LIFECYCLE_COLUMNS "auto_pause_fs_only, auto_resume, timeout_s, envs"
#define LIFECYCLE_FIRST 15
/* Schema 9's and 10's, after those: the ingress. */
#define INGRESS_COLUMNS "traffic_token, mask_host, https_ports"
#define INGRESS_FIRST (LIFECYCLE_FIRST + 4)
/* Schema 13's: its volumes. */
#define VOLUMES_COLUMNS "volumes"
#define VOLUMES_FIRST (INGRESS_FIRST + 3)

static int sandbox_from_row(sqlite3_stmt *st, struct store_sandbox *sb)
{
	memset(sb, 0, sizeof(*sb));
	const char *text;
	snprintf(sb->id, sizeof(sb->id), "%s", (text = (const char *)sqlite3_column_text(st, 0)) ? text : "");
	snprintf(sb->template_id, sizeof(sb->template_id), "%s",
		 (text = (const char *)sqlite3_column_text(st, 1)) ? text : "");
	if (store_sandbox_state_parse((const char *)sqlite3_column_text(st, 2), &sb->state) < 0)
		return -EINVAL;
	sb->metadata = strdup((text = (const char *)sqlite3_column_text(st, 3)) ? text : "{}");
	snprintf(sb->token, sizeof(sb->token), "%s", (text = (const char *)sqlite3_column_text(st, 4)) ? text : "");
	sb->vcpus = (unsigned)sqlite3_column_int64(st, 5);
	sb->mem_mib = (unsigned)sqlite3_column_int64(st, 6);
	sb->started_ms = sqlite3_column_int64(st, 7);
	sb->end_ms = sqlite3_column_int64(st, 8);
	sb->vmm.pid = (pid_t)sqlite3_column_int64(st, 9);
	sb->vmm.start_time = (uint64_t)sqlite3_column_int64(st, 10);
	sb->auto_pause = sqlite3_column_int64(st, 11) != 0;
	sb->seq = sqlite3_column_int64(st, 12);
	sb->left_ms = sqlite3_column_int64(st, 13);
	if ((text = (const char *)sqlite3_column_text(st, 14)) && !(sb->policy = strdup(text)))
		return -ENOMEM;
	sb->auto_pause_fs_only = sqlite3_column_int64(st, LIFECYCLE_FIRST) != 0;
	sb->auto_resume = sqlite3_column_int64(st, LIFECYCLE_FIRST + 1) != 0;
	sb->timeout_s = (long)sqlite3_column_int64(st, LIFECYCLE_FIRST + 2);
	text = (const char *)sqlite3_column_text(st, LIFECYCLE_FIRST + 3);
	if (text && *text && !(sb->envs = strdup(text)))
		return -ENOMEM;
	snprintf(sb->traffic_token, sizeof(sb->traffic_token), "%s",
		 (text = (const char *)sqlite3_column_text(st, INGRESS_FIRST)) ? text : "");
	snprintf(sb->mask_host, sizeof(sb->mask_host), "%s",
		 (text = (const char *)sqlite3_column_text(st, INGRESS_FIRST + 1)) ? text : "");
	snprintf(sb->https_ports, sizeof(sb->https_ports), "%s",
		 (text = (const char *)sqlite3_column_text(st, INGRESS_FIRST + 2)) ? text : "");
	text = (const char *)sqlite3_column_text(st, VOLUMES_FIRST);
	if (text && *text && !(sb->volumes = strdup(text)))
		return -ENOMEM;
	return sb->metadata ? 0 : -ENOMEM;
}

void store_sandbox_clear(struct store_sandbox *sb)
{
	free(sb->metadata);
	free(sb->policy);
	sb->metadata = NULL;
	sb->policy = NULL;
	free(sb->envs);
	sb->envs = NULL;
	free(sb->volumes);
	sb->volumes = NULL;
}

int store_sandbox_put(struct store *s, const struct store_sandbox *sb, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st,
			"INSERT OR REPLACE INTO sandboxes (" SANDBOX_COLUMNS ", " LIFECYCLE_COLUMNS ", " INGRESS_COLUMNS
			", " VOLUMES_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"write sandbox", err);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	sqlite3_bind_text(st, 1, sb->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sb->template_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, store_sandbox_state_name(sb->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sb->metadata ? sb->metadata : "{}", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, sb->token, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, sb->vcpus);
	sqlite3_bind_int64(st, 7, sb->mem_mib);
	sqlite3_bind_int64(st, 8, sb->started_ms);
	sqlite3_bind_int64(st, 9, sb->end_ms);
	sqlite3_bind_int64(st, 10, sb->vmm.pid);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)sb->vmm.start_time);
	sqlite3_bind_int64(st, 12, sb->auto_pause);
	sqlite3_bind_int64(st, 13, sb->seq);
	sqlite3_bind_int64(st, 14, sb->left_ms);
	if (sb->policy)
		sqlite3_bind_text(st, 15, sb->policy, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 15);
	sqlite3_bind_int64(st, LIFECYCLE_FIRST + 1, sb->auto_pause_fs_only);
	sqlite3_bind_int64(st, LIFECYCLE_FIRST + 2, sb->auto_resume);
	sqlite3_bind_int64(st, LIFECYCLE_FIRST + 3, sb->timeout_s);
	sqlite3_bind_text(st, LIFECYCLE_FIRST + 4, sb->envs ? sb->envs : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, INGRESS_FIRST + 1, sb->traffic_token, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, INGRESS_FIRST + 2, sb->mask_host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, INGRESS_FIRST + 3, sb->https_ports, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, VOLUMES_FIRST + 1, sb->volumes ? sb->volumes : "", -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	r = rc == SQLITE_DONE ? 0 : sql_error(s, err, rc, "write sandbox");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_sandbox_delete(struct store *s, const char *id, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st, "DELETE FROM sandboxes WHERE id = ?", "delete sandbox", err);
	if (r == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			r = sql_error(s, err, rc, "delete sandbox");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_sandbox_each(struct store *s, store_sandbox_fn fn, void *ctx, struct cove_err *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->lock);
	int r = prepare(s, &st,
			"SELECT " SANDBOX_COLUMNS ", " LIFECYCLE_COLUMNS ", " INGRESS_COLUMNS ", " VOLUMES_COLUMNS
			" FROM sandboxes ORDER BY seq DESC, id",
			"list sandboxes", err);
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_sandbox sb;
		if (sandbox_from_row(st, &sb) < 0)
			r = cove_errf(err, -EUCLEAN, "state %s: list sandboxes: bad row", s->path);
		else
			r = fn(ctx, &sb);
		store_sandbox_clear(&sb);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_error(s, err, rc, "list sandboxes");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}
