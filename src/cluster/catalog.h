/* The gateway's catalog cache (issue 18; multihost.md §4.4, §4.7): the host
 * and sandbox records of /cove/v1/hosts/ and /cove/v1/sb/ kept decoded in
 * memory and fed by one etcd watch, so that listing and routing by id cost
 * no etcd round trip. It lists both prefixes at one revision, then watches
 * /cove/v1/ from that revision + 1 (one watch, so the events arrive in one
 * revision order and catalog_wait_revision() has a single answer); when
 * etcd cancels the watch (compacted past it) it lists and watches again.
 * A record that does not decode (records.h) is logged once and skipped: a
 * garbled or hostile record never takes the cache down.
 *
 * A host is live while its key exists (its lease holds). Listing leaves out
 * the running records of hosts that are gone and keeps their paused ones
 * (their saved state waits on the host's disk). Routing by id reads etcd
 * once, linearizably, on a miss (the create may have gone through another
 * gateway a few ms ago) and caches what it found.
 *
 * Thread-safe: queries take a read lock; the watch thread writes. Callbacks
 * run under the read lock and must not call into the catalog. */
#ifndef COVE_CLUSTER_CATALOG_H
#define COVE_CLUSTER_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "cluster/records.h"
#include "common/err.h"

struct catalog;

/* Lists, then watches; returns once the cache holds the list. The client
 * must outlive the catalog. */
int catalog_start(struct etcd_client *etcd, struct catalog **ret, struct cove_err *err);
/* Ends the watch and frees everything; NULL-safe, returns NULL. */
struct catalog *catalog_stop(struct catalog *cat);

/* Called on the watch thread after each batch of changes (and each list) is
 * applied, outside the lock (it may query the catalog), with the revision
 * the cache has reached: the gateway's placement learns of new host
 * records from it. It must not call catalog_stop(). NULL to unset. */
typedef void (*catalog_change_fn)(int64_t revision, void *data);
void catalog_on_change(struct catalog *cat, catalog_change_fn fn, void *data);

/* Lists the whole catalog again and watches from there, in the background,
 * as after a cancelled watch: for a coved that was cut off from the
 * cluster (its host fenced), whose cache may lack what changed meanwhile. */
void catalog_resync(struct catalog *cat);

/* Waits until the cache has applied revision rev (a write under /cove/v1/
 * that answered rev shows in it then): 0, or -ETIMEDOUT after timeout_ms. */
int catalog_wait_revision(struct catalog *cat, int64_t rev, long timeout_ms);

/* The live host id into out (clear it): -ENOENT when its key is gone. */
int catalog_host(struct catalog *cat, const char *id, struct cluster_host *out, struct cove_err *err);
/* fn for each live host in id order (a draining one has state
 * CLUSTER_HOST_DRAINING); stops at fn's first non-zero, which it returns. */
typedef int (*catalog_host_fn)(const struct cluster_host *h, void *data);
int catalog_hosts(struct catalog *cat, catalog_host_fn fn, void *data);

/* The record of sandbox id into out (clear it), any state; host_live (may
 * be NULL): its host's key exists. A miss reads etcd once; -ENOENT when
 * there is no record, -EINVAL for an invalid id or a record that does not
 * decode, or the etcd error. */
int catalog_sandbox(struct catalog *cat, const char *id, struct cluster_sandbox *out, bool *host_live,
		    struct cove_err *err);

/* fn for every sandbox record, any state, in id order, with whether its
 * host's key exists (the janitor's view: catalog_list leaves some out);
 * stops at fn's first non-zero, which it returns. */
typedef int (*catalog_record_fn)(const struct cluster_sandbox *sb, bool host_live, void *data);
int catalog_sandboxes(struct catalog *cat, catalog_record_fn fn, void *data);

/* A list's opaque page token: the (seq, id) of the last record of the page
 * before, base64url. At most CATALOG_TOKEN_MAX - 1 characters (39 for
 * coved's 20-character ids). */
#define CATALOG_TOKEN_MAX 128
void catalog_token_encode(int64_t seq, const char *id, char buf[CATALOG_TOKEN_MAX]);
/* -EINVAL unless text is a token catalog_token_encode() wrote. */
int catalog_token_parse(const char *text, int64_t *seq, char id[CLUSTER_SANDBOX_ID_MAX + 1], struct cove_err *err);

struct catalog_pair {
	const char *key, *value;
};

/* What a list shows. Only running and paused records are listed (a creating
 * one is not the user's yet; a killing one is going). */
struct catalog_filter {
	bool running, paused;                /* the states listed; neither: both */
	const struct catalog_pair *metadata; /* entries a listed record's metadata has */
	size_t nmetadata;
};

/* Calls fn for at most limit (1 or more) records that pass filter, newest
 * first (seq descending, then id), after the page that token (NULL or "":
 * from the newest) ended. next gets the token of the next page, "" when
 * this one was the last. Returns how many fn saw, or -EINVAL for a bad
 * token; fn's non-zero stops it early (next is then "").
 */
typedef int (*catalog_sandbox_fn)(const struct cluster_sandbox *sb, void *data);
int catalog_list(struct catalog *cat, const struct catalog_filter *filter, size_t limit, const char *token,
		 char next[CATALOG_TOKEN_MAX], catalog_sandbox_fn fn, void *data, struct cove_err *err);

/* What the cache holds and has done, for metrics and tests. */
struct catalog_stats {
	int64_t revision; /* applied */
	size_t hosts, sandboxes;
	size_t skipped;      /* records that do not decode, now */
	uint64_t lists;      /* full lists (1 at the start, +1 per re-list) */
	uint64_t audit_relists; /* re-lists because the audit found the cache apart from etcd */
	uint64_t miss_reads; /* ranges of one key on a miss */
};
void catalog_stats(struct catalog *cat, struct catalog_stats *out);

#endif
