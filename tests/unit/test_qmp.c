/* Unit tests for QMP message parsing (src/vmm/qemu/qmp.c: qmp_parse). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/qemu/qmp.h"

static int parse(const char *text, struct qmp_msg *msg, struct cove_err *err)
{
	return qmp_parse(text, strlen(text), msg, err);
}

/* Parsing text must fail with -EPROTO and leave msg cleared. */
static void expect_protocol_error(const char *text)
{
	struct qmp_msg msg;
	memset(&msg, 0x5a, sizeof(msg));
	struct cove_err err = { 0 };
	int r = parse(text, &msg, &err);
	if (r != -EPROTO)
		fail_msg("qmp_parse(%s) returned %d, want -EPROTO", text, r);
	assert_int_equal(err.code, -EPROTO);
	assert_non_null(strstr(err.msg, "qmp:"));
	assert_null(msg.root);
	assert_null(msg.id);
	assert_null(msg.event);
	assert_null(msg.error_class);
	assert_null(msg.error_desc);
	assert_null(msg.ret);
}

static void test_qmp_parses_greeting(void **state)
{
	(void)state;
	const char *text = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 8}, "
			   "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}";
	struct qmp_msg msg;
	assert_int_equal(parse(text, &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_GREETING);
	assert_non_null(msg.root);
	assert_null(msg.id);
	assert_null(msg.ret);
	qmp_msg_clear(&msg);
	assert_null(msg.root);
}

