#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"

struct api_server {
	struct MHD_Daemon *daemon;
	struct api_server_config c;
	char api_key[256];
};

const char *api_header(struct api_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *api_query(struct api_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result queue(struct api_request *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result api_reply_json(struct api_request *r, unsigned status, json_t *j, const char *extra_header,
			       const char *extra_value)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return api_reply_error(r, 500, "out of memory");
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (extra_header && extra_value)
		MHD_add_response_header(resp, extra_header, extra_value);
	return queue(r, status, resp);
}

enum MHD_Result api_reply_empty(struct api_request *r, unsigned status)
{
	return queue(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

enum MHD_Result api_reply_error(struct api_request *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:i, s:o}", "code", (int)status, "message", json_string_lossy(msg));
	/* The SDK retries 429 only when told when. */
	bool retry = status == 429 || status == 503;
	return api_reply_json(r, status, j, retry ? "Retry-After" : NULL, retry ? "1" : NULL);
}

json_t *api_json_body(struct api_request *r, struct cove_err *err)
{
	if (!r->len)
		return json_object();
	json_error_t jerr;
	json_t *j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		cove_errf(err, -EINVAL, "the body is not a JSON object%s%s", j ? "" : ": ", j ? "" : jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

bool api_match(const char *pattern, const char *path, char params[][128], size_t nparams)
{
	size_t np = 0;
	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= 128 || np >= nparams)
				return false;
			memcpy(params[np], path, n);
			params[np++][n] = '\0';
			pattern += 2;
			path += n;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return !*pattern && !*path;
}

static const struct api_route *find_route(const struct api_server *s, struct api_request *r, bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < s->c.nroutes; i++) {
		char params[API_MAX_PARAMS][128];
		if (!api_match(s->c.routes[i].pattern, r->path, params, API_MAX_PARAMS))
			continue;
		*path_known = true;
		if (strcmp(s->c.routes[i].method, r->method) == 0) {
			memcpy(r->params, params, sizeof(params));
			return &s->c.routes[i];
		}
	}
	return NULL;
}

/* Compares in time independent of where the first difference is. */
static bool key_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0 && lb > 0;
}

static int append_body(struct api_request *r, const char *data, size_t n)
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

static enum MHD_Result dispatch(struct api_server *s, struct api_request *r)
{
	if (r->unauthorized)
		return api_reply_error(r, 401, "missing or wrong X-API-KEY");
	if (!r->route) {
		bool known;
		find_route(s, r, &known);
		return known ? api_reply_error(r, 405, "%s is not allowed on %s", r->method, r->path)
			     : api_reply_error(r, 404, "no route %s %s", r->method, r->path);
	}
	if (r->too_large)
		return api_reply_error(r, 413, "request body larger than %zu bytes", r->limit);
	return r->route->handler(r);
}

bool api_sandbox_host(const char *host, char id[64], unsigned *port)
{
	if (!host)
		return false;
	unsigned p = 0;
	size_t i = 0;
	for (; host[i] >= '0' && host[i] <= '9' && i < 5; i++)
		p = p * 10 + (unsigned)(host[i] - '0');
	if (i == 0 || host[i] != '-' || p == 0 || p > 65535)
		return false;
	const char *s = host + i + 1;
	size_t n = 0;
	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9'))
		n++;
	if (n == 0 || n >= 64 || s[n] != '.' || !s[n + 1])
		return false;
	memcpy(id, s, n);
	id[n] = '\0';
	*port = p;
	return true;
}

/* Which sandbox (and port) a request is for, if any. */
static bool sandbox_target(struct api_request *r)
{
	const char *id = api_header(r, "E2b-Sandbox-Id");
	if (id) {
		snprintf(r->sandbox_id, sizeof(r->sandbox_id), "%s", id);
		const char *port = api_header(r, "E2b-Sandbox-Port");
		char *end = NULL;
		unsigned long v = port ? strtoul(port, &end, 10) : API_DEFAULT_SANDBOX_PORT;
		r->sandbox_port = port && (*end || end == port || v > 65535) ? 0 : (unsigned)v;
		return true;
	}
	return api_sandbox_host(api_header(r, MHD_HTTP_HEADER_HOST), r->sandbox_id, &r->sandbox_port);
}

/* The first thing MHD reports of a request: its target as sent, which the
 * proxy passes on unchanged (MHD decodes what it hands to handlers). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct api_request *r = calloc(1, sizeof(*r));
	if (r && !(r->raw_uri = strdup(uri ? uri : "/"))) {
		free(r);
		r = NULL;
	}
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	(void)version;
	struct api_server *s = cls;
	struct api_request *r = *req_cls;
	if (!r)
		return MHD_NO;
	if (!r->started) {
		r->started = true;
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->app = s->c.app;
		if (s->c.proxy && sandbox_target(r)) {
			r->proxied = true;
			s->c.proxy->begin(r);
			return MHD_YES;
		}
		bool known;
		r->route = find_route(s, r, &known);
		r->limit = r->route && r->route->body_limit ? r->route->body_limit : API_DEFAULT_BODY_LIMIT;
		const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-KEY");
		r->unauthorized = !key || !key_equal(key, s->api_key);
		return MHD_YES;
	}
	if (r->proxied) {
		if (*upload_data_size) {
			s->c.proxy->body(r, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return MHD_YES;
		}
		return s->c.proxy->finish(r);
	}
	if (*upload_data_size) {
		/* Nothing of an unauthorized or unknown request's body is kept. */
		if (!r->unauthorized && r->route && append_body(r, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	(void)toe;
	struct api_server *s = cls;
	struct api_request *r = *req_cls;
	if (r) {
		if (r->proxied && s->c.proxy)
			s->c.proxy->cleanup(r);
		free(r->raw_uri);
		free(r->body);
		free(r);
	}
	*req_cls = NULL;
}

int api_server_start(const struct api_server_config *c, struct api_server **ret, struct cove_err *err)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
	if (inet_pton(AF_INET, c->address, &addr.sin_addr) != 1)
		return cove_errf(err, -EINVAL, "listen address '%s' is not an IPv4 address", c->address);
	if (!c->api_key || !*c->api_key || strlen(c->api_key) >= 256)
		return cove_errf(err, -EINVAL, "the API key must be 1 to 255 characters");
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "api: out of memory");
	s->c = *c;
	snprintf(s->api_key, sizeof(s->api_key), "%s", c->api_key);
	s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
					     MHD_USE_ERROR_LOG,
				     (uint16_t)c->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
				     MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned)API_MAX_CONNECTIONS, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
				     MHD_OPTION_END);
	if (!s->daemon) {
		free(s);
		return cove_errf(err, -EADDRINUSE, "api: cannot listen on %s:%u", c->address, c->port);
	}
	*ret = s;
	return 0;
}

unsigned api_server_port(const struct api_server *s)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
