/* GET /metrics: CPU, memory and disk of the guest (envd's fields: ts,
 * cpu_count, cpu_used_pct, mem_total, mem_used, mem_total_mib, mem_used_mib,
 * mem_cache, disk_total, disk_used). */
#ifndef COVE_AGENT_METRICS_H
#define COVE_AGENT_METRICS_H

#include "agent/http.h"

enum MHD_Result metrics_get(struct http_request *r);

#endif
