/* Keys and certificates made with GnuTLS's x509 API: ECDSA P-256 keys (what
 * every TLS client takes, and quick to sign with when a certificate is
 * minted during a handshake), SHA-256 signatures, and the extensions strict
 * verifiers ask for (key identifiers, key usage, basic constraints). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "tls/internal.h"

/* Clocks of clients and host may differ a little. */
#define TLS_BACKDATE_SECS 3600

int tls_key_generate(gnutls_x509_privkey_t *ret, struct cove_err *err)
{
	gnutls_x509_privkey_t key;
	int rc = gnutls_x509_privkey_init(&key);
	if (rc == 0) {
		rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
						  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
		if (rc < 0)
			gnutls_x509_privkey_deinit(key);
	}
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: generate a key");
	*ret = key;
	return 0;
}

/* A random positive 128-bit serial, as RFC 5280 lets it be at most 20 bytes. */
static int set_serial(gnutls_x509_crt_t crt)
{
	unsigned char serial[16];
	int rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	if (rc < 0)
		return rc;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
	return gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
}

/* The subject key identifier, and the issuer's as the authority's. */
static int set_key_ids(gnutls_x509_crt_t crt, const struct tls_cert_spec *s)
{
	unsigned char id[64];
	size_t n = sizeof(id);
	int rc = gnutls_x509_privkey_get_key_id(s->key, GNUTLS_KEYID_USE_SHA1, id, &n);
	if (rc == 0)
		rc = gnutls_x509_crt_set_subject_key_id(crt, id, n);
	if (rc < 0 || !s->issuer)
		return rc;
	n = sizeof(id);
	rc = gnutls_x509_crt_get_subject_key_id(s->issuer, id, &n, NULL);
	return rc < 0 ? rc : gnutls_x509_crt_set_authority_key_id(crt, id, n);
}

static int set_names(gnutls_x509_crt_t crt, const struct tls_cert_spec *s)
{
	int rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, s->cn, (unsigned)strlen(s->cn));
	if (rc == 0 && s->ca)
		rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Cove",
						   (unsigned)strlen("Cove"));
	for (size_t i = 0; rc == 0 && i < s->ndns; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, s->dns[i],
							  (unsigned)strlen(s->dns[i]), GNUTLS_FSAN_APPEND);
	for (size_t i = 0; rc == 0 && i < s->nips; i++) {
		unsigned char ip[16];
		bool v6 = strchr(s->ips[i], ':') != NULL;
		if (inet_pton(v6 ? AF_INET6 : AF_INET, s->ips[i], ip) != 1)
			return GNUTLS_E_INVALID_REQUEST;
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, v6 ? 16 : 4,
							  GNUTLS_FSAN_APPEND);
	}
	return rc;
}

bool tls_domain_local(const char *domain)
{
	size_t n = strlen(domain);
	return strcmp(domain, "localhost") == 0 || (n > 10 && strcmp(domain + n - 10, ".localhost") == 0);
}

/* A CA's name constraints: s->permit and the names under it (RFC 5280's
 * dNSName subtree), and the loopback addresses for a local domain; no
 * other IP address. Critical, so that a client that cannot check them
 * refuses the CA rather than trusting it for everything. */
static int set_constraints(gnutls_x509_crt_t crt, const struct tls_cert_spec *s)
{
	gnutls_x509_name_constraints_t nc;
	int rc = gnutls_x509_name_constraints_init(&nc);
	if (rc < 0)
		return rc;
	gnutls_datum_t dns = { (unsigned char *)s->permit, (unsigned)strlen(s->permit) };
	rc = gnutls_x509_name_constraints_add_permitted(nc, GNUTLS_SAN_DNSNAME, &dns);
	/* Address and mask: 127.0.0.0/8 and ::1/128, or 0.0.0.0/32 (none). */
	unsigned char v4[8] = { 127, 0, 0, 0, 255, 0, 0, 0 }, none[8] = { 0, 0, 0, 0, 255, 255, 255, 255 };
	unsigned char v6[32] = { [15] = 1 };
	memset(v6 + 16, 0xff, 16);
	bool local = tls_domain_local(s->permit);
	gnutls_datum_t ip4 = { local ? v4 : none, 8 }, ip6 = { v6, 32 };
	if (rc == 0)
		rc = gnutls_x509_name_constraints_add_permitted(nc, GNUTLS_SAN_IPADDRESS, &ip4);
	if (rc == 0 && local)
		rc = gnutls_x509_name_constraints_add_permitted(nc, GNUTLS_SAN_IPADDRESS, &ip6);
	if (rc == 0)
		rc = gnutls_x509_crt_set_name_constraints(crt, nc, 1);
	gnutls_x509_name_constraints_deinit(nc);
	return rc;
}

bool tls_ca_permits(gnutls_x509_crt_t ca, const char *domain)
{
	gnutls_x509_name_constraints_t nc;
	if (gnutls_x509_name_constraints_init(&nc) < 0)
		return false;
	int rc = gnutls_x509_crt_get_name_constraints(ca, nc, 0, NULL);
	bool ok = rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE; /* none: any name */
	if (rc == 0) {
		gnutls_datum_t name = { (unsigned char *)domain, (unsigned)strlen(domain) };
		ok = gnutls_x509_name_constraints_check(nc, GNUTLS_SAN_DNSNAME, &name) != 0;
	}
	gnutls_x509_name_constraints_deinit(nc);
	return ok;
}

static int fill(gnutls_x509_crt_t crt, const struct tls_cert_spec *s)
{
	time_t now = time(NULL);
	int rc = gnutls_x509_crt_set_version(crt, 3);
	if (rc == 0)
		rc = set_serial(crt);
	if (rc == 0)
		rc = gnutls_x509_crt_set_activation_time(crt, now - TLS_BACKDATE_SECS);
	if (rc == 0)
		rc = gnutls_x509_crt_set_expiration_time(crt, s->not_after);
	if (rc == 0)
		rc = set_names(crt, s);
	if (rc == 0)
		rc = gnutls_x509_crt_set_key(crt, s->key);
	if (rc == 0)
		rc = gnutls_x509_crt_set_basic_constraints(crt, s->ca, s->ca ? 0 : -1);
	if (rc == 0)
		rc = gnutls_x509_crt_set_key_usage(crt, s->ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
							      : GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc == 0 && !s->ca)
		rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	if (rc == 0 && s->ca && s->permit)
		rc = set_constraints(crt, s);
	if (rc == 0)
		rc = set_key_ids(crt, s);
	if (rc == 0)
		rc = gnutls_x509_crt_sign2(crt, s->issuer ? s->issuer : crt, s->issuer ? s->issuer_key : s->key,
					   GNUTLS_DIG_SHA256, 0);
	return rc;
}

int tls_cert_make(const struct tls_cert_spec *s, gnutls_x509_crt_t *ret, struct cove_err *err)
{
	gnutls_x509_crt_t crt;
	int rc = gnutls_x509_crt_init(&crt);
	if (rc == 0 && (rc = fill(crt, s)) < 0)
		gnutls_x509_crt_deinit(crt);
	if (rc < 0)
		return tls_gnutls_err(err, rc, "tls: make a certificate for %s", s->cn);
	*ret = crt;
	return 0;
}
