/* coved's domain and HTTPS. HTTPS is a second listener beside the plain one
 * (libmicrohttpd serves one or the other on a port): E2B's SDK with
 * E2B_DOMAIN=D:PORT reaches the API at https://api.D:PORT and each sandbox at
 * https://PORT-ID.D:PORT, so both are served on the HTTPS port, told apart
 * by Host; the CLI and local tools keep plain HTTP on --listen. */
#include "coved/tls.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"

void coved_tls_defaults(struct coved_tls *t)
{
	snprintf(t->domain, sizeof(t->domain), "%s", API_DEFAULT_DOMAIN);
	snprintf(t->listen, sizeof(t->listen), "%s", COVED_DEFAULT_TLS_LISTEN);
}

bool coved_tls_known(const char *name)
{
	static const char *const names[] = { "domain", "tls-cert", "tls-key", "tls-listen", "tls-local",
					     "make-local-ca" };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static int set_bool(const char *name, const char *v, bool *out)
{
	if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
		fprintf(stderr, "coved: %s '%s': expected true or false\n", name, v);
		return -1;
	}
	*out = strcmp(v, "true") == 0;
	return 0;
}

int coved_tls_set(struct coved_tls *t, const char *name, const char *v)
{
	struct cove_err err = { 0 };
	if (strcmp(name, "domain") == 0 && api_domain_parse(v, t->domain, &err) < 0) {
		fprintf(stderr, "coved: %s\n", err.msg);
		return -1;
	}
	if (strcmp(name, "tls-cert") == 0)
		snprintf(t->cert, sizeof(t->cert), "%s", v);
	else if (strcmp(name, "tls-key") == 0)
		snprintf(t->key, sizeof(t->key), "%s", v);
	else if (strcmp(name, "tls-listen") == 0)
		snprintf(t->listen, sizeof(t->listen), "%s", v);
	else if (strcmp(name, "tls-local") == 0)
		return set_bool(name, v, &t->local);
	else if (strcmp(name, "make-local-ca") == 0)
		return set_bool(name, v, &t->make_local_ca);
	return 0;
}

/* ADDR:PORT into address (kept in t) and port. */
static int split_listen(const char *listen, char *address, size_t len, unsigned *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= len)
		return -1;
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || colon[1] == '-' || p > 65535)
		return -1;
	memcpy(address, listen, (size_t)(colon - listen));
	address[colon - listen] = '\0';
	*port = (unsigned)p;
	return 0;
}

int coved_tls_check(const struct coved_tls *t)
{
	char address[64];
	unsigned port;
	if (!t->cert[0] != !t->key[0]) {
		fprintf(stderr, "coved: --tls-cert and --tls-key go together\n");
		return -1;
	}
	if (t->cert[0] && t->local) {
		fprintf(stderr, "coved: --tls-local serves the local CA's certificates; it takes no --tls-cert\n");
		return -1;
	}
	if (split_listen(t->listen, address, sizeof(address), &port) < 0) {
		fprintf(stderr, "coved: --tls-listen '%s': expected ADDR:PORT\n", t->listen);
		return -1;
	}
	return 0;
}

/* A certificate that does not cover the names the SDK uses still serves (a
 * proxy may stand in front), with a warning. */
static void warn_uncovered(const struct coved_tls *t)
{
	char api[API_DOMAIN_MAX + 8], sandbox[API_DOMAIN_MAX + 32];
	snprintf(api, sizeof(api), "api.%s", t->domain);
	snprintf(sandbox, sizeof(sandbox), "49983-%s.%s", "sandboxid", t->domain);
	const char *names[] = { api, sandbox };
	for (size_t i = 0; i < 2; i++)
		if (!tls_pair_covers(&t->pair, names[i])) {
			log_warn("op=tls msg=\"the certificate does not cover a name of the domain\" cert=%s name=%s",
				 t->cert, names[i]);
			fprintf(stderr, "coved: warning: certificate %s does not cover %s\n", t->cert, names[i]);
		}
	/* GnuTLS takes *.localhost for a.localhost; Node and OpenSSL do not. */
	if (!strchr(t->domain, '.'))
		fprintf(stderr,
			"coved: warning: clients refuse a wildcard under a one-label domain (*.%s); use --tls-local "
			"or a domain of two labels or more\n",
			t->domain);
}

