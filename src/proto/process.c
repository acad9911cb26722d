#include "proto/process.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "proto/base64.h"

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void process_start_clear(struct process_start *s)
{
	free_strv(s->argv);
	free_strv(s->envs);
	free(s->cwd);
	free(s->tag);
	memset(s, 0, sizeof(*s));
}

static char *bounded_strdup(const char *s)
{
	if (!s || strlen(s) > PROCESS_MAX_STRING)
		return NULL;
	return strdup(s);
}

static int parse_argv(json_t *process, struct process_start *out, struct cove_err *err)
{
	const char *cmd = json_string_value(json_object_get(process, "cmd"));
	if (!cmd || !*cmd)
		return cove_errf(err, -EINVAL, "process.cmd is required");
	json_t *args = json_object_get(process, "args");
	if (args && !json_is_array(args))
		return cove_errf(err, -EINVAL, "process.args must be an array of strings");
	size_t n = args ? json_array_size(args) : 0;
	if (n >= PROCESS_MAX_ARGS)
		return cove_errf(err, -E2BIG, "process.args has more than %d entries", PROCESS_MAX_ARGS);
	out->argv = calloc(n + 2, sizeof(char *));
	if (!out->argv || !(out->argv[0] = bounded_strdup(cmd)))
		return cove_errf(err, -ENOMEM, "process.cmd: out of memory or too long");
	for (size_t i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(args, i));
		if (!a)
			return cove_errf(err, -EINVAL, "process.args[%zu] is not a string", i);
		if (!(out->argv[i + 1] = bounded_strdup(a)))
			return cove_errf(err, -E2BIG, "process.args[%zu] is too long", i);
	}
	return 0;
}

static int parse_envs(json_t *process, struct process_start *out, struct cove_err *err)
{
	json_t *envs = json_object_get(process, "envs");
	if (envs && !json_is_object(envs))
		return cove_errf(err, -EINVAL, "process.envs must be an object of strings");
	size_t n = envs ? json_object_size(envs) : 0;
	if (n >= PROCESS_MAX_ENVS)
		return cove_errf(err, -E2BIG, "process.envs has more than %d entries", PROCESS_MAX_ENVS);
	out->envs = calloc(n + 1, sizeof(char *));
	if (!out->envs)
		return cove_errf(err, -ENOMEM, "process.envs: out of memory");
	const char *key;
	json_t *value;
	size_t i = 0;
	json_object_foreach(envs, key, value) {
		const char *v = json_string_value(value);
		if (!v)
			return cove_errf(err, -EINVAL, "process.envs.%s is not a string", key);
		if (!*key || strchr(key, '='))
			return cove_errf(err, -EINVAL, "process.envs: '%s' is not a variable name", key);
		if (strlen(key) + strlen(v) > PROCESS_MAX_STRING ||
		    asprintf(&out->envs[i], "%s=%s", key, v) < 0) {
			out->envs[i] = NULL;
			return cove_errf(err, -E2BIG, "process.envs.%s is too long", key);
		}
		i++;
	}
	return 0;
}

static int parse_start(json_t *root, struct process_start *out, struct cove_err *err)
{
	json_t *process = json_object_get(root, "process");
	if (!json_is_object(process))
		return cove_errf(err, -EINVAL, "process is required");
	int r = parse_argv(process, out, err);
	if (r < 0)
		return r;
	r = parse_envs(process, out, err);
	if (r < 0)
		return r;
	json_t *cwd = json_object_get(process, "cwd");
	if (cwd && !json_is_null(cwd)) {
		if (!json_is_string(cwd) || !(out->cwd = bounded_strdup(json_string_value(cwd))))
			return cove_errf(err, -EINVAL, "process.cwd must be a string");
	}
	json_t *tag = json_object_get(root, "tag");
	if (tag && json_is_string(tag) && !(out->tag = bounded_strdup(json_string_value(tag))))
		return cove_errf(err, -EINVAL, "tag is too long");
	json_t *in = json_object_get(root, "stdin");
	out->stdin_open = in ? json_is_true(in) : true;
	json_t *pty = json_object_get(root, "pty");
	if (pty && !json_is_null(pty)) {
		r = process_pty_size_parse(pty, &out->cols, &out->rows, err);
		if (r < 0)
			return r;
		out->pty = true;
	}
	return 0;
}

