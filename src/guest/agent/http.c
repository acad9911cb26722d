#include "agent/http.h"
#include "agent/state.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/process.h"
#include "proto/utf8.h"

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	size_t nroutes;
	http_authorize authorize;
};

/* connectrpc.com/docs/protocol#error-codes: the HTTP status of each code. */
static unsigned status_for_code(const char *code)
{
	static const struct {
		const char *code;
		unsigned status;
	} map[] = {
		{ "canceled", 499 },	       { "unknown", 500 },	      { "invalid_argument", 400 },
		{ "deadline_exceeded", 504 },  { "not_found", 404 },	      { "already_exists", 409 },
		{ "permission_denied", 403 },  { "resource_exhausted", 429 }, { "failed_precondition", 400 },
		{ "aborted", 409 },	       { "out_of_range", 400 },	      { "unimplemented", 404 },
		{ "internal", 500 },	       { "unavailable", 503 },	      { "data_loss", 500 },
		{ "unauthenticated", 401 },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].status;
	return 500;
}

const char *http_query(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

enum MHD_Result http_reply(struct http_request *r, unsigned status, const char *content_type, const void *body,
			   size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	/* The host learns what the agent implements from any plain reply
	 * (envd sends it on /init). */
	MHD_add_response_header(resp, "X-Envd-Version", AGENT_ENVD_VERSION);
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result http_reply_connect_error(struct http_request *r, const char *code, const char *message)
{
	json_t *j = json_pack("{s:s, s:o}", "code", code, "message", json_string_lossy(message ? message : ""));
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return MHD_NO;
	enum MHD_Result ret = http_reply(r, status_for_code(code), "application/json", text, strlen(text));
	free(text);
	return ret;
}

enum MHD_Result http_reply_json(struct http_request *r, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return http_reply_connect_error(r, "internal", "out of memory");
	enum MHD_Result ret = http_reply(r, MHD_HTTP_OK, "application/json", text, strlen(text));
	free(text);
	return ret;
}

json_t *http_json_body(struct http_request *r, struct cove_err *err)
{
	const char *t = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!t || strncmp(t, "application/json", 16) != 0 || (t[16] != '\0' && t[16] != ';')) {
		cove_errf(err, -EINVAL, "Content-Type must be application/json");
		return NULL;
	}
	json_error_t jerr;
	json_t *j = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	if (!json_is_object(j)) {
		cove_errf(err, -EINVAL, "request is not a JSON object%s%s", j ? "" : ": ", j ? "" : jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

enum MHD_Result http_stream(struct http_request *r, const char *content_type, MHD_ContentReaderCallback read,
			    void *cls, MHD_ContentReaderFreeCallback done)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read, cls, done);
	if (!resp) {
		done(cls);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result http_stream_error(struct http_request *r, const char *code, const char *message)
{
	char *json = connect_end_encode(code, message);
	size_t n = json ? strlen(json) : 0;
	uint8_t *env = json ? malloc(ENVELOPE_HEADER_SIZE + n) : NULL;
	if (!env) {
		free(json);
		return MHD_NO;
	}
	envelope_header_encode(ENVELOPE_FLAG_END, (uint32_t)n, env);
	memcpy(env + ENVELOPE_HEADER_SIZE, json, n);
	free(json);
	struct MHD_Response *resp = MHD_create_response_from_buffer(ENVELOPE_HEADER_SIZE + n, env, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(env);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/connect+json");
	enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static const struct http_route *find_route(const struct http_server *s, const char *method, const char *path,
					   bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < s->nroutes; i++) {
		if (strcmp(s->routes[i].path, path) != 0)
			continue;
		*path_known = true;
		if (strcmp(s->routes[i].method, method) == 0)
			return &s->routes[i];
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

static enum MHD_Result dispatch(struct http_server *s, struct http_request *r)
{
	if (!r->route) {
		bool path_known;
		find_route(s, r->method, r->path, &path_known);
		if (path_known)
			return http_reply(r, 405, "text/plain", "method not allowed\n", 19);
		return http_reply_connect_error(r, "unimplemented", "no such method or path");
	}
	if (r->unauthorized)
		return http_reply_connect_error(r, "unauthenticated",
						r->auth_error[0] ? r->auth_error : "missing or wrong X-Access-Token");
	if (r->too_large)
		return http_reply_connect_error(r, "resource_exhausted", "request body too large");
	return r->route->handler(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	(void)version;
	struct http_server *s = cls;
	struct http_request *r = *req_cls;
	if (!r) {
		/* First call: headers only. */
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->conn = conn;
		r->method = method;
		r->path = url;
		bool path_known;
		r->route = find_route(s, method, url, &path_known);
		r->limit = r->route ? r->route->body_limit : 0;
		/* Checked before any of the body is read. */
		if (r->route && r->route->authorize)
			r->unauthorized = r->route->authorize(r, r->auth_error, sizeof(r->auth_error)) < 0;
		else
			r->unauthorized = r->route && !r->route->open && s->authorize &&
					  !s->authorize(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Access-Token"));
		*req_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (r->unauthorized) {
			/* Discarded unread. */
		} else if (r->route && r->route->body_sink) {
			if (r->body_error == 0)
				r->body_error = r->route->body_sink(r, upload_data, *upload_data_size);
		} else if (append_body(r, upload_data, *upload_data_size) < 0) {
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct http_request *r = *req_cls;
	if (r) {
		if (r->route && r->route->cleanup)
			r->route->cleanup(r);
		free(r->body);
		free(r);
	}
	*req_cls = NULL;
}

int http_server_start(const struct sockaddr_in *addr, const struct http_route *routes, size_t nroutes,
		      http_authorize authorize, struct http_server **ret, struct cove_err *err)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cove_errf(err, -ENOMEM, "http: out of memory");
	s->routes = routes;
	s->nroutes = nroutes;
	s->authorize = authorize;
	s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
					     MHD_USE_ERROR_LOG,
				     ntohs(addr->sin_port), NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
				     /* Per-connection buffer (default 32 KiB): uploads arrive in
				      * bigger pieces, fewer writes (measured 1.4-2x on 100 MiB). */
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
				     MHD_OPTION_END);
	if (!s->daemon) {
		free(s);
		return cove_errf(err, -EADDRINUSE, "http: cannot listen on port %u", ntohs(addr->sin_port));
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
	free(s);
}
