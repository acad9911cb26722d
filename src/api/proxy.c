/* envd routing (see proxy.h). One upstream connection per request, closed
 * after its response ("Connection: close" upstream, abortive close), made from
 * inside the sandbox's slot by the manager, which shuts it down when the
 * sandbox ends. MHD runs a thread per connection, so this code blocks on the
 * guest's socket, watching the client's at the same time. */
#include "api/proxy.h"
#include "api/guest_tls.h"
#include "api/relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secret.h"
#include "manager/manager.h"
#include "proto/utf8.h"
#include "proto/version.h"

/* Where a private sandbox's traffic access token comes (E2B's header). */
#define TRAFFIC_TOKEN_HEADER "e2b-traffic-access-token"

struct proxy {
	struct manager *m;
	char id[64];
	struct guest_tls *tls; /* over rl.fd, to a port in httpsPorts; NULL: plain HTTP */
	unsigned error_status; /* set: finish answers this instead */
	char error[256];
	bool not_found;        /* no such sandbox running: E2B's edge proxy's 502 */
	bool denied;           /* a private sandbox, without its traffic token: E2B's 403 */
	bool masked;           /* the Host is the sandbox's mask: X-Forwarded-Host is the proxy's */
	struct relay rl;       /* rl.fd: to the guest; -1 before connect or when it failed */
};

static void fail(struct proxy *p, unsigned status, const char *fmt, const char *arg)
{
	if (p->error_status)
		return;
	p->error_status = status;
	snprintf(p->error, sizeof(p->error), fmt, arg);
}

static int tls_send(void *cls, const void *buf, size_t len)
{
	return guest_tls_send_all(cls, buf, len);
}

static ssize_t tls_recv(void *cls, void *buf, size_t len)
{
	return guest_tls_recv(cls, buf, len);
}

/* What TLS has read already would not wake poll. */
static bool tls_pending(void *cls)
{
	return guest_tls_pending(cls);
}

/* The client's headers the proxy does not pass on: the routing's, the API
 * key, the traffic token, the Host (it sets its own), and a client's
 * X-Forwarded-Host when the guest's Host is masked. */
