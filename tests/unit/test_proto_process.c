/* Unit tests for the process.Process messages in proto3 JSON
 * (src/proto/process.c): Start requests, stream events, Connect end of stream. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/err.h"
#include "proto/process.h"

/* ---- process.Start ---- */

static void test_process_start_round_trip(void **state)
{
	(void)state;
	const char *argv[] = { "sh", "-c", "echo hi", NULL };
	const char *envs[] = { "A=1", "B=x=y", NULL };
	char *json = process_start_encode(argv, envs, "/tmp", false);
	assert_non_null(json);
	struct process_start s;
	struct cove_err err = { 0 };
	assert_int_equal(process_start_parse(json, strlen(json), &s, &err), 0);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(s.argv[i], argv[i]);
	assert_null(s.argv[3]);
	assert_true(s.envs[0] && s.envs[1] && !s.envs[2]);
	bool a_first = strcmp(s.envs[0], "A=1") == 0;
	assert_string_equal(s.envs[a_first ? 0 : 1], "A=1");
	assert_string_equal(s.envs[a_first ? 1 : 0], "B=x=y");
	assert_string_equal(s.cwd, "/tmp");
	assert_null(s.tag);
	assert_false(s.stdin_open);
	process_start_clear(&s);
	assert_null(s.argv);
	free(json);
}

static void test_process_start_defaults(void **state)
{
	(void)state;
	const char *json = "{\"process\":{\"cmd\":\"/bin/true\"},\"tag\":\"t1\"}";
	struct process_start s;
	assert_int_equal(process_start_parse(json, strlen(json), &s, NULL), 0);
	assert_string_equal(s.argv[0], "/bin/true");
	assert_null(s.argv[1]);
	assert_null(s.envs[0]);
	assert_null(s.cwd);
	assert_string_equal(s.tag, "t1");
	assert_true(s.stdin_open);
	process_start_clear(&s);
}

