/* Unit tests for etcd's JSON gateway messages (src/proto/etcd.c and
 * etcd_encode.c), on answers captured from etcd 3.4.23: int64 as strings,
 * proto3's omitted defaults, binary keys and values, errors. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/etcd.h"

#define HDR(rev) \
	"\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\"," \
	"\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

static void test_range(void **state)
{
	(void)state;
	/* The value is "va\0l": binary-safe. */
	const char *json = "{" HDR(
		"3") ",\"kvs\":[{\"key\":\"L2NvdmUvYQ==\",\"create_revision\":\"2\","
		     "\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"dmEAbA==\",\"lease\":\"4111120456210357262\"}],"
		     "\"count\":\"1\"}";
	struct etcd_result r;
	assert_int_equal(etcd_result_parse(ETCD_OP_RANGE, json, strlen(json), &r, NULL), 0);
	assert_true(r.header.cluster_id == 15118495548433857066ULL); /* above INT64_MAX */
	assert_int_equal(r.header.revision, 3);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.count, 1);
	assert_false(r.more);
	assert_int_equal(r.kvs[0].key.len, 7);
	assert_string_equal((char *)r.kvs[0].key.data, "/cove/a");
	assert_int_equal(r.kvs[0].value.len, 4);
	assert_memory_equal(r.kvs[0].value.data, "va\0l", 4);
	assert_int_equal(r.kvs[0].create_revision, 2);
	assert_int_equal(r.kvs[0].mod_revision, 3);
	assert_int_equal(r.kvs[0].version, 2);
	assert_true(r.kvs[0].lease == 4111120456210357262LL);
	etcd_result_clear(&r);
	assert_null(r.kvs);
}

static void test_range_empty_and_more(void **state)
{
	(void)state;
	/* An empty range has neither kvs nor count. */
	const char *empty = "{" HDR("3") "}";
	struct etcd_result r;
	assert_int_equal(etcd_result_parse(ETCD_OP_RANGE, empty, strlen(empty), &r, NULL), 0);
	assert_int_equal(r.nkvs, 0);
	assert_int_equal(r.count, 0);
	etcd_result_clear(&r);
	const char *limited = "{" HDR(
		"4") ",\"kvs\":[{\"key\":\"L2NvdmUvYQ==\",\"create_revision\":\"2\","
		     "\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"dmEAbA==\"}],\"more\":true,\"count\":\"2\"}";
	assert_int_equal(etcd_result_parse(ETCD_OP_RANGE, limited, strlen(limited), &r, NULL), 0);
	assert_true(r.more);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.kvs[0].lease, 0);
	etcd_result_clear(&r);
}

static void test_put_and_delete(void **state)
{
	(void)state;
	const char *put = "{" HDR("3") ",\"prev_kv\":{\"key\":\"L2NvdmUvYQ==\",\"create_revision\":\"2\","
				       "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"dmEAbA==\"}}";
	struct etcd_result r;
	assert_int_equal(etcd_result_parse(ETCD_OP_PUT, put, strlen(put), &r, NULL), 0);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.kvs[0].version, 1);
	etcd_result_clear(&r);
	const char *del = "{" HDR("7") ",\"deleted\":\"1\"}";
	assert_int_equal(etcd_result_parse(ETCD_OP_DELETE, del, strlen(del), &r, NULL), 0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.header.revision, 7);
	etcd_result_clear(&r);
	const char *none = "{" HDR("7") "}";
	assert_int_equal(etcd_result_parse(ETCD_OP_DELETE, none, strlen(none), &r, NULL), 0);
	assert_int_equal(r.count, 0);
	etcd_result_clear(&r);
}

