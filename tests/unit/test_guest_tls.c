/* Unit tests for src/api/guest_tls, the routing's TLS client to a guest's
 * HTTPS server (E2B's network.httpsPorts), against a GnuTLS server in a
 * thread over a socket pair, with a certificate it made itself
 * (tls_local_make) that the client never verifies: no SNI sent, HTTP/1.1
 * picked by ALPN, bytes both ways (more than one record), the end of the
 * stream with and without a close_notify; a peer that speaks plain HTTP
 * fails the handshake, one that says nothing times it out. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "api/guest_tls.h"
#include "common/fs.h"
#include "tls/tls.h"

#define BLOB (100 * 1024) /* several TLS records */

static char dir[64];
static struct tls_local_paths paths;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-test-guest-tls.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	bool made;
	struct cove_err err = { 0 };
	tls_local_paths(dir, &paths);
	if (tls_local_make(dir, "localhost", &made, &err) < 0) {
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

enum peer { PEER_TLS, PEER_TLS_NO_BYE, PEER_PLAIN, PEER_SILENT };

struct server {
	int fd;
	enum peer peer;
	/* what the TLS server saw */
	int sni_rc;     /* gnutls_server_name_get's: no SNI is REQUESTED_DATA_NOT_AVAILABLE */
	char alpn[32];
	char got[16];
	int rc;
};

/* The guest's HTTPS server: answers "ping" with "pong" and a blob. */
static void serve_tls(struct server *s)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t ses;
	gnutls_certificate_allocate_credentials(&cred);
	s->rc = gnutls_certificate_set_x509_key_file(cred, paths.cert, paths.key, GNUTLS_X509_FMT_PEM);
	gnutls_init(&ses, GNUTLS_SERVER);
	gnutls_set_default_priority(ses);
	gnutls_credentials_set(ses, GNUTLS_CRD_CERTIFICATE, cred);
	const gnutls_datum_t protos[] = { { (unsigned char *)"h2", 2 }, { (unsigned char *)"http/1.1", 8 } };
	gnutls_alpn_set_protocols(ses, protos, 2, GNUTLS_ALPN_SERVER_PRECEDENCE);
	gnutls_transport_set_int(ses, s->fd);
	int rc;
	do
		rc = gnutls_handshake(ses);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (s->rc >= 0)
		s->rc = rc;
	if (rc == 0) {
		char name[256];
		size_t len = sizeof(name);
		unsigned type;
		s->sni_rc = gnutls_server_name_get(ses, name, &len, &type, 0);
		gnutls_datum_t alpn;
		if (gnutls_alpn_get_selected_protocol(ses, &alpn) == 0)
			snprintf(s->alpn, sizeof(s->alpn), "%.*s", (int)alpn.size, alpn.data);
		gnutls_record_recv(ses, s->got, 4);
		char *blob = malloc(BLOB);
		memset(blob, 'x', BLOB);
		gnutls_record_send(ses, "pong", 4);
		for (size_t off = 0; off < BLOB;)
			off += (size_t)gnutls_record_send(ses, blob + off, BLOB - off);
		free(blob);
		if (s->peer == PEER_TLS)
			gnutls_bye(ses, GNUTLS_SHUT_WR);
	}
	gnutls_deinit(ses);
	gnutls_certificate_free_credentials(cred);
}

static void *serve(void *arg)
{
	struct server *s = arg;
	char buf[4096];
	if (s->peer == PEER_TLS || s->peer == PEER_TLS_NO_BYE)
		serve_tls(s);
	else if (s->peer == PEER_PLAIN && read(s->fd, buf, sizeof(buf)) > 0) /* a ClientHello, as a request */
		fs_write_all(s->fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 47);
	else
		while (read(s->fd, buf, sizeof(buf)) > 0)
			; /* silent until the client goes */
	close(s->fd);
	return NULL;
}

static pthread_t start(struct server *s, int *client)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[1];
	*client = sv[0];
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, serve, s), 0);
	return t;
}

/* Everything the server sends, until the end of the stream. */
static size_t recv_all(struct guest_tls *t, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = guest_tls_recv(t, buf + n, cap - n);
		assert_true(r >= 0);
		if (r == 0)
			return n;
		n += (size_t)r;
		assert_true(n < cap);
	}
}

static void exchange(enum peer peer)
{
	struct server s = { .peer = peer };
	int fd;
	pthread_t th = start(&s, &fd);
	struct cove_err err = { 0 };
	struct guest_tls *t = NULL;
	if (guest_tls_open(fd, 5000, &t, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(guest_tls_send_all(t, "ping", 4), 0);
	size_t cap = BLOB + 1024;
	char *buf = malloc(cap);
	size_t n = recv_all(t, buf, cap);
	assert_int_equal(n, 4 + BLOB);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(buf[4 + BLOB - 1], 'x');
	assert_false(guest_tls_pending(t));
	free(buf);
	assert_null(guest_tls_free(t));
	close(fd);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, 0);
	assert_string_equal(s.got, "ping");
	/* As E2B's proxy: no server name (it dials an IP address); HTTP/1.1,
	 * though the server would rather h2. */
	assert_int_equal(s.sni_rc, GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	assert_string_equal(s.alpn, "http/1.1");
}

/* A self-signed certificate taken, bytes both ways, ended by close_notify. */
static void test_exchange(void **state)
{
	(void)state;
	exchange(PEER_TLS);
}

/* A server that just closes (many do): the end of the stream, not an
 * error; the HTTP framing above says whether it came early. */
static void test_end_without_bye(void **state)
{
	(void)state;
	exchange(PEER_TLS_NO_BYE);
}

/* A port in httpsPorts whose server speaks plain HTTP. */
static void test_plain_peer(void **state)
{
	(void)state;
	struct server s = { .peer = PEER_PLAIN };
	int fd;
	pthread_t th = start(&s, &fd);
	struct cove_err err = { 0 };
	struct guest_tls *t = NULL;
	assert_int_equal(guest_tls_open(fd, 5000, &t, &err), -EPROTO);
	assert_null(t);
	if (strncmp(err.msg, "TLS handshake: ", 15) != 0)
		fail_msg("%s", err.msg);
	close(fd);
	pthread_join(th, NULL);
}

/* A server that never answers the ClientHello: the handshake ends at the
 * timeout given. */
static void test_silent_peer(void **state)
{
	(void)state;
	struct server s = { .peer = PEER_SILENT };
	int fd;
	pthread_t th = start(&s, &fd);
	struct cove_err err = { 0 };
	struct guest_tls *t = NULL;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(guest_tls_open(fd, 300, &t, &err), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 250 && ms < 3000);
	assert_null(t);
	close(fd);
	pthread_join(th, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_end_without_bye),
		cmocka_unit_test(test_plain_peer),
		cmocka_unit_test(test_silent_peer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
