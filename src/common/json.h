/* The cleanup for jansson's json_t, apart from common/cleanup.h so that only
 * code that uses jansson includes jansson. jansson (2.11 and later) has the
 * cleanup function itself, json_decrefp. */
#ifndef COVE_COMMON_JSON_H
#define COVE_COMMON_JSON_H

#include <jansson.h>

#include "common/cleanup.h"

/* A reference released on every return; TAKE_PTR hands it on (to a
 * json_*_set_new, say, which steals it). */
#define _cleanup_json_ _cleanup_(json_decrefp)

#endif
