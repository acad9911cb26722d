/* A TLS client session to a guest's HTTPS server (see guest_tls.h). */
#include "api/guest_tls.h"

#include <errno.h>
#include <stdlib.h>

#include <gnutls/gnutls.h>

struct guest_tls {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
};

struct guest_tls *guest_tls_free(struct guest_tls *t)
{
	if (!t)
		return NULL;
	if (t->session)
		gnutls_deinit(t->session);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
	return NULL;
}

static int tls_fail(struct cove_err *err, int code, int rc, const char *what)
{
	return cove_errf(err, code, "TLS %s: %s", what, gnutls_strerror(rc));
}

/* The session, set up as guest_tls.h says, not yet shaken hands. */
static int session_new(struct guest_tls *t, int fd, unsigned timeout_ms, struct cove_err *err)
{
	/* Credentials with no trust anchors and no verification asked for:
	 * any certificate the guest shows is taken. */
	int rc = gnutls_certificate_allocate_credentials(&t->cred);
	if (rc < 0)
		return tls_fail(err, -ENOMEM, rc, "credentials");
	/* NO_SIGNAL: a guest gone mid-send is an error, not SIGPIPE. */
	rc = gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS);
	if (rc < 0)
		return tls_fail(err, -ENOMEM, rc, "session");
	static const gnutls_datum_t http11 = { (unsigned char *)"http/1.1", 8 };
	if ((rc = gnutls_set_default_priority(t->session)) < 0 ||
	    (rc = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred)) < 0 ||
	    (rc = gnutls_alpn_set_protocols(t->session, &http11, 1, 0)) < 0)
		return tls_fail(err, -ENOMEM, rc, "session");
	gnutls_transport_set_int(t->session, fd);
	gnutls_handshake_set_timeout(t->session, timeout_ms);
	return 0;
}

int guest_tls_open(int fd, unsigned timeout_ms, struct guest_tls **ret, struct cove_err *err)
{
	struct guest_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return cove_errf(err, -ENOMEM, "out of memory");
	int r = session_new(t, fd, timeout_ms, err);
	if (r < 0) {
		guest_tls_free(t);
		return r;
	}
	int rc;
	do
		rc = gnutls_handshake(t->session);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		r = tls_fail(err, rc == GNUTLS_E_TIMEDOUT ? -ETIMEDOUT : -EPROTO, rc, "handshake");
		guest_tls_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int guest_tls_send_all(struct guest_tls *t, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = gnutls_record_send(t->session, p, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t guest_tls_recv(struct guest_tls *t, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(t->session, buf, len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		/* A TLS 1.2 renegotiation the routing does not take part in. */
		if (n == GNUTLS_E_REHANDSHAKE || gnutls_error_is_fatal((int)n))
			return -1;
		/* Interrupted, or a warning alert: read on. */
	}
}

bool guest_tls_pending(struct guest_tls *t)
{
	return gnutls_record_check_pending(t->session) > 0;
}