int process_pty_size_parse(const void *json_obj, unsigned short *cols, unsigned short *rows, struct cove_err *err)
{
	json_t *size = json_object_get((const json_t *)json_obj, "size");
	json_t *c = json_object_get(size, "cols"), *r = json_object_get(size, "rows");
	if (!json_is_integer(c) || !json_is_integer(r) || json_integer_value(c) < 1 || json_integer_value(c) > 4096 ||
	    json_integer_value(r) < 1 || json_integer_value(r) > 4096)
		return cove_errf(err, -EINVAL, "pty.size needs cols and rows between 1 and 4096");
	*cols = (unsigned short)json_integer_value(c);
	*rows = (unsigned short)json_integer_value(r);
	return 0;
}

int process_start_parse(const void *json, size_t len, struct process_start *out, struct cove_err *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cove_errf(err, -EINVAL, "request is not JSON: %s", jerr.text);
	int r = json_is_object(root) ? parse_start(root, out, err) : cove_errf(err, -EINVAL, "request is not a JSON object");
	json_decref(root);
	if (r < 0)
		process_start_clear(out);
	return r;
}

static char *dump(json_t *j)
{
	if (!j)
		return NULL;
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static json_t *start_json(const char *const *argv, const char *const *envs, const char *cwd, bool stdin_open);

char *process_start_encode(const char *const *argv, const char *const *envs, const char *cwd, bool stdin_open)
{
	return dump(start_json(argv, envs, cwd, stdin_open));
}

char *process_start_encode_pty(const char *const *argv, const char *const *envs, const char *cwd,
			       unsigned short cols, unsigned short rows)
{
	json_t *j = start_json(argv, envs, cwd, true);
	if (j && json_object_set_new(j, "pty", json_pack("{s:{s:i, s:i}}", "size", "cols", (int)cols, "rows", (int)rows)) < 0) {
		json_decref(j);
		j = NULL;
	}
	return dump(j);
}

static json_t *start_json(const char *const *argv, const char *const *envs, const char *cwd, bool stdin_open)
{
	json_t *args = json_array();
	json_t *env = json_object();
	for (size_t i = 1; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	for (size_t i = 0; envs && envs[i]; i++) {
		const char *eq = strchr(envs[i], '=');
		if (!eq)
			continue;
		char *key = strndup(envs[i], (size_t)(eq - envs[i]));
		if (key)
			json_object_set_new(env, key, json_string(eq + 1));
		free(key);
	}
	json_t *process = json_pack("{s:s, s:o, s:o}", "cmd", argv[0], "args", args, "envs", env);
	if (process && cwd)
		json_object_set_new(process, "cwd", json_string(cwd));
	return json_pack("{s:o, s:b}", "process", process, "stdin", stdin_open);
}

char *process_event_encode_start(int pid)
{
	return dump(json_pack("{s:{s:{s:i}}}", "event", "start", "pid", pid));
}

char *process_event_encode_data(enum process_stream stream, const uint8_t *data, size_t len)
{
	/* The hot path of every stream: base64 needs no JSON escaping, so the
	 * message is assembled directly (jansson's dump of a large string costs
	 * more than the rest of the stream; measured 57 MiB/s with it). */
	static const char *const names[] = { "stdout", "stderr", "pty" };
	char head[48];
	int h = snprintf(head, sizeof(head), "{\"event\":{\"data\":{\"%s\":\"", names[stream]);
	static const char tail[] = "\"}}}";
	size_t b = base64_encoded_len(len);
	char *s = malloc((size_t)h + b + sizeof(tail));
	if (!s)
		return NULL;
	memcpy(s, head, (size_t)h);
	base64_encode(data, len, s + h);
	memcpy(s + h + b, tail, sizeof(tail));
	return s;
}

/* Go's signal names (syscall's table): lower-case first letter of glibc's. */
static void signal_name(int sig, char *buf, size_t len)
{
	const char *s = strsignal(sig);
	snprintf(buf, len, "%s", s ? s : "unknown signal");
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
}

void process_status_text(int st, char *buf, size_t len)
{
	if (WIFEXITED(st)) {
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		char name[48];
		signal_name(WTERMSIG(st), name, sizeof(name));
		snprintf(buf, len, "signal: %s%s", name, WCOREDUMP(st) ? " (core dumped)" : "");
	} else {
		snprintf(buf, len, "unknown status %d", st);
	}
}

int process_status_signal(const char *status)
{
	const char *prefix = "signal: ";
	if (strncmp(status, prefix, strlen(prefix)) != 0)
		return 0;
	const char *name = status + strlen(prefix);
	for (int sig = 1; sig < NSIG; sig++) {
		char n[48];
		signal_name(sig, n, sizeof(n));
		size_t l = strlen(n);
		if (strncmp(name, n, l) == 0 && (name[l] == '\0' || name[l] == ' '))
			return sig;
	}
	return 0;
}

char *process_event_encode_end(int st)
{
	char status[64];
	process_status_text(st, status, sizeof(status));
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return dump(json_pack("{s:{s:{s:i, s:b, s:s}}}", "event", "end", "exitCode", code, "exited",
			      WIFEXITED(st), "status", status));
}

char *process_event_encode_keepalive(void)
{
	return dump(json_pack("{s:{s:{}}}", "event", "keepalive"));
}

void process_event_clear(struct process_event *ev)
{
	free(ev->data);
	memset(ev, 0, sizeof(*ev));
}

static int parse_data(json_t *data, struct process_event *ev, struct cove_err *err)
{
	static const char *const names[] = { "stdout", "stderr", "pty" };
	for (int s = PROCESS_STDOUT; s <= PROCESS_PTY; s++) {
		const char *b64 = json_string_value(json_object_get(data, names[s]));
		if (!b64)
			continue;
		size_t n = strlen(b64);
		ev->data = malloc(n * 3 / 4 + 3);
		if (!ev->data)
			return cove_errf(err, -ENOMEM, "event: out of memory");
		long d = base64_decode(b64, n, ev->data);
		if (d < 0)
			return cove_errf(err, -EINVAL, "event.data.%s is not base64", names[s]);
		ev->stream = (enum process_stream)s;
		ev->len = (size_t)d;
		return 0;
	}
	return cove_errf(err, -EINVAL, "event.data has no stdout, stderr or pty");
}

static int parse_end(json_t *end, struct process_event *ev)
{
	json_t *code = json_object_get(end, "exitCode");
	ev->exit_code = code ? (int)json_integer_value(code) : 0;
	ev->exited = json_is_true(json_object_get(end, "exited"));
	const char *status = json_string_value(json_object_get(end, "status"));
	const char *error = json_string_value(json_object_get(end, "error"));
	snprintf(ev->status, sizeof(ev->status), "%s", status ? status : "");
	snprintf(ev->error, sizeof(ev->error), "%s", error ? error : "");
	return 0;
}

static int parse_event(json_t *root, struct process_event *ev, struct cove_err *err)
{
	json_t *event = json_object_get(root, "event");
	if (!json_is_object(event))
		return cove_errf(err, -EINVAL, "message has no event");
	json_t *v;
	if ((v = json_object_get(event, "start"))) {
		ev->kind = PROCESS_EVENT_START;
		ev->pid = (int)json_integer_value(json_object_get(v, "pid"));
		return 0;
	}
	if ((v = json_object_get(event, "data"))) {
		ev->kind = PROCESS_EVENT_DATA;
		return parse_data(v, ev, err);
	}
	if ((v = json_object_get(event, "end"))) {
		ev->kind = PROCESS_EVENT_END;
		return parse_end(v, ev);
	}
	if (json_object_get(event, "keepalive")) {
		ev->kind = PROCESS_EVENT_KEEPALIVE;
		return 0;
	}
	return cove_errf(err, -EINVAL, "event of unknown kind");
}

int process_event_parse(const void *json, size_t len, struct process_event *ev, struct cove_err *err)
{
	memset(ev, 0, sizeof(*ev));
	json_error_t jerr;
	json_t *root = json_loadb(json, len, 0, &jerr);
	if (!root)
		return cove_errf(err, -EINVAL, "event is not JSON: %s", jerr.text);
	int r = parse_event(root, ev, err);
	json_decref(root);
	if (r < 0)
		process_event_clear(ev);
	return r;
}

char *connect_end_encode(const char *code, const char *message)
{
	if (!code)
		return strdup("{}");
	return dump(json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message ? message : ""));
}

int connect_end_parse(const void *json, size_t len, char *code, size_t code_len, char *message, size_t message_len)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	json_t *e = json_object_get(root, "error");
	const char *c = json_string_value(json_object_get(e, "code"));
	const char *m = json_string_value(json_object_get(e, "message"));
	snprintf(code, code_len, "%s", e ? (c ? c : "unknown") : "");
	snprintf(message, message_len, "%s", m ? m : "");
	json_decref(root);
	return 0;
}

const char *connect_code_for_errno(int e)
{
	switch (e < 0 ? -e : e) {
	case ENOENT: case ENOTDIR: return "not_found";
	/* ENOEXEC: executable bits on something that is no program; a shell
	 * says "cannot execute" (126) for both. */
	case EACCES: case EPERM: case ENOEXEC: return "permission_denied";
	case EINVAL: case E2BIG: case ENAMETOOLONG: return "invalid_argument";
	case ENOMEM: case EAGAIN: case EMFILE: case ENFILE: return "resource_exhausted";
	default: return "internal";
	}
}