static bool skip_header(const char *name)
{
	static const char *const names[] = { "Host", "E2b-Sandbox-Id", "E2b-Sandbox-Port", "X-API-KEY",
					     TRAFFIC_TOKEN_HEADER };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool skip_request_header(const char *name, void *cls)
{
	struct proxy *p = cls;
	return skip_header(name) || (p->masked && strcasecmp(name, "X-Forwarded-Host") == 0);
}

/* E2B's orchestrator proxy's rule for a private sandbox: every port but
 * envd's (which checks its own access token) needs the traffic token in
 * e2b-traffic-access-token; its words for a request without it or with
 * another (traffic_access_token_error.go). */
static int traffic_check(struct proxy *p, const char *given, const char *token)
{
	if (!given || !*given) {
		fail(p, 403, "Sandbox is secured with traffic access token. Token header '%s' is missing",
		     TRAFFIC_TOKEN_HEADER);
		return -EACCES;
	}
	if (!secret_equal(given, token)) {
		fail(p, 403, "Sandbox is secured with traffic access token. Provided token in header '%s' is invalid",
		     TRAFFIC_TOKEN_HEADER);
		return -EACCES;
	}
	return 0;
}

static bool https_port(const struct manager_ingress *in, unsigned port)
{
	for (unsigned i = 0; i < in->n_https_ports; i++)
		if (in->https_ports[i] == port)
			return true;
	return false;
}

/* Connects to the guest's port, with TLS on top for one in httpsPorts
 * (E2B's proxy's hop to such a port: see guest_tls.h). */
static int connect_guest(struct proxy *p, unsigned port, const struct manager_ingress *in, struct cove_err *err)
{
	int rc = manager_connect(p->m, p->id, port, PROXY_CONNECT_TIMEOUT_MS, &p->rl.fd, err);
	if (rc < 0 || !https_port(in, port))
		return rc;
	if ((rc = guest_tls_open(p->rl.fd, PROXY_CONNECT_TIMEOUT_MS, &p->tls, err)) < 0)
		return cove_err_prefix(err, "sandbox %s: port %u is in httpsPorts", p->id, port);
	p->rl.t = (struct relay_transport){ tls_send, tls_recv, tls_pending, p->tls };
	return 0;
}

/* Finds the sandbox (resuming one paused with autoResume, as E2B's proxy
 * does, on envd's port for a request with its access token, on another of
 * a private one with its traffic token), checks the request may reach it,
 * and connects to its guest's port. mask: the Host its guest gets ("": the
 * routing's). */
static int reach(struct proxy *p, struct http_request *r, unsigned port, char mask[MANAGER_MASK_HOST_MAX])
{
	struct cove_err err = { 0 };
	struct manager_ingress in;
	char token[65];
	bool envd = port == ENVD_PORT;
	const char *given = http_header(r, TRAFFIC_TOKEN_HEADER);
	int rc = manager_wake(p->m, p->id, envd, http_header(r, "X-Access-Token"), given, &err);
	if (rc == 0)
		rc = manager_ingress(p->m, p->id, &in, token, &err);
	if (rc == 0 && !envd && token[0] && (rc = traffic_check(p, given, token)) < 0) {
		p->denied = true;
		return rc;
	}
	if (rc == 0)
		rc = connect_guest(p, port, &in, &err);
	if (rc < 0) {
		fail(p, rc == -EACCES ? 403 : rc == -EBUSY ? 429 : 502, "%s", err.msg);
		p->denied = rc == -EACCES;
		p->not_found = rc == -ENOENT;
		return rc;
	}
	mask[0] = '\0';
	if (!envd && in.mask_host[0]) /* E2B masks the Host on every port but envd's */
		api_mask_host(in.mask_host, port, mask);
	return 0;
}

static void begin(struct http_request *r, const struct api_sandbox_target *t, int rc, const struct cove_err *bad)
{
	struct proxy *p = calloc(1, sizeof(*p));
	r->ctx = p;
	if (!p)
		return;
	p->m = r->app;
	relay_init(&p->rl, r);
	snprintf(p->id, sizeof(p->id), "%s", t->id);
	if (rc < 0) {
		fail(p, rc == -EINVAL ? 400 : 502, "%s", bad->msg);
		p->not_found = rc == -ENOENT;
		return;
	}
	unsigned port = t->port;
	char mask[MANAGER_MASK_HOST_MAX];
	if (reach(p, r, port, mask) < 0)
		return;
	char head[16384];
	p->masked = mask[0] != '\0';
	struct relay_head h = { head, 0, sizeof(head), false, skip_request_header, p };
	relay_head_begin(&h, r);
	char host[64];
	snprintf(host, sizeof(host), "%s:%u", NET_GUEST_ADDR, port);
	const char *asked = http_header(r, MHD_HTTP_HEADER_HOST);
	if (p->masked && asked && !strpbrk(asked, "\r\n")) /* as E2B: the Host the client asked for */
		relay_head_put(&h, "X-Forwarded-Host: ", asked, "\r\n");
	relay_head_put(&h, "Host: ", p->masked ? mask : host, "\r\n");
	relay_head_end(&h, &p->rl, r);
	if (h.overflow)
		fail(p, 431, "%s", "request headers too large to relay");
	else if (relay_send(&p->rl, head, h.len) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
}

static int body(struct http_request *r, const char *data, size_t len)
{
	struct proxy *p = r->ctx;
	if (!p || p->error_status)
		return 0; /* discarded: finish answers the error */
	if (relay_body(&p->rl, data, len) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
	return 0;
}

/* E2B's proxies' answers of their own, {"message", "sandboxId", "code"}:
 * for a sandbox they cannot find, 502 (its e2e test host.test.ts checks
 * all three fields; the SDK's isRunning() reads it as false), and for a
 * private one without its traffic token, 403. */
enum MHD_Result proxy_reply_edge(struct http_request *r, unsigned status, const char *message, const char *id)
{
	json_t *j = json_pack("{s:s, s:o, s:i}", "message", message, "sandboxId", json_string_lossy(id), "code",
			      (int)status);
	return http_reply_json(r, status, j);
}

static enum MHD_Result finish(struct http_request *r)
{
	struct proxy *p = r->ctx;
	if (!p)
		return api_reply_error(r, 500, "out of memory");
	if (!p->error_status && relay_body_end(&p->rl) < 0)
		fail(p, 502, "sandbox %s: the guest closed the connection", p->id);
	int rc = p->error_status ? 0 : relay_read_head(&p->rl);
	if (rc < 0)
		fail(p, 502, "sandbox %s: no valid answer from the guest", p->id);
	if (p->error_status && p->not_found)
		return proxy_reply_edge(r, 502, "The sandbox was not found", p->id);
	if (p->error_status && p->denied)
		return proxy_reply_edge(r, 403, p->error, p->id);
	if (p->error_status)
		return api_reply_error(r, p->error_status, "%s", p->error);
	return relay_reply(&p->rl, r, skip_header);
}

static void cleanup(struct http_request *r)
{
	struct proxy *p = r->ctx;
	if (!p)
		return;
	p->tls = guest_tls_free(p->tls);
	if (p->rl.fd >= 0) {
		manager_disconnect(p->m, p->id, p->rl.fd);
		close(p->rl.fd);
	}
	free(p);
	r->ctx = NULL;
}

/* Open: the guest's agent checks its own token. */
static const struct http_route route = {
	.method = "*", .pattern = "*", .handler = finish, .body_sink = body, .cleanup = cleanup, .open = true
};

const struct api_proxy_ops proxy_ops = { begin, &route };
