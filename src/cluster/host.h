/* The host role of a cluster coved (issue 18; the design study's §4.3 and
 * §4.7): how one host takes part in the etcd catalog.
 *   - Register: a lease, then /cove/v1/hosts/<me> created under it only if
 *     absent (a live key of that id means another coved claims the id). The
 *     key's create_revision is the host's epoch.
 *   - Keep alive and publish: a thread renews the lease every TTL/3 and
 *     rewrites the host record every 5 s, or at most once a second when told
 *     the figures changed.
 *   - Self-fence: with no successful keepalive for TTL - 1 s (monotonic
 *     clock, from the last success), or when etcd says the lease is gone,
 *     the role is fenced; callers refuse creates, resumes and forks (503
 *     naming why) and keep serving what runs. It keeps registering again (a
 *     new lease, a new epoch); once it has, it reconciles and clears
 *     /cove/v1/dead/<me>.
 *   - Fenced writes: every catalog write of a sandbox record is a txn that
 *     holds only while hosts/<me> still carries this role's lease, so a host
 *     whose lease expired cannot write whatever it believes.
 *   - Reconcile: the catalog against the host's own sandboxes (a pure plan,
 *     then the catalog side applied fenced; the local kills are the caller's).
 * Thread-safe. The etcd client is borrowed and must outlive the role. */
#ifndef COVE_CLUSTER_HOST_H
#define COVE_CLUSTER_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "cluster/records.h"
#include "common/err.h"

#define CLUSTER_HOST_DEFAULT_TTL_S 10
#define CLUSTER_HOST_PUBLISH_MS 5000     /* the record is rewritten this often */
#define CLUSTER_HOST_CHANGED_MIN_MS 1000 /* and at most this often when changed */

struct cluster_host_role;

/* Fills the live figures of the host record (everything but id, addr and
 * ts, which the role sets; state too: ready or draining). rec comes zeroed;
 * templates are malloc'd and the role clears them. */
typedef int (*cluster_host_figures_fn)(struct cluster_host *rec, void *data, struct cove_err *err);
/* After every registration (the first, and each after a fence): the caller
 * brings the catalog in line with its sandboxes, usually through
 * cluster_host_reconcile() and then killing what it says. Until this returns
 * 0 the role stays fenced and calls it again on its next round. */
typedef int (*cluster_host_reconcile_fn)(struct cluster_host_role *role, void *data, struct cove_err *err);

struct cluster_host_config {
	struct etcd_client *etcd; /* borrowed */
	const char *host_id;      /* cluster_host_id_check() */
	const char *advertise;    /* HOST:PORT gateways dial */
	int64_t lease_ttl_s;      /* 0: CLUSTER_HOST_DEFAULT_TTL_S; at least 2 */
	cluster_host_figures_fn figures;
	void *figures_data;
	cluster_host_reconcile_fn reconcile; /* may be NULL */
	void *reconcile_data;
};

/* Registers and starts the keepalive thread. -EEXIST, "another coved claims
 * host id X", when a live key of that id exists; etcd's errors as they come
 * (the caller retries: until registered it answers 503). Runs the reconcile
 * callback before returning; if that fails the role starts fenced and the
 * thread tries again. Both callbacks are called from the role's thread too
 * (never two at once): they must be thread-safe towards the caller's other
 * threads, and quick (the keepalive waits for them). */
int cluster_host_start(const struct cluster_host_config *c, struct cluster_host_role **ret, struct cove_err *err);
/* Stops the thread and revokes the lease, so the host key goes at once.
 * NULL-safe; returns NULL. */
struct cluster_host_role *cluster_host_stop(struct cluster_host_role *role);

/* True when fenced; why (may be NULL) gets the cause, e.g. "host h1 is cut
 * off from the cluster: no keepalive for 9 s (etcd ...: timed out)". */