static void test_txn(void **state)
{
	(void)state;
	/* A failed txn has no "succeeded": it ran the failure branch. */
	const char *failed = "{" HDR(
		"5") ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"5\"},"
		     "\"kvs\":[{\"key\":\"L2NvdmUvbmV3\",\"create_revision\":\"5\",\"mod_revision\":\"5\","
		     "\"version\":\"1\",\"value\":\"MQ==\"}],\"count\":\"1\"}}]}";
	struct etcd_txn_result t;
	assert_int_equal(etcd_txn_parse(failed, strlen(failed), &t, NULL), 0);
	assert_false(t.succeeded);
	assert_int_equal(t.nresponses, 1);
	assert_int_equal(t.responses[0].op, ETCD_OP_RANGE);
	assert_int_equal(t.responses[0].header.revision, 5);
	assert_string_equal((char *)t.responses[0].kvs[0].key.data, "/cove/new");
	assert_int_equal(t.responses[0].kvs[0].create_revision, 5);
	etcd_txn_result_clear(&t);
	const char *ok = "{" HDR(
		"6") ",\"succeeded\":true,\"responses\":[{\"response_delete_range\":{\"header\":"
		     "{\"revision\":\"6\"},\"deleted\":\"1\",\"prev_kvs\":[{\"key\":\"L2NvdmUvbmV3\",\"create_revision\":"
		     "\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"MQ==\"}]}},{\"response_put\":{\"header\":"
		     "{\"revision\":\"6\"}}}]}";
	assert_int_equal(etcd_txn_parse(ok, strlen(ok), &t, NULL), 0);
	assert_true(t.succeeded);
	assert_int_equal(t.nresponses, 2);
	assert_int_equal(t.responses[0].op, ETCD_OP_DELETE);
	assert_int_equal(t.responses[0].count, 1);
	assert_int_equal(t.responses[0].nkvs, 1);
	assert_int_equal(t.responses[1].op, ETCD_OP_PUT);
	etcd_txn_result_clear(&t);
	/* An operation of no known kind is refused, and nothing leaks. */
	const char *odd = "{" HDR("6") ",\"succeeded\":true,\"responses\":[{\"response_put\":{}},{\"response_x\":{}}]}";
	assert_int_equal(etcd_txn_parse(odd, strlen(odd), &t, NULL), -EBADMSG);
	assert_null(t.responses);
}

static void test_lease(void **state)
{
	(void)state;
	struct etcd_lease l;
	const char *grant = "{" HDR("3") ",\"ID\":\"4111120456210357257\",\"TTL\":\"5\"}";
	assert_int_equal(etcd_lease_parse(grant, strlen(grant), &l, NULL), 0);
	assert_true(l.id == 4111120456210357257LL);
	assert_int_equal(l.ttl, 5);
	etcd_lease_clear(&l);
	/* keepalive answers are wrapped in "result"; a lost lease's has no TTL. */
	const char *alive = "{\"result\":{" HDR("7") ",\"ID\":\"4111120456210357262\",\"TTL\":\"30\"}}";
	assert_int_equal(etcd_lease_parse(alive, strlen(alive), &l, NULL), 0);
	assert_int_equal(l.ttl, 30);
	etcd_lease_clear(&l);
	const char *lost = "{\"result\":{" HDR("8") ",\"ID\":\"4111120456210357262\"}}";
	assert_int_equal(etcd_lease_parse(lost, strlen(lost), &l, NULL), 0);
	assert_true(l.id == 4111120456210357262LL);
	assert_int_equal(l.ttl, 0);
	etcd_lease_clear(&l);
	const char *gone = "{" HDR("8") ",\"ID\":\"4111120456210357262\",\"TTL\":\"-1\"}";
	assert_int_equal(etcd_lease_parse(gone, strlen(gone), &l, NULL), 0);
	assert_int_equal(l.ttl, -1);
	etcd_lease_clear(&l);
	const char *keys = "{" HDR("7") ",\"ID\":\"1\",\"TTL\":\"29\",\"grantedTTL\":\"30\",\"keys\":[\"L2NvdmUvbA==\","
					"\"L2NvdmUvbQ==\"]}";
	assert_int_equal(etcd_lease_parse(keys, strlen(keys), &l, NULL), 0);
	assert_int_equal(l.granted_ttl, 30);
	assert_int_equal(l.nkeys, 2);
	assert_string_equal((char *)l.keys[1].data, "/cove/m");
	etcd_lease_clear(&l);
	/* Numbers are valid int64s too. */
	const char *numbers = "{\"ID\":77,\"TTL\":7}";
	assert_int_equal(etcd_lease_parse(numbers, strlen(numbers), &l, NULL), 0);
	assert_int_equal(l.id, 77);
	assert_int_equal(l.ttl, 7);
	etcd_lease_clear(&l);
}