int coved_tls_open(struct coved_tls *t, const char *state_dir, struct cove_err *err)
{
	if (!t->local && !t->cert[0])
		return 0;
	(void)split_listen(t->listen, t->address, sizeof(t->address), &t->port); /* checked before */
	if (t->local) {
		char dir[PATH_MAX + 8];
		snprintf(dir, sizeof(dir), "%s/tls", state_dir);
		if (tls_issuer_new(dir, t->domain, &t->issuer, err) < 0)
			return cove_err_prefix(err, "--tls-local (coved --make-local-ca makes its files)");
		t->http = (struct http_tls){ .select = tls_issuer_select(), .select_cls = t->issuer };
	} else {
		int rc = tls_pair_load(t->cert, t->key, &t->pair, err);
		if (rc < 0)
			return rc;
		warn_uncovered(t);
		t->http = (struct http_tls){ .cert = t->pair.cert, .key = t->pair.key };
	}
	t->on = true;
	return 0;
}

void coved_tls_config(struct coved_tls *t, struct api_server_config *ac)
{
	ac->domain = t->domain;
	if (!t->on)
		return;
	ac->tls = &t->http;
	ac->tls_address = t->address;
	ac->tls_port = t->port;
}

void coved_tls_announce(const struct coved_tls *t, const char *address, unsigned port)
{
	if (!port)
		return;
	log_msg(LOG_INFO, "op=listen tls=true address=%s:%u domain=%s local_ca=%s", address, port, t->domain,
		t->local ? "true" : "false");
	fprintf(stderr, "coved: serving HTTPS on %s:%u for api.%s and PORT-ID.%s (E2B_DOMAIN=%s:%u)\n", address,
		port, t->domain, t->domain, t->domain, port);
}

void coved_tls_close(struct coved_tls *t)
{
	t->issuer = tls_issuer_free(t->issuer);
	tls_pair_clear(&t->pair);
}

/* Whether api.DOMAIN resolves here, for names under .localhost only (other
 * domains are DNS's business, and a lookup might wait on it). */
static void say_resolution(const char *domain)
{
	size_t n = strlen(domain);
	if (strcmp(domain, "localhost") != 0 && (n < 10 || strcmp(domain + n - 10, ".localhost") != 0))
		return;
	char name[API_DOMAIN_MAX + 8];
	snprintf(name, sizeof(name), "api.%s", domain);
	struct addrinfo *ai = NULL, hints = { .ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(name, NULL, &hints, &ai);
	if (ai)
		freeaddrinfo(ai);
	if (rc == 0)
		printf("Here %s resolves (checked).\n", name);
	else
		printf("Here %s does NOT resolve (%s): install libnss-myhostname ('make deps' does) and put\n"
		       "'myhostname' in the hosts line of /etc/nsswitch.conf.\n",
		       name, gai_strerror(rc));
}

int coved_tls_make_local_ca(const struct coved_tls *t, const char *state_dir)
{
	struct cove_err err = { 0 };
	char dir[PATH_MAX + 8];
	snprintf(dir, sizeof(dir), "%s/tls", state_dir);
	bool made_ca;
	if (fs_mkdir_p(state_dir, 0700, &err) < 0 || tls_local_make(dir, t->domain, &made_ca, &err) < 0) {
		fprintf(stderr, "coved: %s\n", err.msg);
		return 1;
	}
	struct tls_local_paths p;
	tls_local_paths(dir, &p);
	const char *d = t->domain;
	printf("%s the local CA: %s (its key %s, mode 0600)\n", made_ca ? "Made" : "Kept", p.ca, p.ca_key);
	printf("Made a certificate for %s, *.%s and api.%s: %s (its key %s)\n\n", d, d, d, p.cert, p.key);
	printf("Serve HTTPS with them:\n"
	       "  coved --tls-local --domain %s --tls-listen %s\n"
	       "(coved then also makes a certificate for each name under %s a client asks for, such as\n"
	       "8000-ID.%s: clients refuse a wildcard directly under a one-label name like *.localhost.)\n\n",
	       d, t->listen, d, d);
	printf("Trust the CA:\n"
	       "  Node.js (the E2B SDK):  export NODE_EXTRA_CA_CERTS=%s\n"
	       "  Python (httpx):         export SSL_CERT_FILE=%s\n"
	       "  the system (curl, ...): cp %s /usr/local/share/ca-certificates/cove-local-ca.crt\n"
	       "                          update-ca-certificates\n\n",
	       p.ca, p.ca, p.ca);
	printf("Names: api.%s and PORT-ID.%s must reach coved. Names under .localhost resolve to\n"
	       "127.0.0.1 and ::1 with glibc's libnss-myhostname; other domains need DNS (a wildcard\n"
	       "record) or /etc/hosts entries.\n",
	       d, d);
	say_resolution(d);
	printf("\nThen, for the E2B SDK (no E2B_API_URL or E2B_SANDBOX_URL):\n"
	       "  export E2B_DOMAIN=%s:PORT   (PORT: that of --tls-listen)\n",
	       d);
	return 0;
}
