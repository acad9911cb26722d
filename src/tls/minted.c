/* Certificates minted by an authority for names TLS clients ask for (SNI),
 * one per name, kept in a fixed table (the oldest entry replaced) so that
 * a name's next handshake costs no signature, and made again a day before
 * they end. Every one holds the same key, the owner's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tls/internal.h"

/* Short-lived, since they are made again whenever coved starts; renewed a
 * day before they end. */
#define MINTED_SECS (30 * 24 * 3600)
#define RENEW_BEFORE_SECS (24 * 3600)

void tls_minted_init(struct tls_minted *t, gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
		     gnutls_x509_privkey_t key)
{
	memset(t, 0, sizeof(*t));
	t->ca = ca;
	t->ca_key = ca_key;
	t->key = key;
	pthread_mutex_init(&t->lock, NULL);
}

void tls_minted_clear(struct tls_minted *t)
{
	for (size_t i = 0; i < TLS_MINTED_MAX; i++)
		gnutls_free(t->entries[i].der.data);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

static int mint(struct tls_minted *t, const char *name, struct tls_minted_entry *e, struct cove_err *err)
{
	time_t until = time(NULL) + MINTED_SECS, ca_until = gnutls_x509_crt_get_expiration_time(t->ca);
	if (ca_until < until)
		until = ca_until;
	const char *names[] = { name };
	struct tls_cert_spec s = { .cn = name, .dns = names, .ndns = 1, .key = t->key, .issuer = t->ca,
				   .issuer_key = t->ca_key, .not_after = until };
	gnutls_x509_crt_t crt;
	int rc = tls_cert_make(&s, &crt, err);
	if (rc < 0)
		return rc;
	gnutls_datum_t der;
	rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
	gnutls_x509_crt_deinit(crt);
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: export the certificate for %s", name);
	gnutls_free(e->der.data);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->der = der;
	e->renew_at = until - RENEW_BEFORE_SECS;
	return 0;
}

/* The entry for name, minted if there is none or it is due. Under lock. */
static int entry_for(struct tls_minted *t, const char *name, struct tls_minted_entry **ret, struct cove_err *err)
{
	struct tls_minted_entry *e = NULL;
	for (size_t i = 0; i < TLS_MINTED_MAX && !e; i++)
		if (strcmp(t->entries[i].name, name) == 0)
			e = &t->entries[i];
	if (e && e->renew_at > time(NULL)) {
		*ret = e;
		return 0;
	}
	if (!e) {
		e = &t->entries[t->next];
		t->next = (t->next + 1) % TLS_MINTED_MAX;
		e->name[0] = '\0';
	}
	int rc = mint(t, name, e, err);
	if (rc == 0)
		*ret = e;
	return rc;
}

int tls_minted_der(struct tls_minted *t, const char *name, gnutls_datum_t *ret, struct cove_err *err)
{
	if (!*name || strlen(name) >= TLS_NAME_MAX)
		return cove_errf(err, -EINVAL, "tls: no certificate for a name of %zu characters", strlen(name));
	struct tls_minted_entry *e;
	pthread_mutex_lock(&t->lock);
	int rc = entry_for(t, name, &e, err);
	unsigned char *copy = rc == 0 ? gnutls_malloc(e->der.size) : NULL;
	if (copy) {
		memcpy(copy, e->der.data, e->der.size);
		*ret = (gnutls_datum_t){ copy, e->der.size };
	} else if (rc == 0) {
		rc = cove_errf(err, -ENOMEM, "tls: out of memory");
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}
