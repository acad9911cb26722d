/* The catalog cache's sorted arrays (see catalog_index.h). Inserting into
 * the middle moves pointers (100k records: 800 KB, tens of µs), which the
 * catalog's write rate (creates and state changes) affords, and it keeps
 * lookups a binary search and a list page a walk from one. */
#include "cluster/catalog_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef int (*cmp_fn)(const void *item, const void *key);

/* The first position whose item is not before key. */
static size_t lower_bound(void *const *items, size_t n, const void *key, cmp_fn cmp)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp(items[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int grow(void ***items, size_t *cap, size_t want)
{
	if (want <= *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	void **p = realloc(*items, c * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = c;
	return 0;
}

static void insert_at(void **items, size_t *n, size_t pos, void *item)
{
	memmove(items + pos + 1, items + pos, (*n - pos) * sizeof(*items));
	items[pos] = item;
	(*n)++;
}

static void remove_at(void **items, size_t *n, size_t pos)
{
	memmove(items + pos, items + pos + 1, (*n - pos - 1) * sizeof(*items));
	(*n)--;
}

static int host_cmp(const void *item, const void *key)
{
	return strcmp(((const struct catalog_host_entry *)item)->h.id, key);
}

static int sandbox_id_cmp(const void *item, const void *key)
{
	return strcmp(((const struct catalog_sandbox_entry *)item)->sb.id, key);
}

struct order_key {
	int64_t seq;
	const char *id;
};

/* List order: seq descending, then id ascending. */
static int order_cmp(const void *item, const void *key)
{
	const struct cluster_sandbox *sb = &((const struct catalog_sandbox_entry *)item)->sb;
	const struct order_key *k = key;
	if (sb->seq != k->seq)
		return sb->seq > k->seq ? -1 : 1;
	return strcmp(sb->id, k->id);
}

static size_t find(void *const *items, size_t n, const void *key, cmp_fn cmp, bool *found)
{
	size_t pos = lower_bound(items, n, key, cmp);
	*found = pos < n && cmp(items[pos], key) == 0;
	return pos;
}

static void sandbox_entry_free(struct catalog_sandbox_entry *e)
{
	cluster_sandbox_clear(&e->sb);
	json_decref(e->metadata);
	free(e);
}

void catalog_index_clear(struct catalog_index *ix)
{
	for (size_t i = 0; i < ix->nhosts; i++) {
		cluster_host_clear(&ix->hosts[i]->h);
		free(ix->hosts[i]);
	}
	for (size_t i = 0; i < ix->n; i++)
		sandbox_entry_free(ix->by_id[i]);
	free(ix->hosts);
	free(ix->by_id);
	free(ix->by_order);
	memset(ix, 0, sizeof(*ix));
}

int catalog_index_put_host(struct catalog_index *ix, struct cluster_host *h, int64_t mod_revision)
{
	bool found;
	size_t pos = find((void **)ix->hosts, ix->nhosts, h->id, host_cmp, &found);
	if (found) {
		struct catalog_host_entry *e = ix->hosts[pos];
		if (e->mod_revision > mod_revision)
			return 0;
		cluster_host_clear(&e->h);
		e->h = *h;
		e->mod_revision = mod_revision;
		memset(h, 0, sizeof(*h));
		return 0;
	}
	struct catalog_host_entry *e = calloc(1, sizeof(*e));
	if (!e || grow((void ***)&ix->hosts, &ix->hosts_cap, ix->nhosts + 1) < 0) {
		free(e);
		return -ENOMEM;
	}
	e->h = *h;
	e->mod_revision = mod_revision;
	memset(h, 0, sizeof(*h));
	insert_at((void **)ix->hosts, &ix->nhosts, pos, e);
	return 0;
}

void catalog_index_delete_host(struct catalog_index *ix, const char *id, int64_t revision)
{
	bool found;
	size_t pos = find((void **)ix->hosts, ix->nhosts, id, host_cmp, &found);
	if (!found || ix->hosts[pos]->mod_revision > revision)
		return;
	cluster_host_clear(&ix->hosts[pos]->h);
	free(ix->hosts[pos]);
	remove_at((void **)ix->hosts, &ix->nhosts, pos);
}

/* Where sb is (or goes) among the first n of by_order. */
static size_t order_pos(const struct catalog_index *ix, size_t n, const struct cluster_sandbox *sb)
{
	struct order_key k = { sb->seq, sb->id };
	return lower_bound((void **)ix->by_order, n, &k, order_cmp);
}

static int metadata_parse(const struct cluster_sandbox *sb, json_t **ret)
{
	*ret = NULL;
	if (!sb->metadata)
		return 0;
	/* records.c wrote this text from a checked object: only memory can fail */
	*ret = json_loads(sb->metadata, 0, NULL);
	return *ret ? 0 : -ENOMEM;
}

/* A new record of an id held: replace it, moving it in the list order. */
static int replace_sandbox(struct catalog_index *ix, struct catalog_sandbox_entry *e, struct cluster_sandbox *sb,
			   int64_t mod_revision)
{
	if (e->mod_revision > mod_revision)
		return 0;
	json_t *meta;
	if (metadata_parse(sb, &meta) < 0)
		return -ENOMEM;
	size_t n = ix->n; /* by_id keeps it; only by_order moves */
	remove_at((void **)ix->by_order, &n, order_pos(ix, n, &e->sb));
	cluster_sandbox_clear(&e->sb);
	json_decref(e->metadata);
	e->sb = *sb;
	e->metadata = meta;
	e->mod_revision = mod_revision;
	memset(sb, 0, sizeof(*sb));
	insert_at((void **)ix->by_order, &n, order_pos(ix, n, &e->sb), e);
	return 0;
}

int catalog_index_put_sandbox(struct catalog_index *ix, struct cluster_sandbox *sb, int64_t mod_revision)
{
	bool found;
	size_t idpos = find((void **)ix->by_id, ix->n, sb->id, sandbox_id_cmp, &found);
	if (found)
		return replace_sandbox(ix, ix->by_id[idpos], sb, mod_revision);
	size_t cap = ix->cap;
	struct catalog_sandbox_entry *e = calloc(1, sizeof(*e));
	if (!e || grow((void ***)&ix->by_id, &cap, ix->n + 1) < 0 ||
	    grow((void ***)&ix->by_order, &ix->cap, ix->n + 1) < 0 || metadata_parse(sb, &e->metadata) < 0) {
		free(e);
		return -ENOMEM;
	}
	e->sb = *sb;
	e->mod_revision = mod_revision;
	memset(sb, 0, sizeof(*sb));
	size_t orderpos = order_pos(ix, ix->n, &e->sb);
	size_t n = ix->n;
	insert_at((void **)ix->by_id, &n, idpos, e);
	insert_at((void **)ix->by_order, &ix->n, orderpos, e);
	return 0;
}

void catalog_index_delete_sandbox(struct catalog_index *ix, const char *id, int64_t revision)
{
	bool found;
	size_t idpos = find((void **)ix->by_id, ix->n, id, sandbox_id_cmp, &found);
	if (!found || ix->by_id[idpos]->mod_revision > revision)
		return;
	struct catalog_sandbox_entry *e = ix->by_id[idpos];
	size_t n = ix->n;
	remove_at((void **)ix->by_order, &n, order_pos(ix, n, &e->sb));
	remove_at((void **)ix->by_id, &ix->n, idpos);
	sandbox_entry_free(e);
}

const struct catalog_host_entry *catalog_index_host(const struct catalog_index *ix, const char *id)
{
	bool found;
	size_t pos = find((void **)ix->hosts, ix->nhosts, id, host_cmp, &found);
	return found ? ix->hosts[pos] : NULL;
}

const struct catalog_sandbox_entry *catalog_index_sandbox(const struct catalog_index *ix, const char *id)
{
	bool found;
	size_t pos = find((void **)ix->by_id, ix->n, id, sandbox_id_cmp, &found);
	return found ? ix->by_id[pos] : NULL;
}

size_t catalog_index_after(const struct catalog_index *ix, int64_t seq, const char *id)
{
	struct order_key k = { seq, id };
	bool found;
	size_t pos = find((void **)ix->by_order, ix->n, &k, order_cmp, &found);
	return found ? pos + 1 : pos;
}

int catalog_host_copy(const struct cluster_host *h, struct cluster_host *out)
{
	*out = *h;
	out->templates = NULL;
	if (h->ntemplates) {
		out->templates = malloc(h->ntemplates * sizeof(*h->templates));
		if (!out->templates)
			return -ENOMEM;
		memcpy(out->templates, h->templates, h->ntemplates * sizeof(*h->templates));
	}
	return 0;
}

int catalog_sandbox_copy(const struct cluster_sandbox *sb, struct cluster_sandbox *out)
{
	*out = *sb;
	out->metadata = NULL;
	if (sb->metadata && !(out->metadata = strdup(sb->metadata)))
		return -ENOMEM;
	return 0;
}
