/* libFuzzer target: the code interpreter's request bodies (POST /execute,
 * POST /contexts), sent by anyone who reaches port 49999 through coved.
 * The first byte picks the body. Accepted requests must hold what the
 * handlers rely on. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interpreter/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] & 1) {
		struct context_request cr;
		int r = context_request_parse(body, len, &cr, NULL);
		if (r == 0 && cr.cwd[0] && cr.cwd[0] != '/')
			abort();
		if (r != 0 && r != -EINVAL)
			abort();
		return 0;
	}
	struct execute_request req;
	int r = execute_request_parse(body, len, &req, NULL);
	if (r == 0) {
		if (!req.code || (req.context_id[0] && req.language[0]))
			abort();
		execute_request_clear(&req);
	} else if (r != -EINVAL && r != -ENOMEM) {
		abort();
	}
	return 0;
}
