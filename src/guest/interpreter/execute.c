#include "interpreter/execute.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/proc.h"
#include "interpreter/envs.h"
#include "interpreter/lines.h"

#define KEEPALIVE_MS 5000
/* How often a waiting run looks whether its client left. */
#define SLICE_MS 200
/* After an interrupt, how long the run's end is waited for before its turn
 * passes on anyway. */
#define DRAIN_MS 5000

enum phase { WAITING, RUNNING, ENDED };

struct run {
	struct execute_request req;
	struct context *ctx;
	uint64_t ticket;
	enum phase phase;
	bool has_turn;
	int client_fd;
	json_t *envs; /* the sandbox's, from GET /envs; NULL: unknown */
	struct kernel *kernel;
	char msg_id[WIRE_ID_MAX + 1];
	bool got_reply, got_idle;
	int execution_count;
	char *out; /* lines not yet handed to the client */
	size_t out_len, out_pos;
	int64_t last_line;
};

/* ---- lines ---- */

/* Appends bytes to the lines not yet handed over. */
static int append(struct run *run, const char *const parts[], const size_t lens[], size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	if (run->out_pos == run->out_len) {
		free(run->out);
		run->out = NULL;
		run->out_len = run->out_pos = 0;
	}
	char *grown = realloc(run->out, run->out_len + total);
	if (!grown)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		memcpy(grown + run->out_len, parts[i], lens[i]);
		run->out_len += lens[i];
	}
	run->out = grown;
	run->last_line = now_ms();
	return 0;
}

static double timestamp(void);

/* Text of a stdout or stderr line at most (bigger output: more lines). */
#define STREAM_PIECE_MAX (64 * 1024)

/* stdout or stderr lines around the text's JSON token as the kernel sent
 * it: a run printing many MiB costs a copy, not a decode and an encode. */
static void emit_stream_raw(struct run *run, bool is_stderr, const char *token, size_t len)
{
	const char *head = is_stderr ? "{\"type\":\"stderr\",\"text\":\"" : "{\"type\":\"stdout\",\"text\":\"";
	char tail[64];
	snprintf(tail, sizeof(tail), "\",\"timestamp\":%.6f}\n", timestamp());
	const char *p = token + 1; /* inside the quotes */
	size_t left = len - 2;
	do {
		size_t n = lines_string_cut(p, left, STREAM_PIECE_MAX);
		if (n == 0) /* cannot be with this max; never loop on it */
			n = left;
		const char *parts[] = { head, p, tail };
		const size_t lens[] = { strlen(head), n, strlen(tail) };
		if (append(run, parts, lens, 3) < 0) {
			log_error("run %s: out of memory for a line", run->msg_id);
			return;
		}
		p += n;
		left -= n;
	} while (left);
}

static void emit(struct run *run, json_t *line)
{
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	const char *parts[] = { text, "\n" };
	const size_t lens[] = { text ? strlen(text) : 0, 1 };
	if (!text || append(run, parts, lens, 2) < 0)
		log_error("run %s: out of memory for a line", run->msg_id);
	free(text);
}

static void emit_type(struct run *run, const char *type)
{
	emit(run, json_pack("{s:s}", "type", type));
}

static void emit_error(struct run *run, const char *name, const char *value)
{
	emit(run, json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "name", name, "value", value, "traceback",
			    ""));
}

