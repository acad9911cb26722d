/* A local certificate authority and a certificate for coved's domain, for
 * people who run coved on their own machine and have no certificate: made
 * here rather than by running openssl, with the GnuTLS coved already links. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "tls/internal.h"

#define DAY (24 * 3600)
/* A server certificate no longer than browsers accept (398 days). */
#define CERT_DAYS 397

void tls_local_paths(const char *dir, struct tls_local_paths *ret)
{
	snprintf(ret->ca, sizeof(ret->ca), "%s/ca.pem", dir);
	snprintf(ret->ca_key, sizeof(ret->ca_key), "%s/ca-key.pem", dir);
	snprintf(ret->cert, sizeof(ret->cert), "%s/cert.pem", dir);
	snprintf(ret->key, sizeof(ret->key), "%s/key.pem", dir);
}

static int make_cert(const struct tls_local_paths *p, const char *domain, gnutls_x509_crt_t ca,
		     gnutls_x509_privkey_t ca_key, struct cove_err *err)
{
	char wild[TLS_NAME_MAX + 2], api[TLS_NAME_MAX + 4];
	snprintf(wild, sizeof(wild), "*.%s", domain);
	snprintf(api, sizeof(api), "api.%s", domain);
	const char *names[] = { domain, wild, api };
	time_t until = time(NULL) + (time_t)CERT_DAYS * DAY, ca_until = gnutls_x509_crt_get_expiration_time(ca);
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt = NULL;
	int rc = tls_key_generate(&key, err);
	if (rc < 0)
		return rc;
	/* Under localhost, the loopback addresses too (https://127.0.0.1:PORT). */
	static const char *const loopback[] = { "127.0.0.1", "::1" };
	bool local = tls_domain_local(domain);
	struct tls_cert_spec s = { .cn = domain, .dns = names, .ndns = 3, .ips = loopback, .nips = local ? 2 : 0,
				   .key = key, .issuer = ca, .issuer_key = ca_key,
				   .not_after = until < ca_until ? until : ca_until };
	rc = tls_cert_make(&s, &crt, err);
	if (rc == 0 && (rc = tls_key_write(key, p->key, err)) == 0)
		rc = tls_crt_write(crt, p->cert, err);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

int tls_local_make(const char *dir, const char *domain, bool *made_ca, struct cove_err *err)
{
	struct tls_local_paths p;
	tls_local_paths(dir, &p);
	struct tls_ca ca;
	int rc = tls_ca_open(dir, "local", domain, made_ca, &ca, err);
	if (rc < 0)
		return rc;
	if (!tls_ca_permits(ca.crt, domain))
		rc = cove_errf(err, -EINVAL, "tls: the local CA %s was made for another domain than %s (it may sign for "
					     "that one only); remove it and %s to make one for %s",
			       p.ca, domain, p.ca_key, domain);
	if (rc == 0)
		rc = make_cert(&p, domain, ca.crt, ca.key, err);
	tls_ca_clear(&ca);
	return rc;
}
