/* Shared by fc.c and snapshot.c only: the driver's API connection (api.c). */
#ifndef COVE_VMM_FC_FC_INTERNAL_H
#define COVE_VMM_FC_FC_INTERNAL_H

#include "vmm/fc/fc.h"
#include "vmm/rest/rest.h"

struct vmm;

/* Connects to the API of vm (driver_data); fc_api_close (the driver's
 * release) undoes it. */
int fc_api_open(struct vmm *vm, struct cove_err *err);
void fc_api_close(struct vmm *vm);
/* METHOD path with body (borrowed; NULL for a request with one means the
 * caller ran out of memory making it). */
int fc_call(struct vmm *vm, const char *method, const char *path, json_t *body, json_t **reply, struct cove_err *err);

#endif
