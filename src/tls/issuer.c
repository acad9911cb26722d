/* Certificates minted during the handshake, one per name a client asks for
 * (SNI) under coved's domain, signed by the local authority. A wildcard
 * cannot cover `8000-ID.localhost` (clients refuse `*.localhost`: a wildcard
 * directly under one label), and the names are not known before sandboxes
 * exist. Minted ones are kept in memory (a fixed table, the oldest replaced)
 * and share one key, the local cert.pem's; a name outside the domain, or
 * none, gets cert.pem itself, so a client that asked for another name fails
 * its own check of the name. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <microhttpd.h>

#include "tls/internal.h"

struct tls_issuer {
	char domain[TLS_NAME_MAX];
	gnutls_x509_crt_t ca;
	gnutls_x509_privkey_t ca_key;
	gnutls_x509_privkey_t key; /* cert.pem's, every minted certificate's */
	gnutls_datum_t own;        /* cert.pem's first certificate, DER */
	struct tls_minted minted;
};

static int load(struct tls_issuer *is, const char *dir, struct cove_err *err)
{
	struct tls_local_paths p;
	tls_local_paths(dir, &p);
	gnutls_x509_crt_t crt = NULL;
	int rc = tls_crt_read(p.ca, &is->ca, err);
	if (rc == 0)
		rc = tls_key_read(p.ca_key, true, &is->ca_key, err);
	if (rc == 0 && !tls_key_matches(is->ca, is->ca_key))
		rc = cove_errf(err, -EINVAL, "tls: key %s is not the key of the local CA %s", p.ca_key, p.ca);
	if (rc == 0)
		rc = tls_crt_read(p.cert, &crt, err);
	if (rc == 0)
		rc = tls_key_read(p.key, true, &is->key, err);
	if (rc == 0 && !tls_key_matches(crt, is->key))
		rc = cove_errf(err, -EINVAL, "tls: key %s is not the key of certificate %s", p.key, p.cert);
	if (rc == 0 && (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &is->own)) < 0)
		rc = tls_gnutls_err(err, rc, "tls: certificate %s", p.cert);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

int tls_issuer_new(const char *dir, const char *domain, struct tls_issuer **ret, struct cove_err *err)
{
	struct tls_issuer *is = calloc(1, sizeof(*is));
	if (!is)
		return cove_errf(err, -ENOMEM, "tls: out of memory");
	snprintf(is->domain, sizeof(is->domain), "%s", domain);
	int rc = load(is, dir, err);
	tls_minted_init(&is->minted, is->ca, is->ca_key, is->key);
	if (rc == 0 && !tls_ca_permits(is->ca, domain))
		rc = cove_errf(err, -EINVAL, "tls: the local CA in %s was made for another domain than %s; make one for it "
					     "(coved --make-local-ca --domain %s, after removing %s/ca.pem and ca-key.pem)",
			       dir, domain, domain, dir);
	if (rc < 0) {
		tls_issuer_free(is);
		return rc;
	}
	*ret = is;
	return 0;
}

struct tls_issuer *tls_issuer_free(struct tls_issuer *is)
{
	if (!is)
		return NULL;
	tls_minted_clear(&is->minted);
	gnutls_free(is->own.data);
	if (is->key)
		gnutls_x509_privkey_deinit(is->key);
	if (is->ca_key)
		gnutls_x509_privkey_deinit(is->ca_key);
	if (is->ca)
		gnutls_x509_crt_deinit(is->ca);
	free(is);
	return NULL;
}

/* The domain itself or one label under it (what E2B's URLs use: api.D,
 * PORT-ID.D), lower-cased into out; anything else is not minted. */
static bool issuable(const struct tls_issuer *is, const char *name, char out[TLS_NAME_MAX])
{
	size_t n = strlen(name), d = strlen(is->domain);
	if (n >= TLS_NAME_MAX || n < d)
		return false;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	if (strcmp(out + n - d, is->domain) != 0)
		return false;
	if (n == d)
		return true;
	size_t label = n - d - 1;
	if (label == 0 || label > 63 || out[label] != '.' || out[0] == '-')
		return false;
	for (size_t i = 0; i < label; i++)
		if (!isalnum((unsigned char)out[i]) && out[i] != '-')
			return false;
	return true;
}

/* The DER certificate for a name (SNI; NULL: none) into pcert. */
static int cert_for(struct tls_issuer *is, const char *name, gnutls_pcert_st *pcert)
{
	char lower[TLS_NAME_MAX];
	if (!name || !issuable(is, name, lower))
		return gnutls_pcert_import_x509_raw(pcert, &is->own, GNUTLS_X509_FMT_DER, 0);
	gnutls_datum_t der;
	if (tls_minted_der(&is->minted, lower, &der, NULL) < 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	int rc = gnutls_pcert_import_x509_raw(pcert, &der, GNUTLS_X509_FMT_DER, 0);
	gnutls_free(der.data);
	return rc;
}

int tls_issuer_cert_pem(struct tls_issuer *is, const char *name, char **ret, struct cove_err *err)
{
	gnutls_pcert_st pcert;
	int rc = cert_for(is, name, &pcert);
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: the certificate for %s", name ? name : "no name");
	gnutls_datum_t pem;
	rc = gnutls_pem_base64_encode2("CERTIFICATE", &pcert.cert, &pem);
	gnutls_pcert_deinit(&pcert);
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: the certificate for %s", name ? name : "no name");
	*ret = strndup((const char *)pem.data, pem.size);
	gnutls_free(pem.data);
	return *ret ? 0 : cove_errf(err, -ENOMEM, "tls: out of memory");
}

/* libmicrohttpd gives each session its connection as the pointer, and the
 * HTTP server gives each connection a socket context that points to the
 * issuer (http_tls.select_cls). */
static struct tls_issuer *issuer_of(gnutls_session_t session)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
		conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	void *const *select_cls = ci ? ci->socket_context : NULL;
	return select_cls ? *select_cls : NULL;
}

/* GnuTLS asks during each handshake; what is handed over it releases
 * (GNUTLS_CERT_RETR_DEINIT_ALL), so no entry is held past the call. */
static int select_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info, gnutls_pcert_st **certs,
		       unsigned int *ncerts, gnutls_ocsp_data_st **ocsp, unsigned int *nocsp, gnutls_privkey_t *pkey,
		       unsigned int *flags)
{
	(void)info;
	struct tls_issuer *is = issuer_of(session);
	if (!is)
		return -1;
	char name[TLS_NAME_MAX];
	size_t len = sizeof(name);
	unsigned int type;
	bool named = gnutls_server_name_get(session, name, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS;
	gnutls_pcert_st *pcert = gnutls_malloc(sizeof(*pcert));
	gnutls_privkey_t key = NULL;
	if (!pcert)
		return -1;
	if (cert_for(is, named ? name : NULL, pcert) < 0) {
		gnutls_free(pcert);
		return -1;
	}
	if (gnutls_privkey_init(&key) < 0 || gnutls_privkey_import_x509(key, is->key, GNUTLS_PRIVKEY_IMPORT_COPY) < 0) {
		if (key)
			gnutls_privkey_deinit(key);
		gnutls_pcert_deinit(pcert);
		gnutls_free(pcert);
		return -1;
	}
	*certs = pcert;
	*ncerts = 1;
	*ocsp = NULL;
	*nocsp = 0;
	*pkey = key;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	return 0;
}

void *tls_issuer_select(void)
{
	gnutls_certificate_retrieve_function3 *f = select_cert;
	return (void *)f;
}
