/* Inside the TLS module: files, keys and certificates as GnuTLS has them. */
#ifndef COVE_TLS_INTERNAL_H
#define COVE_TLS_INTERNAL_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
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
/* The same, of files. */
int tls_crt_read(const char *path, gnutls_x509_crt_t *ret, struct cove_err *err);
int tls_key_read(const char *path, gnutls_x509_privkey_t *ret, struct cove_err *err);
/* Is key the private half of crt's public key? */
bool tls_key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key);
/* PEM of a certificate or key (caller frees with gnutls_free). */
int tls_crt_pem(gnutls_x509_crt_t crt, gnutls_datum_t *ret, struct cove_err *err);
int tls_key_pem(gnutls_x509_privkey_t key, gnutls_datum_t *ret, struct cove_err *err);

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
