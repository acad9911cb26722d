/* TLS for coved, on GnuTLS (the library Debian's libmicrohttpd, coved's
 * server, is built on): the certificate and key it serves, read and checked
 * before the server starts so that a bad file is named; a local certificate
 * authority with a certificate for coved's domain, made for local use; and,
 * with that authority, a certificate minted for each name a client asks for
 * (SNI) under the domain. The last is what makes E2B_DOMAIN=localhost:PORT
 * work: clients refuse a wildcard directly under a one-label name
 * (`*.localhost`: Node's checkServerIdentity, OpenSSL and GnuTLS alike), so
 * `8000-ID.localhost` needs a certificate of its own. And the egress
 * authority, which guests trust and coved's egress proxy mints
 * certificates with for the hosts it ends guests' TLS for. */
#ifndef COVE_TLS_TLS_H
#define COVE_TLS_TLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <gnutls/gnutls.h>

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

/* The egress authority in dir (STATE_DIR/egress-ca: ca.pem, ca-key.pem
 * 0600), made when missing and kept across restarts (guests' trust in it
 * survives), with no name constraints, for 10 years; refused when its key
 * is open to other users. Certificates it mints hold one key (ECDSA P-256)
 * made per process. */
struct tls_minter;
int tls_minter_new(const char *dir, struct tls_minter **ret, struct cove_err *err);
struct tls_minter *tls_minter_free(struct tls_minter *m);
/* The authority's certificate, PEM: what guests trust. */
const char *tls_minter_ca_pem(const struct tls_minter *m);
/* Fresh server credentials holding a certificate for name (a host name as
 * a TLS client's SNI gives it; lower-cased) signed by the authority, minted
 * once and kept (a bounded table, renewed a day before it ends), and its
 * key. The caller frees them (gnutls_certificate_free_credentials).
 * Thread-safe. -EINVAL: name is not a host name. */
int tls_minter_credentials(struct tls_minter *m, const char *name, gnutls_certificate_credentials_t *ret,
			   struct cove_err *err);

#endif
