/* libFuzzer target: the SOCKS5 answers a user's proxy sends the egress
 * proxy (proto/socks5.h). Each parser either asks for more, accepts a
 * length within what it was given, or refuses; a longer input never turns
 * an answer back into "more". */
#include <stdint.h>
#include <stdlib.h>

#include "proto/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cove_err err = { 0 };
	int a = socks5_choice(data, size, size & 1, &err);
	int b = socks5_auth_reply(data, size, &err);
	int c = socks5_connect_reply(data, size, &err);
	if (a > (int)size || b > (int)size || c > (int)size)
		abort();
	if (c > 0 && size > 0) {
		/* The same bytes with more after them: the same answer. */
		uint8_t *more = malloc(size + 8);
		if (!more)
			return 0;
		for (size_t i = 0; i < size; i++)
			more[i] = data[i];
		for (size_t i = 0; i < 8; i++)
			more[size + i] = 0xaa;
		if (socks5_connect_reply(more, size + 8, &err) != c)
			abort();
		free(more);
	}
	return 0;
}
