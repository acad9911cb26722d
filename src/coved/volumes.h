/* coved's volume server: the volume server's network namespace (net/net.h)
 * and its NFS server (nfs/nfs.h), and the sandbox_volume_access the
 * manager hands every sandbox: a volume's id becomes its file system's
 * path (volume/volume.h), then an export for the slot's address. */
#ifndef COVE_COVED_VOLUMES_H
#define COVE_COVED_VOLUMES_H

#include "common/err.h"
#include "sandbox/sandbox.h"

struct coved_volumes;
struct net_slots;
struct volumes;

/* Ends what a previous coved's server left running; the server itself and
 * its namespace are made with the first sandbox that mounts a volume. */
int coved_volumes_open(struct net_slots *net, struct volumes *volumes, const char *run_dir,
		       struct coved_volumes **ret, struct cove_err *err);
const struct sandbox_volume_access *coved_volumes_access(struct coved_volumes *v);
/* Ends the server and removes its namespace and files. NULL-safe. */
void coved_volumes_close(struct coved_volumes *v);

#endif
