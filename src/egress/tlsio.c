/* The two ends of an intercepted connection as byte streams, plain or TLS
 * (GnuTLS), with blocking sockets: the guest's, where the proxy serves a
 * certificate the egress authority minted for the name, and the upstream's,
 * verified against the host's trust store (and the configured extra CA)
 * for that name. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "egress/intercept.h"
#include "tls/tls.h"

#define HANDSHAKE_MS 10000

static const gnutls_datum_t http11 = { (unsigned char *)"http/1.1", 8 };

/* The guest's first bytes, read while peeking, come before the socket's. */
static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct side *s = ptr;
	if (s->pre_off < s->pre_len) {
		size_t n = s->pre_len - s->pre_off < len ? s->pre_len - s->pre_off : len;
		memcpy(buf, s->pre + s->pre_off, n);
		s->pre_off += n;
		return (ssize_t)n;
	}
	ssize_t n;
	do
		n = recv(s->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct side *s = ptr;
	if (s->pre_off < s->pre_len)
		return 1;
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct side *s = ptr;
	ssize_t n;
	do
		n = send(s->fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

void side_init(struct side *s, int fd, const uint8_t *pre, size_t pre_len)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->pre = pre;
	s->pre_len = pre_len;
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	/* A TLS flight or a request head goes out in several writes: without
	 * this, Nagle holds the last one back for the peer's delayed ACK
	 * (40 ms). */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int session_setup(struct side *s, unsigned flags, gnutls_certificate_credentials_t cred,
			 struct cove_err *err)
{
	int rc = gnutls_init(&s->tls, flags);
	if (rc < 0) {
		s->tls = NULL;
		return cove_errf(err, -ENOMEM, "TLS: %s", gnutls_strerror(rc));
	}
	if ((rc = gnutls_set_default_priority(s->tls)) < 0 ||
	    (rc = gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, cred)) < 0 ||
	    (rc = gnutls_alpn_set_protocols(s->tls, &http11, 1, 0)) < 0)
		return cove_errf(err, -EPROTO, "TLS: %s", gnutls_strerror(rc));
	gnutls_transport_set_ptr(s->tls, s);
	gnutls_transport_set_pull_function(s->tls, pull);
	gnutls_transport_set_pull_timeout_function(s->tls, pull_timeout);
	gnutls_transport_set_push_function(s->tls, push);
	gnutls_handshake_set_timeout(s->tls, HANDSHAKE_MS);
	return 0;
}

static int handshake(struct side *s, const char *who, struct cove_err *err)
{
	int rc;
	do
		rc = gnutls_handshake(s->tls);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		return cove_errf(err, -EPROTO, "TLS with %s: %s", who, gnutls_strerror(rc));
	return 0;
}

int side_serve_tls(struct side *s, gnutls_certificate_credentials_t cred, struct cove_err *err)
{
	int r = session_setup(s, GNUTLS_SERVER, cred, err);
	return r < 0 ? r : handshake(s, "the sandbox", err);
}

int side_connect_tls(struct side *s, gnutls_certificate_credentials_t trust, const char *name, struct cove_err *err)
{
	int r = session_setup(s, GNUTLS_CLIENT, trust, err);
	if (r < 0)
		return r;
	int rc = gnutls_server_name_set(s->tls, GNUTLS_NAME_DNS, name, strlen(name));
	if (rc < 0)
		return cove_errf(err, -EPROTO, "TLS: %s", gnutls_strerror(rc));
	gnutls_session_set_verify_cert(s->tls, name, 0);
	return handshake(s, name, err);
}

ssize_t side_read(struct side *s, void *buf, size_t len)
{
	if (!s->tls)
		return pull(s, buf, len);
	ssize_t n;
	do
		n = gnutls_record_recv(s->tls, buf, len);
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	/* A peer that closes without close_notify has still ended its stream. */
	return n == GNUTLS_E_PREMATURE_TERMINATION ? 0 : n < 0 ? -1 : n;
}

int side_write(struct side *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n;
		if (s->tls) {
			do
				n = gnutls_record_send(s->tls, p, len);
			while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
		} else {
			n = push(s, p, len);
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void side_shut_write(struct side *s)
{
	if (s->tls)
		gnutls_bye(s->tls, GNUTLS_SHUT_WR);
	shutdown(s->fd, SHUT_WR);
}

void side_free(struct side *s)
{
	if (s->tls)
		gnutls_deinit(s->tls);
	s->tls = NULL;
}