static double timestamp(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One message of the kernel, if it is our run's, into lines. */
static void convert(struct run *run, enum kernel_channel ch, struct wire_msg *m)
{
	if (strcmp(m->parent_id, run->msg_id) != 0)
		return;
	json_t *c = m->content;
	const char *type = m->msg_type;
	if (ch == KERNEL_SHELL) {
		if (strcmp(type, "execute_reply") != 0)
			return;
		run->got_reply = true;
		json_t *count = json_object_get(c, "execution_count");
		if (json_is_integer(count))
			run->execution_count = (int)json_integer_value(count);
		const char *status = json_string_value(json_object_get(c, "status"));
		if (status && strcmp(status, "aborted") == 0)
			emit_error(run, "ExecutionAborted", "the kernel aborted the execution");
		return;
	}
	if (strcmp(type, "status") == 0) {
		const char *state = json_string_value(json_object_get(c, "execution_state"));
		if (state && strcmp(state, "idle") == 0)
			run->got_idle = true;
	} else if (strcmp(type, "stream") == 0) {
		bool is_stderr;
		const char *token;
		size_t len;
		if (m->raw_content && lines_stream(m->raw_content, m->raw_len, &is_stderr, &token, &len) == 0) {
			emit_stream_raw(run, is_stderr, token, len);
			return;
		}
		/* Not the shape the fast path takes: decoded and encoded. */
		json_t *decoded = m->raw_content ? json_loadb(m->raw_content, m->raw_len, 0, NULL) : json_incref(c);
		const char *name = json_string_value(json_object_get(decoded, "name"));
		json_t *text = json_object_get(decoded, "text");
		if (json_is_string(text))
			emit(run, json_pack("{s:s, s:O, s:f}", "type", name && strcmp(name, "stderr") == 0 ? "stderr" : "stdout",
					    "text", text, "timestamp", timestamp()));
		json_decref(decoded);
	} else if (strcmp(type, "execute_result") == 0 || strcmp(type, "display_data") == 0) {
		json_t *data = json_object_get(c, "data");
		if (json_is_object(data))
			emit(run, lines_result(data, type[1] == 'x'));
	} else if (strcmp(type, "error") == 0) {
		char *tb = lines_traceback(json_object_get(c, "traceback"));
		const char *name = json_string_value(json_object_get(c, "ename"));
		const char *value = json_string_value(json_object_get(c, "evalue"));
		emit(run, json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "name", name ? name : "Error", "value",
				    value ? value : "", "traceback", tb ? tb : ""));
		free(tb);
	}
}

/* ---- the run ---- */

static json_t *execute_content(const char *code, bool silent)
{
	return json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", silent, "store_history", !silent,
			 "user_expressions", "allow_stdin", 0, "stop_on_error", 0);
}

/* Sends code to run silently (env changes); its replies are not waited
 * for: the kernel runs requests in order. */
static int send_silent(struct kernel *k, const char *code, struct cove_err *err)
{
	json_t *content = execute_content(code, true);
	int r = content ? kernel_send(k, KERNEL_SHELL, "execute_request", content, NULL, err) : -ENOMEM;
	json_decref(content);
	return r;
}

/* With the turn: the kernel, the sandbox's envs if they changed, the
 * run's own, then the code. */
static int start(struct run *run, struct cove_err *err)
{
	int r = context_kernel(run->ctx, &run->kernel, err);
	if (r < 0)
		return r;
	const char *lang = context_language(run->ctx);
	if (run->envs && !json_equal(run->envs, context_applied_envs(run->ctx))) {
		json_t *before = context_applied_envs(run->ctx);
		char *code = envs_code_set(lang, run->envs);
		/* Names the sandbox no longer has go too. */
		json_t *gone = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(before, k, v)
			if (!json_object_get(run->envs, k))
				json_object_set(gone, k, v);
		char *unset = envs_code_restore(lang, gone, NULL);
		json_decref(gone);
		/* Nothing to run is not sent: each costs the kernel a request. */
		if (code && unset && (!*unset || (r = send_silent(run->kernel, unset, err)) == 0) &&
		    (!*code || (r = send_silent(run->kernel, code, err)) == 0))
			context_set_applied_envs(run->ctx, run->envs);
		free(code);
		free(unset);
		if (r < 0)
			return r;
	}
	if (run->req.env_vars) {
		char *code = envs_code_set(lang, run->req.env_vars);
		if (!code)
			return cove_errf(err, -ENOTSUP, "env_vars are not supported for %s contexts", lang);
		r = send_silent(run->kernel, code, err);
		free(code);
		if (r < 0)
			return r;
	}
	json_t *content = execute_content(run->req.code, false);
	r = content ? kernel_send(run->kernel, KERNEL_SHELL, "execute_request", content, run->msg_id, err) : -ENOMEM;
	json_decref(content);
	return r;
}

