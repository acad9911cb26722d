/* libFuzzer target: Jupyter wire messages as a kernel (untrusted: the
 * sandbox's user runs code in it) sends them to cove-interpreter. The input
 * is split into frames at each 0xff byte; the first byte picks whether the
 * key checks signatures. A message accepted must have its parts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	if (wire_parse(frames, n, &key, &m, NULL) == 0) {
		if (!m.msg_type || !m.parent_id || !json_is_object(m.header) || !json_is_object(m.content))
			abort();
		wire_msg_clear(&m);
	}
	return 0;
}
