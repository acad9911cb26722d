/* Inside the TLS module: files, keys and certificates as GnuTLS has them. */
#ifndef COVE_TLS_INTERNAL_H
#define COVE_TLS_INTERNAL_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include "tls/tls.h"

/* A PEM file larger than this is not a certificate chain or a key. */
#define TLS_FILE_MAX (256 * 1024)

/* file.c */
/* The file at path (what names it in errors: "certificate", "key"),
 * NUL-terminated. */
int tls_file_read(const char *path, const char *what, char **ret, size_t *len, struct cove_err *err);
/* Writes data to path with mode, aside and renamed over it. */
int tls_file_write(const char *path, const char *data, size_t len, mode_t mode, struct cove_err *err);
/* A GnuTLS failure as Cove's: "<message>: <gnutls_strerror>". */
int tls_gnutls_err(struct cove_err *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The first certificate of PEM text, and an unencrypted PEM key (path
 * names them in errors). */
int tls_crt_import(const char *pem, size_t len, const char *path, gnutls_x509_crt_t *ret, struct cove_err *err);
int tls_key_import(const char *pem, size_t len, const char *path, gnutls_x509_privkey_t *ret, struct cove_err *err);
/* The same, of files; a private key file (an authority's, one coved
 * made) must be this user's, mode 0600 (-EPERM otherwise). */
int tls_crt_read(const char *path, gnutls_x509_crt_t *ret, struct cove_err *err);
int tls_key_read(const char *path, bool private, gnutls_x509_privkey_t *ret, struct cove_err *err);
/* Is key the private half of crt's public key? */
bool tls_key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key);
/* PEM of a certificate or key (caller frees with gnutls_free). */
int tls_crt_pem(gnutls_x509_crt_t crt, gnutls_datum_t *ret, struct cove_err *err);
int tls_key_pem(gnutls_x509_privkey_t key, gnutls_datum_t *ret, struct cove_err *err);

/* ca.c */
/* A certificate authority: its certificate and key. */
struct tls_ca {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};
/* The authority in dir (made 0700): ca.pem and ca-key.pem, read and
 * checked (still valid, the key its own and private), or, when neither
 * file is there, made: "Cove <kind> CA (<host>)", 10 years, allowed to sign
 * for permit and the names under it only (NULL: any name). made says
 * which. */
int tls_ca_open(const char *dir, const char *kind, const char *permit, bool *made, struct tls_ca *ret,
		struct cove_err *err);
void tls_ca_clear(struct tls_ca *ca);
/* Writes a certificate (0644) or a key (0600) as PEM. */
int tls_crt_write(gnutls_x509_crt_t crt, const char *path, struct cove_err *err);
int tls_key_write(gnutls_x509_privkey_t key, const char *path, struct cove_err *err);

/* minted.c */
/* Names minted and kept: sandboxes times the names reached from each. */
#define TLS_MINTED_MAX 1024
struct tls_minted_entry {
	char name[TLS_NAME_MAX]; /* empty: unused */
	gnutls_datum_t der;
	time_t renew_at;
};
/* Certificates signed by ca with ca_key, for key (all three borrowed), one
 * per name; thread-safe. */
struct tls_minted {
	gnutls_x509_crt_t ca;
	gnutls_x509_privkey_t ca_key, key;
	pthread_mutex_t lock; /* guards entries and next */
	struct tls_minted_entry entries[TLS_MINTED_MAX];
	size_t next; /* the entry the next new name takes */
};
void tls_minted_init(struct tls_minted *t, gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
		     gnutls_x509_privkey_t key);
void tls_minted_clear(struct tls_minted *t);
/* A copy of the DER certificate for name (checked and lower-cased by the
 * caller), minted now if it has none or its is due; caller frees with
 * gnutls_free. */
int tls_minted_der(struct tls_minted *t, const char *name, gnutls_datum_t *ret, struct cove_err *err);

/* x509.c */
struct tls_cert_spec {
	const char *cn;         /* the subject's common name */
	const char *const *dns; /* its DNS names */
	size_t ndns;
	const char *const *ips; /* its IP addresses, as text */
	size_t nips;
	bool ca;                /* a certificate authority, or a TLS server */
	/* A CA's: the only names it may sign for (critical name constraints):
	 * this domain and the names under it, and, under localhost, the
	 * loopback addresses; NULL: any. */
	const char *permit;
	time_t not_after;
	gnutls_x509_privkey_t key;        /* the subject's */
	gnutls_x509_crt_t issuer;         /* NULL: self-signed */
	gnutls_x509_privkey_t issuer_key;
};
/* A new ECDSA P-256 key. */
int tls_key_generate(gnutls_x509_privkey_t *ret, struct cove_err *err);
int tls_cert_make(const struct tls_cert_spec *s, gnutls_x509_crt_t *ret, struct cove_err *err);
/* Whether the authority ca may sign for domain (its name constraints, if
 * it has any, permit it). */
bool tls_ca_permits(gnutls_x509_crt_t ca, const char *domain);
/* localhost or a name under it: its certificates name the loopback
 * addresses too. */
bool tls_domain_local(const char *domain);

#endif
