/* Unit tests for the cluster catalog's records (src/cluster/records.c): host
 * and sandbox records round trip through their JSON, and a malformed or
 * hostile record (as anything read from etcd may be) is refused with a
 * message naming the field, never taken in part. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/records.h"

static const char *const host_json =
	"{\"addr\":\"10.0.0.1:49982\",\"state\":\"ready\",\"version\":\"0.18.0\",\"accel\":\"kvm\",\"cpus\":8,"
	"\"snap_key\":\"qemu-7.2/kvm/ab12\",\"mem_max_mib\":16384,\"mem_committed_mib\":2048,\"vcpus_alloc\":6,"
	"\"cpu_busy_pct\":35,\"sandboxes\":3,\"max_sandboxes\":64,\"boots_inflight\":1,\"max_boots\":2,"
	"\"templates\":{\"tiny\":{\"snap\":true,\"warm\":2,\"vcpus\":1,\"mem_mib\":256},\"base\":{\"snap\":false,\"warm\":0}},\"ts\":1764930000000}";

static const char *const sandbox_json =
	"{\"host\":\"h1\",\"epoch\":7,\"state\":\"running\",\"template\":\"base\",\"vcpus\":2,\"mem_mib\":512,"
	"\"seq\":1764930000000123,\"started\":1764930000000,\"end\":1764930300000,\"auto_pause\":false,"
	"\"metadata\":{\"user\":\"ada\",\"env\":\"dev\"}}";

static void test_host_decode(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct cluster_host h;
	int r = cluster_host_decode("h1", host_json, strlen(host_json), &h, &err);
	if (r != 0)
		fail_msg("decode: %d %s", r, err.msg);
	assert_string_equal(h.id, "h1");
	assert_string_equal(h.addr, "10.0.0.1:49982");
	assert_int_equal(h.state, CLUSTER_HOST_READY);
	assert_string_equal(h.accel, "kvm");
	assert_int_equal(h.cpus, 8);
	assert_int_equal(h.mem_max_mib, 16384);
	assert_int_equal(h.mem_committed_mib, 2048);
	assert_int_equal(h.cpu_busy_pct, 35);
	assert_int_equal(h.max_boots, 2);
	assert_true(h.ts_ms == 1764930000000LL);
	/* Sorted by name. */
	assert_int_equal(h.ntemplates, 2);
	assert_string_equal(h.templates[0].name, "base");
	assert_string_equal(h.templates[1].name, "tiny");
	const struct cluster_template *t = cluster_host_template(&h, "tiny");
	assert_non_null(t);
	assert_true(t->snap);
	assert_int_equal(t->warm, 2);
	assert_int_equal(t->vcpus, 1);
	assert_int_equal(t->mem_mib, 256);
	/* The sizes are optional: not given, 0. */
	assert_int_equal(cluster_host_template(&h, "base")->vcpus, 0);
	assert_int_equal(cluster_host_template(&h, "base")->mem_mib, 0);
	assert_null(cluster_host_template(&h, "missing"));
	cluster_host_clear(&h);
	cluster_host_clear(&h); /* idempotent */
}

static void test_host_round_trip(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct cluster_host a, b;
	assert_int_equal(cluster_host_decode("node-1.example", host_json, strlen(host_json), &a, &err), 0);
	char *text = NULL;
	if (cluster_host_encode(&a, &text, &err) != 0)
		fail_msg("encode: %s", err.msg);
	assert_int_equal(cluster_host_decode("node-1.example", text, strlen(text), &b, &err), 0);
	assert_true(cluster_host_equal(&a, &b));
	/* Canonical: the same record encodes to the same bytes. */
	char *again = NULL;
	assert_int_equal(cluster_host_encode(&b, &again, &err), 0);
	assert_string_equal(text, again);
	/* Any change shows. */
	b.templates[1].warm++;
	assert_false(cluster_host_equal(&a, &b));
	b.templates[1].warm--;
	b.templates[1].mem_mib++;
	assert_false(cluster_host_equal(&a, &b));
	free(text);
	free(again);
	cluster_host_clear(&a);
	cluster_host_clear(&b);
}

