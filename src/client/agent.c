/* The guest agent's client (client/agent.h). Running a command is a
 * Connect server-streaming call of envd's process.Process/Start over
 * HTTP/1.1 (libcurl), the stream's envelopes decoded as they arrive
 * (docs/agent-protocol.md). The connection to a sandbox's agent is made
 * from a socket created inside the sandbox's network namespace
 * (CURLOPT_OPENSOCKETFUNCTION). */
#include "client/agent.h"

#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/curl.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "net/net.h"
#include "proto/base64.h"
#include "proto/envelope.h"

#define CONNECT_TIMEOUT_MS 5000
/* An /init with volumes: the agent tries a mount the server does not yet
 * allow for 10 s, and an attempt the server never answers takes up to
 * ~50 s more (timeo=50, retrans=3: waits of 5, 10, 15 and 20 s). */
#define INIT_MOUNT_TIMEOUT_MS 75000
/* How often the transfer loop wakes without activity to check for cancel. */
#define POLL_MS 1000

/* Maps the Connect error code of a failed start back to an errno. */
static int errno_for_code(const char *code)
{
	static const struct {
		const char *code;
		int err;
	} map[] = {
		{ "not_found", -ENOENT },	       { "permission_denied", -EACCES }, { "invalid_argument", -EINVAL },
		{ "resource_exhausted", -EAGAIN }, { "deadline_exceeded", -ETIMEDOUT }, { "unimplemented", -ENOSYS },
		{ "unauthenticated", -EACCES },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].err;
	return -EIO;
}

struct stream_state {
	CURL *easy;
	long status;           /* HTTP status, read with the first body bytes */
	char error_body[1024]; /* a non-200 answer: Connect's {"code","message"} */
	size_t error_len;
	struct agent_exec_result *res;
	const struct agent_exec_request *req;
	struct envelope_decoder decoder;
	struct cove_err *err;
	int error;     /* first failure, 0 while all is well */
	bool ended;    /* got the end event */
	bool finished; /* got the end-of-stream envelope */
};

static int handle_event(struct stream_state *st, const struct envelope *env)
{
	struct process_event ev;
	int r = process_event_parse(env->data, env->len, &ev, st->err);
	if (r < 0)
		return cove_err_prefix(st->err, "agent sent a bad event");
	switch (ev.kind) {
	case PROCESS_EVENT_START:
		st->res->pid = ev.pid;
		if (st->req->on_start)
			st->req->on_start(st->req->ctx, ev.pid);
		break;
	case PROCESS_EVENT_DATA:
		if (st->req->on_output)
			r = st->req->on_output(st->req->ctx, ev.stream, ev.data, ev.len);
		break;
	case PROCESS_EVENT_END:
		st->ended = true;
		st->res->exited = ev.exited;
		st->res->exit_code = ev.exit_code;
		st->res->signal = ev.exited ? 0 : process_status_signal(ev.status);
		snprintf(st->res->status, sizeof(st->res->status), "%s", ev.status);
		break;
	case PROCESS_EVENT_KEEPALIVE:
		break;
	}
	process_event_clear(&ev);
	return r;
}

static int handle_envelope(struct stream_state *st, const struct envelope *env)
{
	if (st->finished)
		return cove_errf(st->err, -EPROTO, "agent sent data after the end of the stream");
	if (!(env->flags & ENVELOPE_FLAG_END))
		return handle_event(st, env);
	char code[32], message[COVE_ERR_MAX - 64];
	if (connect_end_parse(env->data, env->len, code, sizeof(code), message, sizeof(message)) < 0)
		return cove_errf(st->err, -EPROTO, "agent sent a bad end-of-stream message");
	st->finished = true;
	if (code[0])
		return cove_errf(st->err, errno_for_code(code), "%s", message[0] ? message : code);
	if (!st->ended)
		return cove_errf(st->err, -EPROTO, "agent ended the stream without an exit status");
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct stream_state *st = userdata;
	size_t total = size * nmemb;
	if (!st->status)
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->status);
	if (st->status != 200) {
		/* Not a stream: keep the start of the error for check_status. */
		size_t room = sizeof(st->error_body) - 1 - st->error_len;
		size_t n = total < room ? total : room;
		memcpy(st->error_body + st->error_len, data, n);
		st->error_len += n;
		st->error_body[st->error_len] = '\0';
		return total;
	}
	for (size_t off = 0; off < total && st->error == 0;) {
		size_t n = total - off < ENVELOPE_FEED_MAX ? total - off : ENVELOPE_FEED_MAX;
		int r = envelope_decoder_feed(&st->decoder, data + off, n);
		off += n;
		struct envelope env;
		while (r == 0 && (r = envelope_decoder_next(&st->decoder, &env)) == 1)
			r = handle_envelope(st, &env);
		if (r < 0) {
			st->error = r;
			if (!st->err || st->err->code != r)
				cove_errf(st->err, r, "agent stream: %s", strerror(-r));
		}
	}
	return st->error ? 0 : total; /* returning less than given aborts the transfer */
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	(void)purpose;
	(void)address;
	const struct agent_endpoint *ep = clientp;
	int fd = net_tcp_socket_in(ep->netns_fd);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* A request to the agent at ep: the URL, a socket inside the sandbox's
 * namespace, the token, no proxy from the environment. */
