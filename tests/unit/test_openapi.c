/* Unit tests for the VMM test doubles' request checker
 * (tests/tools/vmmdouble/openapi.c) against the documents they carry
 * (Firecracker's Swagger 2, Cloud Hypervisor's OpenAPI 3 with its /api/v1
 * base), Cloud Hypervisor's driver's bodies against the latter, and the
 * doubles' HTTP request parse (http.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/ch/ch.h"
#include "vmmdouble/vmmdouble.h"

static struct openapi *fc_api, *ch_api;
/* The document expect_ok and expect_refused check against. */
static struct openapi *under_test;

static int setup(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	size_t len = (size_t)(vmmdouble_firecracker_yaml_end - vmmdouble_firecracker_yaml);
	int r = openapi_parse(vmmdouble_firecracker_yaml, len, "", &fc_api, &err);
	if (r < 0)
		fail_msg("parse the Firecracker document: %s", err.msg);
	len = (size_t)(vmmdouble_cloud_hypervisor_yaml_end - vmmdouble_cloud_hypervisor_yaml);
	r = openapi_parse(vmmdouble_cloud_hypervisor_yaml, len, "/api/v1", &ch_api, &err);
	if (r < 0)
		fail_msg("parse the Cloud Hypervisor document: %s", err.msg);
	under_test = fc_api;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fc_api = openapi_free(fc_api);
	ch_api = openapi_free(ch_api);
	return 0;
}

static void expect_ok(const char *method, const char *path, const char *body)
{
	struct cove_err err = { 0 };
	json_t *parsed = NULL;
	int r = openapi_check(under_test, method, path, body, body ? strlen(body) : 0, &parsed, &err);
	if (r != 0)
		fail_msg("%s %s %s refused: %s", method, path, body ? body : "", err.msg);
	json_decref(parsed);
}

/* Refused with code, and the reason names want. */
static void expect_refused(const char *method, const char *path, const char *body, int code, const char *want)
{
	struct cove_err err = { 0 };
	json_t *parsed = NULL;
	int r = openapi_check(under_test, method, path, body, body ? strlen(body) : 0, &parsed, &err);
	if (r != code)
		fail_msg("%s %s %s: got %d (%s), want %d", method, path, body ? body : "", r, err.msg, code);
	if (!strstr(err.msg, want))
		fail_msg("%s %s: reason '%s' does not say '%s'", method, path, err.msg, want);
	assert_null(parsed);
}

static void test_document_version(void **state)
{
	(void)state;
	assert_string_equal(openapi_version(fc_api), "1.14.4");
}

/* What Firecracker's own getting-started guide sends. */
static void test_guide_requests_pass(void **state)
{
	(void)state;
	expect_ok("GET", "/", NULL);
	expect_ok("PUT", "/boot-source",
		  "{\"kernel_image_path\": \"/vmlinux\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off\"}");
	expect_ok("PUT", "/drives/rootfs",
		  "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/rootfs\", \"is_root_device\": true, "
		  "\"is_read_only\": false}");
	expect_ok("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 1024}");
	expect_ok("PUT", "/network-interfaces/net1",
		  "{\"iface_id\": \"net1\", \"guest_mac\": \"06:00:AC:10:00:02\", \"host_dev_name\": \"tap0\"}");
	expect_ok("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
	expect_ok("PATCH", "/vm", "{\"state\": \"Paused\"}");
	expect_ok("PUT", "/snapshot/create",
		  "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}");
	expect_ok("PUT", "/snapshot/load",
		  "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"/m\"}, "
		  "\"resume_vm\": true}");
	/* The Logger's own example value, and a rate limiter (nested $refs). */
	expect_ok("PUT", "/logger", "{\"level\": \"Info\", \"module\": \"api_server::request\"}");
	expect_ok("PATCH", "/drives/rootfs",
		  "{\"drive_id\": \"rootfs\", \"rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 100}}}");
	/* additionalProperties: true takes anything. */
	expect_ok("PUT", "/mmds", "{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\"}}}");
}

static void test_wrong_types_refused(void **state)
{
	(void)state;
	expect_refused("PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 1024}", -EINVAL,
		       "body.vcpu_count: expected integer, got string");
	expect_refused("PUT", "/machine-config", "{\"vcpu_count\": 2.5, \"mem_size_mib\": 1024}", -EINVAL,
		       "expected integer, got number");
	expect_refused("PUT", "/drives/rootfs",
		       "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\", \"is_root_device\": \"yes\"}", -EINVAL,
		       "body.is_root_device: expected boolean");
	expect_refused("PATCH", "/drives/rootfs",
		       "{\"drive_id\": \"rootfs\", \"rate_limiter\": {\"ops\": {\"size\": \"a\", \"refill_time\": 1}}}",
		       -EINVAL, "body.rate_limiter.ops.size: expected integer");
	expect_refused("PUT", "/boot-source", "[1, 2]", -EINVAL, "expected object, got array");
	expect_refused("PUT", "/boot-source", "{\"kernel_image_path\": ", -EINVAL, "not JSON");
}

static void test_required_and_unknown_refused(void **state)
{
	(void)state;
	expect_refused("PUT", "/boot-source", "{\"boot_args\": \"console=ttyS0\"}", -EINVAL,
		       "missing required property 'kernel_image_path'");
	expect_refused("PUT", "/actions", NULL, -EINVAL, "body: required");
	expect_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"kernel_args\": \"x\"}", -EINVAL,
		       "unknown property 'kernel_args'");
	expect_refused("PUT", "/snapshot/load",
		       "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"File\", \"path\": \"/m\"}}",
		       -EINVAL, "body.mem_backend: missing required property 'backend_path'");
}