static void test_sandbox_round_trip(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct cluster_sandbox a, b;
	int r = cluster_sandbox_decode("abc123def456ghi789jk", sandbox_json, strlen(sandbox_json), &a, &err);
	if (r != 0)
		fail_msg("decode: %d %s", r, err.msg);
	assert_string_equal(a.host, "h1");
	assert_true(a.epoch == 7);
	assert_int_equal(a.state, CLUSTER_SANDBOX_RUNNING);
	assert_string_equal(a.template_id, "base");
	assert_true(a.seq == 1764930000000123LL);
	assert_true(a.end_ms == 1764930300000LL);
	/* Compact, keys sorted. */
	assert_string_equal(a.metadata, "{\"env\":\"dev\",\"user\":\"ada\"}");
	char *text = NULL;
	assert_int_equal(cluster_sandbox_encode(&a, &text, &err), 0);
	assert_null(strcasestr(text, "token"));
	assert_int_equal(cluster_sandbox_decode(a.id, text, strlen(text), &b, &err), 0);
	assert_true(cluster_sandbox_equal(&a, &b));
	free(text);
	cluster_sandbox_clear(&b);

	/* No metadata: NULL, written as {} and read back as NULL. */
	free(a.metadata);
	a.metadata = NULL;
	a.state = CLUSTER_SANDBOX_PAUSED;
	snprintf(a.template_id, sizeof(a.template_id), "my-snap:v2");
	assert_int_equal(cluster_sandbox_encode(&a, &text, &err), 0);
	assert_non_null(strstr(text, "\"metadata\":{}"));
	assert_int_equal(cluster_sandbox_decode(a.id, text, strlen(text), &b, &err), 0);
	assert_null(b.metadata);
	assert_true(cluster_sandbox_equal(&a, &b));
	free(text);
	cluster_sandbox_clear(&a);
	cluster_sandbox_clear(&b);
}

