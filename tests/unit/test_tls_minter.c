/* Unit tests for the egress authority (src/tls/minter.c): its files and
 * their modes, kept across reopening, a key open to other users refused;
 * credentials minted per host name, which a GnuTLS client trusting only
 * the authority accepts for that name (a real handshake over a socket
 * pair) and refuses for another; a name's certificate kept and reused;
 * many threads at once. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
#include "tls/internal.h"
#include "tls/tls.h"

static char dir[64], ca_dir[96], ca_path[128], key_path[128];
static struct tls_minter *minter;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-test-minter.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(ca_dir, sizeof(ca_dir), "%s/egress-ca", dir);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", ca_dir);
	snprintf(key_path, sizeof(key_path), "%s/ca-key.pem", ca_dir);
	struct cove_err err = { 0 };
	if (tls_minter_new(ca_dir, &minter, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	minter = tls_minter_free(minter);
	return fs_remove_tree(dir, NULL);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;
	assert_int_equal(tls_file_read(path, "file", &text, &len, NULL), 0);
	return text;
}

static void test_files(void **state)
{
	(void)state;
	assert_int_equal(mode_of(ca_dir), 0700);
	assert_int_equal(mode_of(key_path), 0600);
	assert_int_equal(mode_of(ca_path), 0644);
	char *pem = slurp(ca_path);
	assert_string_equal(pem, tls_minter_ca_pem(minter));
	/* A CA with no name constraints: it may sign for any name. */
	gnutls_x509_crt_t ca;
	assert_int_equal(tls_crt_read(ca_path, &ca, NULL), 0);
	assert_true(tls_ca_permits(ca, "api.openai.com"));
	assert_true(tls_ca_permits(ca, "example.org"));
	unsigned critical = 0;
	assert_true(gnutls_x509_crt_get_ca_status(ca, &critical) > 0);
	gnutls_x509_crt_deinit(ca);
	/* Opened again: the same authority, so guests keep trusting it. */
	struct tls_minter *again;
	struct cove_err err = { 0 };
	assert_int_equal(tls_minter_new(ca_dir, &again, &err), 0);
	assert_string_equal(tls_minter_ca_pem(again), pem);
	tls_minter_free(again);
	free(pem);
}

static void test_bad_key_mode(void **state)
{
	(void)state;
	assert_int_equal(chmod(key_path, 0644), 0);
	struct tls_minter *m = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(tls_minter_new(ca_dir, &m, &err), -EPERM);
	assert_null(m);
	assert_non_null(strstr(err.msg, key_path));
	assert_non_null(strstr(err.msg, "0644"));
	assert_int_equal(chmod(key_path, 0600), 0);
	assert_int_equal(tls_minter_new(ca_dir, &m, &err), 0);
	tls_minter_free(m);
}

/* The DER of the one certificate credentials hold. */
static gnutls_datum_t der_of(gnutls_certificate_credentials_t cred)
{
	gnutls_datum_t raw, copy;
	assert_int_equal(gnutls_certificate_get_crt_raw(cred, 0, 0, &raw), 0);
	copy.size = raw.size;
	copy.data = malloc(raw.size);
	memcpy(copy.data, raw.data, raw.size);
	return copy;
}

