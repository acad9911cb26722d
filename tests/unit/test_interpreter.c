/* Unit tests for the code interpreter's pure parts (src/guest/interpreter):
 * Jupyter's wire format and its HMAC, the request bodies, the env-var code
 * for each language, and the result lines made from display bundles. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interpreter/envs.h"
#include "interpreter/lines.h"
#include "interpreter/request.h"
#include "interpreter/wire.h"

#define F(s) { (const uint8_t *)(s), sizeof(s) - 1 }

/* Computed with Python's hmac module over the four parts below. */
static const char *const sig = "eb61ac021874f95a277f67919e8469b158591d25914fab89b7ba148a138fd773";

static void test_wire_parse(void **state)
{
	(void)state;
	struct wire_key key;
	assert_int_equal(wire_key_set(&key, "0123456789abcdef"), 0);
	struct wire_frame frames[] = { F("topic"), F("<IDS|MSG>"), { (const uint8_t *)sig, 64 },
				       F("{\"msg_id\":\"a\",\"msg_type\":\"status\"}"), F("{\"msg_id\":\"p\"}"), F("{}"),
				       F("{\"execution_state\":\"idle\"}"), F("buffer") };
	struct wire_msg m;
	struct cove_err err = { 0 };
	assert_int_equal(wire_parse(frames, 8, &key, false, &m, &err), 0);
	assert_string_equal(m.msg_type, "status");
	assert_string_equal(m.parent_id, "p");
	assert_string_equal(json_string_value(json_object_get(m.content, "execution_state")), "idle");
	wire_msg_clear(&m);

	/* A changed byte anywhere signed: refused. */
	struct wire_frame bad[8];
	memcpy(bad, frames, sizeof(bad));
	bad[6] = (struct wire_frame)F("{\"execution_state\":\"busy\"}");
	assert_int_equal(wire_parse(bad, 8, &key, false, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "signature"));
	/* No delimiter, too few frames, a part that is not an object. */
	assert_int_equal(wire_parse(frames + 2, 6, &key, false, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "delimiter"));
	assert_int_equal(wire_parse(frames, 6, &key, false, &m, &err), -EINVAL);
	struct wire_key none = { 0 };
	memcpy(bad, frames, sizeof(bad));
	bad[4] = (struct wire_frame)F("[1]");
	assert_int_equal(wire_parse(bad, 8, &none, false, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "parent header"));
	/* Unsigned messages pass without a key. */
	bad[4] = frames[4];
	bad[2] = (struct wire_frame)F("");
	assert_int_equal(wire_parse(bad, 8, &none, false, &m, &err), 0);
	wire_msg_clear(&m);
	/* A key longer than the room for one. */
	char longkey[WIRE_KEY_MAX + 2];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(wire_key_set(&key, longkey), -EINVAL);
}

static void test_wire_build_round_trip(void **state)
{
	(void)state;
	struct wire_key key;
	wire_key_set(&key, "secret");
	json_t *content = json_pack("{s:s}", "code", "1+1");
	struct wire_out out;
	assert_int_equal(wire_build(&key, "sess", "execute_request", content, &out), 0);
	json_decref(content);
	assert_int_equal(strlen(out.msg_id), 36);
	struct wire_frame f[6];
	for (int i = 0; i < 6; i++)
		f[i] = (struct wire_frame){ (const uint8_t *)out.parts[i], out.lens[i] };
	struct wire_msg m;
	struct cove_err err = { 0 };
	assert_int_equal(wire_parse(f, 6, &key, false, &m, &err), 0);
	assert_string_equal(m.msg_type, "execute_request");
	assert_string_equal(json_string_value(json_object_get(m.header, "version")), "5.3");
	assert_string_equal(json_string_value(json_object_get(m.header, "session")), "sess");
	assert_string_equal(json_string_value(json_object_get(m.header, "msg_id")), out.msg_id);
	assert_string_equal(json_string_value(json_object_get(m.content, "code")), "1+1");
	wire_msg_clear(&m);
	wire_out_clear(&out);
}

