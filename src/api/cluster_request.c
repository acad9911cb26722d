/* The cluster routes' request body (api/cluster.h), apart from the
 * handlers so that its fuzz target needs nothing else. */
#include <errno.h>

#include "api/cluster.h"
#include "common/json.h"

int api_drain_body_parse(const char *body, size_t len, bool *on, struct cove_err *err)
{
	_cleanup_json_ json_t *j = json_object_body(body, len, err);
	if (!j)
		return err ? err->code : -EINVAL;
	json_t *drain = json_object_get(j, "drain");
	if (!json_is_boolean(drain) || json_object_size(j) != 1)
		return cove_errf(err, -EINVAL, "the body must be {\"drain\": true} or {\"drain\": false}");
	*on = json_is_true(drain);
	return 0;
}
