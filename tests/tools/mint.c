/* Mints a certificate with the egress authority, as coved's egress proxy
 * does, for tests that check a guest trusts it:
 *
 *   mint CA_DIR NAME CERT KEY   the certificate for NAME (PEM) into CERT and
 *                               its key into KEY (0600), with the authority
 *                               in CA_DIR (STATE_DIR/egress-ca) */
#include <stdio.h>
#include <sys/stat.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/tls.h"

static int write_pem(const char *path, const gnutls_datum_t *pem)
{
	FILE *f = fopen(path, "we");
	int ok = f && fwrite(pem->data, 1, pem->size, f) == pem->size;
	return (f && fclose(f) == 0 && ok) ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: mint CA_DIR NAME CERT KEY\n");
		return 2;
	}
	struct cove_err err = { 0 };
	struct tls_minter *m;
	gnutls_certificate_credentials_t cred;
	if (tls_minter_new(argv[1], &m, &err) < 0 || tls_minter_credentials(m, argv[2], &cred, &err) < 0) {
		fprintf(stderr, "mint: %s\n", err.msg);
		return 1;
	}
	gnutls_datum_t der, cert_pem = { 0 }, key_pem = { 0 };
	gnutls_x509_privkey_t key;
	int rc = gnutls_certificate_get_crt_raw(cred, 0, 0, &der);
	if (rc == 0)
		rc = gnutls_pem_base64_encode2("CERTIFICATE", &der, &cert_pem);
	if (rc == 0)
		rc = gnutls_certificate_get_x509_key(cred, 0, &key);
	if (rc == 0) {
		rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &key_pem);
		gnutls_x509_privkey_deinit(key);
	}
	umask(077);
	if (rc < 0 || write_pem(argv[3], &cert_pem) < 0 || write_pem(argv[4], &key_pem) < 0) {
		fprintf(stderr, "mint: %s\n", rc < 0 ? gnutls_strerror(rc) : "cannot write the files");
		rc = -1;
	}
	gnutls_free(cert_pem.data);
	gnutls_free(key_pem.data);
	gnutls_certificate_free_credentials(cred);
	tls_minter_free(m);
	return rc < 0;
}
