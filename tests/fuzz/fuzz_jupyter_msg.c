/* libFuzzer target: Jupyter wire messages as a kernel (untrusted: the
 * sandbox's user runs code in it) sends them to cove-interpreter, and the
 * fast path that copies a stream message's text into a line undecoded.
 * The input is split into frames at each 0xff byte; the first byte picks
 * whether the key checks signatures. A message accepted must have its
 * parts; a text the fast path takes must be one JSON string token without
 * a raw newline (it goes into a line as it is). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interpreter/lines.h"
#include "interpreter/wire.h"

#define MAX_FRAMES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct wire_key key = { 0 };
	if (data[0] & 1)
		wire_key_set(&key, "0123456789abcdef");
	struct wire_frame frames[MAX_FRAMES];
	size_t n = 0, start = 1;
	for (size_t i = 1; i <= size && n < MAX_FRAMES; i++) {
		if (i == size || data[i] == 0xff) {
			frames[n++] = (struct wire_frame){ data + start, i - start };
			start = i + 1;
		}
	}
	struct wire_msg m;
	if (wire_parse(frames, n, &key, true, &m, NULL) == 0) {
		if (!m.msg_type || !m.parent_id || !json_is_object(m.header) || (!m.raw_content && !json_is_object(m.content)))
			abort();
		bool is_stderr;
		const char *text;
		size_t len;
		if (m.raw_content && lines_stream(m.raw_content, m.raw_len, &is_stderr, &text, &len) == 0) {
			if (len < 2 || text[0] != '"' || text[len - 1] != '"' || memchr(text, '\n', len) ||
			    text < m.raw_content || text + len > m.raw_content + m.raw_len)
				abort();
		}
		wire_msg_clear(&m);
	}
	return 0;
}