static void test_qmp_parses_return_with_id(void **state)
{
	(void)state;
	struct qmp_msg msg;
	assert_int_equal(parse("{\"return\": {}, \"id\": \"cove-1\"}", &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_RETURN);
	assert_string_equal(msg.id, "cove-1");
	assert_non_null(msg.ret);
	assert_true(json_is_object(msg.ret));
	assert_int_equal(json_object_size(msg.ret), 0);
	qmp_msg_clear(&msg);
}

static void test_qmp_parses_return_value(void **state)
{
	(void)state;
	struct qmp_msg msg;
	const char *text = "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": \"cove-7\"}";
	assert_int_equal(parse(text, &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_RETURN);
	assert_string_equal(msg.id, "cove-7");
	assert_string_equal(json_string_value(json_object_get(msg.ret, "status")), "running");
	assert_true(json_is_true(json_object_get(msg.ret, "running")));
	qmp_msg_clear(&msg);

	/* A return without an id is still a return; its id is NULL. */
	assert_int_equal(parse("{\"return\": []}", &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_RETURN);
	assert_null(msg.id);
	assert_true(json_is_array(msg.ret));
	qmp_msg_clear(&msg);
}

static void test_qmp_parses_error(void **state)
{
	(void)state;
	struct qmp_msg msg;
	const char *text = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"boom\"}, \"id\": \"x\"}";
	assert_int_equal(parse(text, &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_ERROR);
	assert_string_equal(msg.id, "x");
	assert_string_equal(msg.error_class, "GenericError");
	assert_string_equal(msg.error_desc, "boom");
	assert_null(msg.ret);
	qmp_msg_clear(&msg);
}

static void test_qmp_error_without_details(void **state)
{
	(void)state;
	struct qmp_msg msg;
	assert_int_equal(parse("{\"error\": {}, \"id\": \"cove-2\"}", &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_ERROR);
	assert_string_equal(msg.error_class, "unknown");
	assert_string_equal(msg.error_desc, "(no description)");
	qmp_msg_clear(&msg);
}

static void test_qmp_parses_event(void **state)
{
	(void)state;
	struct qmp_msg msg;
	const char *text = "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 123456}, "
			   "\"event\": \"STOP\"}";
	assert_int_equal(parse(text, &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_EVENT);
	assert_string_equal(msg.event, "STOP");
	assert_null(msg.id);
	qmp_msg_clear(&msg);
}

static void test_qmp_parses_only_given_length(void **state)
{
	(void)state;
	/* The reader hands over one line without its newline; what follows is
	 * the next message and must not be looked at. */
	const char *buf = "{\"event\": \"RESUME\"}\n{\"event\": \"STOP\"}\n";
	size_t line = (size_t)(strchr(buf, '\n') - buf);
	struct qmp_msg msg;
	assert_int_equal(qmp_parse(buf, line, &msg, NULL), 0);
	assert_int_equal(msg.kind, QMP_MSG_EVENT);
	assert_string_equal(msg.event, "RESUME");
	qmp_msg_clear(&msg);
}

static void test_qmp_rejects_invalid_json(void **state)
{
	(void)state;
	expect_protocol_error("{\"return\": {}");
	expect_protocol_error("not json");
	expect_protocol_error("");
}

static void test_qmp_rejects_non_object(void **state)
{
	(void)state;
	expect_protocol_error("[{\"return\": {}}]");
	expect_protocol_error("\"STOP\"");
	expect_protocol_error("42");
}

static void test_qmp_rejects_unknown_message(void **state)
{
	(void)state;
	expect_protocol_error("{}");
	expect_protocol_error("{\"id\": \"cove-1\", \"answer\": 42}");
}

static void test_qmp_rejects_bad_members(void **state)
{
	(void)state;
	expect_protocol_error("{\"event\": 5}");
	expect_protocol_error("{\"event\": null}");
	expect_protocol_error("{\"error\": \"boom\", \"id\": \"x\"}");
	/* Duplicate keys are refused rather than resolved either way. */
	expect_protocol_error("{\"event\": \"STOP\", \"event\": \"RESUME\"}");
}

/* A peer that accepts one connection, sends `reply` and hangs up: what a
 * QEMU that dies during the handshake (a bad kernel) looks like. */
struct hangup_peer {
	int listen_fd;
	const char *reply;
};

static void *hangup_peer_run(void *arg)
{
	struct hangup_peer *p = arg;
	int fd = accept(p->listen_fd, NULL, NULL);
	if (fd >= 0) {
		if (p->reply[0])
			(void)!write(fd, p->reply, strlen(p->reply));
		close(fd);
	}
	return NULL;
}

static void expect_open_fails_on_hangup(const char *reply)
{
	char dir[] = "/tmp/cove-qmp.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/qmp.sock", dir);
	struct hangup_peer peer = { .listen_fd = socket(AF_UNIX, SOCK_STREAM, 0), .reply = reply };
	assert_true(peer.listen_fd >= 0);
	assert_int_equal(bind(peer.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(peer.listen_fd, 1), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, hangup_peer_run, &peer), 0);
	struct qmp *q = NULL;
	struct cove_err err = { 0 };
	/* Before the fix, qmp_open released an uninitialised greeting here. */
	int r = qmp_open(addr.sun_path, -1, 2000, &q, &err);
	pthread_join(t, NULL);
	assert_true(r == -ECONNRESET || r == -EPIPE);
	assert_null(q);
	assert_non_null(strstr(err.msg, addr.sun_path));
	close(peer.listen_fd);
	unlink(addr.sun_path);
	rmdir(dir);
}

static void test_qmp_open_peer_hangs_up_before_greeting(void **state)
{
	(void)state;
	expect_open_fails_on_hangup("");
}

static void test_qmp_open_peer_hangs_up_after_greeting(void **state)
{
	(void)state;
	expect_open_fails_on_hangup("{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qmp_parses_greeting),
		cmocka_unit_test(test_qmp_open_peer_hangs_up_before_greeting),
		cmocka_unit_test(test_qmp_open_peer_hangs_up_after_greeting),
		cmocka_unit_test(test_qmp_parses_return_with_id),
		cmocka_unit_test(test_qmp_parses_return_value),
		cmocka_unit_test(test_qmp_parses_error),
		cmocka_unit_test(test_qmp_error_without_details),
		cmocka_unit_test(test_qmp_parses_event),
		cmocka_unit_test(test_qmp_parses_only_given_length),
		cmocka_unit_test(test_qmp_rejects_invalid_json),
		cmocka_unit_test(test_qmp_rejects_non_object),
		cmocka_unit_test(test_qmp_rejects_unknown_message),
		cmocka_unit_test(test_qmp_rejects_bad_members),
	};
	return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}
