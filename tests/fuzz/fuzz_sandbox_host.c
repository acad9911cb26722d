/* libFuzzer target: which sandbox a request to coved is for, from its Host
 * header or its E2b-Sandbox-Id and E2b-Sandbox-Port headers (any client
 * sends them, before any key is checked), and coved's domain as its setting
 * gives it. The input is up to four strings split at NUL bytes: Host, then
 * the id, then the port, then the domain (an absent one is NULL; a domain
 * the parser refuses is replaced by localhost). A target named must be a
 * usable one. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	const char *part[4] = { NULL, NULL, NULL, NULL };
	size_t at = 0;
	for (int i = 0; i < 4 && at <= size; i++) {
		part[i] = text + at;
		at += strlen(text + at) + 1;
	}
	struct api_sandbox_target t;
	struct cove_err err = { 0 };
	char domain[API_DOMAIN_MAX];
	if (!part[3] || api_domain_parse(part[3], domain, &err) < 0) {
		if (part[3] && !err.msg[0])
			abort(); /* a refusal says why */
		strcpy(domain, "localhost");
	} else if (strspn(domain, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(domain)) {
		abort();
	}
	err.msg[0] = '\0';
	int r = api_sandbox_target_parse(part[1], part[2], part[0], domain, &t, &err);
	if (r < 0 && ((r != -EINVAL && r != -ENOENT) || !err.msg[0]))
		abort();
	if (r == 1) {
		size_t n = strnlen(t.id, sizeof(t.id));
		if (n == 0 || n >= sizeof(t.id) || t.port == 0 || t.port > 65535 ||
		    strspn(t.id, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
			abort();
	}
	if (r == 0 && part[1])
		abort(); /* an id header always names a target */
	free(text);
	return 0;
}
