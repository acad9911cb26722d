/* Unit tests for src/api/request's bodies: coved's request bodies parsed
 * into plain values (the query strings are test_api_query.c's). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/request.h"
#include "proto/version.h"

/* --- helpers --- */

static int create(const char *body, struct api_create_body *b, struct cove_err *err)
{
	return api_create_body_parse(body, strlen(body), b, err);
}

/* The create body must be refused with a message containing want. */
static void create_refused(const char *body, const char *want)
{
	struct cove_err err = { 0 };
	struct api_create_body b;
	int r = create(body, &b, &err);
	if (r != -EINVAL || !strstr(err.msg, want))
		fail_msg("%s: got %d '%s', want '%s'", body, r, err.msg, want);
	assert_null(b.json);
}

/* A JSON object of n entries "kI": value (or of key: value when n is 1). */
static char *object_of(size_t n, const char *key, const char *value)
{
	size_t cap = 64 + n * (strlen(value) + 24) + (key ? strlen(key) : 0), len = 0;
	char *s = malloc(cap);
	len += (size_t)snprintf(s + len, cap - len, "{");
	for (size_t i = 0; i < n; i++) {
		if (key)
			len += (size_t)snprintf(s + len, cap - len, "\"%s\": %s", key, value);
		else
			len += (size_t)snprintf(s + len, cap - len, "%s\"k%zu\": %s", i ? ", " : "", i, value);
	}
	snprintf(s + len, cap - len, "}");
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A create body with one field of the given JSON value. */
static char *create_with(const char *field, const char *value)
{
	char *s = NULL;
	assert_true(asprintf(&s, "{\"%s\": %s}", field, value) > 0);
	return s;
}

/* --- create --- */

static void test_create_good(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_create_body b;
	assert_int_equal(create("{\"templateID\": \"tiny\", \"timeout\": 30, \"metadata\": {\"user\": \"ann\"}, "
				"\"envVars\": {\"A\": \"1\", \"B\": \"x=y\"}, \"allow_internet_access\": false, "
				"\"network\": {\"allowOut\": [\"1.1.1.1\", \"10.0.0.0/8\"], \"denyOut\": [\"8.8.8.8\"]}, "
				"\"autoPause\": true}",
				&b, &err),
			 0);
	assert_string_equal(b.req.template_id, "tiny");
	assert_int_equal(b.req.timeout_s, 30);
	assert_string_equal(b.req.metadata, "{\"user\":\"ann\"}");
	assert_string_equal(b.req.envs[0], "A=1");
	assert_string_equal(b.req.envs[1], "B=x=y");
	assert_null(b.req.envs[2]);
	assert_false(b.req.policy.internet);
	assert_string_equal(b.req.policy.allow_out[0], "1.1.1.1");
	assert_string_equal(b.req.policy.allow_out[1], "10.0.0.0/8");
	assert_null(b.req.policy.allow_out[2]);
	assert_string_equal(b.req.policy.deny_out[0], "8.8.8.8");
	assert_null(b.req.policy.deny_out[1]);
	assert_true(b.req.auto_pause);
	api_create_body_clear(&b);
	assert_null(b.json);
	api_create_body_clear(&b); /* twice is harmless */
}

static void test_create_defaults(void **state)
{
	(void)state;
	const char *bodies[] = { "", "{}",
				 "{\"timeout\": null, \"metadata\": null, \"envVars\": null, "
				 "\"allow_internet_access\": null, \"network\": null, \"autoPause\": null}",
				 "{\"network\": {}, \"envVars\": {}, \"unknown\": [1]}" };
	for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
		struct cove_err err = { 0 };
		struct api_create_body b;
		if (create(bodies[i], &b, &err) != 0)
			fail_msg("%s: %s", bodies[i], err.msg);
		assert_null(b.req.template_id);
		assert_int_equal(b.req.timeout_s, 0);
		assert_null(b.req.envs);
		assert_true(b.req.policy.internet);
		assert_null(b.req.policy.allow_out);
		assert_null(b.req.policy.deny_out);
		assert_false(b.req.auto_pause);
		api_create_body_clear(&b);
	}
	struct cove_err err = { 0 };
	struct api_create_body b;
	/* E2B's other spelling of the switch; an empty metadata object is kept. */
	assert_int_equal(create("{\"allowInternetAccess\": false, \"metadata\": {}}", &b, &err), 0);
	assert_false(b.req.policy.internet);
	assert_string_equal(b.req.metadata, "{}");
	api_create_body_clear(&b);
}

