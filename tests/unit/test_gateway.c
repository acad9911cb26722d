/* The cluster gateway's routing (src/gateway/) against a real etcd member
 * (etcd_server.h) and real HTTP over loopback: the decision for each kind of
 * request given a catalog state, the list JSON from records, and whole
 * requests through a gateway's API server to two stand-in hosts (API
 * servers whose handlers say what reached them): creates placed past a
 * host's 429, a sandbox's routes and envd traffic relayed to its owner with
 * X-Cove-Host and the cluster key, answers for a host that is gone (info
 * from the record, a kill as an intent in etcd, 503, 502), 421, lists from
 * the catalog and the key still checked. Skipped when etcd is not
 * installed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "api/handlers.h"
#include "common/curl.h"
#include "etcd_server.h"
#include "gateway/internal.h"

#define KEY "cluster-key"

static struct etcd_server member;
static struct etcd_client *etcd;

/* A stand-in host: an API server answering what reached it. */
struct fake_host {
	const char *name;
	unsigned create_status;
	bool cluster_down; /* its create's 503 says it cannot reach the catalog */
	struct api_server *s;
	unsigned port;
	int seen;
};
static struct fake_host fakes[2] = { { "h1", 429, false, NULL, 0, 0 }, { "h2", 201, false, NULL, 0, 0 } };

static enum MHD_Result host_echo(struct http_request *r)
{
	struct fake_host *h = r->app;
	h->seen++;
	const char *cove = http_header(r, GATEWAY_HOST_HEADER), *key = http_header(r, "X-API-KEY");
	const char *xff = http_header(r, "X-Forwarded-For"), *sb = http_header(r, "E2b-Sandbox-Id");
	json_t *j = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s?}", "host", h->name, "coveHost", cove, "key",
			      key, "xff", xff, "sandbox", sb, "path", r->path, "body", r->body);
	unsigned status = strcmp(r->method, "POST") == 0 && strcmp(r->path, "/sandboxes") == 0 ? h->create_status
											     : 200;
	if (status == 503 && h->cluster_down)
		return http_reply_json_with(r, status, j, API_CLUSTER_DOWN_HEADER, "1");
	return http_reply_json(r, status, j);
}

static const struct http_route host_routes[] = {
	{ "POST", "/sandboxes", host_echo },   { "GET", "/sandboxes/{}", host_echo },
	{ "GET", "/sandboxes/{}/logs", host_echo }, { "GET", "/templates", host_echo },
	/* Open, as a host's envd proxy is. */
	{ "GET", "/files", host_echo, 0, NULL, NULL, true }, { "POST", "/files", host_echo, 0, NULL, NULL, true },
};

static enum MHD_Result local(struct http_request *r)
{
	return http_reply_json(r, 200, json_pack("{s:s}", "host", "local"));
}

static const struct http_route gateway_routes[] = { { "GET", "/templates", local }, { "GET", "/cluster/hosts", local } };

static int setup(void **state)
{
	(void)state;
	cove_curl_init();
	if (etcd_server_open(&member, &etcd) < 0)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		struct api_server_config c = { .address = "127.0.0.1", .api_key = KEY, .routes = host_routes,
					       .nroutes = sizeof(host_routes) / sizeof(host_routes[0]), .app = &fakes[i] };
		if (api_server_start(&c, &fakes[i].s, NULL) < 0)
			return -1;
		fakes[i].port = api_server_port(fakes[i].s);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++)
		api_server_stop(fakes[i].s);
	etcd_server_close(&member, &etcd);
	return 0;
}

static int64_t put_text(const char *key, const char *text)
{
	int64_t rev = 0;
	struct cove_err err = { 0 };
	if (etcd_put(etcd, key, strlen(key), text, strlen(text), 0, &rev, &err) < 0)
		fail_msg("put %s: %s", key, err.msg);
	return rev;
}

