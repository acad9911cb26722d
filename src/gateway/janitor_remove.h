/* What the janitor's thread (janitor.c) and its removals (janitor_remove.c)
 * share: the records of gone hosts as the catalog showed them, which of
 * them go, and the txns that remove them. Not an interface of its own:
 * janitor.h is. */
#ifndef COVE_GATEWAY_JANITOR_REMOVE_H
#define COVE_GATEWAY_JANITOR_REMOVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/records.h"
#include "gateway/janitor.h"

/* What the janitor needs of a sandbox record. */
struct janitor_record {
	char id[CLUSTER_SANDBOX_ID_MAX + 1];
	char host[CLUSTER_HOST_ID_MAX + 1];
	enum cluster_sandbox_state state;
	int64_t end_ms;
	bool auto_pause;
};

struct janitor_records {
	struct janitor_record *v;
	size_t n, cap;
};

int janitor_records_add(struct janitor_records *rs, const struct cluster_sandbox *sb);
void janitor_records_clear(struct janitor_records *rs);

/* Does r go? Of a dead host: creating, running and killing ones; of any gone
 * host: those whose deadline passed (paused ones only without auto_pause). */
bool janitor_removable(const struct janitor_record *r, bool dead, int64_t now_wall_ms);

struct janitor_removal {
	struct etcd_client *etcd;
	const char *host;
	bool dead;           /* declared dead: remove what is not paused */
	bool mark;           /* write dead/<host> {"since": since_ms} too (once is enough) */
	int64_t since_ms;
	int64_t fence_lease; /* 0, or the txns also need /cove/v1/janitor under this lease */
};

/* Removes rm->host's removable records among rs in txns of at most
 * JANITOR_TXN_OPS ops, each compare hosts/<host> CREATE == 0 (and the fence);
 * *removed (may be NULL) gets how many were asked to go. -EBUSY when the
 * host's key exists, -ESTALE when the fence lease is gone; the batches before
 * the failing one stand. */
int janitor_remove(const struct janitor_removal *rm, const struct janitor_records *rs, size_t *removed,
		   struct cove_err *err);


#endif
