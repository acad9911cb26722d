/* libFuzzer target: envd's POST /files/compose body (src/proto/compose.c),
 * as the agent parses it before composing anything. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/compose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compose_request r;
	struct cove_err err = { 0 };
	if (compose_request_parse(data, size, &r, &err) == 0) {
		/* What parses is whole: sources, each a non-empty string. */
		if (r.nsources == 0 || !r.destination || !*r.destination || r.sources[r.nsources])
			abort();
		for (size_t i = 0; i < r.nsources; i++)
			if (!r.sources[i] || !*r.sources[i] || strlen(r.sources[i]) > COMPOSE_MAX_PATH)
				abort();
		compose_request_clear(&r);
	} else if (r.sources || r.destination || r.username || !err.msg[0]) {
		abort(); /* a refusal leaves nothing behind and says why */
	}
	return 0;
}
