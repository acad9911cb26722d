/* The E2B control plane (../docs: shared e2b-protocol.md; E2B's
 * spec/openapi.yml where that is silent): create, connect, info, list with
 * filters and pagination, kill, timeout, refresh, pause, fork, metrics, logs, and
 * the templates. */
#include "api/control.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "proto/utf8.h"
#include "proto/version.h"
#include "template/template.h"

#define MAX_METADATA 64
#define MAX_ENV_VARS 256
#define MAX_KEY 256
#define MAX_VALUE 4096
#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 100
#define LOGS_DEFAULT_LIMIT 1000
#define LOGS_MAX_LIMIT 100000
#define LOG_TAIL_BYTES (1024 * 1024)

static struct manager *manager_of(struct api_request *r)
{
	return r->app;
}

static void iso8601(int64_t ms, char buf[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static enum MHD_Result reply_failure(struct api_request *r, int code, const struct cove_err *err)
{
	unsigned status = code == -ENOENT ? 404
			: code == -EINVAL ? 400
			: code == -EAGAIN ? 429
			: code == -EBUSY || code == -EALREADY || code == -ESTALE || code == -EOPNOTSUPP ? 409
			: code == -ENOSPC ? 507
			: code == -ESHUTDOWN || code == -ECANCELED ? 503
					     : 500;
	return api_reply_error(r, status, "%s", err->msg[0] ? err->msg : strerror(-code));
}

static const char *state_name(enum store_sandbox_state s)
{
	return s == STORE_SANDBOX_PAUSED ? "paused" : "running";
}

/* The fields create and connect answer with. */
static json_t *created_json(const struct manager_info *info)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:n}", "sandboxID", info->id, "templateID",
			 info->template_id, "alias", info->template_id, "clientID", "cove", "envdVersion", ENVD_VERSION,
			 "envdAccessToken", info->token, "trafficAccessToken", "domain");
}

static json_t *info_json(const struct manager_info *info, bool with_token)
{
	char started[32], end[32];
	iso8601(info->started_ms, started);
	iso8601(info->end_ms, end);
	json_t *meta = json_loads(info->metadata, 0, NULL);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:s}", "sandboxID", info->id,
			      "templateID", info->template_id, "alias", info->template_id, "clientID", "cove",
			      "startedAt", started, "endAt", end, "state", state_name(info->state), "cpuCount",
			      (int)info->vcpus, "memoryMB", (int)info->mem_mib, "metadata", meta ? meta : json_object(),
			      "envdVersion", ENVD_VERSION);
	if (j && with_token)
		json_object_set_new(j, "envdAccessToken", json_string(info->token));
	if (j) /* Cove's own: what it holds on the host's disk */
		json_object_set_new(j, "diskBytes", json_integer((json_int_t)info->disk_bytes));
	return j;
}

/* {"k": "v", ...} with string values, bounded; its text for the manager. */
static int string_map(json_t *obj, const char *what, size_t max, struct cove_err *err)
{
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return cove_errf(err, -EINVAL, "%s must be an object of strings", what);
	if (json_object_size(obj) > max)
		return cove_errf(err, -EINVAL, "%s: more than %zu entries", what, max);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			return cove_errf(err, -EINVAL, "%s.%s must be a string", what, k);
		if (!*k || strlen(k) > MAX_KEY || json_string_length(v) > MAX_VALUE)
			return cove_errf(err, -EINVAL, "%s: a key must be 1 to %d and a value at most %d bytes", what,
					 MAX_KEY, MAX_VALUE);
	}
	return 0;
}

static int string_list(json_t *arr, const char *what, const char ***ret, struct cove_err *err)
{
	*ret = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > NET_MAX_RULES)
		return cove_errf(err, -EINVAL, "%s must be a list of at most %d addresses or CIDRs", what, NET_MAX_RULES);
	const char **list = calloc(json_array_size(arr) + 1, sizeof(*list));
	if (!list)
		return cove_errf(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!(list[i] = json_string_value(json_array_get(arr, i)))) {
			free(list);
			return cove_errf(err, -EINVAL, "%s[%zu] must be a string", what, i);
		}
	*ret = list;
	return 0;
}

