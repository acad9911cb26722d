/* The etcd client: how coved hosts and gateways of one cluster share their
 * catalog (issue 18's design study, multihost.md section 4). It speaks
 * etcd's v3 JSON gateway (etcd 3.4 and later) over libcurl: key ranges,
 * puts and deletes; transactions whose compares fence a write
 * (create-if-absent, "only while my lease holds"); leases that keep a host's record alive only as long as
 * the host renews them; and watches that feed a cache. It is given several
 * endpoints (the etcd members) and moves to the next on a connection error,
 * a timeout (2 s per request by default) or a 5xx answer, so one dead or
 * partitioned member costs a request one timeout, not the cluster. The
 * requests and answers are plain structs (proto/etcd.h).
 *
 * Thread-safe: each call makes its own curl handle, and the only shared
 * state is which endpoint answered last. Errors: a negative errno, and err
 * names the operation and the endpoint ("etcd http://10.0.0.1:2379
 * /v3/kv/txn: ..."). A request that timed out may still have been applied;
 * the retry on the next endpoint is safe for fenced writes (their compares
 * fail the second time) and idempotent ones, and a lease granted twice
 * expires unused. */
#ifndef COVE_CLUSTER_ETCD_H
#define COVE_CLUSTER_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/etcd.h"

#define ETCD_MAX_ENDPOINTS 16
#define ETCD_DEFAULT_TIMEOUT_MS 2000

struct etcd_client;

/* endpoints: "http://a:2379,http://b:2379" (http or https, comma
 * separated, at most ETCD_MAX_ENDPOINTS); timeout_ms: per request and
 * endpoint, 0 for ETCD_DEFAULT_TIMEOUT_MS. */
int etcd_client_new(const char *endpoints, long timeout_ms, struct etcd_client **ret, struct cove_err *err);
struct etcd_client *etcd_client_free(struct etcd_client *c);
/* The endpoint the next request goes to first. */
const char *etcd_client_endpoint(struct etcd_client *c);

/* One range, put or delete, as op describes it; ret (may be NULL when
 * only success matters) gets the answer, to clear with etcd_result_clear(). */
int etcd_do(struct etcd_client *c, const struct etcd_request_op *op, struct etcd_result *ret, struct cove_err *err);
/* The key, or every key starting with it. */
int etcd_range(struct etcd_client *c, const void *key, size_t key_len, bool prefix, struct etcd_result *ret,
	       struct cove_err *err);
/* lease: 0 for none. revision (may be NULL): the store's revision after the put. */
int etcd_put(struct etcd_client *c, const void *key, size_t key_len, const void *value, size_t value_len, int64_t lease,
	     int64_t *revision, struct cove_err *err);
/* deleted (may be NULL): how many keys went. */
int etcd_delete(struct etcd_client *c, const void *key, size_t key_len, bool prefix, int64_t *deleted,
		struct cove_err *err);
/* Compares, then the success or the failure ops; ret->succeeded says which
 * ran (a failed compare is not an error). etcd allows 128 ops a txn. */
int etcd_txn(struct etcd_client *c, const struct etcd_txn_request *txn, struct etcd_txn_result *ret,
	     struct cove_err *err);
/* Drops the history before revision (etcd's own auto-compaction usually
 * does); watches from before it are then cancelled with compact_revision. */
int etcd_compact(struct etcd_client *c, int64_t revision, struct cove_err *err);

/* A lease of ttl seconds; *id its ID, granted_ttl (may be NULL) the TTL etcd gave. */
int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl, struct cove_err *err);
/* Renews the lease; *ttl (may be NULL) its new TTL. -ENOENT, "lease ...
 * lost", when etcd no longer has it (expired or revoked: the answer has
 * no TTL). */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl, struct cove_err *err);
/* Revokes the lease, deleting the keys put under it; -ENOENT when it is gone already. */
int etcd_lease_revoke(struct etcd_client *c, int64_t id, struct cove_err *err);
/* The seconds the lease has left in *ttl; -ENOENT when it is gone. */
int etcd_lease_ttl(struct etcd_client *c, int64_t id, int64_t *ttl, struct cove_err *err);

/* A watch: a stream on a thread of its own that calls fn with each message
 * etcd sends (creation, events, the end). If the stream breaks it resumes
 * on the next endpoint after the last revision it delivered, so no event is
 * lost or repeated. It ends when fn returns non-zero or after a message with
 * canceled set (compact_revision > 0: the revision to watch from is gone;
 * list again, then watch from the list's revision + 1). fn must not call
 * etcd_watch_stop() on its own watch. */
typedef int (*etcd_watch_fn)(const struct etcd_watch_msg *msg, void *data);
struct etcd_watch;
/* Returns once an endpoint has confirmed the watch (after fn saw the
 * "created" message), or an error when none did. The client must outlive
 * the watch. */
int etcd_watch_start(struct etcd_client *c, const struct etcd_watch_request *req, etcd_watch_fn fn, void *data,
		     struct etcd_watch **ret, struct cove_err *err);
/* Ends the stream, joins its thread, frees it; NULL-safe, returns NULL. */
struct etcd_watch *etcd_watch_stop(struct etcd_watch *w);

#endif
