/* TLS for coved, on GnuTLS (the library Debian's libmicrohttpd, coved's
 * server, is built on): the certificate and key it serves, read and checked
 * before the server starts so that a bad file is named; a local certificate
 * authority with a certificate for coved's domain, made for local use; and,
 * with that authority, a certificate minted for each name a client asks for
 * (SNI) under the domain. The last is what makes E2B_DOMAIN=localhost:PORT
 * work: clients refuse a wildcard directly under a one-label name
 * (`*.localhost`: Node's checkServerIdentity, OpenSSL and GnuTLS alike), so
 * `8000-ID.localhost` needs a certificate of its own. */
#ifndef COVE_TLS_TLS_H
#define COVE_TLS_TLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* A host name: 253 characters at most (RFC 1035), and a NUL. */
#define TLS_NAME_MAX 254

/* A certificate chain and its key, as PEM, checked: both parse, the key is
 * the certificate's, the certificate is valid now. */
struct tls_pair {
	char *cert;
	char *key;
};

/* Reads and checks cert_path and key_path; errors name the file. */
int tls_pair_load(const char *cert_path, const char *key_path, struct tls_pair *ret, struct cove_err *err);
void tls_pair_clear(struct tls_pair *p);
/* Whether the pair's first certificate is valid for name (wildcards as a
 * client would take them). */
bool tls_pair_covers(const struct tls_pair *p, const char *name);

/* The local authority's files in a directory (STATE_DIR/tls). */
struct tls_local_paths {
	char ca[PATH_MAX];     /* ca.pem, the certificate clients trust */
	char ca_key[PATH_MAX]; /* ca-key.pem, 0600 */
	char cert[PATH_MAX];   /* cert.pem: DOMAIN, *.DOMAIN, api.DOMAIN */
	char key[PATH_MAX];    /* key.pem, 0600 */
};
void tls_local_paths(const char *dir, struct tls_local_paths *ret);

/* Makes dir (0700) and in it a certificate authority, unless it has one
 * already (clients that trust it keep trusting it), and a certificate for
 * domain, *.domain and api.domain signed by it (made anew). made_ca says
 * whether the authority is new. */
int tls_local_make(const char *dir, const char *domain, bool *made_ca, struct cove_err *err);

/* Mints certificates with the local authority in dir for the names under
 * domain that clients ask for (the domain and one label more); any other
 * name, or none, gets dir's cert.pem. */
struct tls_issuer;
int tls_issuer_new(const char *dir, const char *domain, struct tls_issuer **ret, struct cove_err *err);
struct tls_issuer *tls_issuer_free(struct tls_issuer *is);
/* The certificate for name (the issuer's own cert.pem when it mints none
 * for it), as one PEM certificate; for tests and logs. Caller frees. */
int tls_issuer_cert_pem(struct tls_issuer *is, const char *name, char **ret, struct cove_err *err);

/* For the HTTP server (http.h's struct http_tls): the issuer's
 * gnutls_certificate_retrieve_function3, which finds the issuer as the
 * connection's libmicrohttpd socket context. */
void *tls_issuer_select(void);

#endif
