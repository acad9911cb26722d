/* E2B envd's process.Process service over the Connect protocol. Today: Start
 * (server stream). Connect, List, SendInput, SendSignal, CloseStdin and
 * Update arrive with the full envd API. */
#ifndef COVE_AGENT_PROCESS_SERVICE_H
#define COVE_AGENT_PROCESS_SERVICE_H

#include "agent/http.h"

enum MHD_Result process_start(struct http_request *r);

#endif