static CURL *agent_easy(const struct agent_endpoint *ep, const char *path, const char *content_type,
			struct curl_slist **headers)
{
	cove_curl_init();
	char url[512], line[160];
	if (ep->via)
		snprintf(url, sizeof(url), "%s%s", ep->via, path);
	else
		snprintf(url, sizeof(url), "http://%s:%u%s", ep->address, ep->port, path);
	CURL *easy = curl_easy_init();
	snprintf(line, sizeof(line), "Content-Type: %s", content_type);
	*headers = curl_slist_append(NULL, line);
	if (ep->token && *headers) {
		snprintf(line, sizeof(line), "X-Access-Token: %s", ep->token);
		*headers = curl_slist_append(*headers, line);
	}
	if (ep->via && ep->sandbox && *headers) {
		snprintf(line, sizeof(line), "E2b-Sandbox-Id: %s", ep->sandbox);
		*headers = curl_slist_append(*headers, line);
		snprintf(line, sizeof(line), "E2b-Sandbox-Port: %u", ep->port);
		if (*headers)
			*headers = curl_slist_append(*headers, line);
	}
	if (!easy || !*headers) {
		curl_slist_free_all(*headers);
		*headers = NULL;
		curl_easy_cleanup(easy);
		return NULL;
	}
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *headers);
	if (!ep->via) {
		curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
		curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, (void *)ep);
	} else {
		cove_curl_cloexec(easy);
	}
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(easy, CURLOPT_PROXY, ""); /* never through a proxy from the environment */
	return easy;
}

/* Runs the transfer, waking for cancel_fd too. */
static int perform(CURL *easy, int cancel_fd, struct cove_err *err)
{
	CURLM *multi = curl_multi_init();
	if (!multi)
		return cove_errf(err, -ENOMEM, "curl: multi handle");
	curl_multi_add_handle(multi, easy);
	int running = 1, r = 0;
	CURLcode result = CURLE_OK;
	while (running) {
		CURLMcode mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK) {
			r = cove_errf(err, -EIO, "curl: %s", curl_multi_strerror(mc));
			break;
		}
		if (!running)
			break;
		struct curl_waitfd extra = { .fd = cancel_fd, .events = CURL_WAIT_POLLIN };
		mc = curl_multi_poll(multi, cancel_fd >= 0 ? &extra : NULL, cancel_fd >= 0 ? 1 : 0, POLL_MS, NULL);
		if (mc != CURLM_OK) {
			r = cove_errf(err, -EIO, "curl: %s", curl_multi_strerror(mc));
			break;
		}
		if (cancel_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN)) {
			r = cove_errf(err, -ECANCELED, "cancelled");
			break;
		}
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			result = msg->data.result;
	curl_multi_remove_handle(multi, easy);
	curl_multi_cleanup(multi);
	if (r == 0 && result != CURLE_OK && result != CURLE_WRITE_ERROR)
		r = cove_errf(err, result == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNRESET, "agent: %s",
			      curl_easy_strerror(result));
	return r;
}

static int check_status(CURL *easy, struct stream_state *st, struct cove_err *err)
{
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200 && st->finished)
		return 0;
	if (status == 200)
		return cove_errf(err, -ECONNRESET, "guest agent closed the stream before the command ended");
	if (status == 401)
		return cove_errf(err, -EPERM, "guest agent refused the access token");
	char code[32], message[COVE_ERR_MAX - 64];
	json_t *j = json_loads(st->error_body, 0, NULL);
	snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(j, "code")) ?: "");
	snprintf(message, sizeof(message), "%s", json_string_value(json_object_get(j, "message")) ?: "");
	json_decref(j);
	if (code[0])
		return cove_errf(err, errno_for_code(code), "guest agent: %s (%s)", message, code);
	return cove_errf(err, -EPROTO, "guest agent answered HTTP %ld", status);
}