static void test_enum_and_bounds_refused(void **state)
{
	(void)state;
	expect_refused("PUT", "/actions", "{\"action_type\": \"Reboot\"}", -EINVAL,
		       "body.action_type: \"Reboot\" is not one of");
	expect_refused("PATCH", "/vm", "{\"state\": \"Running\"}", -EINVAL, "is not one of [\"Paused\",\"Resumed\"]");
	expect_refused("PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 128}", -EINVAL,
		       "below the minimum 1");
	expect_refused("PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 128}", -EINVAL,
		       "above the maximum 32");
	expect_refused("PUT", "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/v\"}", -EINVAL, "below the minimum 3");
}

static void test_paths_and_methods_refused(void **state)
{
	(void)state;
	expect_refused("PUT", "/reboot", "{}", -ENOENT, "no path /reboot");
	expect_refused("PUT", "/drives/", "{}", -ENOENT, "no path /drives/");
	expect_refused("PUT", "/drives/a/b", "{}", -ENOENT, "no path");
	expect_refused("DELETE", "/drives/rootfs", NULL, -EOPNOTSUPP, "no DELETE on /drives/rootfs");
	expect_refused("GET", "/actions", NULL, -EOPNOTSUPP, "no GET on /actions");
}

/* OpenAPI 3: requestBody, the /api/v1 base, $refs into components. */
static void test_ch_bodies(void **state)
{
	(void)state;
	under_test = ch_api;
	expect_ok("GET", "/api/v1/vmm.ping", NULL);
	expect_ok("PUT", "/api/v1/vm.boot", NULL);
	expect_ok("PUT", "/api/v1/vm.create",
		  "{\"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 2}, \"payload\": {\"kernel\": \"/k\"}, "
		  "\"disks\": [{\"path\": \"/d\", \"backing_files\": true}], \"serial\": {\"mode\": \"Tty\"}}");
	expect_ok("PUT", "/api/v1/vm.restore", "{\"source_url\": \"file:///s\", \"memory_restore_mode\": \"OnDemand\"}");
	expect_refused("PUT", "/vm.boot", NULL, -ENOENT, "no path /vm.boot");
	expect_refused("PUT", "/api/v1/vm.create", NULL, -EINVAL, "body: required");
	expect_refused("PUT", "/api/v1/vm.create", "{\"cpus\": {\"boot_vcpus\": 1, \"max_vcpus\": 1}}", -EINVAL,
		       "missing required property 'payload'");
	expect_refused("PUT", "/api/v1/vm.create",
		       "{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\", \"backing\": true}]}",
		       -EINVAL, "body.disks[0]: unknown property 'backing'");
	expect_refused("PUT", "/api/v1/vm.create",
		       "{\"payload\": {\"kernel\": \"/k\"}, \"console\": {\"mode\": \"Serial\"}}", -EINVAL,
		       "body.console.mode: \"Serial\" is not one of");
	expect_refused("PUT", "/api/v1/vm.create", "{\"payload\": {}, \"cpus\": {\"boot_vcpus\": 0, \"max_vcpus\": 1}}",
		       -EINVAL, "body.cpus.boot_vcpus: 0 is below the minimum 1");
	expect_refused("PUT", "/api/v1/vm.restore", "{\"source_url\": \"file:///s\", \"memory_restore_mode\": \"Lazy\"}",
		       -EINVAL, "is not one of");
	expect_refused("GET", "/api/v1/vm.boot", NULL, -EOPNOTSUPP, "no GET on /vm.boot");
	under_test = fc_api;
}