static void test_create_bad(void **state)
{
	(void)state;
	create_refused("[1]", "the body is not a JSON object");
	create_refused("{", "the body is not a JSON object: ");
	create_refused("{\"a\": 1, \"a\": 2}", "the body is not a JSON object: ");
	create_refused("{\"templateID\": 5}", "templateID must be a string");
	create_refused("{\"templateID\": null}", "templateID must be a string");
	const char *timeouts[] = { "-1", "2147483648", "\"5\"", "1.5", "true" };
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(*timeouts); i++) {
		char *body = create_with("timeout", timeouts[i]);
		create_refused(body, "timeout must be a number of seconds from 0 to 2147483647");
		free(body);
	}
	create_refused("{\"metadata\": []}", "metadata must be an object of strings");
	create_refused("{\"metadata\": {\"a\": 1}}", "metadata.a must be a string");
	create_refused("{\"envVars\": \"A=1\"}", "envVars must be an object of strings");
	create_refused("{\"envVars\": {\"A=B\": \"x\"}}", "envVars: 'A=B' is not a variable name");
	create_refused("{\"allow_internet_access\": \"yes\"}", "allow_internet_access must be true or false");
	create_refused("{\"allowInternetAccess\": 0}", "allow_internet_access must be true or false");
	create_refused("{\"network\": []}", "network must be an object");
	create_refused("{\"network\": {\"allowOut\": \"1.1.1.1\"}}",
		       "network.allowOut must be a list of at most 256 addresses, CIDRs or domain names");
	create_refused("{\"network\": {\"denyOut\": [1]}}", "network.denyOut[0] must be a string");
	create_refused("{\"network\": {\"denyOut\": [\"exa mple.com\"]}}",
		       "network.denyOut: domain 'exa mple.com' has a character outside");
	create_refused("{\"network\": {\"allowOut\": [\"a.*.example.com\"]}}", "network.allowOut: ");
	create_refused("{\"network\": {\"allowOut\": [\"10.0.0.1/8\"]}}", "network.allowOut: '10.0.0.1/8'");
	create_refused("{\"autoPause\": 1}", "autoPause must be true or false");
	/* The first fault found is the one told. */
	create_refused("{\"templateID\": 1, \"timeout\": -1}", "templateID must be a string");
}

/* PUT /sandboxes/{id}/network: the whole policy, omitted fields their
 * defaults; what Cove has nothing behind is -ENOSYS. */