static int64_t put_host(const char *id, unsigned port)
{
	struct cluster_template tpl = { .name = "base", .vcpus = 1, .mem_mib = 256 };
	struct cluster_host h = { .state = CLUSTER_HOST_READY, .version = "v", .accel = "tcg", .cpus = 2,
				  .snap_key = "k", .mem_max_mib = 4096, .max_sandboxes = 8, .max_boots = 1,
				  .templates = &tpl, .ntemplates = 1, .ts_ms = 1 };
	snprintf(h.id, sizeof(h.id), "%s", id);
	snprintf(h.addr, sizeof(h.addr), "127.0.0.1:%u", port);
	char key[128], *text = NULL;
	assert_int_equal(cluster_host_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(cluster_host_encode(&h, &text, NULL), 0);
	int64_t rev = put_text(key, text);
	free(text);
	return rev;
}

static int64_t put_sandbox(const char *id, const char *host, enum cluster_sandbox_state state, int64_t seq)
{
	struct cluster_sandbox sb = { .epoch = 1, .state = state, .template_id = "base", .vcpus = 1, .mem_mib = 256,
				      .seq = seq, .started_ms = 1764930000000, .end_ms = 1764930300000,
				      .metadata = "{\"user\":\"ada\"}" };
	snprintf(sb.id, sizeof(sb.id), "%s", id);
	snprintf(sb.host, sizeof(sb.host), "%s", host);
	char key[128], *text = NULL;
	assert_int_equal(cluster_sandbox_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(cluster_sandbox_encode(&sb, &text, NULL), 0);
	int64_t rev = put_text(key, text);
	free(text);
	return rev;
}

/* A closed loopback port: a host whose key exists but who does not answer. */
static unsigned closed_port(void)
{
	int a, b;
	assert_int_equal(etcd_server_free_ports(&a, &b), 0);
	return (unsigned)a;
}

/* h1 and h2 (the stand-ins), h4 (live, not answering); sandboxes sbone on
 * h2, sbmine on h1, sbdead on h3 (no key), sbmute on h4. */
static int64_t catalog_state(void)
{
	etcd_server_clear_catalog(etcd);
	put_host("h1", fakes[0].port);
	put_host("h2", fakes[1].port);
	put_host("h4", closed_port());
	put_sandbox("sbone", "h2", CLUSTER_SANDBOX_RUNNING, 10);
	put_sandbox("sbmine", "h1", CLUSTER_SANDBOX_PAUSED, 11);
	put_sandbox("sbdead", "h3", CLUSTER_SANDBOX_RUNNING, 12);
	return put_sandbox("sbmute", "h4", CLUSTER_SANDBOX_RUNNING, 13);
}

/* The probe's etcd for the next start (NULL: none). */
static const char *probe_endpoints;

static struct gateway *start(const char *self, int64_t rev)
{
	struct gateway_config c = { .etcd = etcd, .self_id = self, .api_key = KEY, .placement_seed = "7",
				    .domain = "example.com", .probe_endpoints = probe_endpoints };
	struct gateway *g = NULL;
	struct cove_err err = { 0 };
	if (gateway_start(&c, &g, &err) < 0)
		fail_msg("gateway_start: %s", err.msg);
	assert_int_equal(catalog_wait_revision(gateway_catalog(g), rev, 5000), 0);
	return g;
}

static enum gateway_action decide(struct gateway *g, const char *method, const char *path, const char *cove,
				  const char *sandbox, const char *host, struct gateway_decision *d)
{
	struct gateway_request req = { method, path, cove, sandbox, NULL, host };
	gateway_decide(g, &req, d);
	return d->action;
}

static void test_decide_host(void **state)
{
	(void)state;
	struct gateway *g = start("h1", catalog_state());
	struct gateway_decision d;
	assert_int_equal(decide(g, "GET", "/sandboxes/sbone", "h1", NULL, NULL, &d), GATEWAY_LOCAL);
	assert_int_equal(decide(g, "GET", "/sandboxes/sbone", "h2", NULL, NULL, &d), GATEWAY_MISDIRECTED);
	assert_string_equal(d.host, "h2");
	assert_int_equal(decide(g, "POST", "/v2/sandboxes", NULL, NULL, NULL, &d), GATEWAY_CREATE);
	assert_int_equal(decide(g, "GET", "/v2/sandboxes", NULL, NULL, NULL, &d), GATEWAY_LIST);
	assert_true(d.v2);
	/* Its own sandbox here; another's to its owner. */
	assert_int_equal(decide(g, "POST", "/sandboxes/sbmine/connect", NULL, NULL, NULL, &d), GATEWAY_LOCAL);
	assert_int_equal(decide(g, "POST", "/sandboxes/sbone/timeout", NULL, NULL, NULL, &d), GATEWAY_RELAY);
	assert_string_equal(d.host, "h2");
	assert_false(d.sandbox_root);
	assert_int_equal(decide(g, "GET", "/sandboxes/sbone-cove", NULL, NULL, NULL, &d), GATEWAY_RELAY);
	assert_string_equal(d.sandbox, "sbone");
	assert_true(d.sandbox_root);
	assert_int_equal(decide(g, "DELETE", "/sandboxes/sbdead", NULL, NULL, NULL, &d), GATEWAY_HOST_DOWN);
	assert_string_equal(d.host, "h3");
	/* Unknown to the catalog: the host serves what it has. */
	assert_int_equal(decide(g, "GET", "/sandboxes/nosuch", NULL, NULL, NULL, &d), GATEWAY_LOCAL);
	/* envd traffic by header and by Host. */
	assert_int_equal(decide(g, "GET", "/files", NULL, "sbone", NULL, &d), GATEWAY_ENVD);
	assert_int_equal(decide(g, "GET", "/", NULL, NULL, "49983-sbone.example.com", &d), GATEWAY_ENVD);
	assert_int_equal(decide(g, "GET", "/", NULL, NULL, "49983-sbmine.example.com", &d), GATEWAY_LOCAL);
	assert_int_equal(decide(g, "GET", "/files", NULL, "sbdead", NULL, &d), GATEWAY_ENVD_GONE);
	/* The rest here. */
	assert_int_equal(decide(g, "GET", "/templates", NULL, NULL, NULL, &d), GATEWAY_LOCAL);
	assert_int_equal(decide(g, "GET", "/sandboxes/metrics", NULL, NULL, NULL, &d), GATEWAY_LOCAL);
	gateway_stop(g);
}

static void test_decide_gateway_only(void **state)
{
	(void)state;
	struct gateway *g = start(NULL, catalog_state());
	struct gateway_decision d;
	assert_int_equal(decide(g, "GET", "/sandboxes/sbone", "h1", NULL, NULL, &d), GATEWAY_MISDIRECTED);
	assert_int_equal(decide(g, "GET", "/sandboxes/sbmine", NULL, NULL, NULL, &d), GATEWAY_RELAY);
	assert_string_equal(d.host, "h1");
	assert_int_equal(decide(g, "GET", "/sandboxes/nosuch", NULL, NULL, NULL, &d), GATEWAY_NOT_FOUND);
	assert_int_equal(decide(g, "GET", "/files", NULL, "nosuch", NULL, &d), GATEWAY_ENVD_GONE);
	assert_int_equal(decide(g, "GET", "/files", NULL, "Not/An/Id", NULL, &d), GATEWAY_ENVD_GONE);
	/* The rest on the lowest live host; the cluster's routes here. */
	assert_int_equal(decide(g, "GET", "/templates", NULL, NULL, NULL, &d), GATEWAY_RELAY);
	assert_string_equal(d.host, "h1");
	assert_int_equal(decide(g, "GET", "/cluster/hosts", NULL, NULL, NULL, &d), GATEWAY_LOCAL);
	gateway_stop(g);
}

static void test_sandbox_json(void **state)
{
	(void)state;
	struct cluster_sandbox sb = { .id = "abc", .host = "h1", .epoch = 1, .state = CLUSTER_SANDBOX_PAUSED,
				      .template_id = "base", .vcpus = 2, .mem_mib = 512, .seq = 3,
				      .started_ms = 1764930000000, .end_ms = 1764930300123, .auto_pause = true,
				      .metadata = "{\"user\":\"ada\"}" };
	json_t *j = gateway_sandbox_json(&sb);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "sandboxID")), "abc");
	assert_string_equal(json_string_value(json_object_get(j, "templateID")), "base");
	assert_string_equal(json_string_value(json_object_get(j, "clientID")), "cove");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "paused");
	assert_string_equal(json_string_value(json_object_get(j, "endAt")), "2025-12-05T10:25:00.123Z");
	assert_int_equal(json_integer_value(json_object_get(j, "cpuCount")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "memoryMB")), 512);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "user")), "ada");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "lifecycle"), "onTimeout")), "pause");
	assert_null(json_object_get(j, "envdAccessToken"));
	json_decref(j);
	sb.metadata = NULL;
	sb.state = CLUSTER_SANDBOX_KILLING;
	j = gateway_sandbox_json(&sb);
	assert_int_equal(json_object_size(json_object_get(j, "metadata")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
	json_decref(j);
}

struct reply {
	long status;
	char body[16384], headers[4096];
	size_t len, hlen;
};

static size_t collect(char *data, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;
	memcpy(r->body + r->len, data, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

static size_t collect_header(char *data, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	size_t len = size * n, room = sizeof(r->headers) - 1 - r->hlen;
	memcpy(r->headers + r->hlen, data, len < room ? len : room);
	r->hlen += len < room ? len : room;
	r->headers[r->hlen] = '\0';
	return len;
}

/* One request to port; headers NULL-terminated (may be NULL). */
static void call(unsigned port, const char *method, const char *path, const char *const *headers, const char *body,
		 struct reply *out)
{
	memset(out, 0, sizeof(*out));
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	CURL *c = curl_easy_init();
	struct curl_slist *list = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		list = curl_slist_append(list, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
}

static const char *field(const struct reply *r, const char *name, char *buf, size_t size)
{
	json_t *j = json_loads(r->body, 0, NULL);
	const char *v = json_string_value(json_object_get(j, name));
	snprintf(buf, size, "%s", v ? v : "(none)");
	json_decref(j);
	return buf;
}

struct gateway_server {
	struct gateway *g;
	struct api_server *s;
	unsigned port;
};

static void serve(struct gateway_server *gs, const char *self)
{
	gs->g = start(self, catalog_state());
	struct api_server_config c = { .address = "127.0.0.1", .api_key = KEY, .routes = gateway_routes,
				       .nroutes = 2, .domain = "example.com" };
	gateway_api_config(gs->g, &c);
	struct cove_err err = { 0 };
	if (api_server_start(&c, &gs->s, &err) < 0)
		fail_msg("%s", err.msg);
	gs->port = api_server_port(gs->s);
}

static void unserve(struct gateway_server *gs)
{
	api_server_stop(gs->s);
	gateway_stop(gs->g);
}

static const char *const keyed[] = { "X-API-KEY: " KEY, NULL };

static void test_create_placed(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	struct reply r;
	char buf[128];
	/* h1 answers 429: the next candidate takes it, the body unchanged. */
	int seen1 = fakes[0].seen, seen2 = fakes[1].seen;
	call(gs.port, "POST", "/sandboxes", keyed, "{\"templateID\":\"base\",\"timeout\":30}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "h2");
	assert_string_equal(field(&r, "coveHost", buf, sizeof(buf)), "h2");
	assert_string_equal(field(&r, "key", buf, sizeof(buf)), KEY);
	assert_string_equal(field(&r, "body", buf, sizeof(buf)), "{\"templateID\":\"base\",\"timeout\":30}");
	assert_int_equal(fakes[1].seen, seen2 + 1);
	assert_true(fakes[0].seen <= seen1 + 1); /* tried at most once (sampling may skip it) */
	/* A template no host has: 429 with Retry-After and placement's reason. */
	call(gs.port, "POST", "/sandboxes", keyed, "{\"templateID\":\"nope\"}", &r);
	assert_int_equal(r.status, 429);
	assert_non_null(strstr(r.body, "nope"));
	assert_non_null(strcasestr(r.headers, "Retry-After: 1"));
	/* A body coved would refuse is refused here, as coved words it. */
	call(gs.port, "POST", "/sandboxes", keyed, "{\"templateID\":7}", &r);
	assert_int_equal(r.status, 400);
	/* Without the key nothing reaches a host. */
	seen2 = fakes[1].seen;
	call(gs.port, "POST", "/sandboxes", NULL, "{}", &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(fakes[1].seen, seen2);
	unserve(&gs);
}

/* Connection errors and 5xx exclude a host and count: 3 attempts, then the
 * last answer (h4 refuses connections; h1 and h2 answer 503 here). */
static void test_create_attempts(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	fakes[0].create_status = 503;
	fakes[1].create_status = 503;
	int seen1 = fakes[0].seen, seen2 = fakes[1].seen;
	struct reply r;
	call(gs.port, "POST", "/sandboxes", keyed, "{}", &r);
	assert_int_equal(r.status, 503);
	/* Each tried once: 3 hosts, 3 attempts. */
	assert_int_equal(fakes[0].seen, seen1 + 1);
	assert_int_equal(fakes[1].seen, seen2 + 1);
	/* A host answering again takes the next one. */
	fakes[1].create_status = 201;
	call(gs.port, "POST", "/sandboxes", keyed, "{}", &r);
	assert_int_equal(r.status, 201);
	fakes[0].create_status = 429;
	unserve(&gs);
}

/* A host that cannot reach the catalog (503, X-Cove-Cluster-Down): skipped
 * for another while the gateway reaches etcd itself; passed on at once when
 * it cannot either. */
static void test_create_cluster_down(void **state)
{
	(void)state;
	struct gateway_server gs;
	fakes[0].create_status = fakes[1].create_status = 503;
	fakes[0].cluster_down = fakes[1].cluster_down = true;
	probe_endpoints = member.endpoint;
	serve(&gs, NULL);
	int seen = fakes[0].seen + fakes[1].seen;
	struct reply r;
	call(gs.port, "POST", "/sandboxes", keyed, "{}", &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(fakes[0].seen + fakes[1].seen, seen + 2); /* etcd answers here: each host cut off alone */
	unserve(&gs);
	char closed[64];
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%u", closed_port());
	probe_endpoints = closed;
	serve(&gs, NULL);
	seen = fakes[0].seen + fakes[1].seen;
	call(gs.port, "POST", "/sandboxes", keyed, "{}", &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(fakes[0].seen + fakes[1].seen, seen + 1); /* out of reach here too: passed on */
	unserve(&gs);
	probe_endpoints = NULL;
	fakes[0].cluster_down = fakes[1].cluster_down = false;
	fakes[0].create_status = 429;
	fakes[1].create_status = 201;
}

static void test_relay_and_down(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	struct reply r;
	char buf[128];
	call(gs.port, "GET", "/sandboxes/sbone", keyed, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "h2");
	assert_string_equal(field(&r, "coveHost", buf, sizeof(buf)), "h2");
	assert_string_equal(field(&r, "xff", buf, sizeof(buf)), "127.0.0.1");
	int seen = fakes[1].seen;
	call(gs.port, "GET", "/sandboxes/sbone", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(fakes[1].seen, seen);
	/* No record. */
	call(gs.port, "GET", "/sandboxes/nosuch", keyed, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "sandbox 'nosuch' not found"));
	/* Its host is gone: info from the record, 503 for the rest. */
	call(gs.port, "GET", "/sandboxes/sbdead", keyed, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(&r, "sandboxID", buf, sizeof(buf)), "sbdead");
	assert_string_equal(field(&r, "state", buf, sizeof(buf)), "running");
	call(gs.port, "POST", "/sandboxes/sbdead/timeout", keyed, "{\"timeout\":5}", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "sandbox's host h3 is unavailable"));
	/* Its host is live but does not answer: the same. */
	call(gs.port, "GET", "/sandboxes/sbmute/logs", keyed, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "sandbox's host h4 is unavailable"));
	/* A kill becomes the record's intent. */
	call(gs.port, "DELETE", "/sandboxes/sbmute", keyed, NULL, &r);
	assert_int_equal(r.status, 204);
	struct cluster_sandbox sb;
	assert_int_equal(catalog_sandbox(gateway_catalog(gs.g), "sbmute", &sb, NULL, NULL), 0);
	for (int i = 0; i < 50 && sb.state != CLUSTER_SANDBOX_KILLING; i++) {
		cluster_sandbox_clear(&sb);
		usleep(20000);
		assert_int_equal(catalog_sandbox(gateway_catalog(gs.g), "sbmute", &sb, NULL, NULL), 0);
	}
	assert_int_equal(sb.state, CLUSTER_SANDBOX_KILLING);
	assert_string_equal(sb.host, "h4");
	cluster_sandbox_clear(&sb);
	/* Forwarded for another host. */
	const char *misdirected[] = { "X-API-KEY: " KEY, GATEWAY_HOST_HEADER ": h2", NULL };
	call(gs.port, "GET", "/sandboxes/sbone", misdirected, NULL, &r);
	assert_int_equal(r.status, 421);
	assert_non_null(strstr(r.body, "not h2"));
	/* The rest: the lowest live host; the cluster's routes here. */
	call(gs.port, "GET", "/templates", keyed, NULL, &r);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "h1");
	call(gs.port, "GET", "/cluster/hosts", keyed, NULL, &r);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "local");
	unserve(&gs);
}

static void test_envd(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	struct reply r;
	char buf[128];
	/* Open (the agent checks its token), relayed with its headers. */
	const char *by_header[] = { "E2b-Sandbox-Id: sbone", "E2b-Sandbox-Port: 49983", NULL };
	call(gs.port, "POST", "/files", by_header, "hello", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "h2");
	assert_string_equal(field(&r, "sandbox", buf, sizeof(buf)), "sbone");
	assert_string_equal(field(&r, "coveHost", buf, sizeof(buf)), "h2");
	assert_string_equal(field(&r, "body", buf, sizeof(buf)), "hello");
	const char *by_host[] = { "Host: 49983-sbone.example.com", NULL };
	call(gs.port, "GET", "/files", by_host, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "h2");
	/* Gone, unknown or unreachable: E2B's 502. */
	const char *gone[] = { "E2b-Sandbox-Id: sbdead", NULL }, *unknown[] = { "E2b-Sandbox-Id: nosuch", NULL },
		   *mute[] = { "E2b-Sandbox-Id: sbmute", NULL };
	const char *const *cases[] = { gone, unknown, mute };
	for (size_t i = 0; i < 3; i++) {
		call(gs.port, "GET", "/files", cases[i], NULL, &r);
		assert_int_equal(r.status, 502);
		assert_string_equal(field(&r, "message", buf, sizeof(buf)), "The sandbox was not found");
	}
	unserve(&gs);
}

static void test_list(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	struct reply r;
	/* Newest first; sbdead's host is gone and it was running: left out. */
	call(gs.port, "GET", "/v2/sandboxes", keyed, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *a = json_loads(r.body, 0, NULL);
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "sandboxID")), "sbmute");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "sandboxID")), "sbmine");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 2), "sandboxID")), "sbone");
	json_decref(a);
	assert_non_null(strcasestr(r.headers, "X-Total-Running: 2"));
	/* v1: running only; pages by the catalog's token. */
	call(gs.port, "GET", "/sandboxes?limit=1", keyed, NULL, &r);
	a = json_loads(r.body, 0, NULL);
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "sandboxID")), "sbmute");
	json_decref(a);
	char *token = strcasestr(r.headers, "X-Next-Token: ");
	assert_non_null(token);
	char next[256], path[512];
	sscanf(token + 14, "%255[^\r\n]", next);
	snprintf(path, sizeof(path), "/sandboxes?limit=1&nextToken=%s", next);
	call(gs.port, "GET", path, keyed, NULL, &r);
	a = json_loads(r.body, 0, NULL);
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "sandboxID")), "sbone");
	json_decref(a);
	assert_null(strcasestr(r.headers, "X-Next-Token"));
	/* Filters, and a token that is not one. */
	call(gs.port, "GET", "/v2/sandboxes?state=paused&metadata=user%3Dada", keyed, NULL, &r);
	a = json_loads(r.body, 0, NULL);
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	call(gs.port, "GET", "/sandboxes?nextToken=d12", keyed, NULL, &r);
	assert_int_equal(r.status, 400);
	unserve(&gs);
}

