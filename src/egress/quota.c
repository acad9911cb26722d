/* Connections per sandbox (see egress.h's max_per_sandbox): a count per
 * slot of those the proxy holds, in its loop or intercepted, under one
 * lock, since intercepted ones end on their own threads. A slot at its cap
 * has its next connections reset at accept, before the proxy reads a byte
 * or allocates more than the connection's record; a line says so at most
 * every QUOTA_LOG_MS per slot, with how many were refused meanwhile. */
#include <stdlib.h>

#include "common/log.h"
#include "common/proc.h"
#include "egress/internal.h"

#define QUOTA_LOG_MS 10000
/* Slots are numbered from 0 to the network's count (1024 by default);
 * past this, none is counted rather than a table grown without end. */
#define QUOTA_MAX_SLOTS 65536

struct slot_quota {
	unsigned open;
	unsigned refused; /* since the last line */
	int64_t logged_ms;
};

/* slot's count, the table grown to hold it; NULL when it cannot be. */
static struct slot_quota *quota_of(struct egress *e, unsigned slot)
{
	if (slot >= QUOTA_MAX_SLOTS)
		return NULL;
	if (slot >= e->nquota) {
		size_t n = e->nquota ? e->nquota : 64;
		while (n <= slot)
			n *= 2;
		struct slot_quota *q = realloc(e->quota, n * sizeof(*q));
		if (!q)
			return NULL;
		for (size_t i = e->nquota; i < n; i++)
			q[i] = (struct slot_quota){ 0 };
		e->quota = q;
		e->nquota = n;
	}
	return &e->quota[slot];
}

static void refused(struct egress *e, unsigned slot, struct slot_quota *q)
{
	q->refused++;
	int64_t now = now_ms();
	if (q->logged_ms && now - q->logged_ms < QUOTA_LOG_MS)
		return;
	log_warn("op=egress slot=%u verdict=refuse why=\"the sandbox holds %u connections through the proxy, its cap\" "
		 "refused=%u",
		 slot, e->c.max_per_sandbox, q->refused);
	q->logged_ms = now;
	q->refused = 0;
}

bool quota_take(struct egress *e, unsigned slot)
{
	if (!e->c.max_per_sandbox)
		return true;
	pthread_mutex_lock(&e->quota_lock);
	struct slot_quota *q = quota_of(e, slot);
	bool ok = !q || q->open < e->c.max_per_sandbox;
	if (q && ok)
		q->open++;
	else if (q)
		refused(e, slot, q);
	pthread_mutex_unlock(&e->quota_lock);
	return ok; /* without a count (no table): let through, never given back */
}

void quota_give(struct egress *e, unsigned slot)
{
	pthread_mutex_lock(&e->quota_lock);
	if (slot < e->nquota && e->quota[slot].open)
		e->quota[slot].open--;
	pthread_mutex_unlock(&e->quota_lock);
}
