/* Coved's certificate authorities on disk (the local one for its own
 * domain, the egress one guests trust): ca.pem and ca-key.pem (0600) in a
 * directory of their own (0700), made once and kept, since every client
 * that trusts one must be told to; refused when its key is open to other
 * users or it is about to expire. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "tls/internal.h"

#define DAY (24 * 3600)
/* An authority lives long, since every client must be told to trust it. */
#define CA_DAYS 3650

int tls_crt_write(gnutls_x509_crt_t crt, const char *path, struct cove_err *err)
{
	gnutls_datum_t pem;
	int rc = tls_crt_pem(crt, &pem, err);
	if (rc == 0) {
		rc = tls_file_write(path, (const char *)pem.data, pem.size, 0644, err);
		gnutls_free(pem.data);
	}
	return rc;
}

int tls_key_write(gnutls_x509_privkey_t key, const char *path, struct cove_err *err)
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

static int make_ca(const char *ca_path, const char *key_path, const char *kind, const char *permit,
		   struct tls_ca *ret, struct cove_err *err)
{
	char host[64] = "", cn[160];
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "Cove %s CA (%s)", kind, host[0] ? host : "this host");
	int rc = tls_key_generate(&ret->key, err);
	if (rc < 0)
		return rc;
	struct tls_cert_spec s = { .cn = cn, .ca = true, .permit = permit,
				   .not_after = time(NULL) + (time_t)CA_DAYS * DAY, .key = ret->key };
	rc = tls_cert_make(&s, &ret->crt, err);
	if (rc == 0 && (rc = tls_key_write(ret->key, key_path, err)) == 0)
		rc = tls_crt_write(ret->crt, ca_path, err);
	return rc;
}

/* The authority already in the directory: both files, still valid, its
 * key private and its own. */
static int load_ca(const char *ca_path, const char *key_path, const char *kind, struct tls_ca *ret,
		   struct cove_err *err)
{
	int rc = tls_crt_read(ca_path, &ret->crt, err);
	if (rc < 0)
		return rc;
	if (gnutls_x509_crt_get_expiration_time(ret->crt) < time(NULL) + DAY)
		return cove_errf(err, -EINVAL, "tls: the %s CA %s has expired; remove it and %s to make another",
				 kind, ca_path, key_path);
	rc = tls_key_read(key_path, true, &ret->key, err);
	if (rc == 0 && !tls_key_matches(ret->crt, ret->key))
		rc = cove_errf(err, -EINVAL, "tls: key %s is not the key of the %s CA %s", key_path, kind, ca_path);
	return rc;
}

int tls_ca_open(const char *dir, const char *kind, const char *permit, bool *made, struct tls_ca *ret,
		struct cove_err *err)
{
	char ca_path[PATH_MAX], key_path[PATH_MAX];
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/ca-key.pem", dir);
	int rc = fs_mkdir_p(dir, 0700, err);
	if (rc < 0)
		return rc;
	struct tls_ca ca = { 0 };
	*made = access(ca_path, F_OK) < 0 && access(key_path, F_OK) < 0;
	rc = *made ? make_ca(ca_path, key_path, kind, permit, &ca, err) : load_ca(ca_path, key_path, kind, &ca, err);
	if (rc < 0) {
		tls_ca_clear(&ca);
		return rc;
	}
	*ret = ca;
	return 0;
}

void tls_ca_clear(struct tls_ca *ca)
{
	if (ca->crt)
		gnutls_x509_crt_deinit(ca->crt);
	if (ca->key)
		gnutls_x509_privkey_deinit(ca->key);
	ca->crt = NULL;
	ca->key = NULL;
}
