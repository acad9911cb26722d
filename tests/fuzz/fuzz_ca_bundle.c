/* libFuzzer target: /init's caBundle (src/guest/agent/cacert.c). The first
 * byte picks whether the rest is the string's bytes or the whole /init
 * body. Whatever is accepted is PEM certificates ending in one newline, no
 * longer than the limit, and accepted again as it is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cacert.h"

static void check(const char *pem)
{
	size_t n = strlen(pem);
	if (n < 2 || n > AGENT_CA_MAX + 1 || pem[n - 1] != '\n' || pem[n - 2] == '\n' ||
	    strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) != 0)
		abort();
	json_t *again = json_pack("{ss}", "caBundle", pem);
	char *copy = NULL;
	if (!again || agent_ca_parse(again, &copy, NULL) < 0 || !copy || strcmp(copy, pem) != 0)
		abort();
	free(copy);
	json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	json_t *req = data[0] & 1 ? json_loadb((const char *)data + 1, size - 1, 0, NULL)
				  : json_pack("{s:s%}", "caBundle", (const char *)data + 1, size - 1);
	char *pem = NULL;
	if (req && agent_ca_parse(req, &pem, NULL) == 0 && pem)
		check(pem);
	free(pem);
	json_decref(req);
	return 0;
}