static void test_reused(void **state)
{
	(void)state;
	gnutls_certificate_credentials_t a, b, c;
	struct cove_err err = { 0 };
	assert_int_equal(tls_minter_credentials(minter, "api.example.com", &a, &err), 0);
	assert_int_equal(tls_minter_credentials(minter, "API.Example.COM", &b, &err), 0);
	assert_int_equal(tls_minter_credentials(minter, "other.example.com", &c, &err), 0);
	gnutls_datum_t da = der_of(a), db = der_of(b), dc = der_of(c);
	assert_int_equal(da.size, db.size);
	assert_memory_equal(da.data, db.data, da.size);
	assert_false(da.size == dc.size && memcmp(da.data, dc.data, da.size) == 0);
	/* Signed by the authority, for the name. */
	gnutls_x509_crt_t leaf, ca;
	assert_int_equal(gnutls_x509_crt_init(&leaf), 0);
	assert_int_equal(gnutls_x509_crt_import(leaf, &da, GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(tls_crt_read(ca_path, &ca, NULL), 0);
	unsigned status = 1;
	assert_int_equal(gnutls_x509_crt_verify(leaf, &ca, 1, 0, &status), 0);
	assert_int_equal(status, 0);
	assert_true(gnutls_x509_crt_check_hostname(leaf, "api.example.com"));
	assert_false(gnutls_x509_crt_check_hostname(leaf, "other.example.com"));
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_crt_deinit(ca);
	free(da.data);
	free(db.data);
	free(dc.data);
	gnutls_certificate_free_credentials(a);
	gnutls_certificate_free_credentials(b);
	gnutls_certificate_free_credentials(c);
}

static void test_bad_names(void **state)
{
	(void)state;
	char long_label[80], too_long[300];
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".com");
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	for (size_t i = 0; i < 63; i += 2)
		too_long[i + 1] = '.';
	const char *bad[] = { "", ".", "a..b", ".example.com", "example.com.", "-a.com", "a-.com", "a b.com",
			      "a/b", "1.2.3.4:443", "caf\xc3\xa9.fr", long_label, too_long };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		gnutls_certificate_credentials_t cred = NULL;
		struct cove_err err = { 0 };
		assert_int_equal(tls_minter_credentials(minter, bad[i], &cred, &err), -EINVAL);
		assert_null(cred);
		assert_non_null(strstr(err.msg, "is not a host name"));
	}
	gnutls_certificate_credentials_t cred;
	assert_int_equal(tls_minter_credentials(minter, "_dmarc.x-1.example.com", &cred, NULL), 0);
	gnutls_certificate_free_credentials(cred);
}

struct server {
	int fd;
	gnutls_certificate_credentials_t cred;
	int handshake;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	gnutls_session_t session;
	gnutls_init(&session, GNUTLS_SERVER);
	gnutls_set_default_priority(session);
	gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, s->cred);
	gnutls_transport_set_int(session, s->fd);
	do
		s->handshake = gnutls_handshake(session);
	while (s->handshake < 0 && !gnutls_error_is_fatal(s->handshake));
	if (s->handshake == 0)
		gnutls_bye(session, GNUTLS_SHUT_WR);
	gnutls_deinit(session);
	close(s->fd);
	return NULL;
}

/* A handshake with credentials minted for minted_for, by a client that
 * trusts only the authority and checks the name it asks for; its result
 * (0 or GnuTLS's error). */
static int handshake(const char *minted_for, const char *asks_for)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct server srv = { .fd = sv[1] };
	assert_int_equal(tls_minter_credentials(minter, minted_for, &srv.cred, NULL), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, serve, &srv), 0);
	gnutls_certificate_credentials_t trust;
	gnutls_session_t s;
	assert_int_equal(gnutls_certificate_allocate_credentials(&trust), 0);
	assert_true(gnutls_certificate_set_x509_trust_file(trust, ca_path, GNUTLS_X509_FMT_PEM) == 1);
	assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT), 0);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, trust);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, asks_for, strlen(asks_for));
	gnutls_session_set_verify_cert(s, asks_for, 0);
	gnutls_transport_set_int(s, sv[0]);
	int rc;
	do
		rc = gnutls_handshake(s);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	gnutls_deinit(s);
	close(sv[0]);
	pthread_join(t, NULL);
	gnutls_certificate_free_credentials(trust);
	gnutls_certificate_free_credentials(srv.cred);
	return rc;
}

static void test_handshake(void **state)
{
	(void)state;
	assert_int_equal(handshake("api.example.com", "api.example.com"), 0);
	assert_int_equal(handshake("api.example.com", "api.example.com"), 0);
	assert_int_equal(handshake("other.example.com", "api.example.com"), GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR);
}

static void *mint_many(void *arg)
{
	const char *names[] = { "a.example.com", "b.example.com", "c.example.com", "d.example.com" };
	intptr_t failures = 0;
	for (int i = 0; i < 200; i++) {
		gnutls_certificate_credentials_t cred;
		if (tls_minter_credentials(minter, names[(i + (intptr_t)arg) % 4], &cred, NULL) < 0)
			failures++;
		else
			gnutls_certificate_free_credentials(cred);
	}
	return (void *)failures;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[8];
	for (intptr_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, mint_many, (void *)i), 0);
	for (int i = 0; i < 8; i++) {
		void *failures;
		pthread_join(t[i], &failures);
		assert_null(failures);
	}
}

int main(void)
{
	/* A server whose client went away writes into a closed socket. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),     cmocka_unit_test(test_bad_key_mode), cmocka_unit_test(test_reused),
		cmocka_unit_test(test_bad_names), cmocka_unit_test(test_handshake),    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