static void expect_start_rejected(const char *json, const char *needle)
{
	struct process_start s;
	memset(&s, 0x5a, sizeof(s));
	struct cove_err err = { 0 };
	int r = process_start_parse(json, strlen(json), &s, &err);
	if (r != -EINVAL)
		fail_msg("process_start_parse(%s) returned %d, want -EINVAL", json, r);
	assert_int_equal(err.code, -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
	assert_null(s.argv);
	assert_null(s.envs);
	assert_null(s.cwd);
}

static void test_process_start_rejects_bad_requests(void **state)
{
	(void)state;
	expect_start_rejected("{\"stdin\":false}", "process is required");
	expect_start_rejected("{\"process\":{\"args\":[\"x\"]}}", "process.cmd");
	expect_start_rejected("{\"process\":{\"cmd\":\"sh\",\"args\":\"-c\"}}", "process.args");
	expect_start_rejected("{\"process\":{\"cmd\":\"sh\",\"args\":[\"-c\",1]}}", "process.args[1]");
	expect_start_rejected("{\"process\":{\"cmd\":\"sh\",\"envs\":{\"A\":1}}}", "process.envs.A");
	expect_start_rejected("{\"process\":{\"cmd\":\"sh\",\"envs\":{\"A=B\":\"1\"}}}", "'A=B'");
	expect_start_rejected("[\"sh\"]", "not a JSON object");
	expect_start_rejected("{\"process\":", "not JSON");
}

/* ---- process events ---- */

/* Parses an encoded event into ev and frees the JSON. */
static void parse_event(char *json, struct process_event *ev)
{
	struct cove_err err = { 0 };
	assert_non_null(json);
	if (process_event_parse(json, strlen(json), ev, &err) != 0)
		fail_msg("process_event_parse(%s): %s", json, err.msg);
	free(json);
}

static void test_process_event_start_and_keepalive(void **state)
{
	(void)state;
	struct process_event ev;
	char *json = process_event_encode_start(42);
	assert_string_equal(json, "{\"event\":{\"start\":{\"pid\":42}}}");
	parse_event(json, &ev);
	assert_int_equal(ev.kind, PROCESS_EVENT_START);
	assert_int_equal(ev.pid, 42);
	process_event_clear(&ev);
	json = process_event_encode_keepalive();
	assert_string_equal(json, "{\"event\":{\"keepalive\":{}}}");
	parse_event(json, &ev);
	assert_int_equal(ev.kind, PROCESS_EVENT_KEEPALIVE);
	process_event_clear(&ev);
}

static void test_process_event_data(void **state)
{
	(void)state;
	struct process_event ev;
	char *json = process_event_encode_data(PROCESS_STDOUT, (const uint8_t *)"hello\n", 6);
	assert_string_equal(json, "{\"event\":{\"data\":{\"stdout\":\"aGVsbG8K\"}}}");
	parse_event(json, &ev);
	assert_int_equal(ev.kind, PROCESS_EVENT_DATA);
	assert_int_equal(ev.stream, PROCESS_STDOUT);
	assert_int_equal(ev.len, 6);
	assert_memory_equal(ev.data, "hello\n", 6);
	process_event_clear(&ev);

	const uint8_t bin[] = { 0x00, 0xff, 0x10, 0x00, 0x80, 0x7f, 0xfe };
	parse_event(process_event_encode_data(PROCESS_STDERR, bin, sizeof(bin)), &ev);
	assert_int_equal(ev.stream, PROCESS_STDERR);
	assert_int_equal(ev.len, sizeof(bin));
	assert_memory_equal(ev.data, bin, sizeof(bin));
	process_event_clear(&ev);
	assert_null(ev.data);
}

static void test_process_event_end_exit_code(void **state)
{
	(void)state;
	struct process_event ev;
	parse_event(process_event_encode_end(W_EXITCODE(3, 0)), &ev);
	assert_int_equal(ev.kind, PROCESS_EVENT_END);
	assert_true(ev.exited);
	assert_int_equal(ev.exit_code, 3);
	assert_string_equal(ev.status, "exit status 3");
	assert_string_equal(ev.error, "");
	process_event_clear(&ev);
}

static void test_process_event_end_signal(void **state)
{
	(void)state;
	struct process_event ev;
	parse_event(process_event_encode_end(SIGKILL), &ev);
	assert_int_equal(ev.kind, PROCESS_EVENT_END);
	assert_false(ev.exited);
	assert_int_equal(ev.exit_code, -1);
	assert_string_equal(ev.status, "signal: killed");
	assert_int_equal(process_status_signal(ev.status), SIGKILL);
	process_event_clear(&ev);

	char text[64];
	process_status_text(SIGSEGV | 0x80, text, sizeof(text));
	assert_string_equal(text, "signal: segmentation fault (core dumped)");
	assert_int_equal(process_status_signal(text), SIGSEGV);
}

static void test_process_event_rejects_bad_events(void **state)
{
	(void)state;
	const char *bad[] = {
		"{\"event\":{\"start\"", "{\"other\":{}}", "{\"event\":{\"exit\":{}}}",
		"{\"event\":{\"data\":{\"stdout\":\"a!b=\"}}}", "{\"event\":{\"data\":{}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct process_event ev;
		int r = process_event_parse(bad[i], strlen(bad[i]), &ev, NULL);
		if (r != -EINVAL)
			fail_msg("process_event_parse(%s) returned %d", bad[i], r);
		assert_null(ev.data);
	}
}

static void test_process_status_signal_names(void **state)
{
	(void)state;
	assert_int_equal(process_status_signal("signal: killed"), SIGKILL);
	assert_int_equal(process_status_signal("signal: terminated"), SIGTERM);
	assert_int_equal(process_status_signal("signal: interrupt"), SIGINT);
	assert_int_equal(process_status_signal("exit status 1"), 0);
	assert_int_equal(process_status_signal("signal: no such signal"), 0);
	assert_int_equal(process_status_signal(""), 0);
}

/* ---- Connect end of stream ---- */

static void test_connect_end_round_trip(void **state)
{
	(void)state;
	char code[32], message[64];
	char *json = connect_end_encode(NULL, NULL);
	assert_string_equal(json, "{}");
	assert_int_equal(connect_end_parse(json, strlen(json), code, sizeof(code), message, sizeof(message)), 0);
	assert_string_equal(code, "");
	assert_string_equal(message, "");
	free(json);

	json = connect_end_encode("not_found", "start x: No such file");
	assert_int_equal(connect_end_parse(json, strlen(json), code, sizeof(code), message, sizeof(message)), 0);
	assert_string_equal(code, "not_found");
	assert_string_equal(message, "start x: No such file");
	free(json);
	assert_int_equal(connect_end_parse("[]", 2, code, sizeof(code), message, sizeof(message)), -EINVAL);
}

static void test_connect_code_for_errno(void **state)
{
	(void)state;
	assert_string_equal(connect_code_for_errno(ENOENT), "not_found");
	assert_string_equal(connect_code_for_errno(-ENOENT), "not_found");
	assert_string_equal(connect_code_for_errno(EACCES), "permission_denied");
	assert_string_equal(connect_code_for_errno(E2BIG), "invalid_argument");
	assert_string_equal(connect_code_for_errno(EMFILE), "resource_exhausted");
	assert_string_equal(connect_code_for_errno(EIO), "internal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process_start_round_trip),
		cmocka_unit_test(test_process_start_defaults),
		cmocka_unit_test(test_process_start_rejects_bad_requests),
		cmocka_unit_test(test_process_event_start_and_keepalive),
		cmocka_unit_test(test_process_event_data),
		cmocka_unit_test(test_process_event_end_exit_code),
		cmocka_unit_test(test_process_event_end_signal),
		cmocka_unit_test(test_process_event_rejects_bad_events),
		cmocka_unit_test(test_process_status_signal_names),
		cmocka_unit_test(test_connect_end_round_trip),
		cmocka_unit_test(test_connect_code_for_errno),
	};
	return cmocka_run_group_tests_name("proto_process", tests, NULL, NULL);
}