static void test_int64_bounds(void **state)
{
	(void)state;
	const char *bad[] = {
		"{\"ID\":\"9223372036854775808\"}", /* INT64_MAX + 1 */
		"{\"ID\":\"1x\"}",
		"{\"ID\":\"\"}",
		"{\"ID\":\" 1\"}",
		"{\"ID\":\"+1\"}",
		"{\"ID\":1.5}",
		"{\"ID\":true}",
		"{\"header\":{\"cluster_id\":\"-1\"}}",
		"{\"header\":{\"revision\":\"18446744073709551616\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct etcd_lease l;
		struct cove_err err = { 0 };
		assert_int_equal(etcd_lease_parse(bad[i], strlen(bad[i]), &l, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "unexpected answer"));
	}
	const char *max = "{\"ID\":\"9223372036854775807\",\"TTL\":\"-1\"}";
	struct etcd_lease l;
	assert_int_equal(etcd_lease_parse(max, strlen(max), &l, NULL), 0);
	assert_true(l.id == INT64_MAX);
	etcd_lease_clear(&l);
}

static void test_errors(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	const char *gone =
		"{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: requested lease "
		"not found\",\"code\":5}";
	struct etcd_lease l;
	assert_int_equal(etcd_lease_parse(gone, strlen(gone), &l, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "requested lease not found"));
	const char *compacted = "{\"error\":\"etcdserver: mvcc: required revision has been compacted\",\"message\":"
				"\"etcdserver: mvcc: required revision has been compacted\",\"code\":11}";
	struct etcd_result r;
	assert_int_equal(etcd_result_parse(ETCD_OP_RANGE, compacted, strlen(compacted), &r, &err), -ERANGE);
	struct etcd_error e;
	assert_int_equal(etcd_error_parse(compacted, strlen(compacted), &e), 0);
	assert_int_equal(e.code, 11);
	/* A stream's error is an object. */
	const char *stream = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\","
			     "\"http_status\":\"Service Unavailable\"}}";
	assert_int_equal(etcd_error_parse(stream, strlen(stream), &e), 0);
	assert_int_equal(e.code, 14);
	assert_string_equal(e.message, "etcdserver: no leader");
	struct etcd_watch_msg m;
	assert_int_equal(etcd_watch_parse(stream, strlen(stream), &m, &err), -EAGAIN);
	/* An unknown path's plain-text 404, and answers that are not errors. */
	assert_int_equal(etcd_result_parse(ETCD_OP_PUT, "Not Found", 9, &r, &err), -EBADMSG);
	assert_int_equal(etcd_error_parse("Not Found", 9, &e), -EINVAL);
	const char *grant = "{" HDR("3") ",\"ID\":\"1\",\"TTL\":\"5\",\"error\":\"\"}";
	assert_int_equal(etcd_error_parse(grant, strlen(grant), &e), -EINVAL);
	assert_int_equal(etcd_lease_parse(grant, strlen(grant), &l, NULL), 0);
	etcd_lease_clear(&l);
}

static void test_watch(void **state)
{
	(void)state;
	struct etcd_watch_msg m;
	const char *created = "{\"result\":{" HDR("8") ",\"created\":true}}";
	assert_int_equal(etcd_watch_parse(created, strlen(created), &m, NULL), 0);
	assert_true(m.created);
	assert_false(m.canceled);
	assert_int_equal(m.header.revision, 8);
	etcd_watch_msg_clear(&m);
	/* A PUT has no "type"; prev_kv when asked. */
	const char *put = "{\"result\":{" HDR(
		"10") ",\"events\":[{\"kv\":{\"key\":\"L2NvdmUvdw==\",\"create_revision\":\"9\","
		      "\"mod_revision\":\"10\",\"version\":\"2\",\"value\":\"dHdv\"},\"prev_kv\":{\"key\":\"L2NvdmUvdw==\","
		      "\"create_revision\":\"9\",\"mod_revision\":\"9\",\"version\":\"1\",\"value\":\"b25l\"}}]}}";
	assert_int_equal(etcd_watch_parse(put, strlen(put), &m, NULL), 0);
	assert_int_equal(m.nevents, 1);
	assert_int_equal(m.events[0].type, ETCD_EVENT_PUT);
	assert_string_equal((char *)m.events[0].kv.value.data, "two");
	assert_true(m.events[0].has_prev_kv);
	assert_string_equal((char *)m.events[0].prev_kv.value.data, "one");
	etcd_watch_msg_clear(&m);
	const char *del = "{\"result\":{" HDR(
		"11") ",\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2NvdmUvdw==\","
		      "\"mod_revision\":\"11\"}}]}}";
	assert_int_equal(etcd_watch_parse(del, strlen(del), &m, NULL), 0);
	assert_int_equal(m.events[0].type, ETCD_EVENT_DELETE);
	assert_int_equal(m.events[0].kv.mod_revision, 11);
	assert_int_equal(m.events[0].kv.value.len, 0);
	assert_false(m.events[0].has_prev_kv);
	etcd_watch_msg_clear(&m);
	/* Compacted: the header has no revision, the watch is over. */
	const char *compacted = "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"raft_term\":\"2\"},"
				"\"canceled\":true,\"compact_revision\":\"12\"}}";
	assert_int_equal(etcd_watch_parse(compacted, strlen(compacted), &m, NULL), 0);
	assert_true(m.canceled);
	assert_int_equal(m.compact_revision, 12);
	etcd_watch_msg_clear(&m);
	const char *odd = "{\"result\":{\"events\":[{\"type\":\"MERGE\"}]}}";
	assert_int_equal(etcd_watch_parse(odd, strlen(odd), &m, NULL), -EBADMSG);
	assert_null(m.events);
}

