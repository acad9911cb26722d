/* Shared by the generic files of the vmm module only: the driver table
 * (drivers.c) and the identity records of run directories. What drivers
 * see is in driver.h. */
#ifndef COVE_VMM_INTERNAL_H
#define COVE_VMM_INTERNAL_H

#include <stddef.h>

#include "vmm/driver.h"

/* The driver called name (NULL: VMM_DEFAULT_DRIVER); NULL when there is none. */
const struct vmm_driver *vmm_driver_find(const char *name);
/* The names of all drivers, ", "-separated, for messages. */
void vmm_driver_names(char *buf, size_t len);

/* Records a process identity as RUN_DIR/ID/name ("pid starttime"); stale.c
 * reads it back. (process.c) */
int vmm_write_identity(const char *dir, const char *name, const struct proc_identity *id, struct cove_err *err);

#endif
