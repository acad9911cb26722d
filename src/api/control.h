/* The E2B control plane's routes (docs/api.md), served by api/server.c with
 * the sandbox manager as the server's application context. */
#ifndef COVE_API_CONTROL_H
#define COVE_API_CONTROL_H

#include <stddef.h>

#include "api/server.h"
#include "manager/manager.h"

const struct http_route *control_routes(size_t *n);

#endif
