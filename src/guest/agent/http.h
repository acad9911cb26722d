/* The agent's HTTP policy over the shared server (http/http.h, built here
 * against a libmicrohttpd without TLS, see scripts/build-microhttpd.sh):
 * every route but the open ones needs the X-Access-Token /init set, unless it
 * decides itself (/files takes signed URLs); refusals and errors are
 * Connect's ({"code":"<name>","message"} with the status the protocol
 * assigns) on Connect routes and envd's ({"code":<status>,"message"}) on its
 * REST routes; plain replies carry X-Envd-Version. Routes are exact paths;
 * a route's body limit of 0 takes no body. */
#ifndef COVE_AGENT_HTTP_H
#define COVE_AGENT_HTTP_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "http/http.h"

/* Most connections served at once; more wait in the listen backlog. */
#define AGENT_MAX_CONNECTIONS 256

int agent_http_start(const struct sockaddr_in *addr, const struct http_route *routes, size_t nroutes,
		     struct http_server **ret, struct cove_err *err);

/* A unary call's body: Content-Type application/json holding an object
 * (an empty body is {}). NULL with err filled otherwise. */
json_t *agent_json_body(struct http_request *r, struct cove_err *err);

/* A Connect server stream that fails before it starts: HTTP 200 with only
 * the end-of-stream envelope, {"error":{"code","message"}}. */
enum MHD_Result agent_stream_error(struct http_request *r, const char *code, const char *message);

/* A Connect unary error: {"code":"...","message":"..."} with the HTTP status
 * the Connect protocol assigns to the code. */
enum MHD_Result agent_reply_error(struct http_request *r, const char *code, const char *message);

/* An error of envd's REST routes (/files, /files/compose, /envs, /init,
 * /metrics): {"code":<status>,"message":"..."} (envd's Error schema). */
enum MHD_Result agent_reply_rest_error(struct http_request *r, unsigned status, const char *message);

/* Is path a Connect procedure ("/<package>.<Service>/<Method>")? The other
 * paths are envd's REST routes, whose refusals use its REST error. */
bool agent_path_is_connect(const char *path);

#endif
