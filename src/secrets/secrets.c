/* Secrets: their rows in the store, their values sealed under the host's
 * key (see secrets.h). Each call is one statement, or one transaction of
 * the store (update), so threads and coved's other processes never see a
 * half-made secret. */
#include "secrets/secrets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fs.h"
#include "common/log.h"
#include "secrets/internal.h"

struct secrets {
	struct store *store;
	struct secrets_key *key;
};

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int new_id(char id[SECRETS_ID_MAX], struct cove_err *err)
{
	char hex[33];
	if (random_hex(hex, 16) < 0)
		return cove_errno(err, -errno, "secrets: random id");
	snprintf(id, SECRETS_ID_MAX, "%s%s", SECRETS_ID_PREFIX, hex);
	return 0;
}

static int count_one(void *ctx, const struct store_secret *sec)
{
	(void)sec;
	++*(unsigned *)ctx;
	return 0;
}

/* A key made anew beside rows sealed under an earlier one: those values
 * are lost; say so once, where the operator will look. */
static void warn_lost_key(struct secrets *s, const char *state_dir)
{
	unsigned rows = 0;
	struct cove_err err = { 0 };
	if (store_secret_each(s->store, 0, 1, count_one, &rows, &err) == 0 && rows)
		log_warn("op=secrets-key msg=\"made a new secrets key, but secrets stored under a lost one remain: their "
			 "values cannot be read; destroy and create them again\" state_dir=%s",
			 state_dir);
}

int secrets_open(const char *state_dir, struct secrets **ret, struct cove_err *err)
{
	struct secrets *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "secrets: out of memory");
	bool made = false;
	int r = store_open(state_dir, &s->store, err);
	if (r == 0)
		r = secrets_key_open(state_dir, &s->key, &made, err);
	if (r < 0) {
		secrets_close(s);
		return r;
	}
	if (made)
		warn_lost_key(s, state_dir);
	*ret = s;
	return 0;
}

void secrets_close(struct secrets *s)
{
	if (!s)
		return;
	secrets_key_free(s->key);
	store_close(s->store);
	free(s);
}

void secret_info_clear(struct secret_info *info)
{
	if (!info)
		return;
	free(info->metadata);
	info->metadata = NULL;
}

/* The row ref names: an id, else a name (lower-cased). A name no secret can
 * have is not found, as any other. */
static int row_of(struct secrets *s, const char *ref, struct store_secret *row, struct cove_err *err)
{
	if (secrets_ref_is_id(ref))
		return store_secret_get(s->store, ref, NULL, row, err);
	char name[SECRETS_NAME_MAX + 1];
	if (secrets_name_canon(ref, name, err) < 0)
		return cove_errf(err, -ENOENT, "no secret '%.*s'", SECRETS_NAME_MAX, ref ? ref : "");
	return store_secret_get(s->store, NULL, name, row, err);
}

/* info from row, taking its metadata. */
static void info_take(struct store_secret *row, struct secret_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->id, sizeof(info->id), "%s", row->id);
	snprintf(info->name, sizeof(info->name), "%s", row->name);
	info->version = row->version;
	info->metadata = row->metadata;
	row->metadata = NULL;
	info->created_ms = row->created_ms;
	info->updated_ms = row->updated_ms;
	info->seq = row->seq;
}

/* row's nonce and sealed value: w's value under the binding of row. */
static int seal_row(struct secrets *s, const struct secret_write *w, struct store_secret *row, struct cove_err *err)
{
	int r = secrets_value_check(w->value, w->value_len, err);
	if (r == 0)
		r = secrets_metadata_check(w->metadata, err);
	if (r < 0)
		return r;
	struct secrets_binding b = { row->id, row->name, row->version };
	free(row->sealed);
	row->sealed = NULL;
	return secrets_seal(s->key, &b, w->value, w->value_len, row->nonce, &row->sealed, &row->sealed_len, err);
}

int secrets_create(struct secrets *s, const struct secret_write *w, struct secret_info *ret, struct cove_err *err)
{
	struct store_secret row = { .version = 1 };
	int r = secrets_name_canon(w->name, row.name, err);
	if (r == 0)
		r = new_id(row.id, err);
	if (r == 0 && !(row.metadata = strdup(w->metadata ? w->metadata : "{}")))
		r = cove_errf(err, -ENOMEM, "out of memory");
	if (r == 0)
		r = seal_row(s, w, &row, err);
	if (r == 0) {
		row.seq = wall_us();
		row.created_ms = row.updated_ms = row.seq / 1000;
		r = store_secret_insert(s->store, &row, err);
	}
	if (r == 0) {
		log_info("op=secret-create secret=%s name=%s", row.id, row.name);
		info_take(&row, ret);
	}
	store_secret_clear(&row);
	return r;
}