/* json with the text of field `from` replaced by `to` (the first match). */
static char *edit(const char *json, const char *from, const char *to)
{
	const char *at = strstr(json, from);
	if (!at)
		fail_msg("test bug: '%s' not in the record", from);
	char *out = malloc(strlen(json) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
	return out;
}

struct hostile {
	const char *from, *to; /* the edit to the good record */
	const char *want;      /* in the message */
};

static void host_refused(const char *text, size_t len, const char *want)
{
	struct cove_err err = { 0 };
	struct cluster_host h = { 0 };
	int r = cluster_host_decode("h1", text, len, &h, &err);
	if (r != -EINVAL || !strstr(err.msg, want))
		fail_msg("%.200s: got %d '%s', want '%s'", text, r, err.msg, want);
	assert_null(h.templates); /* not written on failure */
}

static void test_host_hostile(void **state)
{
	(void)state;
	static const struct hostile cases[] = {
		{ "\"cpus\":8,", "", "field 'cpus': missing" },
		{ "\"cpus\":8", "\"cpus\":\"8\"", "field 'cpus': must be" },
		{ "\"cpus\":8", "\"cpus\":0", "field 'cpus': 0 is not from 1" },
		{ "\"cpus\":8", "\"cpus\":8.5", "field 'cpus'" },
		{ "\"cpus\":8", "\"cpus\":99999999999999999999", "not a JSON object" },
		{ "\"cpu_busy_pct\":35", "\"cpu_busy_pct\":101", "field 'cpu_busy_pct'" },
		{ "\"mem_committed_mib\":2048", "\"mem_committed_mib\":-1", "field 'mem_committed_mib'" },
		{ "\"mem_max_mib\":16384", "\"mem_max_mib\":4294967296", "field 'mem_max_mib'" },
		{ "\"ts\":1764930000000", "\"ts\":1152921504606846976", "field 'ts'" },
		{ "\"ts\":1764930000000", "\"ts\":null", "field 'ts'" },
		{ "\"ready\"", "\"fenced\"", "field 'state'" },
		{ "\"ready\"", "\"readyreadyreadyreadyready\"", "field 'state'" },
		{ "10.0.0.1:49982", "10.0.0.1", "field 'addr'" },
		{ "10.0.0.1:49982", "10.0.0.1:0", "field 'addr'" },
		{ "10.0.0.1:49982", "10.0.0.1:65536", "field 'addr'" },
		{ "10.0.0.1:49982", "a b:80", "field 'addr'" },
		{ "10.0.0.1:49982", "evil/../x:80", "field 'addr'" },
		{ "\"kvm\"", "\"KVM;rm\"", "field 'accel'" },
		{ "\"0.18.0\"", "\"\"", "field 'version'" },
		{ "\"0.18.0\"", "\"0.18\\n0\"", "field 'version'" },
		{ "qemu-7.2/kvm/ab12", "qemu 7.2", "field 'snap_key'" },
		{ "\"tiny\":", "\"Tiny/../x\":", "field 'templates'" },
		{ "\"tiny\":{\"snap\":true,\"warm\":2,\"vcpus\":1,\"mem_mib\":256}", "\"tiny\":[]", "field 'templates.tiny'" },
		{ "\"vcpus\":1,", "\"vcpus\":0,", "field 'templates.tiny.vcpus'" },
		{ "\"vcpus\":1,", "\"vcpus\":\"1\",", "field 'templates.tiny.vcpus'" },
		{ "\"mem_mib\":256", "\"mem_mib\":16777217", "field 'templates.tiny.mem_mib'" },
		{ "\"warm\":2", "\"warm\":-2", "templates.tiny.warm" },
		{ "\"snap\":true", "\"snap\":1", "templates.tiny" },
		{ "\"templates\":{", "\"templates\":7,\"x\":{", "field 'templates': must be" },
		{ "\"max_boots\":2", "\"max_boots\":2,\"envdAccessToken\":\"s3cret\"", "field 'envdAccessToken': the catalog never holds tokens" },
		{ "\"max_boots\":2", "\"max_boots\":2,\"cpus\":9", "not a JSON object" }, /* a duplicate key */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = edit(host_json, cases[i].from, cases[i].to);
		host_refused(text, strlen(text), cases[i].want);
		free(text);
	}
	host_refused("[]", 2, "not a JSON object");
	host_refused("", 0, "not a JSON object");
	/* An unknown field is a newer Cove's, and fine. */
	char *text = edit(host_json, "\"max_boots\":2", "\"max_boots\":2,\"gpu\":{\"n\":1}");
	struct cove_err err = { 0 };
	struct cluster_host h;
	assert_int_equal(cluster_host_decode("h1", text, strlen(text), &h, &err), 0);
	cluster_host_clear(&h);
	free(text);
	/* A bad id from the key. */
	assert_int_equal(cluster_host_decode("../h1", host_json, strlen(host_json), &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "host id"));
}

/* A host record with n templates t0..t(n-1). */
static char *host_with_templates(size_t n)
{
	size_t size = strlen(host_json) + n * 48 + 64;
	char *out = malloc(size), *p = out;
	p += sprintf(p, "{\"addr\":\"h:1\",\"state\":\"ready\",\"version\":\"v\",\"accel\":\"tcg\",\"cpus\":2,"
			"\"snap_key\":\"k\",\"mem_max_mib\":1024,\"mem_committed_mib\":0,\"vcpus_alloc\":0,"
			"\"cpu_busy_pct\":0,\"sandboxes\":0,\"max_sandboxes\":8,\"boots_inflight\":0,\"max_boots\":0,"
			"\"ts\":1,\"templates\":{");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"t%zu\":{\"snap\":false,\"warm\":0}", i ? "," : "", i);
	sprintf(p, "}}");
	return out;
}

