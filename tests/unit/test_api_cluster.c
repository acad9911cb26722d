/* The cluster routes (src/api/cluster.c, cluster_request.c): the drain
 * body's parser, a host's JSON, the host list from a catalog fed by a real
 * etcd member (live hosts, then gone ones with their record counts), and the
 * handlers served over HTTP (api/server.h) and called with the cove client:
 * forget's and drain's answers from their hooks, 400 for bad input, 501
 * without a hook and on a single host; and the cove CLI's host verbs
 * against that server (build/bin/cove, next to the tests). The etcd parts are skipped when etcd
 * is not installed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/cluster.h"
#include "api/server.h"
#include "client/client.h"
#include "catalog_fixture.h"
#include "etcd_server.h"

static void test_drain_body(void **state)
{
	(void)state;
	bool on = false;
	struct cove_err err = { 0 };
	assert_int_equal(api_drain_body_parse("{\"drain\": true}", 15, &on, &err), 0);
	assert_true(on);
	assert_int_equal(api_drain_body_parse("{\"drain\":false}", 15, &on, &err), 0);
	assert_false(on);
	const char *bad[] = { "", "{}", "{\"drain\": 1}", "{\"drain\": true, \"x\": 1}", "[true]",
			      "{\"drain\": true, \"drain\": false}", "{\"drain\": null}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (api_drain_body_parse(bad[i], strlen(bad[i]), &on, &err) != -EINVAL)
			fail_msg("'%s' parsed", bad[i]);
}

static void test_host_json(void **state)
{
	(void)state;
	struct cluster_template templates[] = { { .name = "base", .snap = true, .warm = 2 }, { .name = "py" } };
	struct cluster_host h = { .id = "h1",
				  .addr = "10.0.0.1:49982",
				  .state = CLUSTER_HOST_DRAINING,
				  .accel = "kvm",
				  .cpus = 8,
				  .mem_max_mib = 16384,
				  .mem_committed_mib = 1024,
				  .sandboxes = 3,
				  .max_sandboxes = 40,
				  .boots_inflight = 1,
				  .templates = templates,
				  .ntemplates = 2,
				  .ts_ms = 1700000000123 };
	json_t *j = api_cluster_host_json(&h);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "hostID")), "h1");
	assert_string_equal(json_string_value(json_object_get(j, "address")), "10.0.0.1:49982");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "draining");
	assert_string_equal(json_string_value(json_object_get(j, "accelerator")), "kvm");
	assert_int_equal(json_integer_value(json_object_get(j, "cpuCount")), 8);
	assert_int_equal(json_integer_value(json_object_get(j, "memoryCommittedMiB")), 1024);
	assert_int_equal(json_integer_value(json_object_get(j, "memoryMaxMiB")), 16384);
	assert_int_equal(json_integer_value(json_object_get(j, "sandboxCount")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "maxSandboxes")), 40);
	assert_int_equal(json_integer_value(json_object_get(j, "bootsInFlight")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "updatedAt")), "2023-11-14T22:13:20.123Z");
	assert_true(json_is_true(json_object_get(j, "live")));
	json_t *t = json_object_get(j, "templates");
	assert_int_equal(json_array_size(t), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "name")), "base");
	assert_true(json_is_true(json_object_get(json_array_get(t, 0), "snapshot")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(t, 0), "warm")), 2);
	assert_true(json_is_false(json_object_get(json_array_get(t, 1), "snapshot")));
	json_decref(j);
}

static struct etcd_server member;
static struct etcd_client *etcd;
static struct catalog *catalog;

static void put_host(const char *id, enum cluster_host_state state)
{
	fixture_put_host(etcd, id, state);
}

static void put_sandbox(const char *id, const char *host)
{
	fixture_put_sandbox(etcd, id, host, CLUSTER_SANDBOX_RUNNING, 0, false);
}

static int setup(void **state)
{
	(void)state;
	if (etcd_server_open(&member, &etcd) < 0)
		return -1;
	put_host("h2", CLUSTER_HOST_DRAINING);
	put_host("h1", CLUSTER_HOST_READY);
	put_sandbox("a1", "h1");
	put_sandbox("b1", "zz");
	put_sandbox("b2", "h9");
	put_sandbox("b3", "h9");
	return catalog_start(etcd, &catalog, NULL);
}

static int teardown(void **state)
{
	(void)state;
	catalog = catalog_stop(catalog);
	etcd_server_close(&member, &etcd);
	return 0;
}

static const char *host_id(json_t *hosts, size_t i)
{
	return json_string_value(json_object_get(json_array_get(hosts, i), "hostID"));
}

static void check_hosts(json_t *hosts)
{
	assert_int_equal(json_array_size(hosts), 4);
	assert_string_equal(host_id(hosts, 0), "h1");
	assert_string_equal(host_id(hosts, 1), "h2");
	assert_string_equal(host_id(hosts, 2), "h9");
	assert_string_equal(host_id(hosts, 3), "zz");
	json_t *h2 = json_array_get(hosts, 1), *h9 = json_array_get(hosts, 2);
	assert_string_equal(json_string_value(json_object_get(h2, "state")), "draining");
	assert_string_equal(json_string_value(json_object_get(h9, "state")), "gone");
	assert_true(json_is_false(json_object_get(h9, "live")));
	assert_int_equal(json_integer_value(json_object_get(h9, "sandboxCount")), 2);
}

static void test_hosts_json(void **state)
{
	(void)state;
	json_t *hosts = api_cluster_hosts_json(catalog);
	assert_non_null(hosts);
	check_hosts(hosts);
	json_decref(hosts);
}

/* The hooks record what they were asked and answer hook_rc; under
 * hook_lock, as the server's threads call them (a request made by the cove
 * child process orders nothing that TSan can see). */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static int hook_rc;
