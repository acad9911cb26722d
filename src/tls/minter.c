/* The egress authority: a CA of coved's that every guest trusts (its agent
 * installs the certificate at each /init), signing, inside coved's egress
 * proxy, a certificate for each host name a guest dials that has rules
 * (header injection), so that the proxy can end the guest's TLS there. Kept
 * in a directory of its own, apart from the local CA (which may sign for
 * coved's domain only), since it must sign for any name. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

struct tls_minter {
	struct tls_ca ca;
	gnutls_x509_privkey_t key; /* every leaf's, made per process */
	char *ca_pem;
	struct tls_minted minted;
};

static int ca_pem_of(struct tls_minter *m, struct cove_err *err)
{
	gnutls_datum_t pem;
	int rc = tls_crt_pem(m->ca.crt, &pem, err);
	if (rc < 0)
		return rc;
	m->ca_pem = strndup((const char *)pem.data, pem.size);
	gnutls_free(pem.data);
	return m->ca_pem ? 0 : cove_errf(err, -ENOMEM, "tls: out of memory");
}

int tls_minter_new(const char *dir, struct tls_minter **ret, struct cove_err *err)
{
	struct tls_minter *m = calloc(1, sizeof(*m));
	if (!m)
		return cove_errf(err, -ENOMEM, "tls: out of memory");
	bool made;
	int rc = tls_ca_open(dir, "egress", NULL, &made, &m->ca, err);
	if (rc == 0)
		rc = tls_key_generate(&m->key, err);
	if (rc == 0)
		rc = ca_pem_of(m, err);
	tls_minted_init(&m->minted, m->ca.crt, m->ca.key, m->key);
	if (rc < 0) {
		tls_minter_free(m);
		return rc;
	}
	*ret = m;
	return 0;
}

struct tls_minter *tls_minter_free(struct tls_minter *m)
{
	if (!m)
		return NULL;
	tls_minted_clear(&m->minted);
	free(m->ca_pem);
	if (m->key)
		gnutls_x509_privkey_deinit(m->key);
	tls_ca_clear(&m->ca);
	free(m);
	return NULL;
}

const char *tls_minter_ca_pem(const struct tls_minter *m)
{
	return m->ca_pem;
}

/* A host name as DNS has it (RFC 1035 with '_' allowed, as SNI carries
 * names that certificates may hold): labels of 1 to 63 letters, digits,
 * '-' and '_', no '-' at a label's ends; lower-cased into out. */
static bool host_name(const char *name, char out[TLS_NAME_MAX])
{
	size_t n = strlen(name), label = 0;
	if (n == 0 || n >= TLS_NAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = (char)tolower((unsigned char)name[i]);
		out[i] = c;
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || out[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '_' || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static int credentials_of(struct tls_minter *m, const gnutls_datum_t *der, const char *name,
			  gnutls_certificate_credentials_t *ret, struct cove_err *err)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	int rc = gnutls_x509_crt_init(&crt);
	if (rc == 0)
		rc = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER);
	if (rc == 0)
		rc = gnutls_certificate_allocate_credentials(&cred);
	if (rc == 0)
		rc = gnutls_certificate_set_x509_key(cred, &crt, 1, m->key);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (rc < 0) {
		if (cred)
			gnutls_certificate_free_credentials(cred);
		return tls_gnutls_err(err, rc, "tls: credentials for %s", name);
	}
	*ret = cred;
	return 0;
}

int tls_minter_credentials(struct tls_minter *m, const char *name, gnutls_certificate_credentials_t *ret,
			   struct cove_err *err)
{
	char lower[TLS_NAME_MAX];
	if (!host_name(name, lower))
		return cove_errf(err, -EINVAL, "tls: '%.64s' is not a host name to mint a certificate for", name);
	gnutls_datum_t der;
	int rc = tls_minted_der(&m->minted, lower, &der, err);
	if (rc < 0)
		return rc;
	rc = credentials_of(m, &der, lower, ret, err);
	gnutls_free(der.data);
	return rc;
}
