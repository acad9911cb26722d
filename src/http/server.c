/* The request loop (see http.h): MHD calls on_uri with the request target,
 * on_request with the headers, then once per piece of the body, then once
 * more with none left (the reply), and on_completed when it is over. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/proc.h"
#include "http/internal.h"

const char *http_header(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool http_match(const char *pattern, const char *path, char params[][HTTP_MAX_PARAM], size_t nparams)
{
	size_t np = 0;
	while (*pattern && *path) {
		const char *close = pattern[0] == '{' ? strchr(pattern, '}') : NULL;
		if (close) {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= HTTP_MAX_PARAM || np >= nparams)
				return false;
			memcpy(params[np], path, n);
			params[np++][n] = '\0';
			pattern = close + 1;
			path += n;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return !*pattern && !*path;
}

static const struct http_route *find_route(const struct http_server *s, struct http_request *r)
{
	r->path_known = false;
	for (size_t i = 0; i < s->c.nroutes; i++) {
		char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM];
		if (!http_match(s->c.routes[i].pattern, r->path, params, HTTP_MAX_PARAMS))
			continue;
		r->path_known = true;
		if (strcmp(s->c.routes[i].method, r->method) == 0) {
			memcpy(r->params, params, sizeof(params));
			return &s->c.routes[i];
		}
	}
	return NULL;
}

static int append_body(struct http_request *r, const char *data, size_t n)
{
	if (r->too_large || r->len + n > r->limit) {
		r->too_large = true;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *nb = realloc(r->body, cap);
		if (!nb)
			return -ENOMEM;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return 0;
}

static struct http_conn *conn_of(struct http_request *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

uint32_t http_client_addr(struct http_request *r)
{
	struct http_conn *hc = conn_of(r);
	return hc ? hc->addr : 0;
}

static void refuse(struct http_request *r, enum http_failure why)
{
	r->refused = true;
	r->refusal = why;
}

/* A body its Content-Length says will pass the limit of a route that
 * collects it: answered at once, none of it read. */
static bool declared_too_large(const struct http_request *r)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!v || !r->route || r->route->body_sink)
		return false;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	return end != v && (errno == ERANGE || n > r->limit);
}

/* Who may call: the route's hook or the server's; failures are counted
 * by address, and a good answer forgets them. */
static void authorize(struct http_server *s, struct http_request *r, uint32_t addr)
{
	int rc = 0;
	bool asked = true;
	if (r->route && r->route->authorize)
		rc = r->route->authorize(r, r->auth_error, sizeof(r->auth_error));
	else if (!(r->route && r->route->open) && s->c.authorize)
		rc = s->c.authorize(s->c.cls, r, r->auth_error, sizeof(r->auth_error));
	else
		asked = false;
	r->unauthorized = rc < 0;
	if (!asked)
		return;
	if (rc == 0)
		http_clients_succeeded(s->clients, addr);
	else if (http_clients_failed(s->clients, addr, now_ms()))
		log_info("op=http msg=\"authorization failed %u times: refused for %u s\" client=%u.%u.%u.%u",
			 s->c.auth_failures, s->c.auth_lockout_s, addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
			 addr & 255);
}

/* With the headers: which route, what limit, whether the caller may.
 * True when it is answered at once. */
static bool request_begin(struct http_server *s, struct http_request *r)
{
	/* Refused before a hook runs: an intercept may do work (the envd
	 * proxy connects to a guest). No route: nothing of the body is kept. */
	struct http_conn *hc = conn_of(r);
	if (!hc || !hc->admitted) {
		refuse(r, HTTP_BUSY);
		return false;
	}
	if ((r->retry_after_s = http_clients_locked(s->clients, hc->addr, now_ms()))) {
		refuse(r, HTTP_LOCKED);
		return false;
	}
	r->route = s->c.intercept ? s->c.intercept(s->c.cls, r) : NULL;
	if (!r->route)
		r->route = find_route(s, r);
	r->limit = r->route && r->route->body_limit ? r->route->body_limit : s->c.default_body_limit;
	authorize(s, r, hc->addr);
	if (!declared_too_large(r))
		return false;
	refuse(r, r->unauthorized ? HTTP_UNAUTHORIZED : HTTP_TOO_LARGE);
	return true;
}

static int request_body(struct http_request *r, const char *data, size_t len)
{
	/* Nothing of a refused, unauthorized or unknown request's body is kept. */
	if (r->refused || r->unauthorized || !r->route)
		return 0;
	if (r->route->body_sink) {
		if (r->body_error == 0)
			r->body_error = r->route->body_sink(r, data, len);
		return 0;
	}
	return append_body(r, data, len);
}

static enum MHD_Result dispatch(struct http_server *s, struct http_request *r)
{
	if (r->refused)
		return s->c.fail(r, r->refusal);
	if (r->unauthorized)
		return s->c.fail(r, HTTP_UNAUTHORIZED);
	if (!r->route)
		return s->c.fail(r, r->path_known ? HTTP_METHOD_NOT_ALLOWED : HTTP_NOT_FOUND);
	if (r->too_large)
		return s->c.fail(r, HTTP_TOO_LARGE);
	return r->route->handler(r);
}