struct create_parsed {
	struct manager_create req;
	char *metadata;
	const char **envs;
	char **env_storage;
	const char **allow, **deny;
};

static void create_parsed_free(struct create_parsed *p)
{
	free(p->metadata);
	for (size_t i = 0; p->env_storage && p->env_storage[i]; i++)
		free(p->env_storage[i]);
	free(p->env_storage);
	free(p->envs);
	free(p->allow);
	free(p->deny);
}

static int parse_envs(json_t *vars, struct create_parsed *p, struct cove_err *err)
{
	int r = string_map(vars, "envVars", MAX_ENV_VARS, err);
	size_t n = json_object_size(vars);
	if (r < 0 || !n)
		return r;
	p->envs = calloc(n + 1, sizeof(*p->envs));
	p->env_storage = calloc(n + 1, sizeof(*p->env_storage));
	if (!p->envs || !p->env_storage)
		return cove_errf(err, -ENOMEM, "out of memory");
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v) {
		if (strchr(k, '='))
			return cove_errf(err, -EINVAL, "envVars: '%s' is not a variable name", k);
		if (asprintf(&p->env_storage[i], "%s=%s", k, json_string_value(v)) < 0) {
			p->env_storage[i] = NULL;
			return cove_errf(err, -ENOMEM, "out of memory");
		}
		p->envs[i] = p->env_storage[i];
		i++;
	}
	return 0;
}

static int parse_create(json_t *body, struct create_parsed *p, struct cove_err *err)
{
	memset(p, 0, sizeof(*p));
	json_t *tpl = json_object_get(body, "templateID"), *timeout = json_object_get(body, "timeout");
	if (tpl && !json_is_string(tpl))
		return cove_errf(err, -EINVAL, "templateID must be a string");
	p->req.template_id = json_string_value(tpl);
	if (timeout && !json_is_null(timeout)) {
		if (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
		    json_integer_value(timeout) > MANAGER_MAX_TIMEOUT_S)
			return cove_errf(err, -EINVAL, "timeout must be a number of seconds from 0 to %d",
					 MANAGER_MAX_TIMEOUT_S);
		p->req.timeout_s = (long)json_integer_value(timeout);
	}
	json_t *meta = json_object_get(body, "metadata");
	int r = string_map(meta, "metadata", MAX_METADATA, err);
	if (r < 0)
		return r;
	if (meta && json_is_object(meta) && !(p->metadata = json_dumps(meta, JSON_COMPACT)))
		return cove_errf(err, -ENOMEM, "out of memory");
	p->req.metadata = p->metadata;
	if ((r = parse_envs(json_object_get(body, "envVars"), p, err)) < 0)
		return r;
	p->req.envs = p->envs;
	/* E2B takes both spellings of the switch. */
	json_t *internet = json_object_get(body, "allow_internet_access");
	if (!internet)
		internet = json_object_get(body, "allowInternetAccess");
	if (internet && !json_is_null(internet) && !json_is_boolean(internet))
		return cove_errf(err, -EINVAL, "allow_internet_access must be true or false");
	p->req.policy.internet = !internet || json_is_null(internet) || json_is_true(internet);
	json_t *network = json_object_get(body, "network");
	if (network && !json_is_null(network) && !json_is_object(network))
		return cove_errf(err, -EINVAL, "network must be an object");
	if ((r = string_list(json_object_get(network, "allowOut"), "network.allowOut", &p->allow, err)) < 0 ||
	    (r = string_list(json_object_get(network, "denyOut"), "network.denyOut", &p->deny, err)) < 0)
		return r;
	p->req.policy.allow_out = p->allow;
	p->req.policy.deny_out = p->deny;
	json_t *auto_pause = json_object_get(body, "autoPause");
	if (auto_pause && !json_is_null(auto_pause) && !json_is_boolean(auto_pause))
		return cove_errf(err, -EINVAL, "autoPause must be true or false");
	p->req.auto_pause = json_is_true(auto_pause);
	return net_policy_check(&p->req.policy, err);
}

