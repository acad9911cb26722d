/* libFuzzer target: the gateway catalog's list tokens (nextToken,
 * src/cluster/catalog_token.c), which clients send back and may forge. A
 * token that parses must be exactly what encoding its (seq, id) writes, with
 * a valid id and a seq of 0 or more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[2 * CATALOG_TOKEN_MAX];
	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int64_t seq;
	char id[CLUSTER_SANDBOX_ID_MAX + 1], again[CATALOG_TOKEN_MAX];
	if (catalog_token_parse(text, &seq, id, NULL) < 0)
		return 0;
	if (seq < 0 || cluster_sandbox_id_check(id, NULL) < 0)
		abort();
	catalog_token_encode(seq, id, again);
	if (strcmp(again, text) != 0)
		abort();
	return 0;
}