bool cluster_host_fenced(struct cluster_host_role *role, char *why, size_t len);
/* Whether the host takes creates, forks and resumes: not fenced, and its
 * last keepalive reached etcd (when none did, a catalog write would wait
 * out its time-outs on every member before failing: refused at once, why
 * says so). */
bool cluster_host_admits(struct cluster_host_role *role, char *why, size_t len);
/* The epoch of the current registration (0 while none holds). */
int64_t cluster_host_epoch(struct cluster_host_role *role);
/* Its lease (0 while none holds): a restarted coved revokes the one it
 * had, so that its own stale key does not refuse it its id. */
int64_t cluster_host_lease(struct cluster_host_role *role);
const char *cluster_host_role_id(const struct cluster_host_role *role);
/* The figures changed: republish soon (at most once a second). */
void cluster_host_changed(struct cluster_host_role *role);

/* Writes sb's record, as this host's (its host and epoch are set to the
 * role's), only while hosts/<me> holds this role's lease and, with
 * expect_mod > 0, the record's mod_revision is expect_mod (0: the record must
 * not exist; < 0: whatever it holds). ret_mod (may be NULL) gets the new mod_revision. -ESTALE when a
 * compare failed: "host is fenced: its lease is gone" or "record changed". */
int cluster_host_put_sandbox(struct cluster_host_role *role, const struct cluster_sandbox *sb, int64_t expect_mod,
			     int64_t *ret_mod, struct cove_err *err);
/* Deletes sandbox id's record under the same lease compare (a record that is
 * not there is no error); -ESTALE when fenced. */
int cluster_host_delete_sandbox(struct cluster_host_role *role, const char *id, struct cove_err *err);

/* Reconcile (§4.3 step 4). The plan is pure: given every catalog record (as
 * read, with its mod_revision) and the ids of the host's own sandboxes
 * (SQLite: running or paused), it says
 *   - kill locally: a local sandbox whose record is missing, another host's,
 *     or (ours) killing; for the last, delete the record after the kill;
 *   - delete the record: ours, with no local sandbox (it died with the host);
 *   - rewrite the record with the new epoch: ours, matching, of an older epoch.
 * A local sandbox whose record could not be decoded is left alone. */
enum cluster_reconcile_kind {
	CLUSTER_RECONCILE_KILL,
	CLUSTER_RECONCILE_DELETE,
	CLUSTER_RECONCILE_REWRITE,
};

struct cluster_reconcile_record {
	struct cluster_sandbox sb; /* its id always; the rest when !bad */
	int64_t mod_revision;
	bool bad; /* did not decode */
};

struct cluster_reconcile_action {
	enum cluster_reconcile_kind kind;
	char id[CLUSTER_SANDBOX_ID_MAX + 1];
	const struct cluster_reconcile_record *record; /* the record acted on; KILL: NULL when missing */
	bool delete_record;                            /* KILL: the record is ours; delete it after the kill */
};

/* *ret (malloc'd, the caller frees it) and *n: the actions, kills first,
 * each group in id order. */
int cluster_reconcile_plan(const char *host_id, int64_t epoch, const struct cluster_reconcile_record *records,
			   size_t nrecords, const char *const *local, size_t nlocal,
			   struct cluster_reconcile_action **ret, size_t *n, struct cove_err *err);

/* What cluster_host_reconcile leaves to the caller: the local sandboxes to
 * kill, and for each whether to delete its record after the kill. */
struct cluster_reconcile_kill {
	char id[CLUSTER_SANDBOX_ID_MAX + 1];
	bool delete_record;
};

/* Reads /cove/v1/sb/, plans against local, applies the deletes and
 * rewrites fenced (a rewrite is CAS on the record's mod_revision; one that
 * lost a race is left for the next reconcile) and returns the kills in
 * *kills (malloc'd) and *nkills. */
int cluster_host_reconcile(struct cluster_host_role *role, const char *const *local, size_t nlocal,
			   struct cluster_reconcile_kill **kills, size_t *nkills, struct cove_err *err);

#endif
