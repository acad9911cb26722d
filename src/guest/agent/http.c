#include "agent/http.h"
#include "agent/state.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/process.h"
#include "proto/utf8.h"

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

enum MHD_Result agent_reply_error(struct http_request *r, const char *code, const char *message)
{
	json_t *j = json_pack("{s:s, s:o}", "code", code, "message", json_string_lossy(message ? message : ""));
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return MHD_NO;
	return http_reply_take(r, status_for_code(code), "application/json", text, strlen(text));
}

enum MHD_Result agent_reply_rest_error(struct http_request *r, unsigned status, const char *message)
{
	json_t *j = json_pack("{s:i, s:o}", "code", (int)status, "message", json_string_lossy(message ? message : ""));
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return MHD_NO;
	return http_reply_take(r, status, "application/json", text, strlen(text));
}

bool agent_path_is_connect(const char *path)
{
	const char *end = path && path[0] == '/' ? strchr(path + 1, '/') : NULL;
	const char *dot = path ? strchr(path, '.') : NULL;
	return end && dot && dot < end;
}

json_t *agent_json_body(struct http_request *r, struct cove_err *err)
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

enum MHD_Result agent_stream_error(struct http_request *r, const char *code, const char *message)
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
	/* Not http_reply_take: a stream's reply has no X-Envd-Version. */
	struct MHD_Response *resp = MHD_create_response_from_buffer(ENVELOPE_HEADER_SIZE + n, env, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(env);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/connect+json");
	return http_queue(r, MHD_HTTP_OK, resp);
}

/* Every route but the open ones and those with their own authorize; an
 * unknown path is answered 404 whoever asks. */
static int token_check(void *cls, struct http_request *r, char *why, size_t len)
{
	(void)cls;
	(void)why;
	(void)len;
	if (!r->route)
		return 0;
	return agent_token_ok(http_header(r, "X-Access-Token")) ? 0 : -EACCES;
}

/* envd's REST routes (/files, /envs, /init...) answer errors as
 * {"code":<status>,"message"}; its Connect routes as Connect does. */
static enum MHD_Result fail_rest(struct http_request *r, enum http_failure what)
{
	switch (what) {
	case HTTP_UNAUTHORIZED:
		return agent_reply_rest_error(r, 401, r->auth_error[0] ? r->auth_error
					      : "unauthorized access, please provide a valid access token or method signing if supported");
	case HTTP_NOT_FOUND:
		return agent_reply_rest_error(r, 404, "no such path");
	case HTTP_METHOD_NOT_ALLOWED:
		return http_reply(r, 405, "text/plain", "method not allowed\n", 19);
	case HTTP_TOO_LARGE:
		return agent_reply_rest_error(r, 413, "request body too large");
	case HTTP_BUSY:
		return agent_reply_rest_error(r, 503, "too many connections");
	case HTTP_LOCKED: /* never: auth_failures is 0 */
	case HTTP_NO_MEMORY:
		break;
	}
	return agent_reply_rest_error(r, 500, "out of memory");
}

static enum MHD_Result fail(struct http_request *r, enum http_failure what)
{
	if (!agent_path_is_connect(r->path))
		return fail_rest(r, what);
	switch (what) {
	case HTTP_UNAUTHORIZED:
		return agent_reply_error(r, "unauthenticated",
					 r->auth_error[0] ? r->auth_error : "missing or wrong X-Access-Token");
	case HTTP_NOT_FOUND:
		return agent_reply_error(r, "unimplemented", "no such method or path");
	case HTTP_METHOD_NOT_ALLOWED:
		return http_reply(r, 405, "text/plain", "method not allowed\n", 19);
	case HTTP_TOO_LARGE:
		return agent_reply_error(r, "resource_exhausted", "request body too large");
	case HTTP_BUSY:
		return agent_reply_error(r, "unavailable", "too many connections");
	case HTTP_LOCKED: /* never: auth_failures is 0 */
	case HTTP_NO_MEMORY:
		break;
	}
	return agent_reply_error(r, "internal", "out of memory");
}

int agent_http_start(const struct sockaddr_in *addr, const struct http_route *routes, size_t nroutes,
		     struct http_server **ret, struct cove_err *err)
{
	struct http_server_config c = {
		.addr = addr,
		.routes = routes,
		.nroutes = nroutes,
		.max_connections = AGENT_MAX_CONNECTIONS,
		/* Per-connection buffer (default 32 KiB): uploads arrive in
		 * bigger pieces, fewer writes (measured 1.4-2x on 100 MiB). */
		.connection_memory = 256 * 1024,
		.authorize = token_check,
		.fail = fail,
		/* The host learns what the agent implements from any plain reply
		 * (envd sends it on /init). */
		.reply_header = "X-Envd-Version",
		.reply_header_value = AGENT_ENVD_VERSION,
	};
	return http_server_start(&c, ret, err);
}
