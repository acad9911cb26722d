#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "proto/utf8.h"

struct api_server {
	struct http_server *http, *https;
	const struct api_proxy_ops *proxy;
	const struct api_gateway_ops *gateway;
	void *gateway_ctx;
	char api_key[256];
	char domain[API_DOMAIN_MAX];
};

enum MHD_Result api_reply_error(struct http_request *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:i, s:o}", "code", (int)status, "message", json_string_lossy(msg));
	/* The SDK retries 429 only when told when. */
	bool retry = status == 429 || status == 503;
	return http_reply_json_with(r, status, j, retry ? "Retry-After" : NULL, retry ? "1" : NULL);
}

/* Over a connection cap: told to come back, and the connection closed. */
static enum MHD_Result reply_busy(struct http_request *r)
{
	static const char *const names[] = { "Retry-After", MHD_HTTP_HEADER_CONNECTION };
	static const char *const values[] = { "1", "close" };
	json_t *j = json_pack("{s:i, s:s}", "code", 503,
			      "message", "coved is serving as many connections as it may (in all, or from your address)");
	return http_reply_json_headers(r, 503, j, names, values, 2);
}

/* An address locked out after failed authorizations: when to try again. */
static enum MHD_Result reply_locked(struct http_request *r)
{
	char after[16];
	snprintf(after, sizeof(after), "%u", r->retry_after_s);
	json_t *j = json_pack("{s:i, s:o}", "code", 429, "message",
			      json_sprintf("too many failed authentications from your address: retry in %u s",
					   r->retry_after_s));
	return http_reply_json_with(r, 429, j, "Retry-After", after);
}

static enum MHD_Result fail(struct http_request *r, enum http_failure what)
{
	switch (what) {
	case HTTP_BUSY:
		return reply_busy(r);
	case HTTP_LOCKED:
		return reply_locked(r);
	case HTTP_UNAUTHORIZED:
		/* A route's own authority (a token) says why; the key does not. */
		return api_reply_error(r, 401, "%s", r->auth_error[0] ? r->auth_error : "missing or wrong X-API-KEY");
	case HTTP_NOT_FOUND:
		return api_reply_error(r, 404, "no route %s %s", r->method, r->path);
	case HTTP_METHOD_NOT_ALLOWED:
		return api_reply_error(r, 405, "%s is not allowed on %s", r->method, r->path);
	case HTTP_TOO_LARGE:
		return api_reply_error(r, 413, "request body larger than %zu bytes", r->limit);
	case HTTP_NO_MEMORY:
		break;
	}
	/* Made without memory to spare: api_reply_error would come back here
	 * when it cannot make its JSON either. */
	static const char oom[] = "{\"code\":500,\"message\":\"out of memory\"}";
	return http_reply(r, 500, "application/json", oom, sizeof(oom) - 1);
}

/* Every request the routes serve, known or not. */
static int key_check(void *cls, struct http_request *r, char *why, size_t len)
{
	(void)why;
	(void)len;
	struct api_server *s = cls;
	const char *key = http_header(r, "X-API-KEY");
	return key && s->api_key[0] && secret_equal(key, s->api_key) ? 0 : -EACCES;
}

/* A cluster gateway routes first; then a request for a sandbox goes to the
 * proxy. */
static const struct http_route *sandbox_request(void *cls, struct http_request *r)
{
	struct api_server *s = cls;
	const struct http_route *routed = s->gateway ? s->gateway->route(s->gateway_ctx, r) : NULL;
	if (routed)
		return routed;
	if (!s->proxy)
		return NULL;
	struct api_sandbox_target t;
	struct cove_err err = { 0 };
	int rc = api_sandbox_target_parse(http_header(r, "E2b-Sandbox-Id"), http_header(r, "E2b-Sandbox-Port"),
					  http_header(r, MHD_HTTP_HEADER_HOST), s->domain, &t, &err);
	if (rc == 0)
		return NULL;
	s->proxy->begin(r, &t, rc, &err);
	return s->proxy->route;
}

static int listen_addr(const char *address, unsigned port, struct sockaddr_in *ret, struct cove_err *err)
{
	*ret = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, address, &ret->sin_addr) != 1)
		return cove_errf(err, -EINVAL, "listen address '%s' is not an IPv4 address", address);
	return 0;
}

/* One listener: plain, or HTTPS with tls. */
static int listen_one(struct api_server *s, const struct api_server_config *c, const char *address, unsigned port,
		      const struct http_tls *tls, struct http_server **ret, struct cove_err *err)
{
	struct sockaddr_in addr;
	int rc = listen_addr(address, port, &addr, err);
	if (rc < 0)
		return rc;
	static const struct api_limits defaults = API_LIMITS_DEFAULT;
	const struct api_limits *l = c->limits ? c->limits : &defaults;
	struct http_server_config hc = {
		.addr = &addr,
		.tls = tls,
		.routes = c->routes,
		.nroutes = c->nroutes,
		.app = c->app,
		.max_connections = l->max_connections,
		.max_per_client = l->max_per_client,
		.idle_timeout_s = l->idle_timeout_s,
		.auth_failures = l->auth_failures,
		.auth_lockout_s = l->auth_lockout_s,
		.connection_memory = API_CONNECTION_MEMORY,
		.default_body_limit = API_DEFAULT_BODY_LIMIT,
		.cls = s,
		.intercept = sandbox_request,
		.authorize = key_check,
		.fail = fail,
	};
	rc = http_server_start(&hc, ret, err);
	if (rc == -EADDRINUSE)
		return cove_errf(err, rc, "api: cannot %s on %s:%u", tls ? "serve HTTPS" : "listen", address, port);
	return rc < 0 ? cove_errf(err, rc, "api: out of memory") : 0;
}

int api_server_start(const struct api_server_config *c, struct api_server **ret, struct cove_err *err)
{
	if (!c->api_key || !*c->api_key || strlen(c->api_key) >= 256)
		return cove_errf(err, -EINVAL, "the API key must be 1 to 255 characters");
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "api: out of memory");
	s->proxy = c->proxy;
	s->gateway = c->gateway;
	s->gateway_ctx = c->gateway_ctx;
	snprintf(s->api_key, sizeof(s->api_key), "%s", c->api_key);
	int rc = api_domain_parse(c->domain ? c->domain : API_DEFAULT_DOMAIN, s->domain, err);
	if (rc == 0)
		rc = listen_one(s, c, c->address, c->port, NULL, &s->http, err);
	if (rc == 0 && c->tls)
		rc = listen_one(s, c, c->tls_address, c->tls_port, c->tls, &s->https, err);
	if (rc < 0) {
		api_server_stop(s);
		return rc;
	}
	*ret = s;
	return 0;
}

unsigned api_server_port(const struct api_server *s)
{
	return http_server_port(s->http);
}

unsigned api_server_tls_port(const struct api_server *s)
{
	return s->https ? http_server_port(s->https) : 0;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	http_server_stop(s->https);
	http_server_stop(s->http);
	free(s);
}