int agent_exec(const struct agent_endpoint *ep, const struct agent_exec_request *req, struct agent_exec_result *res,
	       int cancel_fd, struct cove_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!req->argv || !req->argv[0])
		return cove_errf(err, -EINVAL, "exec: no command given");
	_cleanup_free_ char *json = req->pty ? process_start_encode_pty(req->argv, req->envs, req->cwd, req->cols, req->rows)
					     : process_start_encode(req->argv, req->envs, req->cwd, false);
	if (!json)
		return cove_errf(err, -ENOMEM, "exec: encode request");
	size_t n = strlen(json);
	_cleanup_free_ uint8_t *body = malloc(ENVELOPE_HEADER_SIZE + n);
	if (!body)
		return cove_errf(err, -ENOMEM, "exec: out of memory");
	envelope_header_encode(0, (uint32_t)n, body);
	memcpy(body + ENVELOPE_HEADER_SIZE, json, n);

	_cleanup_curl_slist_ struct curl_slist *headers = NULL;
	_cleanup_curl_ CURL *easy = agent_easy(ep, "/process.Process/Start", "application/connect+json", &headers);
	/* Appending keeps the list's head: headers stays the list to free. */
	struct curl_slist *more = headers ? curl_slist_append(headers, "Connect-Protocol-Version: 1") : NULL;
	if (more && req->user && *req->user) {
		/* envd's way to name the user: Basic base64("<user>:"). */
		char pair[64], line[128];
		if ((size_t)snprintf(pair, sizeof(pair), "%s:", req->user) >= sizeof(pair))
			return cove_errf(err, -EINVAL, "exec: user name '%s' too long", req->user);
		memcpy(line, "Authorization: Basic ", 21);
		base64_encode((const uint8_t *)pair, strlen(pair), line + 21);
		more = curl_slist_append(headers, line);
	}
	if (more && req->timeout_ms) {
		char line[64];
		snprintf(line, sizeof(line), "Connect-Timeout-Ms: %u", req->timeout_ms);
		more = curl_slist_append(headers, line);
	}
	if (!easy || !more)
		return cove_errf(err, -ENOMEM, "exec: curl handle");
	struct stream_state st = { .easy = easy, .res = res, .req = req, .err = err };
	envelope_decoder_init(&st.decoder, ENVELOPE_MAX_MESSAGE);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)(ENVELOPE_HEADER_SIZE + n));
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &st);
	int r = perform(easy, cancel_fd, err);
	if (r == 0)
		r = st.error ? st.error : check_status(easy, &st, err);
	else if (st.error)
		r = st.error;
	envelope_decoder_free(&st.decoder);
	return r;
}

static size_t discard(char *data, size_t size, size_t nmemb, void *userdata)
{
	(void)data;
	(void)userdata;
	return size * nmemb;
}

struct body_buf {
	char data[4096];
	size_t len;
};

static size_t keep_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n >= sizeof(b->data))
		return 0; /* too long for what it should be: the transfer fails */
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* One plain request to the agent: body POSTed when given (else GET), the
 * reply kept in out when given (else discarded). The HTTP status goes to
 * *status; a transport failure is -ECONNRESET naming what. */
static int agent_unary(const struct agent_endpoint *ep, const char *path, const char *body, struct body_buf *out,
		       long *status, long timeout_ms, struct cove_err *err)
{
	struct curl_slist *headers;
	CURL *easy = agent_easy(ep, path, "application/json", &headers);
	if (!easy)
		return cove_errf(err, -ENOMEM, "agent %s: curl handle", path);
	if (body)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, out ? keep_body : discard);
	if (out)
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	CURLcode rc = curl_easy_perform(easy);
	*status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(easy);
	if (rc != CURLE_OK)
		return cove_errf(err, -ECONNRESET, "agent %s: %s", path, curl_easy_strerror(rc));
	return 0;
}

