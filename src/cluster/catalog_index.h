/* The catalog cache's memory (catalog.c's, not a public interface): host
 * records by id, sandbox records by id and in list order (seq descending,
 * then id), as sorted arrays of pointers. Each record remembers the etcd
 * mod_revision it was written at, so an older copy never replaces a newer
 * one (a record read on a miss may be newer than the watch's next events).
 * No locking, no I/O: the catalog holds its lock around these. */
#ifndef COVE_CLUSTER_CATALOG_INDEX_H
#define COVE_CLUSTER_CATALOG_INDEX_H

#include <jansson.h>

#include "cluster/records.h"

struct catalog_host_entry {
	struct cluster_host h;
	int64_t mod_revision;
};

struct catalog_sandbox_entry {
	struct cluster_sandbox sb;
	json_t *metadata; /* sb.metadata parsed, for filters; NULL: none */
	int64_t mod_revision;
};

struct catalog_index {
	struct catalog_host_entry **hosts; /* by id */
	size_t nhosts, hosts_cap;
	struct catalog_sandbox_entry **by_id, **by_order;
	size_t n, cap;
	int64_t revision; /* the etcd revision it reflects */
};

void catalog_index_clear(struct catalog_index *ix);

/* Take the record (left cleared) written at mod_revision, unless a newer
 * one is held: 0, or -ENOMEM (the record then stays the caller's). */
int catalog_index_put_host(struct catalog_index *ix, struct cluster_host *h, int64_t mod_revision);
int catalog_index_put_sandbox(struct catalog_index *ix, struct cluster_sandbox *sb, int64_t mod_revision);
/* Drop the record unless it was written after revision. */
void catalog_index_delete_host(struct catalog_index *ix, const char *id, int64_t revision);
void catalog_index_delete_sandbox(struct catalog_index *ix, const char *id, int64_t revision);

const struct catalog_host_entry *catalog_index_host(const struct catalog_index *ix, const char *id);
const struct catalog_sandbox_entry *catalog_index_sandbox(const struct catalog_index *ix, const char *id);
/* The position in by_order of the first record after (seq, id). */
size_t catalog_index_after(const struct catalog_index *ix, int64_t seq, const char *id);

/* Deep copies into out (-ENOMEM). */
int catalog_host_copy(const struct cluster_host *h, struct cluster_host *out);
int catalog_sandbox_copy(const struct cluster_sandbox *sb, struct cluster_sandbox *out);

#endif