static enum MHD_Result handle_create(struct api_request *r)
{
	struct cove_err err = { 0 };
	json_t *body = api_json_body(r, &err);
	if (!body)
		return api_reply_error(r, 400, "%s", err.msg);
	struct create_parsed p;
	int rc = parse_create(body, &p, &err);
	struct manager_info info = { 0 };
	if (rc == 0)
		rc = manager_create(manager_of(r), &p.req, &info, &err);
	create_parsed_free(&p);
	json_decref(body);
	if (rc < 0)
		return reply_failure(r, rc == -ENOENT ? -EINVAL : rc, &err);
	enum MHD_Result ret = api_reply_json(r, 201, created_json(&info), NULL, NULL);
	manager_info_clear(&info);
	return ret;
}

static enum MHD_Result handle_info(struct api_request *r)
{
	struct cove_err err = { 0 };
	struct manager_info info = { 0 };
	int rc = manager_get(manager_of(r), r->params[0], &info, &err);
	if (rc < 0)
		return reply_failure(r, rc, &err);
	enum MHD_Result ret = api_reply_json(r, 200, info_json(&info, true), NULL, NULL);
	manager_info_clear(&info);
	return ret;
}

static enum MHD_Result handle_kill(struct api_request *r)
{
	struct cove_err err = { 0 };
	int rc = manager_kill(manager_of(r), r->params[0], &err);
	return rc < 0 ? reply_failure(r, rc, &err) : api_reply_empty(r, 204);
}

/* {"timeout": s} or {"duration": s} in body: a number of seconds,
 * required or not. */
static int seconds_of(json_t *body, const char *field, bool required, long *ret, struct cove_err *err)
{
	json_t *v = json_object_get(body, field);
	if (!v || json_is_null(v))
		return required ? cove_errf(err, -EINVAL, "%s is required", field) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MANAGER_MAX_TIMEOUT_S)
		return cove_errf(err, -EINVAL, "%s must be a number of seconds from 0 to %d", field, MANAGER_MAX_TIMEOUT_S);
	*ret = (long)json_integer_value(v);
	return 0;
}

/* seconds_of the request's body. */
static int seconds_field(struct api_request *r, const char *field, bool required, long *ret, struct cove_err *err)
{
	json_t *body = api_json_body(r, err);
	if (!body)
		return -EINVAL;
	int rc = seconds_of(body, field, required, ret, err);
	json_decref(body);
	return rc;
}

static enum MHD_Result handle_timeout(struct api_request *r)
{
	struct cove_err err = { 0 };
	long secs = 0;
	int rc = seconds_field(r, "timeout", true, &secs, &err);
	if (rc == 0)
		rc = manager_set_timeout(manager_of(r), r->params[0], secs, &err);
	return rc < 0 ? reply_failure(r, rc, &err) : api_reply_empty(r, 204);
}

static enum MHD_Result handle_refresh(struct api_request *r)
{
	struct cove_err err = { 0 };
	long secs = 60; /* E2B's default refresh */
	int rc = seconds_field(r, "duration", false, &secs, &err);
	if (rc == 0)
		rc = manager_refresh(manager_of(r), r->params[0], secs, &err);
	return rc < 0 ? reply_failure(r, rc, &err) : api_reply_empty(r, 204);
}

/* Connect: resumes a paused sandbox (201) or finds a running one (200); the
 * deadline moves to now + timeout if that is later, never earlier. */
