/* Unit tests for src/net/dns: the nameservers setting (--dns, COVE_DNS)
 * and the host's resolv.conf as the default, on sample texts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "net/dns.h"

static void test_parse(void **state)
{
	(void)state;
	struct net_dns d;
	struct cove_err err = { 0 };
	assert_int_equal(net_dns_parse("203.0.113.53", &d, &err), 0);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.text[0], "203.0.113.53");
	assert_int_equal(d.addr[0], 0xcb007135);
	assert_int_equal(net_dns_parse("8.8.8.8,1.1.1.1,9.9.9.9", &d, &err), 0);
	assert_int_equal(d.count, 3);
	assert_string_equal(d.text[2], "9.9.9.9");
	/* Loopback given on purpose is taken (a resolver in the guest itself). */
	assert_int_equal(net_dns_parse("127.0.0.1", &d, &err), 0);
	assert_int_equal(d.count, 1);
	assert_int_equal(net_dns_parse("none", &d, &err), 0);
	assert_int_equal(d.count, 0);
}

static void test_parse_bad(void **state)
{
	(void)state;
	const char *bad[] = { "", ",", "8.8.8.8,", ",8.8.8.8", "8.8.8.8,,1.1.1.1", "8.8.8.8 ", " 8.8.8.8",
			      "8.8.8", "8.8.8.8/32", "10.0.0.0/8", "256.1.1.1", "::1", "2001:db8::1", "dns.google",
			      "NONE", "none,8.8.8.8", "8.8.8.8;1.1.1.1", "0x08.8.8.8", "1111111111111111111" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct net_dns d = { .count = 7 };
		struct cove_err err = { 0 };
		if (net_dns_parse(bad[i], &d, &err) != -EINVAL)
			fail_msg("taken: '%s'", bad[i]);
		assert_int_equal(d.count, 7); /* untouched */
		assert_true(err.msg[0]);
	}
	struct net_dns d;
	struct cove_err err = { 0 };
	assert_int_equal(net_dns_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4", &d, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "at most 3"));
	assert_int_equal(net_dns_parse("1.1.1.1,x", &d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'x'"));
}

/* What a host running systemd-resolved has: its stub only. */
static void test_resolv_conf_stub(void **state)
{
	(void)state;
	struct net_dns d;
	const char *text = "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
			   "nameserver 127.0.0.53\n"
			   "options edns0 trust-ad\n"
			   "search .\n";
	assert_int_equal(net_dns_from_resolv_conf(text, &d), 1);
	assert_int_equal(d.count, 0);
}

static void test_resolv_conf_mixed(void **state)
{
	(void)state;
	struct net_dns d;
	const char *text = "; a comment\n"
			   "search example.org\n"
			   "nameserver\t10.255.255.53 # the cloud's\n"
			   "nameserver 127.0.0.1\n"
			   "nameserver 0.0.0.0\n"
			   "nameserver ::1\n"
			   "nameserver 2001:4860:4860::8888\n"
			   "#nameserver 9.9.9.9\n"
			   " nameserver 9.9.9.10\n"
			   "nameservers 9.9.9.11\n"
			   "nameserver 8.8.8.8\r\n"
			   "nameserver\n"
			   "nameserver 300.1.1.1\n"
			   "nameserver 1.1.1.1";
	/* Left out: 127.0.0.1, 0.0.0.0, ::1, the IPv6 one, 300.1.1.1.
	 * Comments, other keywords and a bare "nameserver" are not
	 * nameserver lines. */
	assert_int_equal(net_dns_from_resolv_conf(text, &d), 5);
	assert_int_equal(d.count, 3);
	assert_string_equal(d.text[0], "10.255.255.53");
	assert_string_equal(d.text[1], "8.8.8.8");
	assert_string_equal(d.text[2], "1.1.1.1");
}

static void test_resolv_conf_limit(void **state)
{
	(void)state;
	struct net_dns d;
	const char *text = "nameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\nnameserver 4.4.4.4\n";
	assert_int_equal(net_dns_from_resolv_conf(text, &d), 1);
	assert_int_equal(d.count, 3);
	assert_string_equal(d.text[2], "3.3.3.3");
	assert_int_equal(net_dns_from_resolv_conf("", &d), 0);
	assert_int_equal(d.count, 0);
}

static void test_list_and_format(void **state)
{
	(void)state;
	struct net_dns d;
	struct cove_err err = { 0 };
	const char *list[NET_DNS_MAX + 1];
	char buf[64];
	assert_int_equal(net_dns_parse("8.8.8.8,1.1.1.1", &d, &err), 0);
	net_dns_list(&d, list);
	assert_string_equal(list[0], "8.8.8.8");
	assert_string_equal(list[1], "1.1.1.1");
	assert_null(list[2]);
	net_dns_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "8.8.8.8,1.1.1.1");
	assert_int_equal(net_dns_parse("none", &d, &err), 0);
	net_dns_list(&d, list);
	assert_null(list[0]);
	net_dns_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	/* The setting with text is the parse. */
	assert_int_equal(net_dns_setting("203.0.113.53", &d, &err), 0);
	assert_int_equal(d.count, 1);
	assert_int_equal(net_dns_setting("bad", &d, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_resolv_conf_stub),
		cmocka_unit_test(test_resolv_conf_mixed),
		cmocka_unit_test(test_resolv_conf_limit),
		cmocka_unit_test(test_list_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
