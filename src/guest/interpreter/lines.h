/* What E2B's code interpreter streams, made from Jupyter's IOPub messages:
 * a display bundle (execute_result, display_data) as a result line's fields,
 * an error's traceback as one string. Pure JSON, no sockets: unit-tested
 * (tests/unit/test_interpreter.c). */
#ifndef COVE_INTERPRETER_LINES_H
#define COVE_INTERPRETER_LINES_H

#include <jansson.h>
#include <stdbool.h>

/* {"type":"result", "is_main_result", and per MIME type: text, html,
 * markdown, svg, png, jpeg, pdf, latex, json, javascript, data (e2b/data),
 * chart (e2b/chart); other types under "extra" by their MIME name}. A value
 * sent as a list of strings (nbformat's multi-line form) is joined. */
json_t *lines_result(json_t *bundle, bool is_main);

/* A stream message's content as the kernel sent it ({"name": "stdout" or
 * "stderr", "text": "..."}, other members skipped): whether it is stderr,
 * and where its text's JSON string token is (quotes included), so that it
 * can go into a line without being decoded and encoded again. -EINVAL when
 * it is not that shape, or the token is not a valid JSON string of valid
 * UTF-8 (the caller decodes it the slow way). */
int lines_stream(const char *json, size_t len, bool *is_stderr, const char **text, size_t *text_len);

/* Where to cut the inside of a JSON string token (p[0..len), quotes
 * excluded) so that the first piece has at most max bytes (max >= 8) and
 * each piece, quoted, is a JSON string of its own: never inside an escape
 * or a UTF-8 sequence. A stdout of many MiB goes out in lines of at most
 * max, which clients read in linear time (the SDK's line reader searches
 * its whole buffer for each chunk it gets). */
size_t lines_string_cut(const char *p, size_t len, size_t max);

/* A traceback (a list of strings) joined by newlines; malloc'd. */
char *lines_traceback(json_t *traceback);

#endif