static enum MHD_Result handle_connect(struct api_request *r)
{
	struct cove_err err = { 0 };
	long secs = MANAGER_DEFAULT_TIMEOUT_S;
	bool resumed = false;
	int rc = seconds_field(r, "timeout", false, &secs, &err);
	struct manager_info info = { 0 };
	if (rc == 0)
		rc = manager_resume(manager_of(r), r->params[0], secs, &resumed, &err);
	if (rc == 0)
		rc = manager_get(manager_of(r), r->params[0], &info, &err);
	if (rc < 0)
		return reply_failure(r, rc, &err);
	enum MHD_Result ret = api_reply_json(r, resumed ? 201 : 200, created_json(&info), NULL, NULL);
	manager_info_clear(&info);
	return ret;
}

static enum MHD_Result handle_pause(struct api_request *r)
{
	struct cove_err err = { 0 };
	int rc = manager_pause(manager_of(r), r->params[0], &err);
	return rc < 0 ? reply_failure(r, rc, &err) : api_reply_empty(r, 204);
}

/* POST /sandboxes/{id}/fork {"count": N, "timeout": s} (Cove's own: E2B
 * has no fork): 201 with {"sandboxes": [...]}, each as create answers. */
static enum MHD_Result handle_fork(struct api_request *r)
{
	struct cove_err err = { 0 };
	long secs = MANAGER_DEFAULT_TIMEOUT_S;
	json_t *body = api_json_body(r, &err);
	int rc = body ? seconds_of(body, "timeout", false, &secs, &err) : -EINVAL;
	json_t *c = json_object_get(body, "count");
	json_int_t count = 1;
	if (rc == 0 && c && !json_is_null(c)) {
		if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > MANAGER_MAX_FORK)
			rc = cove_errf(&err, -EINVAL, "count must be a number from 1 to %d", MANAGER_MAX_FORK);
		else
			count = json_integer_value(c);
	}
	json_decref(body);
	struct manager_info *kids = rc == 0 ? calloc((size_t)count, sizeof(*kids)) : NULL;
	if (rc == 0 && !kids)
		rc = cove_errf(&err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = manager_fork(manager_of(r), r->params[0], (unsigned)count, secs, kids, &err);
	if (rc < 0) {
		free(kids);
		return reply_failure(r, rc, &err);
	}
	json_t *list = json_array();
	for (json_int_t i = 0; i < count; i++) {
		json_array_append_new(list, created_json(&kids[i]));
		manager_info_clear(&kids[i]);
	}
	free(kids);
	return api_reply_json(r, 201, json_pack("{s:o}", "sandboxes", list), NULL, NULL);
}

/* --- metrics --- */