static size_t read_file(char *buf, size_t size, size_t nmemb, void *userdata)
{
	ssize_t n = read(*(int *)userdata, buf, size * nmemb);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

int agent_upload(const struct agent_endpoint *ep, const char *from, const char *guest_path, const char *user,
		 int cancel_fd, struct cove_err *err)
{
	_cleanup_close_ int fd = open(from, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cove_errno(err, -errno, "upload %s", from);
	cove_curl_init();
	_cleanup_curl_slist_ struct curl_slist *headers = NULL;
	_cleanup_curl_ CURL *easy = agent_easy(ep, "/files", "application/octet-stream", &headers);
	if (!easy)
		return cove_errf(err, -ENOMEM, "upload %s: curl handle", from);
	/* The query: path and user, escaped. */
	_cleanup_free_ char *qpath = curl_easy_escape(easy, guest_path, 0);
	_cleanup_free_ char *quser = user ? curl_easy_escape(easy, user, 0) : NULL;
	char url[PATH_MAX * 3 + 256], *base = NULL;
	curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &base);
	if (!qpath || (user && !quser) || !base)
		return cove_errf(err, -ENOMEM, "upload %s: out of memory", from);
	if ((size_t)snprintf(url, sizeof(url), "%s?path=%s%s%s", base, qpath, quser ? "&username=" : "",
			     quser ? quser : "") >= sizeof(url))
		return cove_errf(err, -ENAMETOOLONG, "upload %s: guest path too long", from);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_file);
	curl_easy_setopt(easy, CURLOPT_READDATA, &fd);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
	struct body_buf reply = { 0 };
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply);
	int r = perform(easy, cancel_fd, err);
	if (r < 0)
		return cove_err_prefix(err, "upload %s to %s", from, guest_path);
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		json_t *j = json_loads(reply.data, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "message"));
		r = cove_errf(err, status == 401 ? -EPERM : -EIO, "upload %s to %s: guest agent answered HTTP %ld%s%s",
			      from, guest_path, status, msg ? ": " : "", msg ? msg : "");
		json_decref(j);
	}
	return r;
}

/* /init's volumeMounts: the agent checks each entry again, and says which
 * it refused. */
static int init_mounts(json_t *j, const struct agent_volume_mount *m, size_t n, struct cove_err *err)
{
	json_t *list = json_array();
	if (!list || json_object_set_new(j, "volumeMounts", list) < 0)
		return cove_errf(err, -ENOMEM, "init: JSON");
	for (size_t i = 0; i < n; i++) {
		if (m[i].path && m[i].tag) {
			json_t *e = json_pack("{ss ss ss sb}", "path", m[i].path, "type", "virtiofs", "tag", m[i].tag,
					      "readOnly", m[i].read_only);
			if (!e || json_array_append_new(list, e) < 0)
				return cove_errf(err, -EINVAL, "init: share %zu: not UTF-8 text, or out of memory", i);
			continue;
		}
		if (!m[i].path || !m[i].server || !m[i].export)
			return cove_errf(err, -EINVAL, "init: volume mount %zu lacks its path, server or export", i);
		json_t *e = json_pack("{ss ss ss}", "path", m[i].path, "server", m[i].server, "export", m[i].export);
		if (e && m[i].port)
			json_object_set_new(e, "port", json_integer(m[i].port));
		if (e && m[i].mount_port)
			json_object_set_new(e, "mountPort", json_integer(m[i].mount_port));
		if (!e || json_array_append_new(list, e) < 0)
			return cove_errf(err, -EINVAL, "init: volume mount %zu: not UTF-8 text, or out of memory", i);
	}
	return 0;
}

int agent_init(const struct agent_endpoint *ep, const struct agent_init_request *req, struct cove_err *err)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char ts[64];
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);
	_cleanup_json_ json_t *j = json_pack("{ss}", "timestamp", ts);
	if (!j)
		return cove_errf(err, -ENOMEM, "init: JSON");
	if (req->token)
		json_object_set_new(j, "accessToken", json_string(req->token));
	if (req->default_user && *req->default_user)
		json_object_set_new(j, "defaultUser", json_string(req->default_user));
	if (req->default_workdir && *req->default_workdir)
		json_object_set_new(j, "defaultWorkdir", json_string(req->default_workdir));
	if (req->envs && req->envs[0]) {
		_cleanup_json_ json_t *vars = json_object();
		for (const char *const *e = req->envs; *e; e++) {
			const char *eq = strchr(*e, '=');
			if (!eq || eq == *e)
				return cove_errf(err, -EINVAL, "init: environment variable '%s' is not KEY=VALUE", *e);
			char key[256];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - *e), *e);
			json_object_set_new(vars, key, json_string(eq + 1));
		}
		json_object_set_new(j, "envVars", TAKE_PTR(vars));
	}
	if (req->nameservers && req->nameservers[0]) {
		json_t *list = json_array();
		for (const char *const *ns = req->nameservers; list && *ns; ns++)
			json_array_append_new(list, json_string(*ns));
		if (!list || json_object_set_new(j, "nameservers", list) < 0)
			return cove_errf(err, -ENOMEM, "init: JSON");
	}
	if (req->ca_bundle && json_object_set_new(j, "caBundle", json_string(req->ca_bundle)) < 0)
		return cove_errf(err, -EINVAL, "init: the CA bundle is not UTF-8 text");
	int r = req->nmounts ? init_mounts(j, req->mounts, req->nmounts, err) : 0;
	if (r < 0)
		return r;
	_cleanup_free_ char *body = json_dumps(j, JSON_COMPACT);
	if (!body)
		return cove_errf(err, -ENOMEM, "init: JSON");
	long status;
	struct body_buf reply = { 0 };
	r = agent_unary(ep, "/init", body, &reply, &status, req->nmounts ? INIT_MOUNT_TIMEOUT_MS : CONNECT_TIMEOUT_MS,
			err);
	if (r < 0)
		return r;
	if (status != 204) {
		_cleanup_json_ json_t *answer = json_loadb(reply.data, reply.len, 0, NULL);
		const char *msg = json_string_value(json_object_get(answer, "message"));
		/* Whatever the agent refused, the host sent it: not the caller's fault. */
		return cove_errf(err, status == 401 ? -EACCES : -EPROTO, "agent /init answered HTTP %ld%s%s", status,
				 msg ? ": " : "", msg ? msg : "");
	}
	return 0;
}

