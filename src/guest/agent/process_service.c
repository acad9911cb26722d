/* envd's process.Process service over the Connect protocol: Start and
 * Connect are server streams fed from the process table; List, SendInput,
 * SendSignal, CloseStdin and Update are unary JSON calls. */
#include "agent/process_service.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proctab.h"
#include "agent/users.h"
#include "proto/base64.h"
#include "proto/envelope.h"
#include "proto/process.h"

/* envd's default Keepalive-Ping-Interval is 50 s; the SDK asks for 50. */
#define KEEPALIVE_MS 50000
#define CHUNK (32 * 1024)

static ssize_t sub_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	size_t n = proc_sub_read(cls, (uint8_t *)out, max, KEEPALIVE_MS);
	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* A client that hangs up only unsubscribes: the process runs on. */
static void sub_free(void *cls)
{
	proc_unsubscribe(cls);
}

static enum MHD_Result stream(struct http_request *r, MHD_ContentReaderCallback read, void *cls,
			      MHD_ContentReaderFreeCallback done)
{
	return http_stream(r, "application/connect+json", read, cls, done);
}

static enum MHD_Result stream_process(struct http_request *r, struct proc *p)
{
	struct proc_sub *sub = proc_subscribe(p);
	proc_unref(p);
	if (!sub)
		return MHD_NO;
	return stream(r, sub_read, sub, sub_free);
}

static bool has_type(struct http_request *r, const char *type)
{
	const char *t = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	return t && strncmp(t, type, strlen(type)) == 0 && (t[strlen(type)] == '\0' || t[strlen(type)] == ';');
}