static void expect_ch_body(const char *path, json_t *body)
{
	assert_non_null(body);
	char *text = json_dumps(body, JSON_COMPACT);
	under_test = ch_api;
	expect_ok("PUT", path, text);
	under_test = fc_api;
	free(text);
	json_decref(body);
}

/* What Cloud Hypervisor's driver sends (src/vmm/ch/body.c) is in CH's
 * document: a file-backed VM with a qcow2 disk and a TAP, a restore on
 * demand and a snapshot. */
static void test_ch_driver_bodies(void **state)
{
	(void)state;
	struct vmm_config c = { .id = "sb-1", .vcpus = 2, .mem_mib = 256, .mem_file = "/m", .mem_shared = true };
	c.net.mac = "06:00:0a:00:00:02";
	struct ch_paths p = { .kernel = "/kernel", .cmdline = "console=ttyS0", .disk = "/disk.qcow2",
			      .disk_qcow2 = true, .memory = "/memory", .memory_shared = true, .tap = "tap0" };
	json_t *v = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(ch_vm_config(&c, &p, &v, &err), 0);
	expect_ch_body("/api/v1/vm.create", v);
	expect_ch_body("/api/v1/vm.restore", ch_restore_body("/", true));
	expect_ch_body("/api/v1/vm.snapshot", ch_snapshot_body("/snapshot"));
}

static void test_yaml_scalars(void **state)
{
	(void)state;
	const char *text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: \"true\"\nf: 2M\ng: ~\nh: [x, 3]\n";
	json_t *v = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(openapi_yaml_to_json(text, strlen(text), &v, &err), 0);
	char *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump, "{\"a\":1,\"b\":-2,\"c\":1.5,\"d\":true,\"e\":\"true\",\"f\":\"2M\",\"g\":null,"
				  "\"h\":[\"x\",3]}");
	free(dump);
	json_decref(v);
	assert_int_equal(openapi_yaml_to_json("a: [", 4, &v, &err), -EINVAL);
}

static void test_http_parse(void **state)
{
	(void)state;
	struct http_request req;
	const char *full = "PUT /drives/rootfs?x=1 HTTP/1.1\r\nHost: localhost\r\ncontent-length: 2\r\n\r\n{}GET";
	long n = http_parse_request(full, strlen(full), &req);
	assert_int_equal(n, (long)strlen(full) - 3);
	assert_string_equal(req.method, "PUT");
	assert_string_equal(req.path, "/drives/rootfs");
	assert_int_equal(req.body_len, 2);
	assert_memory_equal(req.body, "{}", 2);
	assert_false(req.close);
	const char *partial = "PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}";
	assert_int_equal(http_parse_request(partial, strlen(partial), &req), 0);
	const char *bad = "PUT nopath HTTP/1.1\r\n\r\n";
	assert_int_equal(http_parse_request(bad, strlen(bad), &req), -EINVAL);
	const char *big = "PUT / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n";
	assert_int_equal(http_parse_request(big, strlen(big), &req), -E2BIG);
	const char *chunked = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(http_parse_request(chunked, strlen(chunked), &req), -EINVAL);
	const char *closing = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
	assert_true(http_parse_request(closing, strlen(closing), &req) > 0);
	assert_true(req.close);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_version),
		cmocka_unit_test(test_guide_requests_pass),
		cmocka_unit_test(test_wrong_types_refused),
		cmocka_unit_test(test_required_and_unknown_refused),
		cmocka_unit_test(test_enum_and_bounds_refused),
		cmocka_unit_test(test_paths_and_methods_refused),
		cmocka_unit_test(test_ch_bodies),
		cmocka_unit_test(test_ch_driver_bodies),
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_http_parse),
	};
	return cmocka_run_group_tests_name("openapi", tests, setup, teardown);
}
