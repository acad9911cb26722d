/* libFuzzer target: POST /cluster/hosts/{id}/drain's body
 * (src/api/cluster_request.c). A body that parses is an object of exactly
 * one boolean "drain". */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/cluster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool on = false;
	if (api_drain_body_parse((const char *)data, size, &on, NULL) < 0)
		return 0;
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	if (!j || json_object_size(j) != 1 || json_is_true(json_object_get(j, "drain")) != on)
		abort();
	json_decref(j);
	return 0;
}
