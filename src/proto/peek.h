/* The first bytes of a sandbox's outbound connection, read by coved's
 * transparent egress proxy to learn which name the guest asks for: the
 * server_name of a TLS ClientHello, or the host of an HTTP/1.x request head.
 * The proxy allows or refuses the connection by that name (src/proto/domain.h),
 * so this is a security boundary facing a hostile guest: nothing is read past
 * len, nothing is allocated, every length is checked against the one that
 * encloses it, and anything ambiguous is refused rather than guessed at.
 *
 * What is accepted:
 * - TLS: handshake records (type 22, record versions 0x0301-0x0303, 1 to
 *   16384 bytes each, RFC 8446 5.1) that carry one ClientHello, which may span
 *   several records (large post-quantum key shares); a record of any other
 *   type before the ClientHello ends is refused. The ClientHello's lengths must
 *   nest exactly: session id (<= 32), cipher suites (even, >= 2), compression
 *   methods (>= 1), then extensions to the message's last byte (or none, as a
 *   TLS 1.0 client may send). One server_name extension at most, holding
 *   exactly one host_name entry (RFC 6066 3); any other name type is refused.
 *   The name is made of [A-Za-z0-9.-] only, in labels of 1-63 bytes, 253 bytes
 *   at most (one trailing dot aside). An IP literal a broken client sends as
 *   SNI passes as it is (domain rules never match one but "*").
 * - HTTP/1.x: a request line `METHOD SP target SP HTTP/1.d` (method a token,
 *   target origin-form "/...", absolute-form "http(s)://authority/...", or "*"
 *   for OPTIONS), header lines `name: value` (name a token, in any case, no
 *   space before the colon), up to the empty line. Lines end in CRLF or a bare
 *   LF (as most servers accept). The head's Host (or, with no Host, an
 *   absolute-form target's host) names the destination; its port is dropped.
 *   An IPv6 literal host is returned with its brackets ("[::1]"), so it can
 *   never be mistaken for a domain name.
 *   Refused, as request smuggling or filter evasion: CONNECT (a transparent
 *   proxy never sees one from an honest client), two Host headers, a Host that
 *   names another host than an absolute-form target, userinfo ("user@") in a
 *   target, obs-fold continuation lines, a NUL, a bare CR, any other control
 *   byte, an HTTP/1.1 request with no host at all, HTTP/2's preface (no h2c).
 *   An empty Host (allowed when there is no authority) gives "".
 * Only the first PEEK_MAX bytes are ever looked at, and only the first request
 * of a connection: later ones on a kept-alive connection, or the Host inside
 * TLS, may name other hosts than the one peeked (domain fronting), so the
 * proxy connects to the name peeked, never to where the guest aimed.
 */
#ifndef COVE_PROTO_PEEK_H
#define COVE_PROTO_PEEK_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PEEK_NAME_MAX 253
#define PEEK_MAX 16384 /* bytes the proxy will ever wait for */

enum peek_kind { PEEK_MORE = 0, PEEK_TLS = 1, PEEK_HTTP = 2 };

/* Looks at the first len bytes a client sent on a new connection. Returns
 * PEEK_MORE while more bytes could change the answer; PEEK_TLS or PEEK_HTTP
 * with the name asked for in name (lowercase, one trailing dot removed; ""
 * when the protocol carries none: a ClientHello without server_name, an
 * HTTP/1.0 request without Host); -EPROTO (err says why, quoting no input)
 * when the bytes are neither, or malformed; -E2BIG when no answer is possible
 * within PEEK_MAX bytes. name is written only on success. Once an answer other
 * than PEEK_MORE is given, more bytes after these never change it. */
int peek_name(const uint8_t *buf, size_t len, char name[PEEK_NAME_MAX + 1], struct cove_err *err);

#endif
