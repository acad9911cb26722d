/* Unit tests for src/tls and HTTPS in src/http: the local CA and its files,
 * the checks on a certificate and key given to coved (each failure names
 * its file), the certificates minted per name, and an HTTPS server in this
 * process spoken to by a GnuTLS client: the name it asks for, the TLS
 * versions it may use, ALPN when it offers h2. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "http/http.h"
#include "tls/internal.h"
#include "tls/tls.h"

static char dir[64];
static struct tls_local_paths paths;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-test-tls.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char tls[80];
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	tls_local_paths(tls, &paths);
	bool made;
	struct cove_err err = { 0 };
	if (tls_local_make(tls, "localhost", &made, &err) < 0 || !made) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fs_remove_tree(dir, NULL);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;
	return tls_file_read(path, "file", &text, &len, NULL) == 0 ? text : NULL;
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(tls_file_write(path, text, strlen(text), 0600, NULL), 0);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_local_files(void **state)
{
	(void)state;
	char tls[80];
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	assert_int_equal(mode_of(tls), 0700);
	assert_int_equal(mode_of(paths.ca_key), 0600);
	assert_int_equal(mode_of(paths.key), 0600);
	assert_int_equal(mode_of(paths.ca), 0644);
	assert_int_equal(mode_of(paths.cert), 0644);
	/* Made again: the same CA (clients keep trusting it), a new certificate. */
	char *ca = slurp(paths.ca), *cert = slurp(paths.cert);
	bool made = true;
	struct cove_err err = { 0 };
	assert_int_equal(tls_local_make(tls, "localhost", &made, &err), 0);
	assert_false(made);
	char *ca2 = slurp(paths.ca), *cert2 = slurp(paths.cert);
	assert_string_equal(ca, ca2);
	assert_string_not_equal(cert, cert2);
	free(ca);
	free(ca2);
	free(cert);
	free(cert2);
	/* The certificate is the CA's, for the domain's names. */
	struct tls_pair p = { 0 };
	assert_int_equal(tls_pair_load(paths.cert, paths.key, &p, &err), 0);
	assert_true(tls_pair_covers(&p, "localhost"));
	assert_true(tls_pair_covers(&p, "api.localhost"));
	assert_true(tls_pair_covers(&p, "127.0.0.1"));
	assert_false(tls_pair_covers(&p, "api.example.com"));
	tls_pair_clear(&p);
	gnutls_x509_crt_t crt, ca_crt;
	assert_int_equal(tls_crt_read(paths.cert, &crt, NULL), 0);
	assert_int_equal(tls_crt_read(paths.ca, &ca_crt, NULL), 0);
	unsigned status = 1;
	assert_int_equal(gnutls_x509_crt_verify(crt, &ca_crt, 1, 0, &status), 0);
	assert_int_equal(status, 0);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca_crt);
}

static void expect_load_error(const char *cert, const char *key, const char *msg)
{
	struct tls_pair p = { 0 };
	struct cove_err err = { 0 };
	assert_true(tls_pair_load(cert, key, &p, &err) < 0);
	if (!strstr(err.msg, msg))
		fail_msg("'%s' does not say '%s'", err.msg, msg);
	assert_null(p.cert);
}

/* A certificate of key's, valid until not_after, written to path. */
static void write_cert(const char *path, gnutls_x509_privkey_t key, time_t not_after)
{
	const char *names[] = { "x.example" };
	struct tls_cert_spec s = { .cn = "x.example", .dns = names, .ndns = 1, .not_after = not_after, .key = key };
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem;
	assert_int_equal(tls_cert_make(&s, &crt, NULL), 0);
	assert_int_equal(tls_crt_pem(crt, &pem, NULL), 0);
	assert_int_equal(tls_file_write(path, (const char *)pem.data, pem.size, 0644, NULL), 0);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
}

