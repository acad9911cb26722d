/* Unit tests for src/common/inet: "ADDR:PORT" as the guest programs take
 * it (--listen, the interpreter's --envd). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/inet.h"

static void test_parse(void **state)
{
	(void)state;
	struct sockaddr_in sa;
	assert_int_equal(inet_addr_port_parse("127.0.0.1:49983", &sa), 0);
	assert_int_equal(sa.sin_family, AF_INET);
	assert_int_equal(ntohs(sa.sin_port), 49983);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), 0x7f000001);
	assert_int_equal(inet_addr_port_parse("0.0.0.0:0", &sa), 0);
	assert_int_equal(ntohs(sa.sin_port), 0);
	const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", ":80", "localhost:80", "127.0.0.1:65536",
			      "127.0.0.1:-1", "127.0.0.1:8x", "::1:80",
			      "1111111111111111111111111111111111111111111111111111111111111111:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (inet_addr_port_parse(bad[i], &sa) != -EINVAL)
			fail_msg("taken: '%s'", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_parse) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
