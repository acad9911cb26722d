/* The certificate and key coved serves, checked before the server starts:
 * libmicrohttpd would refuse a bad pair with no word on which file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "tls/internal.h"

static void date(time_t t, char buf[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Valid now: not expired, not yet to come. */
static int check_time(gnutls_x509_crt_t crt, const char *path, struct cove_err *err)
{
	time_t now = time(NULL), from = gnutls_x509_crt_get_activation_time(crt),
	       until = gnutls_x509_crt_get_expiration_time(crt);
	char when[32];
	if (until != (time_t)-1 && until < now) {
		date(until, when);
		return cove_errf(err, -EINVAL, "tls: certificate %s expired on %s", path, when);
	}
	if (from != (time_t)-1 && from > now) {
		date(from, when);
		return cove_errf(err, -EINVAL, "tls: certificate %s is not valid before %s", path, when);
	}
	return 0;
}

static int check_pair(const char *cert, size_t cert_len, const char *key_pem, size_t key_len, const char *cert_path,
		      const char *key_path, struct cove_err *err)
{
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	int rc = tls_crt_import(cert, cert_len, cert_path, &crt, err);
	if (rc < 0)
		return rc;
	rc = check_time(crt, cert_path, err);
	if (rc == 0 && (rc = tls_key_import(key_pem, key_len, key_path, &key, err)) == 0) {
		if (!tls_key_matches(crt, key))
			rc = cove_errf(err, -EINVAL, "tls: key %s is not the key of certificate %s", key_path,
				       cert_path);
		gnutls_x509_privkey_deinit(key);
	}
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int tls_pair_load(const char *cert_path, const char *key_path, struct tls_pair *ret, struct cove_err *err)
{
	_cleanup_free_ char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	int rc = tls_file_read(cert_path, "certificate", &cert, &cert_len, err);
	if (rc == 0)
		rc = tls_file_read(key_path, "key", &key, &key_len, err);
	if (rc == 0)
		rc = check_pair(cert, cert_len, key, key_len, cert_path, key_path, err);
	if (rc < 0) {
		if (key)
			explicit_bzero(key, key_len); /* as tls_pair_clear does */
		return rc;
	}
	ret->cert = TAKE_PTR(cert);
	ret->key = TAKE_PTR(key);
	return 0;
}

void tls_pair_clear(struct tls_pair *p)
{
	if (!p)
		return;
	free(p->cert);
	if (p->key)
		explicit_bzero(p->key, strlen(p->key));
	free(p->key);
	p->cert = p->key = NULL;
}

bool tls_pair_covers(const struct tls_pair *p, const char *name)
{
	gnutls_x509_crt_t crt;
	if (!p->cert || tls_crt_import(p->cert, strlen(p->cert), "", &crt, NULL) < 0)
		return false;
	bool ok = gnutls_x509_crt_check_hostname2(crt, name, 0) != 0;
	gnutls_x509_crt_deinit(crt);
	return ok;
}
