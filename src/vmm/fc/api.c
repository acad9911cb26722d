/* The Firecracker driver's API connection (fc_internal.h): a REST client
 * of the socket Firecracker makes in its own directory, RUN_DIR/ID/fc,
 * which is bound into its work directory and so reached here directly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/driver.h"
#include "vmm/fc/fc_internal.h"

/* Its API answers in milliseconds; a snapshot takes as long as writing
 * the guest's memory. */
#define API_TIMEOUT_MS 60000
/* Firecracker makes its socket before anything else. */
#define API_CONNECT_TIMEOUT_MS 10000

int fc_api_open(struct vmm *vm, struct cove_err *err)
{
	char sock[PATH_MAX + 16];
	snprintf(sock, sizeof(sock), "%s/" FC_API_SOCK, vm->dir);
	struct fc *f = calloc(1, sizeof(*f));
	if (!f)
		return cove_errf(err, -ENOMEM, "firecracker: out of memory");
	f->pager_pid = -1;
	f->pager_pidfd = -1;
	vm->driver_data = f;
	return rest_open("firecracker", sock, vm->pidfd, API_CONNECT_TIMEOUT_MS, &f->api, err);
}

void fc_api_close(struct vmm *vm)
{
	struct fc *f = vm->driver_data;
	if (!f)
		return;
	rest_close(f->api);
	fc_pager_release(vm, f);
	free(f);
	vm->driver_data = NULL;
}

int fc_call(struct vmm *vm, const char *method, const char *path, json_t *body, json_t **reply, struct cove_err *err)
{
	struct fc *f = vm->driver_data;
	if (!f || !f->api)
		return cove_errf(err, -ENOTCONN, "firecracker %s: no API connection", vm->cfg.c.id);
	if (!body && strcmp(method, "GET") != 0)
		return cove_errf(err, -ENOMEM, "firecracker: out of memory");
	return rest_call(f->api, method, path, body, reply, API_TIMEOUT_MS, err);
}
