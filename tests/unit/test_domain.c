/* Unit tests for src/proto/domain (egress policies' domain entries). The
 * matching cases include E2B's own (e2b-dev/infra,
 * packages/orchestrator/internal/tcpfirewall/handlers_test.go, TestMatchDomain). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/domain.h"

static void test_is_name(void **state)
{
	(void)state;
	static const char *const names[] = { "pypi.org", "*.github.com",    "*",      "localhost",       "a",
					     "",         "example.com:443", "0x7f.1", "1.2.3.4.example", "deadbeef" };
	static const char *const addresses[] = { "1.2.3.4", "10.0.0.0/8", "0.0.0.0/0",     "1.2.3",   "300.1.1.1",
						 "123",     "::1",        "2001:db8::/32", "cafe::1", "1.2.3.4/" };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!domain_is_name(names[i]))
			fail_msg("'%s' taken for an address", names[i]);
	for (size_t i = 0; i < sizeof(addresses) / sizeof(*addresses); i++)
		if (domain_is_name(addresses[i]))
			fail_msg("'%s' taken for a name", addresses[i]);
}

static void test_check_accepts(void **state)
{
	(void)state;
	char label63[64], long253[256];
	memset(label63, 'a', 63), label63[63] = '\0';
	for (size_t i = 0; i < 4; i++) /* 63.63.63.61 = 253 */
		memset(long253 + 64 * i, 'b', 63), long253[64 * i + 63] = '.';
	long253[253] = '\0';
	const char *ok[] = { "pypi.org",
			     "*.github.com",
			     "*",
			     "localhost",
			     "PyPI.Org.",
			     "a-b.c-d.test",
			     "xn--bcher-kva.example",
			     "*.com",
			     "1a.2b",
			     "api.v2.example.io",
			     label63,
			     long253 };
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		struct cove_err err = { 0 };
		if (domain_check(ok[i], &err) != 0)
			fail_msg("'%s' refused: %s", ok[i], err.msg);
	}
}

static void test_check_refuses(void **state)
{
	(void)state;
	static const struct {
		const char *text, *reason;
	} bad[] = {
		{ "", "empty" },
		{ "1.2.3.4", "IP address or CIDR" },
		{ "10.0.0.0/8", "IP address or CIDR" },
		{ "::1", "IP address or CIDR" },
		{ "0x7f.1", "all-digit last label" },
		{ "0x7f000001", "IP address in another notation" },
		{ "0x7f.0x1", "IP address in another notation" },
		{ "a.123", "all-digit last label" },
		{ "*.1.2.3.4", "all-digit last label" },
		{ ".a.test", "empty label" },
		{ "a..test", "empty label" },
		{ "a.test..", "empty label" },
		{ "-a.test", "starting or ending with '-'" },
		{ "a-.test", "starting or ending with '-'" },
		{ "a_b.test", "outside [A-Za-z0-9-]" },
		{ "a b.test", "outside [A-Za-z0-9-]" },
		{ "example.com:443", "outside [A-Za-z0-9-]" },
		{ "b\xc3\xbc"
		  "cher.example",
		  "outside [A-Za-z0-9-]" },
		{ "**.a.test", "'*' other than" },
		{ "*a.test", "'*' other than" },
		{ "a*.test", "'*' other than" },
		{ "a.*.test", "'*' other than" },
		{ "a.test.*", "'*' other than" },
		{ "*.*.test", "'*' other than" },
		{ "*.", "wildcard of nothing" },
		{ "*..", "wildcard of nothing" },
		{ "*.-a.test", "starting or ending" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct cove_err err = { 0 };
		if (domain_check(bad[i].text, &err) != -EINVAL)
			fail_msg("'%s' accepted", bad[i].text);
		char quoted[300];
		snprintf(quoted, sizeof(quoted), "domain '%s' ", bad[i].text);
		if (strncmp(err.msg, quoted, strlen(quoted)) != 0 || !strstr(err.msg, bad[i].reason))
			fail_msg("'%s': '%s', want it named and '%s'", bad[i].text, err.msg, bad[i].reason);
	}
	/* Lengths: a label of 64, a name of 254, a huge one (quoted in part). */
	char text[2000];
	struct cove_err err = { 0 };
	memset(text, 'a', 64), strcpy(text + 64, ".test");
	assert_int_equal(domain_check(text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 63"));
	for (size_t i = 0; i < 4; i++)
		memset(text + 64 * i, 'b', 63), text[64 * i + 63] = '.';
	text[254] = '\0';
	assert_int_equal(domain_check(text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 253"));
	memset(text, 'c', sizeof(text) - 1), text[sizeof(text) - 1] = '\0';
	assert_int_equal(domain_check(text, &err), -EINVAL);
	assert_true(strlen(err.msg) < 200);
	assert_int_equal(domain_check(NULL, &err), -EINVAL);
	assert_int_equal(domain_check("a_b", NULL), -EINVAL);
}

static void test_match(void **state)
{
	(void)state;
	static const struct {
		const char *entry, *name;
		bool want;
	} cases[] = {
		/* E2B's TestMatchDomain */
		{ "example.com", "example.com", true },
		{ "example.com", "Example.COM", true },
		{ "EXAMPLE.COM", "example.com", true },
		{ "other.com", "example.com", false },
		{ "*", "anything.example.com", true },
		{ "*", "localhost", true },
		{ "*.example.com", "api.example.com", true },
		{ "*.example.com", "deep.nested.example.com", true },
		{ "*.example.com", "API.EXAMPLE.COM", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "api.other.com", false },
		{ "*.example.com", "notexample.com", false },
		{ "example.com", "", false },
		{ "", "example.com", false },
		{ "", "", false },
		/* Cove's: trailing dots, and what else must not match */
		{ "example.com.", "example.com", true },
		{ "example.com", "example.com.", true },
		{ "*.example.com.", "a.example.com", true },
		{ "*.example.com", "a.example.com.", true },
		{ "*", "", false },
		{ "*", ".", false },
		{ "example.com", "example.co", false },
		{ "example.com", "aexample.com", false },
		{ "example.com", "a.example.com", false },
		{ "*.example.com", ".example.com", false },
		{ "*.example.com", "a.example.com.evil", false },
		{ "*.example.com", "a-example.com", false },
		{ "pypi.org", "pypi.org.evil.test", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (domain_match(cases[i].entry, cases[i].name) != cases[i].want)
			fail_msg("domain_match('%s', '%s') is not %d", cases[i].entry, cases[i].name, cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_name),
		cmocka_unit_test(test_check_accepts),
		cmocka_unit_test(test_check_refuses),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