static char hook_host[64];
static int hook_drain = -1;

static void hook_set(int rc)
{
	pthread_mutex_lock(&hook_lock);
	hook_rc = rc;
	pthread_mutex_unlock(&hook_lock);
}

/* What the last hook call was asked: its host (compared with host) and, for
 * a drain, on (0, 1). */
static void hook_check(const char *host, int drain)
{
	pthread_mutex_lock(&hook_lock);
	bool same = strcmp(hook_host, host) == 0 && (drain < 0 || hook_drain == drain);
	pthread_mutex_unlock(&hook_lock);
	if (!same)
		fail_msg("the hook was asked host %s drain %d, not %s %d", hook_host, hook_drain, host, drain);
}

static int hook(void *ctx, const char *host, int drain, struct cove_err *err)
{
	assert_ptr_equal(ctx, &hook_rc);
	pthread_mutex_lock(&hook_lock);
	snprintf(hook_host, sizeof(hook_host), "%s", host);
	hook_drain = drain;
	int rc = hook_rc;
	pthread_mutex_unlock(&hook_lock);
	return rc < 0 ? cove_errf(err, rc, "hook says %d", rc) : 0;
}

static int forget(void *ctx, const char *host, struct cove_err *err)
{
	return hook(ctx, host, -1, err);
}

static int drain(void *ctx, const char *host, bool on, struct cove_err *err)
{
	return hook(ctx, host, on, err);
}

static const struct api_cluster_ops ops = { .forget = forget, .drain = drain };
static struct api_cluster cluster, no_hooks;

static enum MHD_Result hosts_route(struct http_request *r)
{
	return api_cluster_hosts(r, &cluster);
}

static enum MHD_Result forget_route(struct http_request *r)
{
	return api_cluster_forget(r, &cluster);
}

static enum MHD_Result drain_route(struct http_request *r)
{
	return api_cluster_drain(r, &cluster);
}

static enum MHD_Result bare_route(struct http_request *r)
{
	return api_cluster_drain(r, &no_hooks);
}

static const struct http_route routes[] = {
	{ "GET", "/cluster/hosts", hosts_route },
	{ "DELETE", "/cluster/hosts/{}", forget_route },
	{ "POST", "/cluster/hosts/{}/drain", drain_route },
	{ "POST", "/bare/{}", bare_route },
	{ "GET", "/single", api_cluster_none },
};

static long call(struct client *c, const char *method, const char *path, const char *body, json_t **reply)
{
	long status = 0;
	struct cove_err err = { 0 };
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	client_call(c, method, path, j, &status, reply, &err);
	json_decref(j);
	return status;
}

/* cove (next to this test's directory) with args against url: its exit
 * status, its stdout and stderr in out. */
static int cove(const char *url, const char *args, char *out, size_t len)
{
	char exe[4096], cmd[8192];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "%s/../cove %s --url %s --api-key key 2>&1", exe, args, url);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t got = fread(out, 1, len - 1, f);
	out[got] = '\0';
	int status = pclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The CLI's side of the same routes. */
