/* The cluster's janitor (issue 18; multihost.md §4.2, §4.7): one gateway,
 * elected through etcd, removes the catalog records of hosts that vanished.
 *
 *   - Election: the standard etcd one, on /cove/v1/janitor. Each gateway's
 *     janitor grants a lease of its own (TTL: the host lease's) and creates
 *     the key ({"gateway": id}) under it only if absent, in one txn. The
 *     holder renews the lease every TTL/3; the others try again every TTL/2,
 *     so one takes over within about a TTL and a half of the holder's death.
 *     A holder stops acting at once when etcd says its lease is gone or when
 *     no renewal has succeeded for TTL - 1 s (measured from the last success
 *     on the monotonic clock, never from reads: as the host role fences
 *     itself), and every removal txn also compares the key's lease with the
 *     holder's, so a deposed holder cannot remove anything.
 *   - Duty, about once a second, from the gateway's catalog: a host id that
 *     has sandbox records (any state) but no live host key is "gone". The
 *     holder notes when it first saw it gone; after dead_after_s it declares
 *     it dead: txns of at most 127 ops, each with compare hosts/<h> CREATE ==
 *     0 (the host did not come back: a host that registers at the last
 *     moment wins or loses as a whole, by etcd's order), that write
 *     /cove/v1/dead/<h> {"since": ms} and delete the host's creating,
 *     running and killing records. Its paused records stay (their saved
 *     state waits on its disk). Records of a gone host whose deadline (end)
 *     has passed go at any time, dead or not, but for those that pause at
 *     their deadline (auto_pause: their host paused them and keeps them;
 *     running ones go only once the host is dead). Each removal is logged.
 *   - dead-after is measured by the holder, from when it first saw the host
 *     gone: a new holder starts counting afresh, so a change of janitor can
 *     delay a removal by up to dead-after, never hasten it.
 *
 * Thread-safe: one thread per janitor; janitor_holder may be called from
 * any thread. */
#ifndef COVE_GATEWAY_JANITOR_H
#define COVE_GATEWAY_JANITOR_H

#include <stdbool.h>

#include "cluster/catalog.h"
#include "cluster/etcd.h"
#include "common/err.h"

/* etcd's --max-txn-ops default is 128; one op is the dead mark. */
#define JANITOR_TXN_OPS 127
#define JANITOR_TICK_MS 1000

struct janitor_config {
	struct etcd_client *etcd; /* borrowed; outlives the janitor */
	struct catalog *catalog;  /* borrowed; outlives the janitor */
	const char *gateway_id;   /* cluster_host_id_check() rules */
	unsigned lease_ttl_s;     /* 2..3600: the host lease's TTL */
	unsigned dead_after_s;    /* 1 or more */
};

struct janitor;

/* Starts the janitor's thread (it campaigns at once). */
int janitor_start(const struct janitor_config *c, struct janitor **ret, struct cove_err *err);
/* Stops the thread and, if it holds the key, revokes its lease so another
 * gateway takes over at once. NULL-safe; returns NULL. */
struct janitor *janitor_stop(struct janitor *j);

/* Does this janitor hold the election now (and act)? */
bool janitor_holder(struct janitor *j);

/* "Forget" host_id now: the removal above (dead mark, its creating,
 * running and killing records; paused ones stay) without waiting for
 * dead-after or being the holder. The records come from catalog when it is
 * not NULL, else from one etcd range of /cove/v1/sb/. -EBUSY when the
 * host's key exists (it is live: drain it instead), -ENOENT when the
 * cluster knows nothing of it (no record, no dead mark), -EINVAL for a bad
 * id, or etcd's error. */
int janitor_forget(struct etcd_client *etcd, struct catalog *catalog, const char *host_id, struct cove_err *err);

#endif
