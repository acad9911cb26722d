/* The guest's resolver configuration from the host: /init's "nameservers"
 * (Cove's addition to envd's /init; coved's --dns) become the guest's
 * /etc/resolv.conf, written whole or not at all. An /init without them
 * leaves the file as the image has it. */
#ifndef COVE_AGENT_RESOLV_H
#define COVE_AGENT_RESOLV_H

#include <jansson.h>

#include "common/err.h"

/* glibc's and musl's MAXNS: a resolver reads no more nameserver lines. */
#define AGENT_NAMESERVERS_MAX 3

struct agent_nameservers {
	unsigned count; /* 0: leave the file alone */
	char addr[AGENT_NAMESERVERS_MAX][16];
};

/* /init's "nameservers": absent, null or [] is none; else an array of at
 * most AGENT_NAMESERVERS_MAX IPv4 addresses as dotted-quad strings.
 * -EINVAL with err naming the bad entry. */
int agent_nameservers_parse(json_t *req, struct agent_nameservers *ret, struct cove_err *err);

/* Replaces the file at path (a temporary file in its directory, renamed
 * over it: a reader sees the old file or the new one) with a
 * "nameserver ADDR" line each and the resolver's options; mode 0644,
 * every user's programs resolve. */
int agent_resolv_conf_write(const char *path, const struct agent_nameservers *ns, struct cove_err *err);

#endif
