/* Unit tests for src/api/request's query strings and headers: coved's
 * list, metrics and logs queries, times, and the sandbox a proxied
 * request names (its host or its headers), parsed into plain values. */
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

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* --- query strings --- */

/* Arguments as "name=value" strings, NULL-terminated. */
static const char *table_get(void *cls, const char *name)
{
	size_t n = strlen(name);
	for (const char *const *a = cls; *a; a++)
		if (strncmp(*a, name, n) == 0 && (*a)[n] == '=')
			return *a + n + 1;
	return NULL;
}

static struct api_query query(const char *const *args)
{
	return (struct api_query){ table_get, (void *)args };
}

static int list(bool v2, const char *const *args, struct api_list_query *q, struct cove_err *err)
{
	struct api_query in = query(args);
	return api_list_query_parse(&in, v2, q, err);
}

static void list_refused(bool v2, const char *arg, const char *want)
{
	const char *args[] = { arg, NULL };
	struct cove_err err = { 0 };
	struct api_list_query q;
	int r = list(v2, args, &q, &err);
	if (r != -EINVAL || strcmp(err.msg, want) != 0)
		fail_msg("%s: got %d '%s', want '%s'", arg, r, err.msg, want);
	assert_null(q.metadata);
}

static void test_list_query(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_list_query q;
	const char *none[] = { NULL };
	assert_int_equal(list(false, none, &q, &err), 0);
	assert_true(q.running);
	assert_false(q.paused);
	assert_int_equal(q.limit, API_LIST_DEFAULT_LIMIT);
	assert_int_equal(q.after_seq, 0);
	assert_false(q.ascending || q.started_after_set);
	assert_string_equal(q.template_id, "");
	assert_null(q.metadata);
	api_list_query_clear(&q);
	assert_int_equal(list(true, none, &q, &err), 0);
	assert_true(q.running && q.paused);
	/* v1 has no state filter. */
	const char *v1_state[] = { "state=bogus", NULL };
	assert_int_equal(list(false, v1_state, &q, &err), 0);
	/* Nor v2's filters (E2B's v1 has only metadata): ignored, not refused. */
	const char *v1_v2[] = { "template=base", "order=sideways", "startedAfter=now", NULL };
	assert_int_equal(list(false, v1_v2, &q, &err), 0);
	assert_string_equal(q.template_id, "");
	assert_false(q.ascending || q.started_after_set);
	const char *paused[] = { "state=paused", "limit=1", "nextToken=d42", NULL };
	assert_int_equal(list(true, paused, &q, &err), 0);
	assert_false(q.running);
	assert_true(q.paused);
	assert_int_equal(q.limit, 1);
	assert_int_equal(q.after_seq, 42);
	const char *both[] = { "state=running,paused", "limit=100", "nextToken=", "state=", NULL };
	assert_int_equal(list(true, both, &q, &err), 0);
	assert_true(q.running && q.paused);
	assert_int_equal(q.limit, 100);
	assert_int_equal(q.after_seq, 0);

	/* The argument as MHD hands it over (decoded once); each side is
	 * decoded again. */
	const char *meta[] = { "metadata=user=ann&team=a+b&x=%2&k%3D=v%26", NULL };
	assert_int_equal(list(true, meta, &q, &err), 0);
	assert_int_equal(json_object_size(q.metadata), 4);
	assert_string_equal(json_string_value(json_object_get(q.metadata, "k=")), "v&");
	assert_string_equal(json_string_value(json_object_get(q.metadata, "user")), "ann");
	assert_string_equal(json_string_value(json_object_get(q.metadata, "team")), "a b");
	assert_string_equal(json_string_value(json_object_get(q.metadata, "x")), "%2");
	api_list_query_clear(&q);
	assert_null(q.metadata);
	/* A key given twice: the last one counts. */
	const char *twice[] = { "metadata=a=1&a=2", NULL };
	assert_int_equal(list(true, twice, &q, &err), 0);
	assert_string_equal(json_string_value(json_object_get(q.metadata, "a")), "2");
	api_list_query_clear(&q);

	list_refused(true, "state=bogus", "state filter: 'bogus' is neither running nor paused");
	list_refused(true, "state=running,bogus", "state filter: 'bogus' is neither running nor paused");
	/* Too long to be a filter: refused whole, never cut down to "paused". */
	list_refused(true, "state=running,running,running,running,running,running,running,running,pausedX",
		     "state filter: 'running,running,running,running,...' is neither running nor paused");
	const char *limits[] = { "limit=0", "limit=101", "limit=x", "limit=", "limit=5x" };
	for (size_t i = 0; i < sizeof(limits) / sizeof(*limits); i++)
		list_refused(false, limits[i], "limit must be 1 to 100");
	const char *tokens[] = { "0", "d0", "d-3", "d7x", "a", "x12", "12", "d+5", "d 5", "d012",
				 "d99999999999999999999" };
	for (size_t i = 0; i < sizeof(tokens) / sizeof(*tokens); i++) {
		char arg[64], want[128];
		snprintf(arg, sizeof(arg), "nextToken=%s", tokens[i]);
		snprintf(want, sizeof(want), "nextToken '%s' is not one this server gave", tokens[i]);
		list_refused(false, arg, want);
	}
	list_refused(false, "metadata=a=1&oops", "metadata filter: 'oops' is not key=value");
}