static void test_network_body(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_network_body n;
	assert_int_equal(api_network_body_parse("", 0, &n, &err), 0);
	assert_true(n.policy.internet);
	assert_null(n.policy.allow_out);
	assert_null(n.policy.deny_out);
	api_network_body_clear(&n);
	const char *full = "{\"allowOut\": [\"10.1.2.3\"], \"denyOut\": [\"0.0.0.0/0\"], \"allow_internet_access\": false}";
	assert_int_equal(api_network_body_parse(full, strlen(full), &n, &err), 0);
	assert_false(n.policy.internet);
	assert_string_equal(n.policy.allow_out[0], "10.1.2.3");
	assert_null(n.policy.allow_out[1]);
	assert_string_equal(n.policy.deny_out[0], "0.0.0.0/0");
	api_network_body_clear(&n);
	assert_int_equal(api_network_body_parse("{\"allowInternetAccess\": false}", 30, &n, &err), 0);
	assert_false(n.policy.internet);
	api_network_body_clear(&n);
	const char *bad[][2] = {
		{ "{\"allowOut\": \"10.0.0.1\"}", "allowOut must be a list" },
		{ "{\"denyOut\": [\"10.0.0.1/8\"]}", "denyOut: '10.0.0.1/8' is not an IPv4 address or CIDR" },
		{ "{\"allowOut\": [\"*.\"]}", "allowOut: " },
		{ "{\"allow_internet_access\": 1}", "allow_internet_access must be true or false" },
		{ "[]", "the body is not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = api_network_body_parse(bad[i][0], strlen(bad[i][0]), &n, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][1]))
			fail_msg("%s: got %d '%s'", bad[i][0], r, err.msg);
		assert_null(n.json);
	}
	const char *rules = "{\"rules\": {\"API.example.com\": [{\"transform\": {\"headers\": {\"X-A\": \"1\"}}}]}}";
	assert_int_equal(api_network_body_parse(rules, strlen(rules), &n, &err), 0);
	assert_int_equal(n.policy.nrules, 1);
	assert_string_equal(n.policy.rules[0].host, "api.example.com");
	assert_string_equal(n.policy.rules[0].headers[0].value, "1");
	api_network_body_clear(&n);
	const char *bare = "{\"rules\": {\"*\": [{\"transform\": {\"headers\": {\"X-A\": \"1\"}}}]}}";
	assert_int_equal(api_network_body_parse(bare, strlen(bare), &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "rules['*']"));
	const char *proxy = "{\"egressProxy\": {\"address\": \"proxy.test:1080\", \"username\": \"u\", \"password\": \"p\"}}";
	assert_int_equal(api_network_body_parse(proxy, strlen(proxy), &n, &err), 0);
	assert_string_equal(n.policy.proxy.address, "proxy.test:1080");
	assert_string_equal(n.policy.proxy.username, "u");
	assert_string_equal(n.policy.proxy.password, "p");
	api_network_body_clear(&n);
	const char *bad_proxies[][2] = {
		{ "{\"egressProxy\": {\"address\": \"proxy.test\"}}", "egressProxy.address 'proxy.test': expected HOST:PORT" },
		{ "{\"egressProxy\": {\"address\": \"proxy.test:0\"}}", "expected HOST:PORT" },
		{ "{\"egressProxy\": {\"address\": \"*.test:1080\"}}", "expected HOST:PORT" },
		{ "{\"egressProxy\": {\"username\": \"u\"}}", "egressProxy.address is required" },
		{ "{\"egressProxy\": {\"address\": \"p.test:1\", \"password\": \"p\"}}", "password needs egressProxy.username" },
		{ "{\"egressProxy\": {\"address\": \"p.test:1\", \"username\": 7}}", "egressProxy.username must be a string" },
		{ "{\"egressProxy\": \"p.test:1\"}", "egressProxy must be an object" },
	};
	for (size_t i = 0; i < sizeof(bad_proxies) / sizeof(*bad_proxies); i++) {
		int r = api_network_body_parse(bad_proxies[i][0], strlen(bad_proxies[i][0]), &n, &err);
		if (r != -EINVAL || !strstr(err.msg, bad_proxies[i][1]))
			fail_msg("%s: got %d '%s'", bad_proxies[i][0], r, err.msg);
	}
}

/* E2B's volumeMounts: [{name, path}] into the request; what is not one is
 * 400 naming the entry. */
static void test_create_volumes(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_create_body b;
	assert_int_equal(create("{\"volumeMounts\": [{\"name\": \"data\", \"path\": \"/mnt/data\"},"
				" {\"name\": \"logs-2\", \"path\": \"/var/log/app\"}]}",
				&b, &err),
			 0);
	assert_int_equal(b.req.nvolumes, 2);
	assert_string_equal(b.req.volumes[0].name, "data");
	assert_string_equal(b.req.volumes[1].path, "/var/log/app");
	api_create_body_clear(&b);
	assert_int_equal(create("{\"volumeMounts\": null}", &b, &err), 0);
	assert_int_equal(b.req.nvolumes, 0);
	api_create_body_clear(&b);
	const char *bad[][2] = {
		{ "{\"volumeMounts\": {\"/mnt\": \"v\"}}", "volumeMounts must be an array" },
		{ "{\"volumeMounts\": [\"v\"]}", "volumeMounts[0] must be" },
		{ "{\"volumeMounts\": [{\"name\": \"v\"}]}", "volumeMounts[0] must be" },
		{ "{\"volumeMounts\": [{\"name\": \"a b\", \"path\": \"/m\"}]}", "volumeMounts[0].name" },
		{ "{\"volumeMounts\": [{\"name\": \"v\", \"path\": \"m\"}]}", "volumeMounts[0].path" },
		{ "{\"volumeMounts\": [{\"name\": \"v\", \"path\": \"/\"}]}", "volumeMounts[0].path" },
		{ "{\"volumeMounts\": [{\"name\": \"v\", \"path\": \"/a\\u0000b\"}]}", "\\u0000 is not allowed" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = create(bad[i][0], &b, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][1]))
			fail_msg("%s: got %d '%s'", bad[i][0], r, err.msg);
	}
	char many[4096] = "{\"volumeMounts\": [";
	for (int i = 0; i < 17; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s{\"name\": \"v%d\", \"path\": \"/m%d\"}",
			 i ? ", " : "", i, i);
	strcat(many, "]}");
	assert_int_equal(create(many, &b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "at most 16"));
}

/* E2B's fields that Cove has nothing behind: refused when they ask for
 * anything (-ENOSYS: 501), taken when they ask for nothing. */
static void test_create_unsupported(void **state)
{
	(void)state;
	const char *refused[][2] = {
		{ "{\"mcp\": {\"github\": {}}}", "mcp" },
		{ "{\"iam\": {\"tokens\": {\"t\": {}}}}", "iam" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		struct cove_err err = { 0 };
		struct api_create_body b;
		int r = create(refused[i][0], &b, &err);
		if (r != -ENOSYS || !strstr(err.msg, "not supported by Cove: ") || !strstr(err.msg, refused[i][1]))
			fail_msg("%s: got %d '%s'", refused[i][0], r, err.msg);
		assert_null(b.json);
	}
	const char *taken[] = {
		"{\"volumeMounts\": []}", "{\"mcp\": null}", "{\"iam\": {}}",
		"{\"network\": {\"rules\": {}, \"allowPublicTraffic\": true}}",
	};
	for (size_t i = 0; i < sizeof(taken) / sizeof(*taken); i++) {
		struct cove_err err = { 0 };
		struct api_create_body b;
		if (create(taken[i], &b, &err) != 0)
			fail_msg("%s: %s", taken[i], err.msg);
		api_create_body_clear(&b);
	}
}

/* E2B's ingress fields: allowPublicTraffic false makes the sandbox
 * private, maskRequestHost is kept as given (visible ASCII, bounded), and
 * "${PORT}" in it becomes the port asked for. */
static void test_create_ingress(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_create_body b;
	const char *both = "{\"network\": {\"allowPublicTraffic\": false, \"maskRequestHost\": \"${PORT}-x.example\"}}";
	assert_int_equal(create(both, &b, &err), 0);
	assert_true(b.req.ingress.private_traffic);
	assert_string_equal(b.req.ingress.mask_host, "${PORT}-x.example");
	api_create_body_clear(&b);
	const char *plain[] = { "{}", "{\"network\": {\"allowPublicTraffic\": true, \"maskRequestHost\": \"\"}}",
				"{\"network\": {\"allowPublicTraffic\": null, \"maskRequestHost\": null}}" };
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
		assert_int_equal(create(plain[i], &b, &err), 0);
		assert_false(b.req.ingress.private_traffic);
		assert_string_equal(b.req.ingress.mask_host, "");
		api_create_body_clear(&b);
	}
	char long_mask[400];
	snprintf(long_mask, sizeof(long_mask), "{\"network\": {\"maskRequestHost\": \"%0300d\"}}", 1);
	const char *bad[][2] = {
		{ "{\"network\": {\"allowPublicTraffic\": \"no\"}}", "network.allowPublicTraffic must be true or false" },
		{ "{\"network\": {\"maskRequestHost\": 8080}}", "network.maskRequestHost must be a string" },
		{ "{\"network\": {\"maskRequestHost\": \"a b\"}}", "byte 1 is not a visible ASCII character" },
		{ "{\"network\": {\"maskRequestHost\": \"x\\r\\nEvil: 1\"}}", "byte 1 is not a visible ASCII" },
		{ "{\"network\": {\"maskRequestHost\": \"x\\u0000y\"}}", "is not allowed" }, /* by the JSON parser */
		{ long_mask, "at most 255 bytes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = create(bad[i][0], &b, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i][1]))
			fail_msg("%s: got %d '%s'", bad[i][0], r, err.msg);
		assert_null(b.json);
	}
	char host[MANAGER_MASK_HOST_MAX];
	api_mask_host("${PORT}-x.example", 8000, host);
	assert_string_equal(host, "8000-x.example");
	api_mask_host("localhost:${PORT}/${PORT}", 65535, host);
	assert_string_equal(host, "localhost:65535/65535");
	api_mask_host("plain.example", 1, host);
	assert_string_equal(host, "plain.example");
	api_mask_host("${PORT", 80, host);
	assert_string_equal(host, "${PORT");
}

/* E2B's network.httpsPorts: the ports kept as given; anything but a list
 * of distinct port numbers, envd's excepted, named in the 400. */
static void test_create_https_ports(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_create_body b;
	const char *good = "{\"network\": {\"httpsPorts\": [8443, 1, 65535, 3000]}}";
	assert_int_equal(create(good, &b, &err), 0);
	assert_int_equal(b.req.ingress.n_https_ports, 4);
	assert_int_equal(b.req.ingress.https_ports[0], 8443);
	assert_int_equal(b.req.ingress.https_ports[1], 1);
	assert_int_equal(b.req.ingress.https_ports[2], 65535);
	assert_int_equal(b.req.ingress.https_ports[3], 3000);
	api_create_body_clear(&b);
	const char *none[] = { "{}", "{\"network\": {\"httpsPorts\": []}}", "{\"network\": {\"httpsPorts\": null}}" };
	for (size_t i = 0; i < sizeof(none) / sizeof(*none); i++) {
		assert_int_equal(create(none[i], &b, &err), 0);
		assert_int_equal(b.req.ingress.n_https_ports, 0);
		api_create_body_clear(&b);
	}
	char most[1024] = "{\"network\": {\"httpsPorts\": [1";
	for (int port = 2; port <= MANAGER_MAX_HTTPS_PORTS; port++)
		snprintf(most + strlen(most), sizeof(most) - strlen(most), ", %d", port);
	strcat(most, "]}}");
	assert_int_equal(create(most, &b, &err), 0);
	assert_int_equal(b.req.ingress.n_https_ports, MANAGER_MAX_HTTPS_PORTS);
	api_create_body_clear(&b);
	char too_many[1024];
	snprintf(too_many, sizeof(too_many), "%.*s, 9999]}}", (int)strlen(most) - 3, most);
	const char *bad[][2] = {
		{ "{\"network\": {\"httpsPorts\": [0]}}", "network.httpsPorts[0] must be a port number from 1 to 65535" },
		{ "{\"network\": {\"httpsPorts\": [443, 70000]}}", "network.httpsPorts[1] must be a port number" },
		{ "{\"network\": {\"httpsPorts\": [\"x\"]}}", "network.httpsPorts[0] must be a port number" },
		{ "{\"network\": {\"httpsPorts\": [\"8443\"]}}", "network.httpsPorts[0] must be a port number" },
		{ "{\"network\": {\"httpsPorts\": [8443.5]}}", "network.httpsPorts[0] must be a port number" },
		{ "{\"network\": {\"httpsPorts\": [-1]}}", "network.httpsPorts[0] must be a port number" },
		{ "{\"network\": {\"httpsPorts\": [8443, 3000, 8443]}}", "network.httpsPorts[2]: port 8443 is listed twice" },
		{ "{\"network\": {\"httpsPorts\": [49983]}}", "network.httpsPorts[0]: 49983 is envd's port" },
		{ "{\"network\": {\"httpsPorts\": 8443}}", "network.httpsPorts must be a list of at most 64 port numbers" },
		{ "{\"network\": {\"httpsPorts\": {}}}", "network.httpsPorts must be a list" },
		{ too_many, "network.httpsPorts must be a list of at most 64 port numbers" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		create_refused(bad[i][0], bad[i][1]);
}

static void test_create_limits(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_create_body b;
	char *meta = object_of(API_MAX_METADATA, NULL, "\"v\""), *body = create_with("metadata", meta);
	assert_int_equal(create(body, &b, &err), 0);
	api_create_body_clear(&b);
	free(meta);
	free(body);
	meta = object_of(API_MAX_METADATA + 1, NULL, "\"v\"");
	body = create_with("metadata", meta);
	create_refused(body, "metadata: more than 64 entries");
	free(meta);
	free(body);

	char *vars = object_of(API_MAX_ENV_VARS, NULL, "\"v\"");
	body = create_with("envVars", vars);
	assert_int_equal(create(body, &b, &err), 0);
	assert_string_equal(b.req.envs[API_MAX_ENV_VARS - 1], "k255=v");
	assert_null(b.req.envs[API_MAX_ENV_VARS]);
	api_create_body_clear(&b);
	free(vars);
	free(body);
	vars = object_of(API_MAX_ENV_VARS + 1, NULL, "\"v\"");
	body = create_with("envVars", vars);
	create_refused(body, "envVars: more than 256 entries");
	free(vars);
	free(body);

	/* Keys 1 to 256 bytes, values up to 4096. */
	const char *sizes_msg = "metadata: a key must be 1 to 256 and a value at most 4096 bytes";
	char *key = repeat('k', API_MAX_KEY), *value = repeat('v', API_MAX_VALUE), *quoted = NULL;
	assert_true(asprintf(&quoted, "\"%s\"", value) > 0);
	meta = object_of(1, key, quoted);
	body = create_with("metadata", meta);
	assert_int_equal(create(body, &b, &err), 0);
	api_create_body_clear(&b);
	free(meta);
	free(body);
	free(key);
	key = repeat('k', API_MAX_KEY + 1);
	meta = object_of(1, key, "\"v\"");
	body = create_with("metadata", meta);
	create_refused(body, sizes_msg);
	free(meta);
	free(body);
	free(quoted);
	free(value);
	value = repeat('v', API_MAX_VALUE + 1);
	assert_true(asprintf(&quoted, "\"%s\"", value) > 0);
	meta = object_of(1, "k", quoted);
	body = create_with("metadata", meta);
	create_refused(body, sizes_msg);
	free(meta);
	free(body);
	create_refused("{\"metadata\": {\"\": \"v\"}}", sizes_msg);
	create_refused("{\"envVars\": {\"\": \"v\"}}", "envVars: a key must be 1 to 256");
	free(key);
	free(value);
	free(quoted);

	/* Timeouts from 0 (the host caps them: the manager); at most 256
	 * addresses per list. */
	assert_int_equal(create("{\"timeout\": 86400}", &b, &err), 0);
	assert_int_equal(b.req.timeout_s, 86400);
	api_create_body_clear(&b);
	assert_int_equal(create("{\"timeout\": 0}", &b, &err), 0);
	api_create_body_clear(&b);
	size_t cap = 300 * 16 + 64, len = 0;
	char *net = malloc(cap);
	len += (size_t)snprintf(net + len, cap - len, "{\"network\": {\"denyOut\": [");
	for (int i = 0; i < 257; i++)
		len += (size_t)snprintf(net + len, cap - len, "%s\"10.0.%d.%d\"", i ? ", " : "", i / 256, i % 256);
	snprintf(net + len, cap - len, "]}}");
	create_refused(net, "network.denyOut must be a list of at most 256 addresses, CIDRs or domain names");
	char *cut = strstr(net, ", \"10.0.1.0\"");
	strcpy(cut, "]}}");
	assert_int_equal(create(net, &b, &err), 0);
	assert_string_equal(b.req.policy.deny_out[255], "10.0.0.255");
	api_create_body_clear(&b);
	free(net);
}

/* --- timeout, refresh, connect, fork --- */

static void test_seconds_bodies(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_timeout_body t;
	assert_int_equal(api_timeout_body_parse("{\"timeout\": 30}", 15, &t, &err), 0);
	assert_int_equal(t.timeout_s, 30);
	const char *missing[] = { "", "{}", "{\"timeout\": null}" };
	for (size_t i = 0; i < sizeof(missing) / sizeof(*missing); i++) {
		assert_int_equal(api_timeout_body_parse(missing[i], strlen(missing[i]), &t, &err), -EINVAL);
		assert_string_equal(err.msg, "timeout is required");
	}
	/* The host's own longest (--max-timeout) is the manager's to check:
	 * the parser bounds a field by E2B's int32 only. */
	assert_int_equal(api_timeout_body_parse("{\"timeout\": 86401}", 18, &t, &err), 0);
	assert_int_equal(t.timeout_s, 86401);
	assert_int_equal(api_timeout_body_parse("{\"timeout\": 2147483648}", 23, &t, &err), -EINVAL);
	assert_string_equal(err.msg, "timeout must be a number of seconds from 0 to 2147483647");
	assert_int_equal(api_timeout_body_parse("nope", 4, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the body is not a JSON object"));

	struct api_refresh_body rf;
	assert_int_equal(api_refresh_body_parse("", 0, &rf, &err), 0);
	assert_int_equal(rf.duration_s, -1); /* not given: the handler's default */
	assert_int_equal(api_refresh_body_parse("{\"duration\": 5}", 15, &rf, &err), 0);
	assert_int_equal(rf.duration_s, 5);
	assert_int_equal(api_refresh_body_parse("{\"duration\": -1}", 16, &rf, &err), -EINVAL);
	assert_string_equal(err.msg, "duration must be a number of seconds from 0 to 2147483647");

	struct api_connect_body c;
	assert_int_equal(api_connect_body_parse("{}", 2, &c, &err), 0);
	assert_int_equal(c.timeout_s, -1);
	assert_int_equal(api_connect_body_parse("{\"timeout\": 0}", 14, &c, &err), 0);
	assert_int_equal(c.timeout_s, 0);
	assert_int_equal(api_connect_body_parse("{\"timeout\": \"1\"}", 16, &c, &err), -EINVAL);
	assert_string_equal(err.msg, "timeout must be a number of seconds from 0 to 2147483647");
}

static void test_fork_body(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_fork_body f;
	/* No body, {} (what SDK 2.51 sends by default) and nulls: one child, and
	 * the manager's default life (E2B's 15 s). */
	const char *empty[] = { "", "{}", "{\"count\": null, \"timeout\": null}" };
	for (size_t i = 0; i < sizeof(empty) / sizeof(*empty); i++) {
		assert_int_equal(api_fork_body_parse(empty[i], strlen(empty[i]), &f, &err), 0);
		assert_int_equal(f.count, 1);
		assert_int_equal(f.timeout_s, 0);
	}
	const char *good = "{\"count\": 100, \"timeout\": 10}";
	assert_int_equal(api_fork_body_parse(good, strlen(good), &f, &err), 0);
	assert_int_equal(f.count, 100);
	assert_int_equal(f.timeout_s, 10);
	const char *bad[] = { "{\"count\": 0}", "{\"count\": 101}", "{\"count\": \"2\"}", "{\"count\": 1.0}",
			      "{\"count\": -1}", "{\"count\": true}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(api_fork_body_parse(bad[i], strlen(bad[i]), &f, &err), -EINVAL);
		assert_string_equal(err.msg, "count must be a number from 1 to 100");
	}
	/* E2B refuses a fork asked to live no time. */
	assert_int_equal(api_fork_body_parse("{\"timeout\": 0}", 14, &f, &err), -EINVAL);
	assert_string_equal(err.msg, "timeout must be greater than 0");
	const char *both = "{\"count\": 0, \"timeout\": -1}";
	assert_int_equal(api_fork_body_parse(both, strlen(both), &f, &err), -EINVAL);
	assert_string_equal(err.msg, "timeout must be a number of seconds from 0 to 2147483647");
	assert_int_equal(api_fork_body_parse("[]", 2, &f, &err), -EINVAL);
	assert_string_equal(err.msg, "the body is not a JSON object");
	assert_int_equal(api_fork_body_parse("{\"count\": 2", 12, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the body is not a JSON object"));
}

/* --- the lifecycle: create's fields, pause and connect --- */

/* A create body's lifecycle as parsed. */
struct lifecycle_want {
	const char *body;
	bool auto_pause, fs_only, auto_resume;
};

static void test_create_lifecycle(void **state)
{
	(void)state;
	/* As SDK 2.51 sends them (fields it leaves undefined are absent). */
	const struct lifecycle_want good[] = {
		{ "{}", false, false, false },
		{ "{\"autoPause\": false}", false, false, false },
		{ "{\"autoPause\": true}", true, false, false },
		{ "{\"autoPause\": true, \"autoPauseMemory\": true}", true, false, false },
		{ "{\"autoPause\": true, \"autoPauseMemory\": false}", true, true, false },
		{ "{\"autoPause\": true, \"autoResume\": {\"enabled\": true}}", true, false, true },
		{ "{\"autoPause\": true, \"autoResume\": {\"enabled\": false}}", true, false, false },
		{ "{\"autoPause\": true, \"autoPauseMemory\": false, \"autoResume\": {\"enabled\": false}}", true, true,
		  false },
		{ "{\"autoPauseMemory\": true}", false, false, false },
		{ "{\"autoPauseMemory\": null, \"autoResume\": null}", false, false, false },
		/* A sandbox paused by hand may wake on traffic too. */
		{ "{\"autoResume\": {\"enabled\": true}}", false, false, true },
		/* Older SDKs' form. */
		{ "{\"autoPause\": true, \"autoResume\": {\"policy\": \"any\"}}", true, false, true },
		{ "{\"autoPause\": true, \"autoResume\": {\"policy\": \"off\"}}", true, false, false },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		struct cove_err err = { 0 };
		struct api_create_body b;
		if (create(good[i].body, &b, &err) != 0)
			fail_msg("%s: %s", good[i].body, err.msg);
		if (b.req.auto_pause != good[i].auto_pause || b.req.auto_pause_fs_only != good[i].fs_only ||
		    b.req.auto_resume != good[i].auto_resume)
			fail_msg("%s: got pause %d fs-only %d resume %d", good[i].body, b.req.auto_pause,
				 b.req.auto_pause_fs_only, b.req.auto_resume);
		api_create_body_clear(&b);
	}
	/* E2B's checks (sandbox_create.go), and the shapes. */
	create_refused("{\"autoPauseMemory\": false}", "autoPauseMemory=false only applies when autoPause is true");
	create_refused("{\"autoPause\": false, \"autoPauseMemory\": false}",
		       "autoPauseMemory=false only applies when autoPause is true");
	create_refused("{\"autoPause\": true, \"autoPauseMemory\": false, \"autoResume\": {\"enabled\": true}}",
		       "autoResume cannot be combined with autoPauseMemory=false");
	create_refused("{\"autoPauseMemory\": 0}", "autoPauseMemory must be true or false");
	create_refused("{\"autoResume\": true}", "autoResume must be an object");
	create_refused("{\"autoResume\": {}}", "autoResume.enabled is required");
	create_refused("{\"autoResume\": {\"policy\": \"sometimes\"}}", "autoResume.enabled is required");
	create_refused("{\"autoResume\": {\"enabled\": \"yes\"}}", "autoResume.enabled must be true or false");
}

static void test_pause_connect_bodies(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_pause_body p;
	const char *keep[] = { "", "{}", "{\"memory\": true}", "{\"memory\": null}" };
	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
		assert_int_equal(api_pause_body_parse(keep[i], strlen(keep[i]), &p, &err), 0);
		assert_true(p.memory);
	}
	assert_int_equal(api_pause_body_parse("{\"memory\": false}", 17, &p, &err), 0);
	assert_false(p.memory);
	assert_int_equal(api_pause_body_parse("{\"memory\": \"no\"}", 16, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "memory must be true or false");
	assert_int_equal(api_pause_body_parse("[false]", 7, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "the body is not a JSON object");

	struct api_connect_body c;
	assert_int_equal(api_connect_body_parse("", 0, &c, &err), 0);
	assert_true(c.memory);
	assert_int_equal(c.timeout_s, -1);
	const char *reboot = "{\"timeout\": 60, \"memory\": false}";
	assert_int_equal(api_connect_body_parse(reboot, strlen(reboot), &c, &err), 0);
	assert_false(c.memory);
	assert_int_equal(c.timeout_s, 60);
	assert_int_equal(api_connect_body_parse("{\"memory\": 0}", 13, &c, &err), -EINVAL);
	assert_string_equal(err.msg, "memory must be true or false");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_good),     cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_create_bad),      cmocka_unit_test(test_create_limits),
		cmocka_unit_test(test_seconds_bodies),  cmocka_unit_test(test_fork_body),
		cmocka_unit_test(test_create_lifecycle),
		cmocka_unit_test(test_pause_connect_bodies),
		cmocka_unit_test(test_create_volumes),
		cmocka_unit_test(test_create_unsupported),
		cmocka_unit_test(test_create_ingress), cmocka_unit_test(test_network_body),
		cmocka_unit_test(test_create_https_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
