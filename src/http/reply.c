/* Replies (see http.h): buffers, JSON, empty, streams. */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

enum MHD_Result http_queue(struct http_request *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A plain reply's headers (n more, a NULL name skipped), then queued. */
static enum MHD_Result reply_queue(struct http_request *r, unsigned status, const char *content_type,
				   const char *const *names, const char *const *values, size_t n,
				   struct MHD_Response *resp)
{
	const struct http_server_config *c = &r->server->c;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; i < n; i++)
		if (names[i] && values[i])
			MHD_add_response_header(resp, names[i], values[i]);
	if (c->reply_header && c->reply_header_value)
		MHD_add_response_header(resp, c->reply_header, c->reply_header_value);
	return http_queue(r, status, resp);
}

enum MHD_Result http_reply(struct http_request *r, unsigned status, const char *content_type, const void *body,
			   size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	return resp ? reply_queue(r, status, content_type, NULL, NULL, 0, resp) : MHD_NO;
}

enum MHD_Result http_reply_take(struct http_request *r, unsigned status, const char *content_type, void *body,
				size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	return reply_queue(r, status, content_type, NULL, NULL, 0, resp);
}

enum MHD_Result http_reply_empty(struct http_request *r, unsigned status)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	return resp ? reply_queue(r, status, NULL, NULL, NULL, 0, resp) : MHD_NO;
}

enum MHD_Result http_reply_text(struct http_request *r, unsigned status, const char *msg)
{
	char *text;
	if (asprintf(&text, "%s\n", msg) < 0)
		return MHD_NO;
	return http_reply_take(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

enum MHD_Result http_reply_json_with(struct http_request *r, unsigned status, json_t *j, const char *name,
				     const char *value)
{
	return http_reply_json_headers(r, status, j, &name, &value, 1);
}

enum MHD_Result http_reply_json_headers(struct http_request *r, unsigned status, json_t *j, const char *const *names,
					const char *const *values, size_t n)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return r->server->c.fail(r, HTTP_NO_MEMORY);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	return reply_queue(r, status, "application/json", names, values, n, resp);
}

enum MHD_Result http_reply_json(struct http_request *r, unsigned status, json_t *j)
{
	return http_reply_json_with(r, status, j, NULL, NULL);
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
	r->streaming = true;
	return http_queue(r, MHD_HTTP_OK, resp);
}
