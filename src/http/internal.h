/* Inside the HTTP server: the server as the request loop and the reply
 * helpers share it, and what it keeps per connection. */
#ifndef COVE_HTTP_INTERNAL_H
#define COVE_HTTP_INTERNAL_H

#include "http/clients.h"
#include "http/http.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_config c;
	struct http_clients *clients;
};

/* Each connection's socket context: select_cls first (see http_tls). */
struct http_conn {
	void *select_cls;
	uint32_t addr;
	bool admitted; /* within the caps: counted in clients */
};

#endif
