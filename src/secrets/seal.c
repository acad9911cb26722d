/* Sealing values with AES-256-GCM through GnuTLS's AEAD API (see
 * internal.h). A cipher handle is made per call: GnuTLS does not promise
 * that one may be shared between threads, and making one is cheap next to
 * the database write around it. */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secrets/internal.h"

#define TAG_BYTES 16
/* Names the format, so that a later one never opens this one's values. */
#define AAD_LABEL "cove-secret-v1"

/* label NUL id NUL name NUL version: NULs keep the fields apart (no name
 * or id has one). */
static size_t binding_aad(const struct secrets_binding *b, char out[256])
{
	int n = snprintf(out, 256, "%s%c%s%c%s%c%" PRId64, AAD_LABEL, 0, b->id, 0, b->name, 0, b->version);
	return n < 0 || n >= 256 ? 0 : (size_t)n;
}

static int cipher_open(const struct secrets_key *k, gnutls_aead_cipher_hd_t *h, struct cove_err *err)
{
	gnutls_datum_t key = { (unsigned char *)secrets_key_bytes(k), SECRETS_KEY_BYTES };
	int rc = gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &key);
	return rc < 0 ? cove_errf(err, -EIO, "secrets: AES-256-GCM: %s", gnutls_strerror(rc)) : 0;
}

int secrets_seal(const struct secrets_key *k, const struct secrets_binding *b, const char *plain, size_t len,
		 unsigned char nonce[STORE_SECRET_NONCE], unsigned char **sealed, size_t *sealed_len,
		 struct cove_err *err)
{
	char aad[256];
	size_t aad_len = binding_aad(b, aad);
	if (!aad_len)
		return cove_errf(err, -EINVAL, "secret '%s': id or name too long", b->id);
	if (gnutls_rnd(GNUTLS_RND_NONCE, nonce, STORE_SECRET_NONCE) < 0)
		return cove_errf(err, -EIO, "secrets: no random nonce from GnuTLS");
	size_t out_len = len + TAG_BYTES;
	unsigned char *out = malloc(out_len);
	if (!out)
		return cove_errf(err, -ENOMEM, "out of memory");
	gnutls_aead_cipher_hd_t h;
	int r = cipher_open(k, &h, err);
	if (r < 0) {
		free(out);
		return r;
	}
	int rc = gnutls_aead_cipher_encrypt(h, nonce, STORE_SECRET_NONCE, aad, aad_len, TAG_BYTES, plain, len, out,
					    &out_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0) {
		free(out);
		return cove_errf(err, -EIO, "secret '%s': seal: %s", b->id, gnutls_strerror(rc));
	}
	*sealed = out;
	*sealed_len = out_len;
	return 0;
}

int secrets_unseal(const struct secrets_key *k, const struct secrets_binding *b,
		   const unsigned char nonce[STORE_SECRET_NONCE], const unsigned char *sealed, size_t sealed_len,
		   char **plain, size_t *len, struct cove_err *err)
{
	char aad[256];
	size_t aad_len = binding_aad(b, aad);
	if (!aad_len || sealed_len < TAG_BYTES)
		return cove_errf(err, -EBADMSG, "secret '%s': its stored value is damaged", b->name);
	size_t out_len = sealed_len - TAG_BYTES;
	char *out = malloc(out_len + 1);
	if (!out)
		return cove_errf(err, -ENOMEM, "out of memory");
	gnutls_aead_cipher_hd_t h;
	int r = cipher_open(k, &h, err);
	if (r < 0) {
		free(out);
		return r;
	}
	int rc = gnutls_aead_cipher_decrypt(h, nonce, STORE_SECRET_NONCE, aad, aad_len, TAG_BYTES, sealed, sealed_len,
					    out, &out_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0) {
		explicit_bzero(out, sealed_len - TAG_BYTES + 1);
		free(out);
		return cove_errf(err, -EBADMSG,
				 "secret '%s': its value does not open under this host's secrets key (%s): the key "
				 "file is not the one it was stored with, or the row was changed",
				 b->name, gnutls_strerror(rc));
	}
	out[out_len] = '\0';
	*plain = out;
	*len = out_len;
	return 0;
}