/* v2's template, startedAfter and order; a token only for its own order. */
static void test_list_filters(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_list_query q;
	const char *all[] = { "template=base", "startedAfter=2025-01-02T03:04:05.678Z", "order=asc", "nextToken=a17",
			      NULL };
	assert_int_equal(list(true, all, &q, &err), 0);
	assert_string_equal(q.template_id, "base");
	assert_true(q.started_after_set);
	assert_int_equal(q.started_after_ms, 1735787045678LL);
	assert_true(q.ascending);
	assert_int_equal(q.after_seq, 17);
	const char *desc[] = { "order=desc", "template=", "startedAfter=", "order=", NULL };
	assert_int_equal(list(true, desc, &q, &err), 0);
	assert_false(q.ascending || q.started_after_set);
	assert_string_equal(q.template_id, "");
	char token[32];
	api_list_token(true, 17, token);
	assert_string_equal(token, "a17");
	api_list_token(false, 1700000000123456LL, token);
	assert_string_equal(token, "d1700000000123456");

	/* A token given for one order is refused under the other. */
	const char *asc_under_desc[] = { "nextToken=a17", NULL };
	assert_int_equal(list(true, asc_under_desc, &q, &err), -EINVAL);
	assert_string_equal(err.msg, "nextToken 'a17' was given for order=asc, not desc");
	const char *desc_under_asc[] = { "order=asc", "nextToken=d17", NULL };
	assert_int_equal(list(true, desc_under_asc, &q, &err), -EINVAL);
	assert_string_equal(err.msg, "nextToken 'd17' was given for order=desc, not asc");

	list_refused(true, "order=ASC", "order 'ASC' is neither asc nor desc");
	list_refused(true, "order=newest", "order 'newest' is neither asc nor desc");
	char too_long[80];
	snprintf(too_long, sizeof(too_long), "template=%064d", 0);
	list_refused(true, too_long, "template filter: '00000000000000000000000000000000...' is longer than a template name");
	list_refused(true, "startedAfter=yesterday",
		     "startedAfter 'yesterday' is not an RFC 3339 time (2006-01-02T15:04:05Z)");
	/* A template filter of 63 bytes is a name's longest. */
	char arg[80];
	snprintf(arg, sizeof(arg), "template=%063d", 0);
	const char *longest[] = { arg, NULL };
	assert_int_equal(list(true, longest, &q, &err), 0);
	assert_int_equal(strlen(q.template_id), 63);
}