static void test_pair_errors(void **state)
{
	(void)state;
	char missing[128], empty[128], junk[128], expired[128], encrypted[128];
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	snprintf(empty, sizeof(empty), "%s/empty.pem", dir);
	snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
	snprintf(expired, sizeof(expired), "%s/expired.pem", dir);
	snprintf(encrypted, sizeof(encrypted), "%s/encrypted.pem", dir);
	char msg[256];
	snprintf(msg, sizeof(msg), "tls: read certificate %s: No such file or directory", missing);
	expect_load_error(missing, paths.key, msg);
	snprintf(msg, sizeof(msg), "tls: read key %s: No such file or directory", missing);
	expect_load_error(paths.cert, missing, msg);
	snprintf(msg, sizeof(msg), "tls: certificate %s is not a file", dir);
	expect_load_error(dir, paths.key, msg);
	close(open(empty, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	snprintf(msg, sizeof(msg), "tls: certificate %s is empty", empty);
	expect_load_error(empty, paths.key, msg);
	write_text(junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
	snprintf(msg, sizeof(msg), "tls: certificate %s: ", junk);
	expect_load_error(junk, paths.key, msg);
	snprintf(msg, sizeof(msg), "tls: key %s: ", junk);
	expect_load_error(paths.cert, junk, msg);
	/* A key and a certificate that do not belong together. */
	snprintf(msg, sizeof(msg), "tls: key %s is not the key of certificate %s", paths.ca_key, paths.cert);
	expect_load_error(paths.cert, paths.ca_key, msg);
	/* Expired. */
	gnutls_x509_privkey_t key;
	assert_int_equal(tls_key_read(paths.key, false, &key, NULL), 0);
	write_cert(expired, key, time(NULL) - 60);
	snprintf(msg, sizeof(msg), "tls: certificate %s expired on ", expired);
	expect_load_error(expired, paths.key, msg);
	/* An encrypted key. */
	gnutls_datum_t pem;
	assert_int_equal(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, "secret", GNUTLS_PKCS_PBES2_AES_256,
							  &pem),
			 0);
	assert_int_equal(tls_file_write(encrypted, (const char *)pem.data, pem.size, 0600, NULL), 0);
	gnutls_free(pem.data);
	gnutls_x509_privkey_deinit(key);
	snprintf(msg, sizeof(msg), "tls: key %s is encrypted; coved needs it unencrypted", encrypted);
	expect_load_error(paths.cert, encrypted, msg);
}

/* The DNS names of a PEM certificate, comma-separated, and whether the CA
 * signed it. */
static void names_of(const char *pem, char *out, size_t len, bool *by_ca)
{
	gnutls_x509_crt_t crt, ca;
	assert_int_equal(tls_crt_import(pem, strlen(pem), "minted", &crt, NULL), 0);
	out[0] = '\0';
	for (unsigned i = 0;; i++) {
		char name[TLS_NAME_MAX], ip[64];
		size_t n = sizeof(name);
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &n, NULL);
		if (type < 0)
			break;
		if (type == GNUTLS_SAN_IPADDRESS)
			inet_ntop(n == 4 ? AF_INET : AF_INET6, name, ip, sizeof(ip));
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "",
			 type == GNUTLS_SAN_IPADDRESS ? ip : name);
	}
	assert_int_equal(tls_crt_read(paths.ca, &ca, NULL), 0);
	unsigned status = 1;
	*by_ca = gnutls_x509_crt_verify(crt, &ca, 1, 0, &status) == 0 && status == 0;
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
}

#define OWN "localhost,*.localhost,api.localhost,127.0.0.1,::1"

