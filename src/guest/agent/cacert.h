/* The egress authority's certificate from the host (/init's "caBundle",
 * E2B's name for it; coved's egress CA) in the guest's trust store, so that
 * its TLS clients trust the certificates coved's egress proxy presents for
 * hosts with rules. It goes in AGENT_CA_FILE (where Debian's
 * update-ca-certificates finds it when it makes the bundle again) and is
 * appended, once, to each system bundle there is (Debian's, RHEL's,
 * Alpine's); runtimes that ignore the system store are pointed at it by
 * environment variables (agent_ca_envs). Every path is resolved inside the
 * tree given (the guest's /; a test's directory) and no symlink leads out
 * of it; a file is replaced by renaming, never written through a link. */
#ifndef COVE_AGENT_CACERT_H
#define COVE_AGENT_CACERT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

/* Certificates, PEM: a CA's is under 1 KiB. */
#define AGENT_CA_MAX (16 * 1024)
#define AGENT_CA_FILE "/usr/local/share/ca-certificates/cove-egress.crt"
#define AGENT_CA_DEBIAN_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* /init's "caBundle": absent, null or "" is none (*ret NULL); else one or
 * more PEM certificates ("-----BEGIN CERTIFICATE-----", base64 lines,
 * "-----END CERTIFICATE-----"), nothing else, at most AGENT_CA_MAX bytes;
 * *ret is a copy with no blank lines around it, ending in one newline
 * (caller frees). -EINVAL with err
 * saying what is wrong. */
int agent_ca_parse(json_t *req, char **ret, struct cove_err *err);

/* What an installation left for processes to be pointed at. */
struct agent_ca_installed {
	bool file;          /* AGENT_CA_FILE holds the certificates */
	bool debian_bundle; /* AGENT_CA_DEBIAN_BUNDLE holds them */
};

/* Installs pem in the trust store of the tree at root: AGENT_CA_FILE
 * written when it differs, each bundle appended to when it lacks it (an
 * /init after a resume changes nothing). Failures are logged, never
 * returned: a guest with no trust store still runs. */
void agent_ca_install(const char *root, const char *pem, struct agent_ca_installed *ret);

/* "NAME=VALUE" for processes, NULL-terminated: NODE_EXTRA_CA_CERTS (Node
 * reads only its own store and this file) when the file holds them; with
 * Debian's bundle, REQUESTS_CA_BUNDLE (Python's requests uses certifi's
 * list otherwise) and SSL_CERT_FILE pointing at it. */
void agent_ca_envs(const struct agent_ca_installed *in, const char *out[4]);

#endif