/* RFC 3339 times, as the SDK's Date.toISOString() and others write them. */
static void test_time_parse(void **state)
{
	(void)state;
	struct {
		const char *text;
		long long ms;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2025-01-02T03:04:05.678Z", 1735787045678LL },
		{ "2025-01-02T03:04:05Z", 1735787045000LL },
		{ "2025-01-02t03:04:05z", 1735787045000LL },
		{ "2025-01-02T03:04:05.6Z", 1735787045600LL },
		{ "2025-01-02T03:04:05.678999999Z", 1735787045678LL }, /* finer digits cut off */
		{ "2025-01-02T05:04:05.678+02:00", 1735787045678LL },
		{ "2025-01-02T05:04:05.678 02:00", 1735787045678LL },  /* '+' decoded to a space */
		{ "2025-01-01T23:04:05-04:00", 1735787045000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
		{ "2000-03-01T00:00:00Z", 951868800000LL },
		{ "1969-12-31T23:59:59Z", -1000 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		int64_t ms = -7;
		if (api_time_parse(good[i].text, &ms) != 0 || ms != good[i].ms)
			fail_msg("%s: got %lld, want %lld", good[i].text, (long long)ms, good[i].ms);
	}
	const char *bad[] = {
		"", "2025", "2025-01", "2025-01-02", "2025-01-02T03:04", "2025-01-02T03:04:05", "2025-01-02 03:04:05Z",
		"2025-13-02T03:04:05Z", "2025-00-02T03:04:05Z", "2025-01-32T03:04:05Z", "2023-02-29T00:00:00Z",
		"2025-01-02T24:00:00Z", "2025-01-02T03:60:00Z", "2025-01-02T03:04:60Z", "2025-01-02T03:04:05.Z",
		"2025-01-02T03:04:05.1234567890Z", "2025-01-02T03:04:05+0200", "2025-01-02T03:04:05+24:00",
		"2025-01-02T03:04:05Zjunk", "+2025-01-02T03:04:05Z", "25-01-02T03:04:05Z", "2025-1-02T03:04:05Z",
		"2025-01-02T03:04:05.678ZZ", "1735787045",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int64_t ms;
		if (api_time_parse(bad[i], &ms) != -EINVAL)
			fail_msg("%s: accepted", bad[i]);
	}
}

static void test_metrics_range(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_metrics_range m;
	const char *none[] = { NULL };
	struct api_query in = query(none);
	assert_int_equal(api_metrics_range_parse(&in, &m, &err), 0);
	assert_int_equal(m.start_ms, 0);
	assert_int_equal(m.end_ms, 0);
	const char *both[] = { "start=10", "end=20", NULL };
	in = query(both);
	assert_int_equal(api_metrics_range_parse(&in, &m, &err), 0);
	assert_int_equal(m.start_ms, 10000);
	assert_int_equal(m.end_ms, 20999); /* the whole of second 20 */
	const char *empty[] = { "start=", "end=", NULL };
	in = query(empty);
	assert_int_equal(api_metrics_range_parse(&in, &m, &err), 0);
	assert_int_equal(m.start_ms + m.end_ms, 0);
	const char *bad[] = { "start=x", "start=-1", "start=100000000001", "end=1.5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *args[] = { bad[i], NULL };
		in = query(args);
		assert_int_equal(api_metrics_range_parse(&in, &m, &err), -EINVAL);
		char want[64];
		snprintf(want, sizeof(want), "%s must be a time in seconds since the epoch", i < 3 ? "start" : "end");
		assert_string_equal(err.msg, want);
	}
}

static void test_logs_query(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_logs_query l;
	const char *none[] = { NULL };
	struct api_query in = query(none);
	assert_int_equal(api_logs_query_parse(&in, &l, &err), 0);
	assert_int_equal(l.limit, API_LOGS_DEFAULT_LIMIT);
	const char *good[] = { "limit=", "limit=1", "limit=100000" };
	const size_t want[] = { API_LOGS_DEFAULT_LIMIT, 1, API_LOGS_MAX_LIMIT };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		const char *args[] = { good[i], NULL };
		in = query(args);
		assert_int_equal(api_logs_query_parse(&in, &l, &err), 0);
		assert_int_equal(l.limit, want[i]);
	}
	const char *bad[] = { "limit=0", "limit=100001", "limit=x", "limit=-5", "limit=3 " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *args[] = { bad[i], NULL };
		in = query(args);
		assert_int_equal(api_logs_query_parse(&in, &l, &err), -EINVAL);
		assert_string_equal(err.msg, "limit must be 1 to 100000");
	}
}

/* --- the sandbox of a proxied request --- */

static void test_sandbox_host(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_sandbox_target t;
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, "49983-abc123.sandbox.cove", "sandbox.cove", &t, &err), 1);
	assert_string_equal(t.id, "abc123");
	assert_int_equal(t.port, 49983);
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, "8080-x.example.com:49982", "example.com", &t, &err), 1);
	assert_string_equal(t.id, "x");
	assert_int_equal(t.port, 8080);
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, "65535-a.b", "b", &t, &err), 1);
	/* The domain in any case, a final dot, any port. */
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, "8000-abc.LocalHost.:1", "localhost", &t, &err), 1);
	assert_int_equal(t.port, 8000);
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, "8000-abc.localhost:65535", "localhost", &t, &err), 1);
	/* The port header counts only with the id header. */
	assert_int_equal(api_sandbox_target_parse(NULL, "1", "80-abc.x", "x", &t, &err), 1);
	assert_int_equal(t.port, 80);
	char host[128];
	snprintf(host, sizeof(host), "1-%s.x", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij012");
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, host, "x", &t, &err), 1);
	assert_int_equal(strlen(t.id), 63);
	snprintf(host, sizeof(host), "1-%s.x", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij0123");
	const char *notours[] = { "127.0.0.1:49982", "localhost", "0-abc.x", "70000-abc.x", "80-abc", "80-.x",
				  "80-ABC.x", "123456-abc.x", "-abc.x", "80-abc.", "80-a-b.x", "", host, NULL,
				  /* another domain, or more, or less, than coved's */
				  "80-abc.y", "80-abc.xx", "80-abc.a.x", "80-abc.x.y", "80-abc.x:", "80-abc.x:123456",
				  "80-abc.x:8x", "80-abc.x..", "api.x", "api.x:49443", "x" };
	for (size_t i = 0; i < sizeof(notours) / sizeof(*notours); i++)
		if (api_sandbox_target_parse(NULL, NULL, notours[i], "x", &t, &err) != 0)
			fail_msg("routed: %s", notours[i] ? notours[i] : "(null)");
	/* Without a domain nothing is routed by Host. */
	assert_int_equal(api_sandbox_target_parse(NULL, NULL, "80-abc.x", NULL, &t, &err), 0);
}

