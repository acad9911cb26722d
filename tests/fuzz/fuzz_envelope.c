/* libFuzzer target: the Connect envelope decoder, fed the input in chunks
 * whose sizes the input itself chooses (as a network would split it). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope_decoder d;
	envelope_decoder_init(&d, 4096);
	size_t off = 0;
	while (off < size) {
		/* The first byte of each step picks the chunk length. */
		size_t n = (size_t)data[off] % 64 + 1;
		off++;
		if (n > size - off)
			n = size - off;
		if (envelope_decoder_feed(&d, data + off, n) < 0)
			break;
		off += n;
		struct envelope env;
		int r;
		while ((r = envelope_decoder_next(&d, &env)) == 1) {
			/* Touch every byte handed out: ASan checks the bounds. */
			volatile uint8_t sum = env.flags;
			for (uint32_t i = 0; i < env.len; i++)
				sum ^= env.data[i];
			(void)sum;
		}
		if (r < 0)
			break;
	}
	envelope_decoder_free(&d);
	return 0;
}
