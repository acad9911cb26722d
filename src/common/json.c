/* JSON helpers (see json.h). */
#include "common/json.h"

#include <errno.h>

json_t *json_object_body(const char *body, size_t len, struct cove_err *err)
{
	if (!len)
		return json_object();
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		cove_errf(err, -EINVAL, "the body is not a JSON object%s%s", j ? "" : ": ", j ? "" : jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}
