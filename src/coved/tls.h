/* coved's domain and HTTPS settings (--domain, --tls-cert, --tls-key,
 * --tls-local, --tls-listen) and --make-local-ca, kept apart from main.c's
 * other settings. */
#ifndef COVE_COVED_TLS_H
#define COVE_COVED_TLS_H

#include <stdbool.h>

#include "api/server.h"
#include "tls/tls.h"

#define COVED_DEFAULT_TLS_LISTEN "127.0.0.1:49443"

#define COVED_TLS_OPTIONS                                                                          \
	{ "domain", required_argument, NULL, 0 }, { "tls-cert", required_argument, NULL, 0 },     \
		{ "tls-key", required_argument, NULL, 0 }, { "tls-listen", required_argument, NULL, 0 }, \
		{ "tls-local", no_argument, NULL, 0 }, { "make-local-ca", no_argument, NULL, 0 }

#define COVED_TLS_USAGE                                                                              \
	"  --domain D           sandboxes' ports are PORT-ID.D, the API api.D (default localhost);\n"   \
	"                       the SDK's E2B_DOMAIN is D, or D:PORT with a port\n"                      \
	"  --tls-cert FILE      serve HTTPS too, with this certificate chain (PEM; one with D,\n"       \
	"  --tls-key FILE       *.D and api.D) and key, on --tls-listen (TLS 1.2 and 1.3)\n"            \
	"  --tls-local          serve HTTPS with the local CA in STATE_DIR/tls (--make-local-ca),\n"    \
	"                       minting a certificate for each name under D clients ask for\n"          \
	"  --tls-listen ADDR:PORT  where HTTPS is served (default " COVED_DEFAULT_TLS_LISTEN ");\n"     \
	"                       plain HTTP stays on --listen\n"                                         \
	"  --make-local-ca      make a local CA and a certificate for D in STATE_DIR/tls, say how\n"    \
	"                       to trust them, and exit\n"

struct coved_tls {
	char domain[API_DOMAIN_MAX];
	char cert[PATH_MAX], key[PATH_MAX];
	char listen[64];
	bool local, make_local_ca;
	/* While serving: */
	bool on;
	char address[64];
	unsigned port;
	struct http_tls http;
	struct tls_pair pair;
	struct tls_issuer *issuer;
};

void coved_tls_defaults(struct coved_tls *t);
/* Is name one of these settings? Then coved_tls_set takes it (from a flag
 * or the config file); it says what is wrong on stderr. */
bool coved_tls_known(const char *name);
int coved_tls_set(struct coved_tls *t, const char *name, const char *value);
/* After all settings: do they go together? */
int coved_tls_check(const struct coved_tls *t);
/* Reads the certificate and key (or the local CA), before anything else
 * starts, so that a bad file stops coved at once. */
int coved_tls_open(struct coved_tls *t, const char *state_dir, struct cove_err *err);
/* The domain, and HTTPS when it is on, for the API server. */
void coved_tls_config(struct coved_tls *t, struct api_server_config *ac);
/* Tells people where HTTPS is served and what E2B_DOMAIN reaches it. */
void coved_tls_announce(const struct coved_tls *t, const char *address, unsigned port);
void coved_tls_close(struct coved_tls *t);
/* --make-local-ca: the exit status. */
int coved_tls_make_local_ca(const struct coved_tls *t, const char *state_dir);

#endif