/* Parses body as JSON and returns the string at obj[a][b] (b may be NULL). */
static const char *field(json_t *root, const char *a, const char *b)
{
	json_t *v = json_object_get(root, a);
	return json_string_value(b ? json_object_get(v, b) : v);
}

static void test_encode(void **state)
{
	(void)state;
	struct etcd_request_op put = { .op = ETCD_OP_PUT,
				       .key = "/cove/a",
				       .key_len = 7,
				       .value = "va\0l",
				       .value_len = 4,
				       .lease = 4111120456210357262LL };
	char *body = etcd_op_encode(&put);
	json_t *o = json_loads(body, 0, NULL);
	assert_string_equal(field(o, "key", NULL), "L2NvdmUvYQ==");
	assert_string_equal(field(o, "value", NULL), "dmEAbA==");
	assert_string_equal(field(o, "lease", NULL), "4111120456210357262");
	assert_null(json_object_get(o, "range_end"));
	json_decref(o);
	free(body);
	struct etcd_request_op range = { .op = ETCD_OP_RANGE,
					 .key = "/cove/",
					 .key_len = 6,
					 .prefix = true,
					 .limit = 10 };
	body = etcd_op_encode(&range);
	o = json_loads(body, 0, NULL);
	assert_string_equal(field(o, "range_end", NULL), "L2NvdmUw"); /* "/cove0" */
	assert_string_equal(field(o, "limit", NULL), "10");
	json_decref(o);
	free(body);
	/* Every key: etcd refuses an empty key, and spells "all" as "\0" to "\0". */
	struct etcd_request_op all = { .op = ETCD_OP_DELETE, .key = "", .key_len = 0, .prefix = true };
	body = etcd_op_encode(&all);
	o = json_loads(body, 0, NULL);
	assert_string_equal(field(o, "key", NULL), "AA==");
	assert_string_equal(field(o, "range_end", NULL), "AA==");
	json_decref(o);
	free(body);
	assert_string_equal(etcd_op_path(ETCD_OP_DELETE), "/v3/kv/deleterange");
}

