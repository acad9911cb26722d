/* coved's cluster settings and roles (issue 18; docs/cluster.md): with
 * --cluster-etcd, a coved takes part in a cluster whose catalog is in etcd,
 * as a host (its sandboxes' records, a lease, fencing, reconcile: see
 * cluster/host.h), a gateway (placement and routing over the catalog: see
 * gateway/gateway.h), or both. Without it, coved is the single host it
 * always was and nothing here runs. Kept apart from main.c's other
 * settings, as tls.h's are. */
#ifndef COVE_COVED_CLUSTER_H
#define COVE_COVED_CLUSTER_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/records.h"
#include "common/err.h"

struct manager_config;
struct manager;
struct api_server_config;

#define COVED_CLUSTER_DEFAULT_DEAD_AFTER_S 300

#define COVED_CLUSTER_OPTIONS                                                                                  \
	{ "cluster-etcd", required_argument, NULL, 0 }, { "host-id", required_argument, NULL, 0 },            \
		{ "advertise", required_argument, NULL, 0 }, { "role", required_argument, NULL, 0 },          \
		{ "host-lease-ttl", required_argument, NULL, 0 }, { "dead-after", required_argument, NULL, 0 }

#define COVED_CLUSTER_USAGE                                                                             \
	"  --cluster-etcd URL,...  take part in the cluster whose catalog is in these etcd\n"          \
	"                       members (http://HOST:2379,...); without it, one host alone\n"            \
	"  --host-id ID         this host's name in the cluster (default: the host name)\n"            \
	"  --advertise HOST:PORT  where the cluster's gateways reach this coved (default\n"         \
	"                       --listen's; it must not be 0.0.0.0 or loopback across machines)\n"    \
	"  --role R             host, gateway, or host,gateway (the default): a host runs\n"           \
	"                       sandboxes; a gateway places creates and routes the E2B API\n"          \
	"  --host-lease-ttl S   seconds a host stays listed after its last keepalive (default 10)\n"   \
	"  --dead-after S       seconds after which a gateway drops a vanished host's running\n"      \
	"                       sandboxes from the catalog (default 300)\n"

enum {
	COVED_ROLE_HOST = 1,
	COVED_ROLE_GATEWAY = 2,
};

struct coved_cluster {
	char etcd[1024];  /* "": no cluster */
	char host_id[CLUSTER_HOST_ID_MAX + 1];
	char advertise[CLUSTER_ADDR_MAX + 1];
	unsigned roles;   /* COVED_ROLE_* */
	unsigned lease_ttl_s, dead_after_s;
	/* While serving (cluster.c's) */
	struct coved_cluster_run *run;
};

void coved_cluster_defaults(struct coved_cluster *c);
/* Is name one of these settings? Then coved_cluster_set takes it (a flag or
 * the config file's line); it says what is wrong on stderr. */
bool coved_cluster_known(const char *name);
int coved_cluster_set(struct coved_cluster *c, const char *name, const char *value);
/* After all settings: fills the defaults that depend on others (host id:
 * the host name; advertise: listen) and checks they go together. */
int coved_cluster_check(struct coved_cluster *c, const char *listen);
static inline bool coved_cluster_on(const struct coved_cluster *c)
{
	return c->etcd[0] != '\0';
}

/* Before manager_open: the manager's catalog hooks (its records are
 * written to etcd first, and creates, resumes and forks are refused while
 * the host is fenced or not registered yet). Makes the etcd client. */
int coved_cluster_prepare(struct coved_cluster *c, const char *state_dir, struct manager_config *mc,
			  struct cove_err *err);
/* After manager_open, before the server starts: the gateway, whose hooks
 * go into ac. */
int coved_cluster_start(struct coved_cluster *c, struct manager *m, struct api_server_config *ac,
			struct cove_err *err);
/* Once the server listens on address:port (the advertised address when
 * none was given): registers the host (reconciling; retried in the
 * background while etcd does not answer; -EEXIST when another coved holds
 * the host id). */
int coved_cluster_register(struct coved_cluster *c, const char *address, unsigned port, struct cove_err *err);
/* Draining (on): the host's record says so, and gateways place nothing
 * more on it; its sandboxes run out. -ENOENT when this coved is no host. */
int coved_cluster_drain(struct coved_cluster *c, bool on, struct cove_err *err);
/* After the server stops, before manager_close: the gateway stops, and the
 * host role no longer reads the manager (its catalog hooks still write:
 * the sandboxes manager_close ends leave the catalog). */
void coved_cluster_detach(struct coved_cluster *c);
/* After manager_close: the host role (its lease revoked: its record goes
 * at once), then the client. Safe on what never started. */
void coved_cluster_stop(struct coved_cluster *c);

#endif
