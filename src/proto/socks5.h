/* SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), the
 * client's side, as the egress proxy speaks it to a user's upstream proxy
 * (E2B's network.egressProxy): the messages it sends, built into a buffer,
 * and the server's answers parsed. Only CONNECT, to an IPv4 address or a
 * host name. Answers come from a server of the user's choosing: every
 * length is checked against what was read. */
#ifndef COVE_PROTO_SOCKS5_H
#define COVE_PROTO_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The longest message built here (an auth request: 3 + 255 + 255). */
#define SOCKS5_MSG_MAX 513

/* The greeting: no authentication, or username/password only. */
size_t socks5_greeting(uint8_t out[SOCKS5_MSG_MAX], bool with_auth);
/* The server's method choice: 0 while more is needed, 2 when it chose what
 * the greeting offered; -EPROTO or -EACCES (no acceptable method). */
int socks5_choice(const uint8_t *buf, size_t len, bool with_auth, struct cove_err *err);
/* RFC 1929's request; user and pass at most 255 bytes each (checked
 * before: 0 when they are not). */
size_t socks5_auth(uint8_t out[SOCKS5_MSG_MAX], const char *user, const char *pass);
/* Its answer: 0 while more is needed, 2 when accepted; -EACCES refused. */
int socks5_auth_reply(const uint8_t *buf, size_t len, struct cove_err *err);
/* CONNECT to name (at most 255 bytes) or, when name is NULL, to addr (host
 * byte order), on port. 0 when name is too long. */
size_t socks5_connect(uint8_t out[SOCKS5_MSG_MAX], const char *name, uint32_t addr, uint16_t port);
/* Its answer: 0 while more is needed, its length when the server
 * connected; -ECONNREFUSED and the like for the server's refusals (err
 * names its reply code), -EPROTO for malformed answers. */
int socks5_connect_reply(const uint8_t *buf, size_t len, struct cove_err *err);

#endif