/* The run's env_vars go back to what the sandbox has. */
static void restore_envs(struct run *run)
{
	if (!run->req.env_vars || !run->kernel)
		return;
	char *code = envs_code_restore(context_language(run->ctx), run->req.env_vars, context_applied_envs(run->ctx));
	struct cove_err err = { 0 };
	if (code && send_silent(run->kernel, code, &err) < 0)
		log_warn("run %s: %s", run->msg_id, err.msg);
	free(code);
}

static void finish(struct run *run)
{
	restore_envs(run);
	context_release(run->ctx);
	run->has_turn = false;
	run->phase = ENDED;
}

static bool client_left(struct run *run)
{
	if (run->client_fd < 0)
		return false;
	struct pollfd p = { .fd = run->client_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* One step: waits up to SLICE_MS for the turn or for a message. */
static void step(struct run *run)
{
	if (run->phase == WAITING) {
		int r = context_wait_turn(run->ctx, run->ticket, SLICE_MS);
		if (r < 0) {
			emit_error(run, "ContextRemoved", "the context was removed before the code ran");
			emit_type(run, "end_of_execution");
			run->phase = ENDED;
			return;
		}
		if (r == 0)
			return;
		run->has_turn = true;
		struct cove_err err = { 0 };
		if (start(run, &err) < 0) {
			log_warn("run: %s", err.msg);
			emit_error(run, "KernelError", err.msg);
			emit_type(run, "end_of_execution");
			finish(run);
			return;
		}
		run->phase = RUNNING;
		return;
	}
	enum kernel_channel ch;
	struct wire_msg m;
	int r = kernel_recv(run->kernel, SLICE_MS, &ch, &m);
	if (r == 1) {
		convert(run, ch, &m);
		wire_msg_clear(&m);
		if (run->got_reply && run->got_idle) {
			emit(run, json_pack("{s:s, s:i}", "type", "number_of_executions", "execution_count",
					    run->execution_count));
			emit_type(run, "end_of_execution");
			finish(run);
		}
	} else if (r < 0) {
		char st[96], msg[256];
		kernel_status(run->kernel, st, sizeof(st));
		snprintf(msg, sizeof(msg), "the kernel died while running the code (%s); the context's next run starts a new one",
			 r == -ESRCH ? st : strerror(-r));
		emit_error(run, "KernelDied", msg);
		emit_type(run, "end_of_execution");
		context_kernel_lost(run->ctx);
		run->kernel = NULL;
		finish(run);
	}
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct run *run = cls;
	while (run->out_pos == run->out_len) {
		if (run->phase == ENDED)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (client_left(run))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		step(run);
		if (run->out_pos == run->out_len && run->phase != ENDED && now_ms() - run->last_line >= KEEPALIVE_MS)
			emit_type(run, "keepalive");
	}
	size_t n = run->out_len - run->out_pos;
	if (n > max)
		n = max;
	memcpy(buf, run->out + run->out_pos, n);
	run->out_pos += n;
	return (ssize_t)n;
}

/* The client left (or the stream failed) before the end: the code is
 * interrupted and its end waited for, briefly, so the next run starts
 * on an idle kernel. */
static void done(void *cls)
{
	struct run *run = cls;
	if (run->phase == WAITING && !run->has_turn) {
		context_abandon(run->ctx, run->ticket);
	} else if (run->phase == RUNNING) {
		log_info("run %s: the client left; interrupting it", run->msg_id);
		kernel_interrupt(run->kernel);
		int64_t until = now_ms() + DRAIN_MS;
		while (!(run->got_reply && run->got_idle) && now_ms() < until) {
			enum kernel_channel ch;
			struct wire_msg m;
			int r = kernel_recv(run->kernel, (int)(until - now_ms()), &ch, &m);
			if (r < 0) {
				context_kernel_lost(run->ctx);
				run->kernel = NULL;
				break;
			}
			if (r == 0)
				break;
			convert(run, ch, &m);
			wire_msg_clear(&m);
		}
		finish(run);
	} else if (run->has_turn) {
		finish(run);
	}
	context_put(run->ctx);
	json_decref(run->envs);
	execute_request_clear(&run->req);
	free(run->out);
	free(run);
}

enum MHD_Result execute_serve(struct http_request *r, struct execute_request *req, const struct execute_options *o)
{
	struct cove_err err = { 0 };
	struct context *c = NULL;
	int rc;
	if (req->context_id[0]) {
		if (!(c = context_get(req->context_id))) {
			char msg[128];
			snprintf(msg, sizeof(msg), "context %s not found", req->context_id);
			execute_request_clear(req);
			return http_reply_text(r, 404, msg);
		}
	} else if ((rc = context_default(req->language, &c, &err)) < 0) {
		execute_request_clear(req);
		return http_reply_text(r, rc == -ENOENT ? 400 : 500, err.msg);
	}
	/* The turn is taken first: runs are served in the order they came. */
	uint64_t ticket = context_enqueue(c);
	json_t *envs = NULL;
	if (o->envd && (rc = envs_fetch(o->envd, http_header(r, "X-Access-Token"), &envs, &err)) < 0) {
		if (rc == -EACCES) {
			context_abandon(c, ticket);
			context_put(c);
			execute_request_clear(req);
			return http_reply_text(r, 401, "X-Access-Token is missing or not the sandbox's access token");
		}
		log_warn("the sandbox's env vars are not applied: %s", err.msg);
	}
	struct run *run = calloc(1, sizeof(*run));
	if (!run) {
		json_decref(envs);
		context_abandon(c, ticket);
		context_put(c);
		execute_request_clear(req);
		return http_reply_text(r, 500, "out of memory");
	}
	run->req = *req;
	memset(req, 0, sizeof(*req));
	run->ctx = c;
	run->envs = envs;
	run->last_line = now_ms();
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	run->client_fd = ci ? ci->connect_fd : -1;
	run->ticket = ticket;
	return http_stream(r, "application/x-ndjson", reader, run, done);
}

int execute_silent(struct context *c, const char *code, int timeout_ms, struct cove_err *err)
{
	struct kernel *k;
	int r = context_kernel(c, &k, err);
	if (r < 0)
		return r;
	json_t *content = execute_content(code, true);
	char id[WIRE_ID_MAX + 1];
	r = content ? kernel_send(k, KERNEL_SHELL, "execute_request", content, id, err) : -ENOMEM;
	json_decref(content);
	if (r < 0)
		return r;
	bool reply = false, idle = false;
	int64_t until = now_ms() + timeout_ms;
	while (!(reply && idle)) {
		if (now_ms() >= until)
			return cove_errf(err, -ETIMEDOUT, "no end within %d s", timeout_ms / 1000);
		enum kernel_channel ch;
		struct wire_msg m;
		r = kernel_recv(k, (int)(until - now_ms()), &ch, &m);
		if (r < 0)
			return cove_errno(err, r, "the kernel");
		if (r == 0)
			continue;
		if (strcmp(m.parent_id, id) == 0) {
			if (ch == KERNEL_SHELL && strcmp(m.msg_type, "execute_reply") == 0) {
				reply = true;
				const char *st = json_string_value(json_object_get(m.content, "status"));
				if (st && strcmp(st, "ok") != 0) {
					const char *en = json_string_value(json_object_get(m.content, "ename"));
					const char *ev = json_string_value(json_object_get(m.content, "evalue"));
					r = cove_errf(err, -EIO, "%s: %s", en ? en : st, ev ? ev : "");
				}
			}
			if (ch == KERNEL_IOPUB && strcmp(m.msg_type, "status") == 0 &&
			    strcmp(json_string_value(json_object_get(m.content, "execution_state")) ?: "", "idle") == 0)
				idle = true;
		}
		wire_msg_clear(&m);
		if (r < 0)
			return r;
	}
	return 0;
}