static void cli_host(const char *url)
{
	char out[4096];
	assert_int_equal(cove(url, "host ls", out, sizeof(out)), 0);
	static const char *const want[][5] = {
		{ "HOST ID", "ADDRESS", "STATE", "MEMORY", "TEMPLATES" },
		{ "h1 ", "10.0.0.1:49982", " ready ", " 3/40 ", " 1.0G/16G " },
		{ "h2 ", " draining ", "base,py" },
		{ "h9 ", " gone ", " 2 " },
		{ "zz ", " gone ", " 1 " },
	};
	const char *line = out;
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++, line = strchr(line, '\n') + 1) {
		size_t end = strcspn(line, "\n");
		for (size_t k = 0; k < 5 && want[i][k]; k++)
			if (strncmp(line, want[i][0], strlen(want[i][0])) != 0 || !memmem(line, end, want[i][k], strlen(want[i][k])))
				fail_msg("line %zu has no '%s':\n%s", i, want[i][k], out);
	}
	hook_set(0);
	assert_int_equal(cove(url, "host drain h2", out, sizeof(out)), 0);
	hook_check("h2", 1);
	assert_int_equal(cove(url, "host undrain h2", out, sizeof(out)), 0);
	hook_check("h2", 0);
	hook_set(-EBUSY);
	assert_int_equal(cove(url, "host forget h1", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "cove host forget: hook says"));
	assert_int_equal(cove(url, "host forget -- -x", out, sizeof(out)), 2);
}

static void test_routes(void **state)
{
	(void)state;
	cluster = (struct api_cluster){ .catalog = catalog, .ops = &ops, .ops_ctx = &hook_rc };
	no_hooks = (struct api_cluster){ .catalog = catalog };
	struct api_server_config ac = { .address = "127.0.0.1", .api_key = "key", .routes = routes,
					.nroutes = sizeof(routes) / sizeof(*routes) };
	struct api_server *s = NULL;
	struct cove_err err = { 0 };
	if (api_server_start(&ac, &s, &err) < 0)
		fail_msg("server: %s", err.msg);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", api_server_port(s));
	struct client *c = NULL;
	assert_int_equal(client_open(&(struct client_config){ .url = url, .api_key = "key" }, &c, &err), 0);
	json_t *reply = NULL;
	assert_int_equal(call(c, "GET", "/cluster/hosts", NULL, &reply), 200);
	check_hosts(reply);
	json_decref(reply);
	hook_set(0);
	assert_int_equal(call(c, "DELETE", "/cluster/hosts/h9", NULL, NULL), 204);
	hook_check("h9", -1);
	hook_set(-EBUSY);
	assert_int_equal(call(c, "DELETE", "/cluster/hosts/h1", NULL, NULL), 409);
	hook_set(-ENOENT);
	assert_int_equal(call(c, "DELETE", "/cluster/hosts/nosuch", NULL, NULL), 404);
	hook_set(-ETIMEDOUT);
	assert_int_equal(call(c, "DELETE", "/cluster/hosts/h9", NULL, NULL), 503);
	assert_int_equal(call(c, "DELETE", "/cluster/hosts/-x", NULL, NULL), 400);
	hook_set(0);
	assert_int_equal(call(c, "POST", "/cluster/hosts/h2/drain", "{\"drain\": false}", NULL), 204);
	hook_check("h2", 0);
	assert_int_equal(call(c, "POST", "/cluster/hosts/h1/drain", "{\"drain\": true}", NULL), 204);
	hook_check("h1", 1);
	assert_int_equal(call(c, "POST", "/cluster/hosts/h1/drain", "{}", NULL), 400);
	hook_set(-ECONNREFUSED);
	assert_int_equal(call(c, "POST", "/cluster/hosts/h1/drain", "{\"drain\": true}", NULL), 502);
	assert_int_equal(call(c, "POST", "/bare/h1", "{\"drain\": true}", NULL), 501);
	assert_int_equal(call(c, "GET", "/single", NULL, &reply), 501);
	client_close(c);
	cli_host(url);
	api_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest pure[] = { cmocka_unit_test(test_drain_body), cmocka_unit_test(test_host_json) };
	int failed = cmocka_run_group_tests_name("api_cluster", pure, NULL, NULL);
	if (etcd_server_find(&member) < 0) {
		printf("# SKIP the host list and route tests: the etcd program is not installed (Debian's "
		       "etcd-server; make deps)\n");
		return failed;
	}
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_hosts_json), cmocka_unit_test(test_routes) };
	return failed | cmocka_run_group_tests_name("api_cluster_etcd", tests, setup, teardown);
}
