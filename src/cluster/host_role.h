/* What the host role's lifecycle (host.c: register, keepalive, publish,
 * fence) and its catalog writes (host_writes.c: fenced txns, reconcile)
 * share: the role itself. */
#ifndef COVE_CLUSTER_HOST_ROLE_H
#define COVE_CLUSTER_HOST_ROLE_H

#include <pthread.h>

#include "cluster/host.h"

#define HOST_KEY_MAX (sizeof(CLUSTER_HOSTS_PREFIX) + CLUSTER_HOST_ID_MAX)
#define HOST_WHY_MAX 384

struct cluster_host_role {
	/* set at start, read-only after */
	struct etcd_client *etcd;
	char id[CLUSTER_HOST_ID_MAX + 1];
	char addr[CLUSTER_ADDR_MAX + 1];
	char key[HOST_KEY_MAX];      /* /cove/v1/hosts/<id> */
	char dead_key[HOST_KEY_MAX]; /* /cove/v1/dead/<id> */
	int64_t ttl_ms;
	cluster_host_figures_fn figures;
	void *figures_data;
	cluster_host_reconcile_fn reconcile;
	void *reconcile_data;
	/* the thread's (and start's): a lease given up whose revoke has not
	 * gone through yet (its key would stand in the way of registering) */
	int64_t old_lease;

	/* under lock; cond wakes the thread (stop, changed) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t lease, epoch; /* 0, 0: not registered */
	/* monotonic ms at which the last successful keepalive (or the grant)
	 * was sent: etcd renewed the lease no earlier than that */
	int64_t last_ok_ms;
	bool lost;           /* fenced for a known cause (why): register again */
	bool unreachable;    /* the last keepalive reached no member (why not: unreachable_why) */
	char unreachable_why[HOST_WHY_MAX];
	bool need_reconcile; /* registered, not reconciled yet: still fenced */
	char why[HOST_WHY_MAX];
	bool changed, stop;
	pthread_t thread;
	bool thread_started;
};

/* Marks the role fenced with why, if lease is still its lease (a newer
 * registration is not undone by news about an older one). */
void host_role_lose(struct cluster_host_role *role, int64_t lease, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A txn that holds only while hosts/<me> carries the role's lease (and
 * extra, when not NULL): op (may be NULL: the compare alone). ret_rev (may be
 * NULL) gets the store's revision after it. -ESTALE when a compare failed,
 * naming which; what names the operation in err ("put sandbox X"). */
int host_role_fenced_txn(struct cluster_host_role *role, const struct etcd_request_op *op,
			 const struct etcd_compare *extra, int64_t *ret_rev, const char *what, struct cove_err *err);

#endif
