/* Shared by the files of the secrets module only: the key (key.c), sealing
 * values under it (seal.c), and the module's handle. */
#ifndef COVE_SECRETS_INTERNAL_H
#define COVE_SECRETS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "secrets/secrets.h"
#include "store/store.h"

/* The host's secrets key, in a page of its own that is locked in memory
 * (never swapped) and left out of core dumps; zeroed when freed. */
struct secrets_key;

/* STATE_DIR/SECRETS_KEY_FILE, made when there is none (*made then true).
 * Refused: a file others or the group may read or write, one not owned by
 * this user, or one of a size other than SECRETS_KEY_BYTES. */
int secrets_key_open(const char *state_dir, struct secrets_key **ret, bool *made, struct cove_err *err);
void secrets_key_free(struct secrets_key *k); /* NULL-safe */
/* Its SECRETS_KEY_BYTES bytes, for seal.c alone. */
const unsigned char *secrets_key_bytes(const struct secrets_key *k);

/* The row a value belongs to: the associated data its seal binds it to. */
struct secrets_binding {
	const char *id, *name;
	int64_t version;
};

/* Seals len bytes of plain under k, bound to b, with a fresh random nonce:
 * *sealed (malloc'd, len + 16 bytes: ciphertext and tag). */
int secrets_seal(const struct secrets_key *k, const struct secrets_binding *b, const char *plain, size_t len,
		 unsigned char nonce[STORE_SECRET_NONCE], unsigned char **sealed, size_t *sealed_len,
		 struct cove_err *err);
/* Opens what secrets_seal made: *plain malloc'd and NUL-terminated (the
 * caller zeroes it), or -EBADMSG when it was sealed under another key or for
 * another row, or changed. */
int secrets_unseal(const struct secrets_key *k, const struct secrets_binding *b,
		   const unsigned char nonce[STORE_SECRET_NONCE], const unsigned char *sealed, size_t sealed_len,
		   char **plain, size_t *len, struct cove_err *err);

#endif