/* Under the store's write lock: read, seal the next version, write. */
static int update_locked(struct secrets *s, const char *ref, const struct secret_write *w, struct store_secret *row,
			 struct cove_err *err)
{
	int r = row_of(s, ref, row, err);
	if (r < 0)
		return r;
	if (w->metadata) {
		char *meta = strdup(w->metadata);
		if (!meta)
			return cove_errf(err, -ENOMEM, "out of memory");
		free(row->metadata);
		row->metadata = meta;
	}
	row->version++;
	row->updated_ms = wall_us() / 1000;
	r = seal_row(s, w, row, err);
	return r < 0 ? r : store_secret_replace(s->store, row, err);
}

int secrets_update(struct secrets *s, const char *ref, const struct secret_write *w, struct secret_info *ret,
		   struct cove_err *err)
{
	struct store_secret row = { 0 };
	int r = store_begin(s->store, err);
	if (r < 0)
		return r;
	r = update_locked(s, ref, w, &row, err);
	if (r == 0)
		r = store_commit(s->store, err);
	else
		store_rollback(s->store);
	if (r == 0) {
		log_info("op=secret-update secret=%s name=%s version=%lld", row.id, row.name, (long long)row.version);
		info_take(&row, ret);
	}
	store_secret_clear(&row);
	return r;
}

int secrets_get(struct secrets *s, const char *ref, struct secret_info *ret, struct cove_err *err)
{
	struct store_secret row;
	int r = row_of(s, ref, &row, err);
	if (r < 0)
		return r;
	info_take(&row, ret);
	store_secret_clear(&row);
	return 0;
}

int secrets_destroy(struct secrets *s, const char *ref, struct cove_err *err)
{
	struct store_secret row;
	int r = row_of(s, ref, &row, err);
	if (r < 0)
		return r;
	r = store_secret_delete(s->store, row.id, err);
	if (r == 0)
		log_info("op=secret-destroy secret=%s name=%s", row.id, row.name);
	store_secret_clear(&row);
	return r;
}

int secrets_value(struct secrets *s, const char *name, char **ret, size_t *len, struct cove_err *err)
{
	struct store_secret row;
	int r = row_of(s, name, &row, err);
	if (r < 0)
		return r;
	struct secrets_binding b = { row.id, row.name, row.version };
	r = secrets_unseal(s->key, &b, row.nonce, row.sealed, row.sealed_len, ret, len, err);
	store_secret_clear(&row);
	return r;
}

bool secrets_exists(struct secrets *s, const char *name)
{
	struct store_secret row;
	struct cove_err err = { 0 };
	if (row_of(s, name, &row, &err) < 0)
		return false;
	store_secret_clear(&row);
	return true;
}

struct listing {
	secret_fn fn;
	void *ctx;
	size_t limit, seen;
};

static int list_one(void *ctx, const struct store_secret *sec)
{
	struct listing *l = ctx;
	if (l->seen++ == l->limit)
		return 0; /* the one past the page: there are more */
	struct secret_info info = { .version = sec->version,
				    .metadata = sec->metadata,
				    .created_ms = sec->created_ms,
				    .updated_ms = sec->updated_ms,
				    .seq = sec->seq };
	snprintf(info.id, sizeof(info.id), "%s", sec->id);
	snprintf(info.name, sizeof(info.name), "%s", sec->name);
	return l->fn(l->ctx, &info);
}

int secrets_list(struct secrets *s, int64_t before_seq, size_t limit, secret_fn fn, void *ctx, bool *more,
		 struct cove_err *err)
{
	if (limit < 1 || limit > SECRETS_LIST_MAX)
		return cove_errf(err, -EINVAL, "limit must be 1 to %d", SECRETS_LIST_MAX);
	struct listing l = { fn, ctx, limit, 0 };
	int r = store_secret_each(s->store, before_seq, limit + 1, list_one, &l, err);
	*more = r == 0 && l.seen > limit;
	return r;
}
