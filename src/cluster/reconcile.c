/* The reconcile plan (host.h): pure, so every case is unit-tested without
 * etcd. Records and local ids are sorted by id (as indexes and pointers,
 * nothing copied) and matched by binary search. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/host.h"

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int compare_records(const void *a, const void *b)
{
	const struct cluster_reconcile_record *x = *(const struct cluster_reconcile_record *const *)a;
	const struct cluster_reconcile_record *y = *(const struct cluster_reconcile_record *const *)b;
	return strcmp(x->sb.id, y->sb.id);
}

static int compare_id_record(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct cluster_reconcile_record *const *)elem)->sb.id);
}

static bool ours(const struct cluster_reconcile_record *r, const char *host_id)
{
	return r && !r->bad && strcmp(r->sb.host, host_id) == 0;
}

static void add(struct cluster_reconcile_action *a, size_t *n, enum cluster_reconcile_kind kind, const char *id,
		const struct cluster_reconcile_record *r, bool delete_record)
{
	struct cluster_reconcile_action *x = &a[(*n)++];
	*x = (struct cluster_reconcile_action){ .kind = kind, .record = r, .delete_record = delete_record };
	snprintf(x->id, sizeof(x->id), "%s", id);
}

/* The local sandboxes to kill: no record, another host's, or ours killing. */
static void plan_kills(const char *host_id, const struct cluster_reconcile_record **by_id, size_t nrecords,
		       const char **local, size_t nlocal, struct cluster_reconcile_action *a, size_t *n)
{
	for (size_t i = 0; i < nlocal; i++) {
		if (i > 0 && strcmp(local[i], local[i - 1]) == 0)
			continue;
		const struct cluster_reconcile_record **found = bsearch(local[i], by_id, nrecords, sizeof(*by_id),
									compare_id_record);
		const struct cluster_reconcile_record *r = found ? *found : NULL;
		if (r && r->bad)
			continue; /* unknown: never kill on a record we cannot read */
		if (!r || !ours(r, host_id))
			add(a, n, CLUSTER_RECONCILE_KILL, local[i], r, false);
		else if (r->sb.state == CLUSTER_SANDBOX_KILLING)
			add(a, n, CLUSTER_RECONCILE_KILL, local[i], r, true);
	}
}

/* Our records: none local, delete; matching, of an older epoch, rewrite. */
static void plan_records(const char *host_id, int64_t epoch, const struct cluster_reconcile_record **by_id,
			 size_t nrecords, const char **local, size_t nlocal, struct cluster_reconcile_action *a,
			 size_t *n)
{
	for (size_t i = 0; i < nrecords; i++) {
		const struct cluster_reconcile_record *r = by_id[i];
		if (!ours(r, host_id))
			continue;
		const char *id = r->sb.id;
		bool here = bsearch(&id, local, nlocal, sizeof(*local), compare_strings) != NULL;
		if (!here)
			add(a, n, CLUSTER_RECONCILE_DELETE, id, r, false);
		else if (r->sb.state != CLUSTER_SANDBOX_KILLING && r->sb.epoch != epoch)
			add(a, n, CLUSTER_RECONCILE_REWRITE, id, r, false);
	}
}

int cluster_reconcile_plan(const char *host_id, int64_t epoch, const struct cluster_reconcile_record *records,
			   size_t nrecords, const char *const *local, size_t nlocal,
			   struct cluster_reconcile_action **ret, size_t *n, struct cove_err *err)
{
	const struct cluster_reconcile_record **by_id = calloc(nrecords ? nrecords : 1, sizeof(*by_id));
	const char **ids = calloc(nlocal ? nlocal : 1, sizeof(*ids));
	/* each local id and each record yields at most one action */
	struct cluster_reconcile_action *a = calloc(nlocal + nrecords ? nlocal + nrecords : 1, sizeof(*a));
	if (!by_id || !ids || !a) {
		free(by_id);
		free(ids);
		free(a);
		return cove_errf(err, -ENOMEM, "reconcile host %s: out of memory for %zu records", host_id, nrecords);
	}
	for (size_t i = 0; i < nrecords; i++)
		by_id[i] = &records[i];
	if (nlocal)
		memcpy(ids, local, nlocal * sizeof(*ids));
	qsort(by_id, nrecords, sizeof(*by_id), compare_records);
	qsort(ids, nlocal, sizeof(*ids), compare_strings);
	*n = 0;
	plan_kills(host_id, by_id, nrecords, ids, nlocal, a, n);
	plan_records(host_id, epoch, by_id, nrecords, ids, nlocal, a, n);
	free(by_id);
	free(ids);
	*ret = a;
	return 0;
}
