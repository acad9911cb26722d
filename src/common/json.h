/* The cleanup for jansson's json_t, apart from common/cleanup.h so that only
 * code that uses jansson includes jansson (jansson 2.11 and later has the
 * cleanup function itself, json_decrefp); and the reading of a request body
 * that must be a JSON object. */
#ifndef COVE_COMMON_JSON_H
#define COVE_COMMON_JSON_H

#include <jansson.h>

#include "common/cleanup.h"
#include "common/err.h"

/* A reference released on every return; TAKE_PTR hands it on (to a
 * json_*_set_new, say, which steals it). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* A request body as a JSON object, duplicate keys refused; an empty body
 * is {}. NULL with err filled (-EINVAL: "the body is not a JSON object: ...",
 * the message a client reads). */
json_t *json_object_body(const char *body, size_t len, struct cove_err *err);

#endif