static int metric_json(void *ctx, const struct manager_metric *mt)
{
	char ts[32];
	iso8601(mt->ts_ms, ts);
	json_t *o = json_pack("{s:s, s:I, s:f, s:i, s:I, s:I, s:I, s:I}", "timestamp", ts, "timestampUnix",
			      (json_int_t)(mt->ts_ms / 1000), "cpuUsedPct", mt->cpu_used_pct, "cpuCount",
			      (int)mt->cpu_count, "memUsed", (json_int_t)mt->mem_used, "memTotal",
			      (json_int_t)mt->mem_total, "diskUsed", (json_int_t)mt->disk_used, "diskTotal",
			      (json_int_t)mt->disk_total);
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

static int unix_seconds(struct api_request *r, const char *name, int64_t *ms, struct cove_err *err)
{
	const char *v = api_query(r, name);
	*ms = 0;
	if (!v || !*v)
		return 0;
	char *end;
	long long s = strtoll(v, &end, 10);
	if (*end || s < 0 || s > 100000000000LL)
		return cove_errf(err, -EINVAL, "%s must be a time in seconds since the epoch", name);
	*ms = s * 1000;
	return 0;
}

static enum MHD_Result handle_metrics(struct api_request *r)
{
	struct cove_err err = { 0 };
	int64_t start, end;
	int rc = unix_seconds(r, "start", &start, &err);
	if (rc == 0)
		rc = unix_seconds(r, "end", &end, &err);
	json_t *arr = json_array();
	if (rc == 0 && !arr)
		rc = cove_errf(&err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = manager_metrics(manager_of(r), r->params[0], start, end ? end + 999 : 0, metric_json, arr, &err);
	if (rc < 0) {
		json_decref(arr);
		return reply_failure(r, rc, &err);
	}
	return api_reply_json(r, 200, arr, NULL, NULL);
}

/* Prometheus text for operators: the host's sandboxes and their latest samples. */
struct prom {
	char *buf;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void prom_add(struct prom *p, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2 && !p->failed; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
		size_t cap = (p->cap + (size_t)(n > 0 ? n : 0)) * 2 + 4096;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->failed = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
}

static int prom_warm(void *ctx, const char *template_id, unsigned count)
{
	prom_add(ctx, "cove_warm_pool_template{template=\"%s\"} %u\n", template_id, count);
	return 0;
}

static int prom_sandbox(void *ctx, const struct manager_info *info, const struct manager_metric *mt)
{
	struct prom *p = ctx;
	const char *state = info->state == STORE_SANDBOX_PAUSED ? "paused" : "running";
	prom_add(p, "cove_sandbox_info{sandbox=\"%s\",template=\"%s\",state=\"%s\"} 1\n", info->id, info->template_id,
		 state);
	if (mt) {
		prom_add(p, "cove_sandbox_cpu_used_percent{sandbox=\"%s\"} %.2f\n", info->id, mt->cpu_used_pct);
		prom_add(p, "cove_sandbox_memory_used_bytes{sandbox=\"%s\"} %llu\n", info->id,
			 (unsigned long long)mt->mem_used);
		prom_add(p, "cove_sandbox_vmm_memory_bytes{sandbox=\"%s\"} %llu\n", info->id,
			 (unsigned long long)mt->vmm_mem);
		prom_add(p, "cove_sandbox_disk_used_bytes{sandbox=\"%s\"} %llu\n", info->id,
			 (unsigned long long)mt->disk_used);
	}
	return 0;
}

static enum MHD_Result handle_host_metrics(struct api_request *r)
{
	struct manager_stats st;
	manager_stats(manager_of(r), &st);
	struct prom p = { 0 };
	prom_add(&p, "# HELP cove_sandboxes Sandboxes on this host by state.\n# TYPE cove_sandboxes gauge\n");
	prom_add(&p, "cove_sandboxes{state=\"running\"} %u\ncove_sandboxes{state=\"paused\"} %u\n"
		     "cove_sandboxes{state=\"creating\"} %u\n", st.running, st.paused, st.creating);
	prom_add(&p, "# HELP cove_sandboxes_saved Paused sandboxes saved to disk (no VMM).\n"
		     "# TYPE cove_sandboxes_saved gauge\ncove_sandboxes_saved %u\n", st.saved);
	prom_add(&p, "# HELP cove_warm_pool Restored, paused sandboxes ready to claim.\n"
		     "# TYPE cove_warm_pool gauge\ncove_warm_pool %u\n", st.warm);
	manager_each_warm(manager_of(r), prom_warm, &p);
	prom_add(&p, "# TYPE cove_sandboxes_max gauge\ncove_sandboxes_max %u\n", st.max_sandboxes);
	prom_add(&p, "# TYPE cove_memory_committed_bytes gauge\ncove_memory_committed_bytes %llu\n",
		 (unsigned long long)st.committed_mib << 20);
	prom_add(&p, "# TYPE cove_memory_limit_bytes gauge\ncove_memory_limit_bytes %llu\n",
		 (unsigned long long)st.max_memory_mib << 20);
	prom_add(&p, "# TYPE cove_sandboxes_created_total counter\ncove_sandboxes_created_total %llu\n",
		 (unsigned long long)st.created);
	prom_add(&p, "# TYPE cove_sandboxes_killed_total counter\ncove_sandboxes_killed_total %llu\n",
		 (unsigned long long)st.killed);
	prom_add(&p, "# TYPE cove_sandbox_create_failures_total counter\ncove_sandbox_create_failures_total %llu\n",
		 (unsigned long long)st.create_failures);
	manager_each_latest(manager_of(r), prom_sandbox, &p);
	if (p.failed || !p.buf) {
		free(p.buf);
		return api_reply_error(r, 500, "out of memory");
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(p.len, p.buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(p.buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
	enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* --- listing --- */

static int hex_value(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* application/x-www-form-urlencoded decoding, in place. */
static void form_decode(char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (*p == '+') {
			*w++ = ' ';
		} else if (*p == '%' && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
			*w++ = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

struct list_query {
	json_t *metadata; /* required key -> value, or NULL */
	bool running, paused;
	int64_t before_seq; /* nextToken: only older than this; 0: from the newest */
	size_t limit;
	json_t *items;
	int64_t last_seq;
	bool more;
};

static int parse_metadata_filter(const char *text, struct list_query *q, struct cove_err *err)
{
	if (!text || !*text)
		return 0;
	char *copy = strdup(text);
	q->metadata = json_object();
	if (!copy || !q->metadata) {
		free(copy);
		return cove_errf(err, -ENOMEM, "out of memory");
	}
	char *save = NULL;
	for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		if (!eq) {
			free(copy);
			return cove_errf(err, -EINVAL, "metadata filter: '%s' is not key=value", pair);
		}
		*eq = '\0';
		form_decode(pair);
		form_decode(eq + 1);
		json_object_set_new(q->metadata, pair, json_string_lossy(eq + 1));
	}
	free(copy);
	return 0;
}

static int parse_list_query(struct api_request *r, bool v2, struct list_query *q, struct cove_err *err)
{
	memset(q, 0, sizeof(*q));
	q->limit = LIST_DEFAULT_LIMIT;
	q->running = true;
	q->paused = v2;
	const char *state = api_query(r, "state"), *limit = api_query(r, "limit"), *next = api_query(r, "nextToken");
	if (v2 && state && *state) {
		q->running = q->paused = false;
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", state);
		char *save = NULL;
		for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
			if (strcmp(s, "running") == 0)
				q->running = true;
			else if (strcmp(s, "paused") == 0)
				q->paused = true;
			else
				return cove_errf(err, -EINVAL, "state filter: '%s' is neither running nor paused", s);
		}
	}
	if (limit) {
		char *end;
		long v = strtol(limit, &end, 10);
		if (*end || end == limit || v < 1 || v > LIST_MAX_LIMIT)
			return cove_errf(err, -EINVAL, "limit must be 1 to %d", LIST_MAX_LIMIT);
		q->limit = (size_t)v;
	}
	if (next && *next) {
		char *end;
		long long v = strtoll(next, &end, 10);
		if (*end || v <= 0)
			return cove_errf(err, -EINVAL, "nextToken '%s' is not one this server gave", next);
		q->before_seq = v;
	}
	q->items = json_array();
	if (!q->items)
		return cove_errf(err, -ENOMEM, "out of memory");
	return parse_metadata_filter(api_query(r, "metadata"), q, err);
}

static bool metadata_matches(const struct list_query *q, const char *text)
{
	if (!q->metadata)
		return true;
	json_t *meta = json_loads(text, 0, NULL);
	bool ok = true;
	const char *k;
	json_t *want;
	json_object_foreach(q->metadata, k, want)
		if (!json_equal(json_object_get(meta, k), want)) {
			ok = false;
			break;
		}
	json_decref(meta);
	return ok;
}

static int list_one(void *ctx, const struct manager_info *info)
{
	struct list_query *q = ctx;
	if (q->before_seq && info->seq >= q->before_seq)
		return 0;
	if (!(info->state == STORE_SANDBOX_PAUSED ? q->paused : q->running) || !metadata_matches(q, info->metadata))
		return 0;
	if (json_array_size(q->items) >= q->limit) {
		q->more = true;
		return 1; /* stop: one more exists */
	}
	q->last_seq = info->seq;
	return json_array_append_new(q->items, info_json(info, false)) < 0 ? -ENOMEM : 0;
}

static enum MHD_Result list(struct api_request *r, bool v2)
{
	struct cove_err err = { 0 };
	struct list_query q;
	int rc = parse_list_query(r, v2, &q, &err);
	if (rc == 0)
		rc = manager_list(manager_of(r), list_one, &q);
	json_decref(q.metadata);
	if (rc < 0) {
		json_decref(q.items);
		return rc == -ENOMEM ? api_reply_error(r, 500, "out of memory") : reply_failure(r, rc, &err);
	}
	char next[32];
	snprintf(next, sizeof(next), "%" PRId64, q.last_seq);
	return api_reply_json(r, 200, q.items, q.more ? "X-Next-Token" : NULL, q.more ? next : NULL);
}

static enum MHD_Result handle_list_v1(struct api_request *r)
{
	return list(r, false);
}

static enum MHD_Result handle_list_v2(struct api_request *r)
{
	return list(r, true);
}

/* --- logs and templates --- */

/* The last lines of a log file (at most LOG_TAIL_BYTES of it), each as
 * {"timestamp", "line"} in logs and {"timestamp", "level", "message",
 * "fields": {"source"}} in entries, as E2B's logs route has them. */
static int tail_lines(const char *path, const char *source, const char *ts, size_t limit, json_t *logs,
		      json_t *entries)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char *buf = malloc(LOG_TAIL_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	long at = 0;
	if (fseek(f, 0, SEEK_END) == 0 && (at = ftell(f)) > LOG_TAIL_BYTES)
		at -= LOG_TAIL_BYTES;
	else
		at = 0;
	fseek(f, at, SEEK_SET);
	size_t n = fread(buf, 1, LOG_TAIL_BYTES, f);
	fclose(f);
	buf[n] = '\0';
	/* Whole lines only: a cut first line goes. */
	char *p = buf;
	if (at > 0 && (p = strchr(buf, '\n')))
		p++;
	size_t total = 0;
	for (char *q = p; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL)
		total++;
	int r = 0;
	for (size_t i = 0; p && *p && r == 0; i++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		size_t len = strlen(p);
		if (len && p[len - 1] == '\r')
			p[len - 1] = '\0';
		if (i + limit >= total) {
			json_t *line = json_string_lossy(p);
			json_t *l = line ? json_pack("{s:s, s:O}", "timestamp", ts, "line", line) : NULL;
			json_t *e = line ? json_pack("{s:s, s:s, s:O, s:{s:s}}", "timestamp", ts, "level", "info",
						     "message", line, "fields", "source", source) : NULL;
			r = l && e && json_array_append_new(logs, l) == 0 && json_array_append_new(entries, e) == 0
				    ? 0 : -ENOMEM;
			json_decref(line);
		}
		p = nl ? nl + 1 : NULL;
	}
	free(buf);
	return r;
}

static enum MHD_Result handle_logs(struct api_request *r)
{
	struct cove_err err = { 0 };
	char console[PATH_MAX], vmm[PATH_MAX];
	struct manager_info info = { 0 };
	int rc = manager_log_paths(manager_of(r), r->params[0], console, vmm, &err);
	if (rc == 0)
		rc = manager_get(manager_of(r), r->params[0], &info, &err);
	if (rc < 0)
		return reply_failure(r, rc, &err);
	const char *v = api_query(r, "limit");
	char *end = NULL;
	long limit = v && *v ? strtol(v, &end, 10) : LOGS_DEFAULT_LIMIT;
	if (v && *v && (*end || limit < 1 || limit > LOGS_MAX_LIMIT)) {
		manager_info_clear(&info);
		return api_reply_error(r, 400, "limit must be 1 to %d", LOGS_MAX_LIMIT);
	}
	char ts[32];
	iso8601(info.started_ms, ts);
	manager_info_clear(&info);
	json_t *logs = json_array(), *entries = json_array();
	rc = logs && entries ? 0 : -ENOMEM;
	if (rc == 0)
		rc = tail_lines(console, "console", ts, (size_t)limit, logs, entries);
	if (rc == 0)
		rc = tail_lines(vmm, "vmm", ts, (size_t)limit, logs, entries);
	if (rc < 0) {
		json_decref(logs);
		json_decref(entries);
		return api_reply_error(r, 500, "read the logs of %s: %s", r->params[0], strerror(-rc));
	}
	return api_reply_json(r, 200, json_pack("{s:o, s:o}", "logs", logs, "logEntries", entries), NULL, NULL);
}

static int template_json(void *ctx, const struct template *t)
{
	struct stat st;
	uint64_t size = stat(t->rootfs, &st) == 0 ? (uint64_t)st.st_size : 0;
	unsigned mem = t->memory_mib ? t->memory_mib : VMM_DEFAULT_MEM_MIB;
	unsigned cpus = t->vcpus ? t->vcpus : VMM_DEFAULT_VCPUS;
	/* Whether sandboxes of it are restored (cove template snapshot). */
	json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:I, s:b, s:[s], s:s, s:s, s:s, s:s, s:s, s:b}", "templateID",
			      t->name, "buildID", t->name, "cpuCount", (int)cpus, "memoryMB", (int)mem, "diskSizeMB",
			      (json_int_t)(size >> 20), "public", 0, "aliases", t->name, "envdVersion", ENVD_VERSION,
			      "buildStatus", "ready", "defaultUser", t->user[0] ? t->user : "root", "defaultWorkdir",
			      t->workdir, "suite", t->suite, "snapshot", access(t->snapshot, F_OK) == 0);
	/* Cove's own: what its image and snapshot take on the host's disk. */
	uint64_t image = fs_disk_usage(t->rootfs, false), snapshot = fs_disk_usage(t->snapshot, false);
	if (o) {
		json_object_set_new(o, "diskBytes", json_integer((json_int_t)(image + snapshot)));
		json_object_set_new(o, "snapshotBytes", json_integer((json_int_t)snapshot));
	}
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

static enum MHD_Result handle_templates(struct api_request *r)
{
	struct cove_err err = { 0 };
	json_t *list = json_array();
	int rc = list ? template_each(manager_templates_dir(manager_of(r)), template_json, list, &err)
		      : cove_errf(&err, -ENOMEM, "out of memory");
	if (rc < 0) {
		json_decref(list);
		return api_reply_error(r, 500, "%s", err.msg[0] ? err.msg : strerror(-rc));
	}
	return api_reply_json(r, 200, list, NULL, NULL);
}

static const struct api_route routes[] = {
	{ "POST", "/sandboxes", handle_create, 0 },
	{ "POST", "/v2/sandboxes", handle_create, 0 },
	{ "GET", "/sandboxes", handle_list_v1, 0 },
	{ "GET", "/v2/sandboxes", handle_list_v2, 0 },
	{ "GET", "/sandboxes/{}", handle_info, 0 },
	{ "DELETE", "/sandboxes/{}", handle_kill, 0 },
	{ "POST", "/sandboxes/{}/timeout", handle_timeout, 0 },
	{ "POST", "/sandboxes/{}/refreshes", handle_refresh, 0 },
	{ "POST", "/sandboxes/{}/connect", handle_connect, 0 },
	{ "POST", "/v2/sandboxes/{}/connect", handle_connect, 0 },
	{ "POST", "/sandboxes/{}/pause", handle_pause, 0 },
	{ "POST", "/sandboxes/{}/fork", handle_fork, 0 },
	{ "GET", "/sandboxes/{}/metrics", handle_metrics, 0 },
	{ "GET", "/metrics", handle_host_metrics, 0 },
	{ "GET", "/sandboxes/{}/logs", handle_logs, 0 },
	{ "GET", "/templates", handle_templates, 0 },
};

const struct api_route *control_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
