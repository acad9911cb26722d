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
/* An authority lives long, since every client must be told to trust it; a
 * server certificate no longer than browsers accept (398 days). */
#define CA_DAYS 3650
#define CERT_DAYS 397

void tls_local_paths(const char *dir, struct tls_local_paths *ret)
{
	snprintf(ret->ca, sizeof(ret->ca), "%s/ca.pem", dir);
	snprintf(ret->ca_key, sizeof(ret->ca_key), "%s/ca-key.pem", dir);
	snprintf(ret->cert, sizeof(ret->cert), "%s/cert.pem", dir);
	snprintf(ret->key, sizeof(ret->key), "%s/key.pem", dir);
}

/* Writes a certificate (0644) or a key (0600) as PEM. */
static int write_crt(gnutls_x509_crt_t crt, const char *path, struct cove_err *err)
{
	gnutls_datum_t pem;
	int rc = tls_crt_pem(crt, &pem, err);
	if (rc == 0) {
		rc = tls_file_write(path, (const char *)pem.data, pem.size, 0644, err);
		gnutls_free(pem.data);
	}
	return rc;
}

static int write_key(gnutls_x509_privkey_t key, const char *path, struct cove_err *err)
{
	gnutls_datum_t pem;
	int rc = tls_key_pem(key, &pem, err);
	if (rc == 0) {
		rc = tls_file_write(path, (const char *)pem.data, pem.size, 0600, err);
		explicit_bzero(pem.data, pem.size);
		gnutls_free(pem.data);
	}
	return rc;
}

static int make_ca(const struct tls_local_paths *p, const char *domain, gnutls_x509_crt_t *ca,
		   gnutls_x509_privkey_t *ca_key, struct cove_err *err)
{
	char host[64] = "", cn[128];
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "Cove local CA (%s)", host[0] ? host : "this host");
	int rc = tls_key_generate(ca_key, err);
	if (rc < 0)
		return rc;
	struct tls_cert_spec s = { .cn = cn, .ca = true, .permit = domain,
				   .not_after = time(NULL) + (time_t)CA_DAYS * DAY, .key = *ca_key };
	rc = tls_cert_make(&s, ca, err);
	if (rc == 0 && (rc = write_key(*ca_key, p->ca_key, err)) == 0)
		rc = write_crt(*ca, p->ca, err);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(*ca_key);
		if (*ca)
			gnutls_x509_crt_deinit(*ca);
	}
	return rc;
}

/* The authority already in the directory: both files, still valid. */
static int load_ca(const struct tls_local_paths *p, gnutls_x509_crt_t *ca, gnutls_x509_privkey_t *ca_key,
		   struct cove_err *err)
{
	int rc = tls_crt_read(p->ca, ca, err);
	if (rc < 0)
		return rc;
	if (gnutls_x509_crt_get_expiration_time(*ca) < time(NULL) + DAY)
		rc = cove_errf(err, -EINVAL, "tls: the local CA %s has expired; remove it and %s to make another",
			       p->ca, p->ca_key);
	if (rc == 0)
		rc = tls_key_read(p->ca_key, ca_key, err);
	if (rc == 0 && !tls_key_matches(*ca, *ca_key)) {
		gnutls_x509_privkey_deinit(*ca_key);
		rc = cove_errf(err, -EINVAL, "tls: key %s is not the key of the local CA %s", p->ca_key, p->ca);
	}
	if (rc < 0)
		gnutls_x509_crt_deinit(*ca);
	return rc;
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
	if (rc == 0 && (rc = write_key(key, p->key, err)) == 0)
		rc = write_crt(crt, p->cert, err);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

int tls_local_make(const char *dir, const char *domain, bool *made_ca, struct cove_err *err)
{
	struct tls_local_paths p;
	tls_local_paths(dir, &p);
	int rc = fs_mkdir_p(dir, 0700, err);
	if (rc < 0)
		return rc;
	gnutls_x509_crt_t ca = NULL;
	gnutls_x509_privkey_t ca_key = NULL;
	*made_ca = access(p.ca, F_OK) < 0 && access(p.ca_key, F_OK) < 0;
	rc = *made_ca ? make_ca(&p, domain, &ca, &ca_key, err) : load_ca(&p, &ca, &ca_key, err);
	if (rc < 0)
		return rc;
	if (!tls_ca_permits(ca, domain))
		rc = cove_errf(err, -EINVAL, "tls: the local CA %s was made for another domain than %s (it may sign for "
					     "that one only); remove it and %s to make one for %s",
			       p.ca, domain, p.ca_key, domain);
	if (rc < 0) {
		gnutls_x509_crt_deinit(ca);
		gnutls_x509_privkey_deinit(ca_key);
		return rc;
	}
	rc = make_cert(&p, domain, ca, ca_key, err);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(ca_key);
	return rc;
}
