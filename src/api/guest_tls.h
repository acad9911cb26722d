/* The routing's hop to a guest's server that speaks HTTPS itself (E2B's
 * network.httpsPorts): a TLS client session over a connected, blocking
 * socket to the guest's port. As on E2B, this is not TLS passthrough: the
 * client's request ends at coved and goes on over a TLS connection of
 * coved's own, and the guest's certificate is not verified (it is the
 * user's own server, self-signed as often as not). What is sent matches
 * what E2B's proxy (Go's net/http, dialling the sandbox's IP address)
 * sends: no SNI (RFC 6066 has no server names that are IP addresses, and
 * Go sends none for them), HTTP/1.1 offered by ALPN (the routing speaks
 * nothing else), the system's default TLS priorities (GnuTLS's, as Debian
 * configures them). The session neither owns nor closes the socket. */
#ifndef COVE_API_GUEST_TLS_H
#define COVE_API_GUEST_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

struct guest_tls;

/* Shakes hands over fd within timeout_ms. Errors: -EPROTO (with GnuTLS's
 * reason: a port that does not speak TLS, a handshake refused),
 * -ETIMEDOUT, -ENOMEM. */
int guest_tls_open(int fd, unsigned timeout_ms, struct guest_tls **ret, struct cove_err *err);
/* Ends the session without a close_notify (the routing's connections end
 * abortively) and frees it; NULL is fine. Returns NULL. */
struct guest_tls *guest_tls_free(struct guest_tls *t);
/* Sends all of buf: 0, or a negative errno (-EPIPE: the connection is
 * gone). */
int guest_tls_send_all(struct guest_tls *t, const void *buf, size_t len);
/* Up to len bytes of what the server sent (blocking): their count, 0 at
 * the end of the stream (a close_notify, or the connection closed without
 * one: the HTTP framing says whether that was early), or -1. */
ssize_t guest_tls_recv(struct guest_tls *t, void *buf, size_t len);
/* Whether bytes already read from the socket wait to be received (so
 * polling the socket would not say so). */
bool guest_tls_pending(struct guest_tls *t);

#endif