static void test_host_template_bound(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct cluster_host h;
	char *text = host_with_templates(CLUSTER_MAX_TEMPLATES);
	if (cluster_host_decode("h1", text, strlen(text), &h, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(h.ntemplates, CLUSTER_MAX_TEMPLATES);
	cluster_host_clear(&h);
	free(text);
	text = host_with_templates(CLUSTER_MAX_TEMPLATES + 1);
	host_refused(text, strlen(text), "field 'templates': 257, more than 256");
	free(text);
	/* Longer than any record may be, whatever it holds. */
	size_t big = CLUSTER_RECORD_MAX + 1;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	host_refused(huge, big, "more than");
	free(huge);
}

static void sandbox_refused(const char *id, const char *text, const char *want)
{
	struct cove_err err = { 0 };
	struct cluster_sandbox sb = { 0 };
	int r = cluster_sandbox_decode(id, text, strlen(text), &sb, &err);
	if (r != -EINVAL || !strstr(err.msg, want))
		fail_msg("%.200s: got %d '%s', want '%s'", text, r, err.msg, want);
	assert_null(sb.metadata);
}

static void test_sandbox_hostile(void **state)
{
	(void)state;
	static const struct hostile cases[] = {
		{ "\"host\":\"h1\"", "\"host\":\"h1/../h2\"", "field 'host'" },
		{ "\"host\":\"h1\",", "", "field 'host': missing" },
		{ "\"epoch\":7", "\"epoch\":0", "field 'epoch'" },
		{ "\"epoch\":7", "\"epoch\":\"7\"", "field 'epoch'" },
		{ "\"running\"", "\"dead\"", "field 'state'" },
		{ "\"template\":\"base\"", "\"template\":\"-base\"", "field 'template'" },
		{ "\"template\":\"base\"", "\"template\":\"" "0123456789012345678901234567890123456789012345678901234567890123" "\"",
		  "field 'template'" },
		{ "\"vcpus\":2", "\"vcpus\":0", "field 'vcpus'" },
		{ "\"mem_mib\":512", "\"mem_mib\":-512", "field 'mem_mib'" },
		{ "\"seq\":1764930000000123", "\"seq\":-1", "field 'seq'" },
		{ "\"end\":1764930300000", "\"end\":1.5", "field 'end'" },
		{ "\"auto_pause\":false", "\"auto_pause\":\"no\"", "field 'auto_pause'" },
		{ "\"user\":\"ada\"", "\"user\":7", "field 'metadata': entry 'user'" },
		{ "\"user\":\"ada\"", "\"\":\"ada\"", "field 'metadata': entry ''" },
		{ "{\"user\"", "[{\"user\"", "not a JSON object" },
		{ "\"auto_pause\":false", "\"auto_pause\":false,\"traffic_token\":\"x\"", "field 'traffic_token'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = edit(sandbox_json, cases[i].from, cases[i].to);
		sandbox_refused("abc123", text, cases[i].want);
		free(text);
	}
	/* A metadata of more entries than a create may give. */
	char meta[4096] = "{", *p = meta + 1;
	for (int i = 0; i <= CLUSTER_METADATA_MAX; i++)
		p += sprintf(p, "%s\"k%d\":\"v\"", i ? "," : "", i);
	sprintf(p, "}");
	char *text = edit(sandbox_json, "{\"user\":\"ada\",\"env\":\"dev\"}", meta);
	sandbox_refused("abc123", text, "field 'metadata': more than 64 entries");
	free(text);
	sandbox_refused("ABC", sandbox_json, "sandbox id 'ABC'");
	sandbox_refused("", sandbox_json, "sandbox id ''");
}

static void test_encode_checks(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct cluster_template ts[2] = { { "base", true, 1 }, { "base", false, 0 } };
	struct cluster_host h = { .id = "h1", .addr = "[fd00::1]:49982", .version = "v", .accel = "kvm", .cpus = 4,
				  .snap_key = "k", .mem_max_mib = 1024, .max_sandboxes = 4, .ts_ms = 1,
				  .templates = ts, .ntemplates = 1 };
	char *text = NULL;
	if (cluster_host_encode(&h, &text, &err) != 0)
		fail_msg("%s", err.msg);
	free(text);
	text = NULL;
	h.ntemplates = 2;
	assert_int_equal(cluster_host_encode(&h, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'base' twice"));
	h.ntemplates = 1;
	h.cpu_busy_pct = 250;
	assert_int_equal(cluster_host_encode(&h, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "field 'cpu_busy_pct'"));
	h.cpu_busy_pct = 0;
	snprintf(h.accel, sizeof(h.accel), "K V M");
	assert_int_equal(cluster_host_encode(&h, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "field 'accel'"));
	assert_null(text);

	struct cluster_sandbox sb = { .id = "abc", .host = "h1", .epoch = 1, .template_id = "base", .vcpus = 1,
				      .mem_mib = 256, .metadata = (char *)"{\"a\":[1]}" };
	assert_int_equal(cluster_sandbox_encode(&sb, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "field 'metadata'"));
	sb.metadata = (char *)"not json";
	assert_int_equal(cluster_sandbox_encode(&sb, &text, &err), -EINVAL);
	sb.metadata = NULL;
	sb.epoch = 0;
	assert_int_equal(cluster_sandbox_encode(&sb, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "field 'epoch'"));
	assert_null(text);
}

static void test_keys(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	char key[128], id[64];
	assert_int_equal(cluster_host_key("h1", key, sizeof(key), &err), 0);
	assert_string_equal(key, "/cove/v1/hosts/h1");
	assert_int_equal(cluster_key_host_id(key, strlen(key), id, &err), 0);
	assert_string_equal(id, "h1");
	assert_int_equal(cluster_sandbox_key("abc123", key, sizeof(key), &err), 0);
	assert_string_equal(key, "/cove/v1/sb/abc123");
	assert_int_equal(cluster_key_sandbox_id(key, strlen(key), id, &err), 0);
	assert_string_equal(id, "abc123");
	/* Only whole, valid keys. */
	assert_int_equal(cluster_key_sandbox_id(key, strlen(key) - 6, id, &err), -EINVAL);
	assert_int_equal(cluster_key_host_id(key, strlen(key), id, &err), -EINVAL);
	static const char nul[] = "/cove/v1/sb/ab\0cd";
	assert_int_equal(cluster_key_sandbox_id(nul, sizeof(nul) - 1, id, &err), -EINVAL);
	const char *slash = "/cove/v1/hosts/a/b";
	assert_int_equal(cluster_key_host_id(slash, strlen(slash), id, &err), -EINVAL);
	assert_int_equal(cluster_host_key("a/b", key, sizeof(key), &err), -EINVAL);
	assert_int_equal(cluster_host_key("h1", key, 10, &err), -ENAMETOOLONG);
	char longid[80];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(cluster_host_id_check(longid, &err), -EINVAL);
	longid[CLUSTER_HOST_ID_MAX] = '\0';
	assert_int_equal(cluster_host_id_check(longid, &err), 0);
	assert_int_equal(cluster_host_id_check("Node-7.rack_2", &err), 0);
	assert_int_equal(cluster_sandbox_id_check("Abc", &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_decode),
		cmocka_unit_test(test_host_round_trip),
		cmocka_unit_test(test_sandbox_round_trip),
		cmocka_unit_test(test_host_hostile),
		cmocka_unit_test(test_host_template_bound),
		cmocka_unit_test(test_sandbox_hostile),
		cmocka_unit_test(test_encode_checks),
		cmocka_unit_test(test_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