static void test_encode_txn_and_watch(void **state)
{
	(void)state;
	struct etcd_compare cmp[] = {
		{ .target = ETCD_CMP_CREATE, .relation = ETCD_EQUAL, .key = "k", .key_len = 1, .number = 0 },
		{ .target = ETCD_CMP_VALUE,
		  .relation = ETCD_NOT_EQUAL,
		  .key = "k",
		  .key_len = 1,
		  .value = "v",
		  .value_len = 1 },
	};
	struct etcd_request_op ok[] = { { .op = ETCD_OP_PUT, .key = "k", .key_len = 1, .value = "v", .value_len = 1 } };
	struct etcd_request_op no[] = { { .op = ETCD_OP_RANGE, .key = "k", .key_len = 1 } };
	struct etcd_txn_request txn = { cmp, 2, ok, no, 1, 1 };
	char *body = etcd_txn_encode(&txn);
	json_t *o = json_loads(body, 0, NULL);
	json_t *c0 = json_array_get(json_object_get(o, "compare"), 0);
	json_t *c1 = json_array_get(json_object_get(o, "compare"), 1);
	assert_string_equal(field(c0, "target", NULL), "CREATE");
	assert_string_equal(field(c0, "result", NULL), "EQUAL");
	assert_string_equal(field(c0, "create_revision", NULL), "0");
	assert_string_equal(field(c1, "target", NULL), "VALUE");
	assert_string_equal(field(c1, "result", NULL), "NOT_EQUAL");
	assert_string_equal(field(c1, "value", NULL), "dg==");
	assert_string_equal(field(json_array_get(json_object_get(o, "success"), 0), "request_put", "key"), "aw==");
	assert_string_equal(field(json_array_get(json_object_get(o, "failure"), 0), "request_range", "key"), "aw==");
	json_decref(o);
	free(body);
	struct etcd_compare wrong = { .target = (enum etcd_target)9, .key = "k", .key_len = 1 };
	struct etcd_txn_request bad = { &wrong, 1, NULL, NULL, 0, 0 };
	assert_null(etcd_txn_encode(&bad));
	struct etcd_watch_request w = { .key = "/cove/",
					.key_len = 6,
					.prefix = true,
					.start_revision = 42,
					.prev_kv = true };
	body = etcd_watch_encode(&w);
	o = json_loads(body, 0, NULL);
	assert_string_equal(field(o, "create_request", "start_revision"), "42");
	assert_string_equal(field(o, "create_request", "range_end"), "L2NvdmUw");
	assert_true(json_is_true(json_object_get(json_object_get(o, "create_request"), "prev_kv")));
	json_decref(o);
	free(body);
}

static void test_prefix_end(void **state)
{
	(void)state;
	uint8_t out[8];
	assert_int_equal(etcd_prefix_end((const uint8_t *)"a\xff", 2, out), 1);
	assert_int_equal(out[0], 'b');
	assert_int_equal(etcd_prefix_end((const uint8_t *)"ab", 2, out), 2);
	assert_memory_equal(out, "ac", 2);
	/* No end above an all-0xff or empty key: "\0" means every key. */
	assert_int_equal(etcd_prefix_end((const uint8_t *)"\xff\xff", 2, out), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(etcd_prefix_end((const uint8_t *)"", 0, out), 1);
	assert_int_equal(out[0], 0);
}

static void test_lines(void **state)
{
	(void)state;
	struct etcd_lines l = { 0 };
	const char *line;
	size_t len;
	assert_int_equal(etcd_lines_append(&l, "{\"a\":1}\n{\"b\"", 12), 0);
	assert_true(etcd_lines_next(&l, false, &line, &len));
	assert_int_equal(len, 7);
	assert_memory_equal(line, "{\"a\":1}", 7);
	assert_false(etcd_lines_next(&l, false, &line, &len));
	assert_int_equal(etcd_lines_append(&l, ":2}\r\n\n{\"c\":3}", 14), 0);
	assert_true(etcd_lines_next(&l, false, &line, &len));
	assert_int_equal(len, 7);
	assert_memory_equal(line, "{\"b\":2}", 7);
	/* The last message may lack its newline. */
	assert_false(etcd_lines_next(&l, false, &line, &len));
	assert_true(etcd_lines_next(&l, true, &line, &len));
	assert_memory_equal(line, "{\"c\":3}", 7);
	assert_false(etcd_lines_next(&l, true, &line, &len));
	etcd_lines_clear(&l);
	static char big[1 << 20];
	int r = 0;
	for (int i = 0; i <= ETCD_MAX_RESPONSE / (int)sizeof(big) && r == 0; i++)
		r = etcd_lines_append(&l, big, sizeof(big));
	assert_int_equal(r, -EMSGSIZE);
	etcd_lines_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),          cmocka_unit_test(test_range_empty_and_more),
		cmocka_unit_test(test_put_and_delete), cmocka_unit_test(test_txn),
		cmocka_unit_test(test_lease),          cmocka_unit_test(test_int64_bounds),
		cmocka_unit_test(test_errors),         cmocka_unit_test(test_watch),
		cmocka_unit_test(test_encode),         cmocka_unit_test(test_encode_txn_and_watch),
		cmocka_unit_test(test_prefix_end),     cmocka_unit_test(test_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