static void test_domain(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	char d[API_DOMAIN_MAX];
	assert_int_equal(api_domain_parse("localhost", d, &err), 0);
	assert_string_equal(d, "localhost");
	assert_int_equal(api_domain_parse("Cove.Example-1.COM", d, &err), 0);
	assert_string_equal(d, "cove.example-1.com");
	assert_int_equal(api_domain_parse("a.b2", d, &err), 0);
	char *label = repeat('a', 63);
	assert_int_equal(api_domain_parse(label, d, &err), 0);
	free(label);
	struct {
		const char *in, *msg;
	} bad[] = {
		{ "", "domain '': expected a host name of 1 to 253 characters" },
		{ "localhost:49443", "domain 'localhost:49443': a host name without a port (E2B_DOMAIN carries the port)" },
		{ "a..b", "domain 'a..b': a label is empty, longer than 63 or ends in '-'" },
		{ ".a", "domain '.a': a label is empty, longer than 63 or ends in '-'" },
		{ "a.", "domain 'a.': a label is empty, longer than 63 or ends in '-'" },
		{ "a-.b", "domain 'a-.b': a label is empty, longer than 63 or ends in '-'" },
		{ "-a.b", "domain '-a.b': only letters, digits, '-' and '.' may be in it" },
		{ "a_b.c", "domain 'a_b.c': only letters, digits, '-' and '.' may be in it" },
		{ "a b", "domain 'a b': only letters, digits, '-' and '.' may be in it" },
		{ "127.0.0.1", "domain '127.0.0.1': a host name, not an IP address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(api_domain_parse(bad[i].in, d, &err), -EINVAL);
		assert_string_equal(err.msg, bad[i].msg);
	}
	label = repeat('a', 64);
	assert_int_equal(api_domain_parse(label, d, &err), -EINVAL);
	free(label);
	char *name = repeat('a', 254);
	for (size_t i = 50; i < 254; i += 50)
		name[i] = '.';
	assert_int_equal(api_domain_parse(name, d, &err), -EINVAL);
	name[253] = '\0';
	assert_int_equal(api_domain_parse(name, d, &err), 0);
	free(name);
}

static void test_sandbox_headers(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_sandbox_target t;
	/* The header wins over Host; the port defaults to envd's. */
	assert_int_equal(api_sandbox_target_parse("sb-1a2b", NULL, "80-other.x", "x", &t, &err), 1);
	assert_string_equal(t.id, "sb-1a2b");
	assert_int_equal(t.port, ENVD_PORT);
	assert_int_equal(api_sandbox_target_parse("abc", "8080", NULL, "x", &t, &err), 1);
	assert_int_equal(t.port, 8080);
	assert_int_equal(api_sandbox_target_parse("abc", "65535", NULL, "x", &t, &err), 1);
	const char *ports[] = { "0", "65536", "x", "", "80x", "-1" };
	for (size_t i = 0; i < sizeof(ports) / sizeof(*ports); i++) {
		assert_int_equal(api_sandbox_target_parse("abc", ports[i], NULL, "x", &t, &err), -EINVAL);
		assert_string_equal(err.msg, "E2b-Sandbox-Port is not a port");
	}
	assert_int_equal(api_sandbox_target_parse("", NULL, NULL, "x", &t, &err), -ENOENT);
	assert_string_equal(err.msg, "'' is not a sandbox id");
	assert_int_equal(api_sandbox_target_parse("ABC", "x", NULL, "x", &t, &err), -ENOENT);
	assert_string_equal(err.msg, "'ABC' is not a sandbox id");
	assert_int_equal(api_sandbox_target_parse("a/b", NULL, NULL, "x", &t, &err), -ENOENT);
	/* A longer id is cut to 63 bytes (and then names no sandbox). */
	char *id = repeat('a', 100);
	assert_int_equal(api_sandbox_target_parse(id, NULL, NULL, "x", &t, &err), 1);
	assert_int_equal(strlen(t.id), 63);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_query),   cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_time_parse),   cmocka_unit_test(test_metrics_range),
		cmocka_unit_test(test_logs_query),   cmocka_unit_test(test_sandbox_host),
		cmocka_unit_test(test_sandbox_headers), cmocka_unit_test(test_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