/* A stream request's body: exactly one envelope. Returns its JSON. */
static json_t *stream_request(struct http_request *r, struct cove_err *err)
{
	uint8_t flags;
	uint32_t len;
	if (r->len < ENVELOPE_HEADER_SIZE ||
	    envelope_header_decode((const uint8_t *)r->body, r->route->body_limit, &flags, &len) < 0 ||
	    len != r->len - ENVELOPE_HEADER_SIZE || (flags & ENVELOPE_FLAG_END)) {
		cove_errf(err, -EINVAL, "request is not one Connect envelope");
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadb(r->body + ENVELOPE_HEADER_SIZE, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		cove_errf(err, -EINVAL, "request is not JSON: %s", j ? "not an object" : jerr.text);
		return NULL;
	}
	return j;
}

/* {"process":{"pid":N}} or {"process":{"tag":"t"}}; pid may be a string (int64 in JSON). */
static struct proc *select_process(json_t *root, struct cove_err *err)
{
	json_t *sel = json_object_get(root, "process");
	json_t *pid = json_object_get(sel, "pid");
	const char *tag = json_string_value(json_object_get(sel, "tag"));
	long long n = 0;
	if (json_is_integer(pid))
		n = json_integer_value(pid);
	else if (json_is_string(pid))
		n = strtoll(json_string_value(pid), NULL, 10);
	if ((n <= 0 || n > 0x7fffffff) && !tag) {
		cove_errf(err, -EINVAL, "process selector needs a pid or a tag");
		return NULL;
	}
	struct proc *p = proctab_find(n > 0 ? (uint32_t)n : 0, tag);
	if (!p) {
		if (n > 0)
			cove_errf(err, -ENOENT, "process with pid %lld not found", n);
		else
			cove_errf(err, -ENOENT, "process with tag %s not found", tag);
	}
	return p;
}

/* Connect-Timeout-Ms: at most 10 digits (connectrpc.com/docs/protocol). */
static int64_t timeout_ms(struct http_request *r)
{
	const char *v = http_header(r, "Connect-Timeout-Ms");
	if (!v || !*v || strlen(v) > 10 || strspn(v, "0123456789") != strlen(v))
		return 0;
	return strtoll(v, NULL, 10);
}

enum MHD_Result process_start(struct http_request *r)
{
	if (!has_type(r, "application/connect+json"))
		return agent_reply_error(r, "invalid_argument",
						"process.Process/Start is a server stream: Content-Type must be application/connect+json");
	struct cove_err err = { 0 };
	json_t *j = stream_request(r, &err);
	if (!j)
		return agent_stream_error(r, "invalid_argument", err.msg);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct process_start req;
	int rc = text ? process_start_parse(text, strlen(text), &req, &err) : cove_errf(&err, -ENOMEM, "out of memory");
	free(text);
	if (rc < 0)
		return agent_stream_error(r, "invalid_argument", err.msg);
	struct user_info user;
	rc = user_for_request(r, &user, &err);
	if (rc < 0) {
		process_start_clear(&req);
		return agent_stream_error(r, "invalid_argument", err.msg);
	}
	struct proc_sub *sub;
	rc = proctab_start(&req, &user, timeout_ms(r), &sub, &err);
	process_start_clear(&req);
	if (rc < 0)
		return agent_stream_error(r, connect_code_for_errno(rc), err.msg);
	return stream(r, sub_read, sub, sub_free);
}

enum MHD_Result process_connect(struct http_request *r)
{
	if (!has_type(r, "application/connect+json"))
		return agent_reply_error(r, "invalid_argument", "Content-Type must be application/connect+json");
	struct cove_err err = { 0 };
	json_t *j = stream_request(r, &err);
	if (!j)
		return agent_stream_error(r, "invalid_argument", err.msg);
	struct proc *p = select_process(j, &err);
	json_decref(j);
	if (!p)
		return agent_stream_error(r, connect_code_for_errno(err.code), err.msg);
	return stream_process(r, p);
}

enum MHD_Result process_list(struct http_request *r)
{
	struct cove_err err = { 0 };
	json_t *j = agent_json_body(r, &err);
	if (!j)
		return agent_reply_error(r, "invalid_argument", err.msg);
	json_decref(j);
	return http_reply_json(r, MHD_HTTP_OK, proctab_list());
}

typedef int (*proc_action)(struct proc *p, json_t *req, struct cove_err *err);

/* Parses, selects the process, runs the action, answers {} or the error. */
static enum MHD_Result unary_on_process(struct http_request *r, proc_action action)
{
	struct cove_err err = { 0 };
	json_t *j = agent_json_body(r, &err);
	if (!j)
		return agent_reply_error(r, "invalid_argument", err.msg);
	struct proc *p = select_process(j, &err);
	int rc = p ? action(p, j, &err) : err.code;
	proc_unref(p);
	json_decref(j);
	if (rc < 0)
		return agent_reply_error(r, rc == -EPIPE || rc == -ESRCH ? "failed_precondition" : connect_code_for_errno(rc),
						err.msg);
	return http_reply_json(r, MHD_HTTP_OK, json_object());
}

static int send_input(struct proc *p, json_t *req, struct cove_err *err)
{
	json_t *input = json_object_get(req, "input");
	const char *b64 = json_string_value(json_object_get(input, "stdin"));
	if (!b64)
		b64 = json_string_value(json_object_get(input, "pty"));
	if (!b64)
		return cove_errf(err, -EINVAL, "input needs stdin or pty bytes");
	size_t n = strlen(b64);
	uint8_t *data = malloc(n * 3 / 4 + 3);
	if (!data)
		return cove_errf(err, -ENOMEM, "out of memory");
	long len = base64_decode(b64, n, data);
	int r = len < 0 ? cove_errf(err, -EINVAL, "input is not base64") : proc_send_input(p, data, (size_t)len, err);
	free(data);
	return r;
}

static int send_signal(struct proc *p, json_t *req, struct cove_err *err)
{
	json_t *s = json_object_get(req, "signal");
	const char *name = json_string_value(s);
	int sig = 0;
	if (json_is_integer(s))
		sig = (int)json_integer_value(s);
	else if (name && strcmp(name, "SIGNAL_SIGKILL") == 0)
		sig = SIGKILL;
	else if (name && strcmp(name, "SIGNAL_SIGTERM") == 0)
		sig = SIGTERM;
	if (sig != SIGKILL && sig != SIGTERM)
		return cove_errf(err, -EINVAL, "signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM");
	return proc_signal(p, sig, err);
}

static int close_stdin(struct proc *p, json_t *req, struct cove_err *err)
{
	(void)req;
	return proc_close_stdin(p, err);
}

static int update(struct proc *p, json_t *req, struct cove_err *err)
{
	json_t *pty = json_object_get(req, "pty");
	if (!pty || json_is_null(pty))
		return 0; /* nothing to change */
	unsigned short cols, rows;
	int r = process_pty_size_parse(pty, &cols, &rows, err);
	return r < 0 ? r : proc_resize(p, cols, rows, err);
}

enum MHD_Result process_send_input(struct http_request *r) { return unary_on_process(r, send_input); }
enum MHD_Result process_send_signal(struct http_request *r) { return unary_on_process(r, send_signal); }
enum MHD_Result process_close_stdin(struct http_request *r) { return unary_on_process(r, close_stdin); }
enum MHD_Result process_update(struct http_request *r) { return unary_on_process(r, update); }
