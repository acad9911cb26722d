/* Inside the egress proxy: connections to a host with rules (net.h's
 * network.rules), whose requests get headers set on the way out.
 *
 * The event loop hands such a connection over once it is allowed and
 * dialled (intercept_start); from then on it has two threads of its own
 * with blocking sockets: one reads the guest's requests, sets the rule's
 * headers (secrets filled in) on each request head and passes bodies on as
 * they are framed (Content-Length or chunked; after an Upgrade or CONNECT,
 * raw bytes); the other passes the responses back untouched. Over TLS the
 * proxy is the server the guest talks to, with a certificate for the name
 * minted by the egress authority (tls.h's tls_minter) that guests trust,
 * and a client of the real server, verified for that name. Each request's
 * Host must be the name the connection was judged by.
 *
 * Threads rather than the loop: GnuTLS on blocking sockets keeps the
 * request framing in plain code, and these connections are few (only hosts
 * with rules) and bounded (INTERCEPT_MAX at once). */
#ifndef COVE_EGRESS_INTERCEPT_H
#define COVE_EGRESS_INTERCEPT_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define INTERCEPT_MAX 512

/* tlsio.c: one end, plain (tls NULL) or TLS, on a blocking socket. */
struct side {
	int fd;
	gnutls_session_t tls;
	const uint8_t *pre; /* bytes already read from fd, read first */
	size_t pre_len, pre_off;
};
/* Makes fd blocking. */
void side_init(struct side *s, int fd, const uint8_t *pre, size_t pre_len);
int side_serve_tls(struct side *s, gnutls_certificate_credentials_t cred, struct cove_err *err);
int side_connect_tls(struct side *s, gnutls_certificate_credentials_t trust, const char *name, struct cove_err *err);
/* > 0 bytes, 0 at the end, -1 on an error. */
ssize_t side_read(struct side *s, void *buf, size_t len);
int side_write(struct side *s, const void *buf, size_t len);
void side_shut_write(struct side *s);
void side_free(struct side *s);

#endif