static void test_issuer_names(void **state)
{
	(void)state;
	char tls[80];
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	struct tls_issuer *is;
	struct cove_err err = { 0 };
	assert_int_equal(tls_issuer_new(tls, "localhost", &is, &err), 0);
	struct {
		const char *ask, *names;
	} cases[] = {
		{ "8000-abc123.localhost", "8000-abc123.localhost" },
		{ "API.LocalHost", "api.localhost" },
		{ "localhost", "localhost" },
		/* Not one label under the domain: cert.pem's own names. */
		{ "a.b.localhost", OWN },
		{ "other.example", OWN },
		{ "-x.localhost", OWN },
		{ "x_y.localhost", OWN },
		{ "evillocalhost", OWN },
		{ NULL, OWN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *pem = NULL, names[512];
		bool by_ca;
		assert_int_equal(tls_issuer_cert_pem(is, cases[i].ask, &pem, &err), 0);
		names_of(pem, names, sizeof(names), &by_ca);
		assert_string_equal(names, cases[i].names);
		assert_true(by_ca);
		free(pem);
	}
	/* A name asked again gets the same certificate. */
	char *a, *b;
	assert_int_equal(tls_issuer_cert_pem(is, "8000-abc123.localhost", &a, &err), 0);
	assert_int_equal(tls_issuer_cert_pem(is, "8000-abc123.localhost", &b, &err), 0);
	assert_string_equal(a, b);
	free(a);
	free(b);
	tls_issuer_free(is);
	/* Without the local CA's files, the error names the missing one. */
	assert_true(tls_issuer_new(dir, "localhost", &is, &err) < 0);
	char msg[160];
	snprintf(msg, sizeof(msg), "tls: read certificate %s/ca.pem: No such file or directory", dir);
	assert_string_equal(err.msg, msg);
}

/* --- HTTPS --- */

static enum MHD_Result hello(struct http_request *r)
{
	const char *host = http_header(r, "Host");
	return http_reply(r, 200, "text/plain", host, strlen(host));
}

static enum MHD_Result fail_hook(struct http_request *r, enum http_failure what)
{
	return http_reply_empty(r, what == HTTP_NOT_FOUND ? 404 : 500);
}

static const struct http_route routes[] = { { "GET", "/hello", hello, .open = true } };

static struct http_server *https_start(const struct http_tls *tls, unsigned *port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct http_server_config c = { .addr = &addr, .tls = tls, .routes = routes, .nroutes = 1,
					.max_connections = 16, .default_body_limit = 1024, .fail = fail_hook };
	struct http_server *s;
	struct cove_err err = { 0 };
	assert_int_equal(http_server_start(&c, &s, &err), 0);
	*port = http_server_port(s);
	return s;
}

struct reply {
	int handshake;      /* GnuTLS's result */
	unsigned verify;    /* the certificate's check for the name */
	char alpn[16];      /* what the server chose */
	char tls[16];       /* the version */
	char text[512];     /* what came back */
};

/* GET /hello over TLS, asking for name (SNI and Host) with the given
 * priorities, offering h2 and http/1.1. */
static void https_get(unsigned port, const char *name, const char *priorities, struct reply *out)
{
	memset(out, 0, sizeof(*out));
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	assert_true(gnutls_certificate_set_x509_trust_file(cred, paths.ca, GNUTLS_X509_FMT_PEM) == 1);
	assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT), 0);
	assert_int_equal(gnutls_priority_set_direct(s, priorities, NULL), 0);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (name)
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, name, strlen(name));
	gnutls_datum_t protos[] = { { (unsigned char *)"h2", 2 }, { (unsigned char *)"http/1.1", 8 } };
	gnutls_alpn_set_protocols(s, protos, 2, 0);
	gnutls_transport_set_int(s, fd);
	do
		out->handshake = gnutls_handshake(s);
	while (out->handshake < 0 && !gnutls_error_is_fatal(out->handshake));
	if (out->handshake == 0) {
		gnutls_datum_t alpn;
		if (gnutls_alpn_get_selected_protocol(s, &alpn) == 0)
			snprintf(out->alpn, sizeof(out->alpn), "%.*s", (int)alpn.size, alpn.data);
		snprintf(out->tls, sizeof(out->tls), "%s", gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
		gnutls_certificate_verify_peers3(s, name ? name : "localhost", &out->verify);
		char req[256];
		int n = snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
				 name ? name : "localhost");
		assert_int_equal(gnutls_record_send(s, req, (size_t)n), n);
		size_t got = 0;
		ssize_t r;
		while ((r = gnutls_record_recv(s, out->text + got, sizeof(out->text) - 1 - got)) > 0 ||
		       r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			got += r > 0 ? (size_t)r : 0;
	}
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	close(fd);
}