static uint64_t json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int agent_metrics(const struct agent_endpoint *ep, struct agent_metrics *ret, struct cove_err *err)
{
	struct body_buf *b = calloc(1, sizeof(*b));
	if (!b)
		return cove_errf(err, -ENOMEM, "metrics: out of memory");
	long status;
	json_t *j = NULL;
	int r = agent_unary(ep, "/metrics", NULL, b, &status, CONNECT_TIMEOUT_MS, err);
	if (r == 0 && status != 200)
		r = cove_errf(err, -EPROTO, "agent /metrics answered HTTP %ld", status);
	else if (r == 0 && (!(j = json_loads(b->data, 0, NULL)) || !json_is_object(j))) /* a macro: j assigned once */
		r = cove_errf(err, -EPROTO, "agent /metrics: not a JSON object");
	if (r == 0) {
		json_t *pct = json_object_get(j, "cpu_used_pct");
		*ret = (struct agent_metrics){
			.cpu_count = (unsigned)json_u64(j, "cpu_count"),
			.cpu_used_pct = json_is_number(pct) ? json_number_value(pct) : 0,
			.mem_total = json_u64(j, "mem_total"),
			.mem_used = json_u64(j, "mem_used"),
			.mem_cache = json_u64(j, "mem_cache"),
			.disk_total = json_u64(j, "disk_total"),
			.disk_used = json_u64(j, "disk_used"),
		};
	}
	json_decref(j);
	free(b);
	return r;
}

/* A unary Connect call of the process service; {} is the only good answer. */
static int process_call(const struct agent_endpoint *ep, const char *method, json_t *body, struct cove_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/process.Process/%s", method);
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return cove_errf(err, -ENOMEM, "agent %s: out of memory", method);
	struct body_buf out = { 0 };
	long status;
	int r = agent_unary(ep, path, text, &out, &status, CONNECT_TIMEOUT_MS, err);
	if (r == 0 && status != 200) {
		json_t *j = json_loads(out.data, 0, NULL);
		const char *code = json_string_value(json_object_get(j, "code"));
		const char *msg = json_string_value(json_object_get(j, "message"));
		r = cove_errf(err, code ? errno_for_code(code) : -EPROTO, "agent %s: %s", method,
			      msg ? msg : "unexpected answer");
		json_decref(j);
	}
	return r;
}

int agent_send_input(const struct agent_endpoint *ep, int pid, const uint8_t *data, size_t len, struct cove_err *err)
{
	char *b64 = malloc(base64_encoded_len(len) + 1);
	if (!b64)
		return cove_errf(err, -ENOMEM, "agent SendInput: out of memory");
	base64_encode(data, len, b64);
	b64[base64_encoded_len(len)] = '\0';
	int r = process_call(ep, "SendInput", json_pack("{s:{s:i}, s:{s:s}}", "process", "pid", pid, "input", "pty", b64),
			     err);
	free(b64);
	return r;
}

int agent_kill(const struct agent_endpoint *ep, int pid, bool force, struct cove_err *err)
{
	return process_call(ep, "SendSignal",
			    json_pack("{s:{s:i}, s:s}", "process", "pid", pid, "signal",
				      force ? "SIGNAL_SIGKILL" : "SIGNAL_SIGTERM"),
			    err);
}

int agent_resize(const struct agent_endpoint *ep, int pid, unsigned short cols, unsigned short rows,
		 struct cove_err *err)
{
	return process_call(ep, "Update",
			    json_pack("{s:{s:i}, s:{s:{s:i, s:i}}}", "process", "pid", pid, "pty", "size", "cols",
				      (int)cols, "rows", (int)rows),
			    err);
}
