/* The volume server: one NFS-Ganesha per coved, serving each volume that
 * sandboxes mount (volume/volume.h) over NFSv3, to those sandboxes alone.
 *
 * Why NFS: a volume must stay mounted while its sandbox is paused, resumed
 * and forked, and QEMU refuses to migrate a guest with a virtiofs device,
 * or with a 9p share mounted; an NFS mount is plain guest memory plus TCP,
 * so it is saved and restored with the rest (README, "Volumes").
 *
 * Where it runs: in the network namespace net_volume_server_open makes,
 * reached only from slots whose policy has volumes, on NFS's and MOUNT's
 * ports; and in a mount namespace of its own whose /run is private (its
 * portmapper, rpcbind, which Ganesha needs to start, lives there and never
 * meets the host's). Volumes mounted on the host after it started appear
 * in it: their directory is a shared mount (volumes_open makes it one).
 *
 * Exports: one per volume in use, its clients the addresses of the slots of
 * the sandboxes that mount it (counted: a slot let in twice is let out
 * twice), nobody else; guests mount it as NET_TAP_ADDR:/ID. Each change
 * rewrites the whole configuration (RUN_DIR/volume-server/ganesha.conf) and
 * has Ganesha read it again (SIGHUP). Ganesha starts at the first export and
 * is started again, with every export, when it dies; the previous coved's is
 * ended first (NFSv3 keeps no state a client has to reclaim: a guest's next
 * request simply reaches the new one). */
#ifndef COVE_NFS_NFS_H
#define COVE_NFS_NFS_H

#include <stddef.h>

#include "common/err.h"

struct nfs_config {
	const char *run_dir;  /* the server's files go in RUN_DIR/volume-server */
	int netns_fd;         /* the namespace it runs in (borrowed: kept open by the caller) */
	const char *address;  /* its address there, for the readiness check */
	const char *ganesha;  /* ganesha.nfsd; NULL: found on PATH */
	const char *rpcbind;  /* rpcbind; NULL: found on PATH (and in /usr/sbin, /sbin) */
};

struct nfs_server;

/* Prepares the server (nothing runs yet) and ends one a previous process
 * left running. */
int nfs_server_open(const struct nfs_config *c, struct nfs_server **ret, struct cove_err *err);
/* Ends Ganesha and its portmapper, and removes RUN_DIR/volume-server.
 * NULL-safe. */
void nfs_server_close(struct nfs_server *s);
/* Ends the server a previous process left running (its recorded pids), if
 * any, and removes RUN_DIR/volume-server. */
void nfs_end_previous(const char *run_dir);

/* Lets address (a.b.c.d) mount volume id, whose file system is at path on
 * the host: the export is made if needed, Ganesha started if it is not
 * running, and the change in force when this returns (the guest may still
 * wait for Ganesha to finish reading it: its mount retries). */
int nfs_allow(struct nfs_server *s, const char *id, const char *path, const char *address, struct cove_err *err);
/* Undoes one nfs_allow; the export goes with its last client. */
void nfs_revoke(struct nfs_server *s, const char *id, const char *address);
/* How many clients the export of volume id has (0: none, or no export). */
unsigned nfs_clients(struct nfs_server *s, const char *id);

/* --- the configuration text (exports.c), pure --- */

struct nfs_export {
	char id[32];
	char path[4096];
	unsigned export_id;   /* Ganesha's Export_Id, 1..65535 */
	char (*clients)[16];  /* distinct addresses */
	unsigned *counts;     /* how many nfs_allow each holds */
	size_t nclients, cap;
};

/* Ganesha's whole configuration for the exports (their files under dir,
 * RUN_DIR/volume-server as the server sees it): malloc'd, NULL when out of
 * memory. Exports without clients are left out. */
char *nfs_config_text(const struct nfs_export *exports, size_t n, const char *dir);
/* Whether s may stand in the configuration as a path: absolute, of
 * letters, digits and / . _ - only (no quotes, no spaces), no "..". */
int nfs_path_check(const char *s, struct cove_err *err);

#endif