/* Prints (does not assert) what a relay through the gateway adds to a
 * request over loopback: what a create the gateway places on its own host
 * pays for going over TCP rather than being served in place. */
static void test_measure_relay(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	struct reply r;
	enum { N = 200 };
	char direct[64];
	snprintf(direct, sizeof(direct), "/sandboxes/sbone");
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++)
		call(fakes[1].port, "GET", direct, keyed, NULL, &r);
	long plain = etcd_server_ms_since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++)
		call(gs.port, "GET", direct, keyed, NULL, &r);
	long relayed = etcd_server_ms_since(&t0);
	assert_int_equal(r.status, 200);
	printf("# %d GETs: %.3f ms each to the host, %.3f ms each through the gateway\n", N, (double)plain / N,
	       (double)relayed / N);
	unserve(&gs);
}

/* With etcd down the gateway routes and lists from its cache; what needs
 * etcd (a miss, a kill intent) is 503, envd to an unknown id 502. */
static void test_etcd_down(void **state)
{
	(void)state;
	struct gateway_server gs;
	serve(&gs, NULL);
	etcd_server_kill(&member);
	struct reply r;
	char buf[128];
	call(gs.port, "GET", "/v2/sandboxes", keyed, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *a = json_loads(r.body, 0, NULL);
	assert_int_equal(json_array_size(a), 3);
	json_decref(a);
	call(gs.port, "GET", "/sandboxes/sbone", keyed, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(field(&r, "host", buf, sizeof(buf)), "h2");
	call(gs.port, "GET", "/sandboxes/nosuch", keyed, NULL, &r);
	assert_int_equal(r.status, 503);
	call(gs.port, "DELETE", "/sandboxes/sbmute", keyed, NULL, &r);
	assert_int_equal(r.status, 503);
	const char *unknown[] = { "E2b-Sandbox-Id: nosuch", NULL };
	call(gs.port, "GET", "/files", unknown, NULL, &r);
	assert_int_equal(r.status, 502);
	unserve(&gs);
	assert_int_equal(etcd_server_spawn(&member), 0);
}

int main(void)
{
	const struct CMUnitTest pure[] = { cmocka_unit_test(test_sandbox_json) };
	int failed = cmocka_run_group_tests_name("gateway_json", pure, NULL, NULL);
	if (etcd_server_find(&member) < 0) {
		printf("# SKIP the gateway's etcd tests: the etcd program is not installed (Debian's etcd-server; make deps)\n");
		return failed;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_host),    cmocka_unit_test(test_decide_gateway_only),
		cmocka_unit_test(test_create_placed),  cmocka_unit_test(test_create_attempts),
		cmocka_unit_test(test_create_cluster_down),
		cmocka_unit_test(test_relay_and_down),
		cmocka_unit_test(test_envd),           cmocka_unit_test(test_list),
		cmocka_unit_test(test_measure_relay),
		cmocka_unit_test(test_etcd_down), /* last: it restarts etcd */
	};
	return failed | cmocka_run_group_tests_name("gateway", tests, setup, teardown);
}