/* The first thing MHD reports of a request: its target as sent, which a
 * relay passes on unchanged (MHD decodes what it hands to handlers). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	struct http_request *r = calloc(1, sizeof(*r));
	if (r && !(r->target = strdup(uri ? uri : "/"))) {
		free(r);
		r = NULL;
	}
	if (r)
		r->server = cls;
	return r;
}

/* The idle timeout counts only while MHD waits for the client: it is held
 * while the application has the request (a handler may take minutes, a
 * stream wait hours for its next bytes), and set again after, which also
 * restarts its count (MHD's MHD_CONNECTION_OPTION_TIMEOUT from 0). */
static void timeout_hold(struct http_server *s, struct MHD_Connection *conn)
{
	if (s->c.idle_timeout_s)
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
}

static void timeout_release(struct http_server *s, struct MHD_Connection *conn)
{
	if (s->c.idle_timeout_s)
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->c.idle_timeout_s);
}

static enum MHD_Result request_step(struct http_server *s, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *upload_data, size_t *upload_data_size,
				    struct http_request *r)
{
	if (!r->conn) {
		/* First call: headers only. */
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->app = s->c.app;
		return request_begin(s, r) ? dispatch(s, r) : MHD_YES;
	}
	if (*upload_data_size) {
		if (request_body(r, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(s, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	(void)version;
	struct http_server *s = cls;
	struct http_request *r = *req_cls;
	if (!r)
		return MHD_NO;
	timeout_hold(s, conn);
	enum MHD_Result ret = request_step(s, conn, url, method, upload_data, upload_data_size, r);
	if (!r->streaming)
		timeout_release(s, conn);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	struct http_request *r = *req_cls;
	if (r) {
		if (r->streaming)
			timeout_release(cls, conn);
		if (r->route && r->route->cleanup)
			r->route->cleanup(r);
		free(r->target);
		free(r->body);
		free(r);
	}
	*req_cls = NULL;
}

static uint32_t peer_addr(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	return sa && sa->sa_family == AF_INET ? ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) : 0;
}

/* Each connection is counted against the caps as it starts (a request on
 * one past them is refused), and gets its socket context, where a
 * certificate chooser finds its state (before the handshake, which runs in
 * the connection's thread). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct http_conn *hc = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((hc = calloc(1, sizeof(*hc)))) {
			hc->select_cls = s->c.tls ? s->c.tls->select_cls : NULL;
			hc->addr = peer_addr(conn);
			hc->admitted = http_clients_open(s->clients, hc->addr, now_ms());
		}
		*socket_context = hc;
		return;
	}
	if (hc && hc->admitted)
		http_clients_close(s->clients, hc->addr);
	free(hc);
	*socket_context = NULL;
}

/* libmicrohttpd's own messages (an HTTPS server's are mostly a client's
 * failed handshake: a wrong name, an old TLS version; any server's a
 * request too large) as one log line each, never more than its first 255
 * bytes. */
static void on_message(void *cls, const char *fmt, va_list ap)
{
	const struct http_server *s = cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strcspn(msg, "\n");
	msg[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (msg[i] == '"')
			msg[i] = '\'';
	log_info("op=%s msg=\"%s\"", s->c.tls ? "https" : "http", msg);
}

/* TLS 1.2 and 1.3: older versions have known weaknesses (RFC 8996). */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

int http_server_start(const struct http_server_config *c, struct http_server **ret, struct cove_err *err)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "http: out of memory");
	s->c = *c;
	struct http_client_limits limits = { c->max_connections, c->max_per_client, c->auth_failures,
					     c->auth_lockout_s };
	if (http_clients_new(&limits, &s->clients) < 0) {
		free(s);
		return cove_errf(err, -ENOMEM, "http: out of memory");
	}
	s->c.addr = NULL; /* the caller's, used only here (the bound port: http_server_port) */
	unsigned port = ntohs(c->addr->sin_port);
	const struct http_tls *tls = c->tls;
	bool select = tls && tls->select;
	struct MHD_OptionItem opts[] = {
		{ c->connection_memory ? MHD_OPTION_CONNECTION_MEMORY_LIMIT : MHD_OPTION_END,
		  (intptr_t)c->connection_memory, NULL },
		{ tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0, (void *)HTTP_TLS_PRIORITIES },
		{ tls && !select ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls ? (void *)tls->cert : NULL },
		{ tls && !select ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, tls ? (void *)tls->key : NULL },
		{ select ? MHD_OPTION_HTTPS_CERT_CALLBACK2 : MHD_OPTION_END, 0, select ? tls->select : NULL },
		{ c->idle_timeout_s ? MHD_OPTION_CONNECTION_TIMEOUT : MHD_OPTION_END, (intptr_t)c->idle_timeout_s, NULL },
		{ c->max_connections ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_END,
		  (intptr_t)(c->max_connections + HTTP_EXTRA_CONNECTIONS(c->max_connections)), NULL },
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_message, s },
		{ MHD_OPTION_END, 0, NULL },
	};
	/* MHD stops at the first END: the ones set come first. */
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i].option != MHD_OPTION_END)
			opts[n++] = opts[i];
	opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
					     MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0),
				     (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, c->addr,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_LISTENING_ADDRESS_REUSE,
				     1u, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->daemon) {
		http_clients_free(s->clients);
		free(s);
		return tls ? cove_errf(err, -EADDRINUSE, "http: cannot serve HTTPS on port %u", port)
			   : cove_errf(err, -EADDRINUSE, "http: cannot listen on port %u", port);
	}
	*ret = s;
	return 0;
}

unsigned http_server_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	http_clients_free(s->clients);
	free(s);
}