static void test_https_minted(void **state)
{
	(void)state;
	char tls[80];
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	struct tls_issuer *is;
	struct cove_err err = { 0 };
	assert_int_equal(tls_issuer_new(tls, "localhost", &is, &err), 0);
	struct http_tls t = { .select = tls_issuer_select(), .select_cls = is };
	unsigned port;
	struct http_server *s = https_start(&t, &port);
	struct reply r;
	/* A sandbox's name: a certificate of its own, HTTP/1.1 although h2 was offered. */
	https_get(port, "8000-abc123.localhost", "NORMAL", &r);
	assert_int_equal(r.handshake, 0);
	assert_int_equal(r.verify, 0);
	assert_string_equal(r.alpn, "http/1.1");
	assert_non_null(strstr(r.text, "HTTP/1.1 200"));
	assert_non_null(strstr(r.text, "\r\n\r\n8000-abc123.localhost"));
	https_get(port, "api.localhost", "NORMAL:-VERS-ALL:+VERS-TLS1.2", &r);
	assert_int_equal(r.handshake, 0);
	assert_string_equal(r.tls, "TLS1.2");
	assert_int_equal(r.verify, 0);
	/* Another name: a certificate that is not for it. */
	https_get(port, "api.example.com", "NORMAL", &r);
	assert_int_equal(r.handshake, 0);
	assert_true(r.verify & GNUTLS_CERT_UNEXPECTED_OWNER);
	/* TLS 1.1 and older are refused. */
	https_get(port, "api.localhost", "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0", &r);
	assert_true(r.handshake < 0);
	/* And the server still serves. */
	https_get(port, "api.localhost", "NORMAL", &r);
	assert_int_equal(r.handshake, 0);
	http_server_stop(s);
	tls_issuer_free(is);
}

/* Handshakes at once, each in its connection's thread: new names and the
 * same names, so that minting and the table are shared under the lock. */
struct many {
	unsigned port;
	int id;
	int failures;
};

static void *handshakes(void *arg)
{
	struct many *m = arg;
	for (int i = 0; i < 10; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%d-shared%d.localhost", 1 + i % 3, m->id % 2);
		if (i % 2)
			snprintf(name, sizeof(name), "%d-own%d.localhost", i + 1, m->id);
		struct reply r;
		https_get(m->port, name, "NORMAL", &r);
		if (r.handshake != 0 || r.verify != 0 || !strstr(r.text, "HTTP/1.1 200"))
			m->failures++;
	}
	return NULL;
}

static void test_https_concurrent(void **state)
{
	(void)state;
	char tls[80];
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	struct tls_issuer *is;
	assert_int_equal(tls_issuer_new(tls, "localhost", &is, NULL), 0);
	struct http_tls t = { .select = tls_issuer_select(), .select_cls = is };
	unsigned port;
	struct http_server *s = https_start(&t, &port);
	pthread_t threads[6];
	struct many m[6];
	for (int i = 0; i < 6; i++) {
		m[i] = (struct many){ .port = port, .id = i };
		assert_int_equal(pthread_create(&threads[i], NULL, handshakes, &m[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(m[i].failures, 0);
	}
	http_server_stop(s);
	tls_issuer_free(is);
}

static void test_https_pair(void **state)
{
	(void)state;
	struct tls_pair p = { 0 };
	assert_int_equal(tls_pair_load(paths.cert, paths.key, &p, NULL), 0);
	struct http_tls t = { .cert = p.cert, .key = p.key };
	unsigned port;
	struct http_server *s = https_start(&t, &port);
	struct reply r;
	https_get(port, "api.localhost", "NORMAL", &r);
	assert_int_equal(r.handshake, 0);
	assert_int_equal(r.verify, 0);
	assert_string_equal(r.tls, "TLS1.3");
	assert_non_null(strstr(r.text, "HTTP/1.1 200"));
	https_get(port, "other.example", "NORMAL", &r);
	assert_true(r.verify & GNUTLS_CERT_UNEXPECTED_OWNER);
	http_server_stop(s);
	tls_pair_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_files),  cmocka_unit_test(test_pair_errors),
		cmocka_unit_test(test_issuer_names), cmocka_unit_test(test_https_minted),
		cmocka_unit_test(test_https_concurrent), cmocka_unit_test(test_https_pair),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
