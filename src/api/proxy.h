/* envd routing: a request for a sandbox (E2b-Sandbox-Id and
 * E2b-Sandbox-Port headers, or a Host of PORT-ID.DOMAIN; see server.h and
 * docs/api.md) is relayed to that port of the sandbox's guest through its
 * network slot, streaming both ways (request bodies as they arrive, response
 * bodies as the guest produces them: Connect server streams, downloads),
 * without buffering whole bodies. A sandbox paused with autoResume is
 * resumed first (manager_wake); an unknown, ended or otherwise paused one
 * gets 502, which the SDK reads as "not running", as does one whose resume
 * failed; a sandbox killed mid-stream drops the stream. A private sandbox
 * (E2B's allowPublicTraffic false) answers 403 on every port but envd's to
 * a request without its traffic access token, and one with maskRequestHost
 * has its guest see that Host; a port in its httpsPorts is reached over
 * TLS (guest_tls.h) (docs/api.md). */
#ifndef COVE_API_PROXY_H
#define COVE_API_PROXY_H

#include "api/server.h"

#define PROXY_CONNECT_TIMEOUT_MS 5000

/* The server's hooks (see api_server_config.proxy). */
extern const struct api_proxy_ops proxy_ops;

/* E2B's proxies' answers of their own, {"message", "sandboxId", "code"}:
 * 502 "The sandbox was not found" (the SDK's isRunning() reads it as
 * false), 403 for a private sandbox without its traffic token. The cluster
 * gateway answers the first for a sandbox it cannot reach. */
enum MHD_Result proxy_reply_edge(struct http_request *r, unsigned status, const char *message, const char *id);

#endif
