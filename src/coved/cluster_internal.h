/* What coved's cluster files share (cluster.c: lifecycle and the manager's
 * catalog hooks; cluster_figures.c: the host record's figures). */
#ifndef COVE_COVED_CLUSTER_INTERNAL_H
#define COVE_COVED_CLUSTER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/cluster.h"
#include "api/server.h"
#include "cluster/etcd.h"
#include "cluster/host.h"
#include "coved/cluster.h"
#include "vmm/vmm.h"

/* Records whose write failed (etcd down, the host fenced): written again,
 * as the manager then holds them, once the host is registered. */
#define CLUSTER_PENDING_MAX 4096

struct coved_cluster_run {
	struct coved_cluster *c;
	struct etcd_client *etcd;
	char lease_file[4096];       /* STATE_DIR/cluster-lease: the last lease this host held */
	enum vmm_accel accel;
	char snap_key[CLUSTER_SNAP_KEY_MAX + 1];

	/* lock guards m, role, draining, stop, last_error and the pending
	 * set; it is never held across a call into the manager, the role or
	 * etcd. write_lock orders the catalog writes of sandbox records (the
	 * manager's hooks, and the pending flush): held across the etcd txn,
	 * taken with the manager's lock held (the hooks run under it), so the
	 * flush reads the manager before taking it. */
	pthread_mutex_t lock, write_lock;
	pthread_cond_t wake;
	struct manager *m;           /* NULL once detached */
	unsigned m_users;            /* calls holding m (run_manager) */
	struct cluster_host_role *role; /* NULL until registered */
	bool draining, stop;
	char last_error[256];        /* why the host is not registered yet */
	char (*pending)[CLUSTER_SANDBOX_ID_MAX + 1];
	size_t npending;
	pthread_t registrar;         /* retries the first registration */
	bool registrar_running;
	/* The gateway role's (NULL for a host only), its janitor, and the
	 * cluster routes' state. */
	struct gateway *gateway;
	struct janitor *janitor;
	const struct api_gateway_ops *gateway_ops;
	void *gateway_ctx;
	struct api_cluster api;
	char api_key[256]; /* the cluster's, sent to hosts */

	unsigned registrations; /* reconciled (the role's thread, or start) */
	/* the figures' (one caller at a time: the role's thread or start) */
	uint64_t cpu_busy, cpu_total;
};

/* cluster.c. The manager for the role's callbacks, NULL once detached;
 * detach waits for each taken one to be given back. */
struct manager *run_manager(struct coved_cluster_run *run);
void run_manager_done(struct coved_cluster_run *run);
/* The manager's catalog hooks. */
struct manager_catalog;
void cluster_catalog_hooks(struct coved_cluster_run *run, struct manager_catalog *hooks);
/* The hooks' pending set: writes again (at most max of) the records whose
 * writes failed, as the manager now holds them. */
void cluster_flush_pending(struct coved_cluster_run *run, size_t max);
/* Catalogs, create-if-absent, each of the manager's sandboxes (but
 * creating ones): those with a record keep it. */
void cluster_adopt(struct coved_cluster_run *run, struct manager *m);

/* cluster_api.c: ac's gateway hook becomes the cluster's routes, then the
 * gateway's routing (when run has a gateway). */
void cluster_api_config(struct coved_cluster_run *run, struct api_server_config *ac);

/* cluster_metrics.c: GET /metrics on a cluster coved. */
enum MHD_Result cluster_metrics_reply(struct coved_cluster_run *run, struct http_request *r);

/* cluster_figures.c */
int cluster_figures(struct cluster_host *rec, void *data, struct cove_err *err);
/* The snapshot compatibility key of this host: accelerator, VMM and version,
 * CPU model and flags (a snapshot restores only where all match). */
void cluster_snap_key(enum vmm_accel accel, const char *vmm_driver, char key[CLUSTER_SNAP_KEY_MAX + 1]);

#endif
