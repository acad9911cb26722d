/* Domain entries of a sandbox's egress policy (E2B's network.allowOut):
 * checking one when a policy is set, and matching the name a connection asks
 * for (src/proto/peek.h) against one when the egress proxy decides.
 *
 * E2B's semantics, which these follow (e2b-dev/infra):
 * - Matching (packages/orchestrator/internal/tcpfirewall/handlers.go,
 *   matchDomain, and its handlers_test.go): case-insensitive; an exact entry
 *   matches only that name; `*.example.com` matches any name below
 *   example.com ("api.example.com", "a.b.example.com") but not example.com
 *   itself; a lone `*` matches every name (an empty name matches nothing).
 * - Where (packages/api/internal/handlers/sandbox_network_update.go,
 *   validateEgressRules): domains only in allowOut; a domain in denyOut is a
 *   400 ("invalid denied CIDR"); allowOut with a domain needs 0.0.0.0/0 in
 *   denyOut. What is not an IP or CIDR is a domain
 *   (packages/shared/pkg/sandbox-network/firewall.go, IsIPOrCIDR). Entries
 *   there may also carry a port or range ("example.com:443", rule.go); that
 *   is for the policy's parser to split off before domain_check.
 * - E2B checks no syntax at all ("invalid-cidr" is taken as a domain that
 *   matches nothing). Cove is stricter so a typo is a 400 naming the entry,
 *   not a silently dead rule: see domain_check.
 */
#ifndef COVE_PROTO_DOMAIN_H
#define COVE_PROTO_DOMAIN_H

#include <stdbool.h>

#include "common/err.h"

#define DOMAIN_MAX 253

/* Whether text looks like a domain entry rather than an IPv4 address/CIDR,
 * so callers can route it to the right checker and name the field in
 * errors: false when it is made only of digits, dots and '/' (a.b.c.d,
 * a.b.c.d/n, and malformed ones such as 1.2.3 that the CIDR checker should
 * report) or holds a ':' with only hex digits, dots and '/' (IPv6). */
bool domain_is_name(const char *text);

/* 0 when text is a valid domain entry: a host name (`pypi.org`; single
 * labels such as `localhost` too), `*.` followed by one (`*.github.com`), or a
 * lone `*` (every name, as E2B has it); one trailing dot is allowed. -EINVAL
 * otherwise, err naming the text and the reason: empty, longer than 253, an
 * empty label or one over 63, a byte outside [A-Za-z0-9-] in a label, a label
 * starting or ending with '-', '*' anywhere but as the whole first label, an
 * IP address or CIDR (also in inet_aton's other notations, 0x7f.1 or 127.1,
 * which a resolver would take as addresses), an all-digit last label (RFC
 * 3696 2: no top-level domain is all-numeric). */
int domain_check(const char *text, struct cove_err *err);

/* Whether a normalized name (peek_name's output) matches an entry (checked
 * by domain_check): case-insensitive, one trailing dot on either ignored;
 * `*.x.y` matches any name with at least one more label below x.y; `*`
 * matches any non-empty name. */
bool domain_match(const char *entry, const char *name);

#endif