static void test_execute_request(void **state)
{
	(void)state;
	struct execute_request req;
	struct cove_err err = { 0 };
	const char *ok = "{\"code\":\"print(1)\",\"context_id\":null,\"language\":\"python\",\"env_vars\":{\"A\":\"1\"}}";
	assert_int_equal(execute_request_parse(ok, strlen(ok), &req, &err), 0);
	assert_string_equal(req.code, "print(1)");
	assert_string_equal(req.language, "python");
	assert_string_equal(req.context_id, "");
	assert_string_equal(json_string_value(json_object_get(req.env_vars, "A")), "1");
	execute_request_clear(&req);
	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "", "code" },
		{ "[]", "JSON object" },
		{ "{\"code\":1}", "code" },
		{ "{\"code\":\"x\",\"context_id\":\"c\",\"language\":\"python\"}", "both" },
		{ "{\"code\":\"x\",\"env_vars\":[]}", "env_vars" },
		{ "{\"code\":\"x\",\"env_vars\":{\"A\":1}}", "env_vars.A" },
		{ "{\"code\":\"x\",\"env_vars\":{\"A=B\":\"1\"}}", "variable name" },
		{ "{\"code\":\"x\",\"language\":7}", "language" },
		{ "{\"code\":\"a\\u0000b\"}", "NUL" },
		{ "{\"code\":\"x\",\"code\":\"y\"}", "JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(execute_request_parse(bad[i].body, strlen(bad[i].body), &req, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("%s: '%s' does not say '%s'", bad[i].body, err.msg, bad[i].why);
	}
	struct context_request cr;
	assert_int_equal(context_request_parse("", 0, &cr, &err), 0);
	assert_string_equal(cr.language, "");
	const char *both = "{\"language\":\"r\",\"cwd\":\"/tmp\"}";
	assert_int_equal(context_request_parse(both, strlen(both), &cr, &err), 0);
	assert_string_equal(cr.cwd, "/tmp");
	const char *relative = "{\"cwd\":\"tmp\"}";
	assert_int_equal(context_request_parse(relative, strlen(relative), &cr, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "absolute"));
}

static void test_envs_code(void **state)
{
	(void)state;
	json_t *vars = json_pack("{s:s, s:s}", "A", "it's \"q\"\n", "B", "2");
	char *py = envs_code_set("python", vars);
	assert_string_equal(py, "__import__('os').environ[\"A\"] = \"it's \\\"q\\\"\\n\"\n"
				"__import__('os').environ[\"B\"] = \"2\"\n");
	free(py);
	json_t *keep = json_pack("{s:s}", "B", "sandbox");
	char *back = envs_code_restore("python", vars, keep);
	assert_string_equal(back, "__import__('os').environ.pop(\"A\", None)\n__import__('os').environ[\"B\"] = \"sandbox\"\n");
	free(back);
	char *sh = envs_code_set("bash", vars);
	assert_string_equal(sh, "export A='it'\\''s \"q\"\n'\nexport B='2'\n");
	free(sh);
	char *r = envs_code_set("r", vars);
	assert_non_null(strstr(r, "setNames(list(\"2\"), \"B\")"));
	free(r);
	char *js = envs_code_restore("javascript", vars, keep);
	assert_string_equal(js, "delete process.env[\"A\"];\nprocess.env[\"B\"] = \"sandbox\";\n");
	free(js);
	assert_null(envs_code_set("cobol", vars));
	json_decref(vars);
	json_decref(keep);
}

