/* What every libcurl user in Cove shares (the coved client, the agent
 * client, the etcd client): curl's one global initialisation, sockets made
 * close-on-exec, and cleanups for its handles. */
#ifndef COVE_COMMON_CURL_H
#define COVE_COMMON_CURL_H

#include <curl/curl.h>

#include "common/cleanup.h"

/* curl_global_init, once per process; call before any handle is made. */
void cove_curl_init(void);

/* Makes curl's sockets with SOCK_CLOEXEC (libcurl before 8.x makes them
 * inheritable, and another thread's child would hold the connection open).
 * For a handle whose sockets curl would make itself. */
void cove_curl_cloexec(CURL *easy);

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)
#define _cleanup_curl_ _cleanup_(curl_easy_cleanupp)
#define _cleanup_curl_slist_ _cleanup_(curl_slist_free_allp)

#endif
