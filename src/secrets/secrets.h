/* Secrets as E2B has them (its Secret API: POST/GET/DELETE /secrets): named
 * values a sandbox's egress proxy puts into requests in place of
 * ${e2b.secrets.NAME}, never shown again once stored. Each is a row of coved's
 * state database (STATE_DIR/cove.db) with its metadata in the clear and its
 * value sealed with AES-256-GCM (GnuTLS) under the host's secrets key, a file
 * of 32 random bytes in the state directory (SECRETS_KEY_FILE, mode 0600, made
 * on first use): whoever reads the database alone learns no value, and losing
 * the key file loses every value. A value is bound to its row (its id, name
 * and version are the cipher's associated data), so that moving ciphertexts
 * between rows or versions makes them fail to open.
 *
 * Every function may be called from several threads at once. A name is
 * lower-cased (ASCII letters) before it is stored or looked up; ids are
 * "sec_" and 32 lowercase hex digits, and no name may start with "sec_", so
 * that one string (a URL segment) names a secret by either. Values never
 * appear in an error message or a log. */
#ifndef COVE_SECRETS_SECRETS_H
#define COVE_SECRETS_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SECRETS_KEY_FILE "secrets.key"
#define SECRETS_KEY_BYTES 32
#define SECRETS_ID_PREFIX "sec_"
#define SECRETS_ID_MAX 40 /* "sec_" + 32 hex digits + NUL, rounded */
/* A name fits a URL path segment (the HTTP server's 127 bytes) whole. */
#define SECRETS_NAME_MAX 127
/* E2B's SecretMetadata limits. */
#define SECRETS_METADATA_ENTRIES 32
#define SECRETS_METADATA_KEY_MAX 128
#define SECRETS_METADATA_VALUE_MAX 1024
#define SECRETS_METADATA_TOTAL_MAX 8192
/* A value is a header's worth of credential, not a file. */
#define SECRETS_VALUE_MAX (64 * 1024)
#define SECRETS_LIST_MAX 100

struct secrets;

/* Opens (making the key file if there is none) the secrets of coved's state dir. */
int secrets_open(const char *state_dir, struct secrets **ret, struct cove_err *err);
void secrets_close(struct secrets *s); /* NULL-safe */
/* The current value of the secret called name (lower-cased before lookup;
 * an id works too): malloc'd, NUL-terminated, *len its length; -ENOENT (err
 * names it) when there is none.
 * The caller zeroes and frees it. -EBADMSG when it cannot be opened (a key
 * file that is not the one it was sealed with, or a changed row). */
int secrets_value(struct secrets *s, const char *name, char **ret, size_t *len, struct cove_err *err);
/* Whether a secret called name exists (for checking placeholders at create). */
bool secrets_exists(struct secrets *s, const char *name);

/* What the API shows of a secret: never its value. */
struct secret_info {
	char id[SECRETS_ID_MAX];
	char name[SECRETS_NAME_MAX + 1];
	int64_t version;                /* 1 when made, one more at each update */
	char *metadata;                 /* a JSON object of strings ("{}" when none); owned */
	int64_t created_ms, updated_ms; /* wall clock */
	int64_t seq;                    /* creation order */
};
void secret_info_clear(struct secret_info *info);

/* A new secret, or a new value for one. value is value_len bytes (no NUL
 * among them); metadata a JSON object's text, NULL for none (an update
 * keeps what there was). */
struct secret_write {
	const char *name; /* create only */
	const char *value;
	size_t value_len;
	const char *metadata;
};

/* -EEXIST when the name is taken; -EINVAL (err names the field) for a name,
 * value or metadata outside the rules below. */
int secrets_create(struct secrets *s, const struct secret_write *w, struct secret_info *ret, struct cove_err *err);
/* ref: an id, or a name. -ENOENT when there is none. */
int secrets_update(struct secrets *s, const char *ref, const struct secret_write *w, struct secret_info *ret,
		   struct cove_err *err);
int secrets_get(struct secrets *s, const char *ref, struct secret_info *ret, struct cove_err *err);
int secrets_destroy(struct secrets *s, const char *ref, struct cove_err *err);

/* A page of secrets, newest first: at most limit (1 to SECRETS_LIST_MAX) made
 * before before_seq (0: from the newest), to fn one by one (info valid
 * during the call); *more tells whether any older remain. A negative return
 * of fn stops the listing and is returned. */
typedef int (*secret_fn)(void *ctx, const struct secret_info *info);
int secrets_list(struct secrets *s, int64_t before_seq, size_t limit, secret_fn fn, void *ctx, bool *more,
		 struct cove_err *err);

/* The rules, for parsers that check a request before it reaches the above.
 * A name: 1 to SECRETS_NAME_MAX bytes of UTF-8 without '{', '}', '/' or
 * control characters (it goes into ${e2b.secrets.NAME} and a URL path), not
 * "." or "..", not starting with "sec_" (any case); out gets it lower-cased. */
int secrets_name_canon(const char *name, char out[SECRETS_NAME_MAX + 1], struct cove_err *err);
/* metadata: a JSON object of at most SECRETS_METADATA_ENTRIES strings, keys
 * 1 to SECRETS_METADATA_KEY_MAX bytes, values up to SECRETS_METADATA_VALUE_MAX,
 * SECRETS_METADATA_TOTAL_MAX bytes of keys and values in all. */
int secrets_metadata_check(const char *metadata, struct cove_err *err);
/* A value: 1 to SECRETS_VALUE_MAX bytes, no NUL. */
int secrets_value_check(const char *value, size_t len, struct cove_err *err);
/* Whether ref has the form of an id (else it is a name). */
bool secrets_ref_is_id(const char *ref);

#endif