static void test_stream_fast_path(void **state)
{
	(void)state;
	bool is_stderr = true;
	const char *text;
	size_t len;
	const char *ok = "{\"name\": \"stdout\", \"text\": \"a\\n\\u00e9\\\"q\\\" \xc3\xa9\"}";
	assert_int_equal(lines_stream(ok, strlen(ok), &is_stderr, &text, &len), 0);
	assert_false(is_stderr);
	assert_int_equal(len, strlen("\"a\\n\\u00e9\\\"q\\\" \xc3\xa9\""));
	assert_memory_equal(text, "\"a\\n", 4);
	/* Other members, in any order, are skipped. */
	const char *more = "{\"text\":\"x\",\"extra\":{\"k\":[1,2.5e3,true,null,\"s\"]},\"name\":\"stderr\"}";
	assert_int_equal(lines_stream(more, strlen(more), &is_stderr, &text, &len), 0);
	assert_true(is_stderr);
	assert_int_equal(len, 3);
	/* What the fast path must not copy: raw control bytes, bad escapes,
	 * invalid UTF-8, an unknown stream, a text that is not a string, a
	 * missing member, trailing bytes. */
	const char *bad[] = {
		"{\"name\":\"stdout\",\"text\":\"a\nb\"}",   "{\"name\":\"stdout\",\"text\":\"\\x\"}",
		"{\"name\":\"stdout\",\"text\":\"\xff\"}",    "{\"name\":\"stdin\",\"text\":\"a\"}",
		"{\"name\":\"stdout\",\"text\":1}",	    "{\"name\":\"stdout\"}",
		"{\"name\":\"stdout\",\"text\":\"a\"} x",  "{\"name\":\"stdout\",\"text\":\"\\u12\"}",
		"{\"name\":\"stdout\",\"text\":\"a\"",	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (lines_stream(bad[i], strlen(bad[i]), &is_stderr, &text, &len) != -EINVAL)
			fail_msg("taken: %s", bad[i]);
	/* Plain text is skipped a word at a time: what ends a run is found at
	 * every offset within a word. */
	for (size_t at = 0; at < 40; at++) {
		char body[128], doc[256];
		memset(body, 'x', 40);
		body[40] = '\0';
		const char *inserts[] = { "\n", "\xff", "\\q", "\xc3\xa9", "\\n", "\\u00e9", "\\\"" };
		const bool valid[] = { false, false, false, true, true, true, true };
		for (size_t k = 0; k < sizeof(inserts) / sizeof(inserts[0]); k++) {
			char with[160];
			snprintf(with, sizeof(with), "%.*s%s%s", (int)at, body, inserts[k], body + at);
			snprintf(doc, sizeof(doc), "{\"name\":\"stdout\",\"text\":\"%s\"}", with);
			int r = lines_stream(doc, strlen(doc), &is_stderr, &text, &len);
			if (r != (valid[k] ? 0 : -EINVAL) || (r == 0 && len != strlen(with) + 2))
				fail_msg("insert %zu at %zu: %d (len %zu)", k, at, r, len);
		}
	}
}

/* Every piece lines_string_cut makes is a JSON string of its own, and the
 * pieces decode to the whole. */
static void test_string_cut(void **state)
{
	(void)state;
	const char *inside = "ab\\\"cd\\\\u00e9\\u00e9\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x\\n\\\\\\\\yz";
	json_error_t jerr;
	char quoted[256];
	snprintf(quoted, sizeof(quoted), "\"%s\"", inside);
	json_t *whole = json_loadb(quoted, strlen(quoted), JSON_DECODE_ANY, &jerr);
	assert_non_null(whole);
	for (size_t max = 8; max < 40; max++) {
		char joined[256] = "";
		const char *p = inside;
		size_t left = strlen(inside);
		while (left) {
			size_t n = lines_string_cut(p, left, max);
			assert_true(n > 0 && n <= max);
			snprintf(quoted, sizeof(quoted), "\"%.*s\"", (int)n, p);
			json_t *piece = json_loadb(quoted, strlen(quoted), JSON_DECODE_ANY, &jerr);
			if (!piece)
				fail_msg("max %zu: piece %s: %s", max, quoted, jerr.text);
			strcat(joined, json_string_value(piece));
			json_decref(piece);
			p += n;
			left -= n;
		}
		assert_string_equal(joined, json_string_value(whole));
	}
	json_decref(whole);
}

static void test_result_lines(void **state)
{
	(void)state;
	json_t *bundle = json_pack("{s:s, s:[s,s], s:s, s:{s:[i]}, s:{s:s}, s:s}", "text/plain", "2", "text/html", "<b>",
				   "</b>", "image/png", "iVBOR", "e2b/data", "a", 1, "e2b/chart", "type", "line",
				   "application/vnd.custom", "x");
	json_t *line = lines_result(bundle, true);
	assert_string_equal(json_string_value(json_object_get(line, "type")), "result");
	assert_true(json_is_true(json_object_get(line, "is_main_result")));
	assert_string_equal(json_string_value(json_object_get(line, "text")), "2");
	assert_string_equal(json_string_value(json_object_get(line, "html")), "<b></b>");
	assert_string_equal(json_string_value(json_object_get(line, "png")), "iVBOR");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(line, "data"), "a"), 0)), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(line, "chart"), "type")), "line");
	assert_string_equal(json_string_value(json_object_get(json_object_get(line, "extra"), "application/vnd.custom")),
			    "x");
	json_decref(line);
	json_decref(bundle);
	json_t *tb = json_pack("[s,s]", "Traceback", "ZeroDivisionError: x");
	char *text = lines_traceback(tb);
	assert_string_equal(text, "Traceback\nZeroDivisionError: x");
	free(text);
	json_decref(tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_parse),
		cmocka_unit_test(test_wire_build_round_trip),
		cmocka_unit_test(test_execute_request),
		cmocka_unit_test(test_envs_code),
		cmocka_unit_test(test_stream_fast_path),
		cmocka_unit_test(test_string_cut),
		cmocka_unit_test(test_result_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
