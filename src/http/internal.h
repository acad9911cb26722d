/* Inside the HTTP server: the server as the request loop and the reply
 * helpers share it. */
#ifndef COVE_HTTP_INTERNAL_H
#define COVE_HTTP_INTERNAL_H

#include "http/http.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_config c;
};

#endif
