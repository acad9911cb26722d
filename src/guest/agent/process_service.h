/* E2B envd's process.Process service over the Connect protocol
 * (e2b-dev/infra packages/envd/spec/process/process.proto). */
#ifndef COVE_AGENT_PROCESS_SERVICE_H
#define COVE_AGENT_PROCESS_SERVICE_H

#include "agent/http.h"

enum MHD_Result process_start(struct http_request *r);
enum MHD_Result process_connect(struct http_request *r);
enum MHD_Result process_list(struct http_request *r);
enum MHD_Result process_send_input(struct http_request *r);
enum MHD_Result process_send_signal(struct http_request *r);
enum MHD_Result process_close_stdin(struct http_request *r);
enum MHD_Result process_update(struct http_request *r);

#endif
