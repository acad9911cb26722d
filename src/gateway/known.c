/* The hosts' last known addresses (internal.h's gateway_known): kept from
 * each host record the gateway sees, kept after the host's lease is gone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/internal.h"

void gateway_remember(struct gateway *g, const struct cluster_host *h)
{
	for (size_t i = 0; i < g->nknown; i++)
		if (strcmp(g->known[i].id, h->id) == 0) {
			snprintf(g->known[i].addr, sizeof(g->known[i].addr), "%s", h->addr);
			return;
		}
	if (g->nknown == g->known_cap) {
		size_t cap = g->known_cap ? g->known_cap * 2 : 16;
		struct gateway_known *k = realloc(g->known, cap * sizeof(*k));
		if (!k)
			return; /* its sandboxes answer from their records when it is gone */
		g->known = k;
		g->known_cap = cap;
	}
	struct gateway_known *k = &g->known[g->nknown++];
	snprintf(k->id, sizeof(k->id), "%s", h->id);
	snprintf(k->addr, sizeof(k->addr), "%s", h->addr);
}

int gateway_last_addr(struct gateway *g, const char *host, char addr[CLUSTER_ADDR_MAX + 1])
{
	int r = -ENOENT;
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->nknown && r; i++)
		if (strcmp(g->known[i].id, host) == 0) {
			snprintf(addr, CLUSTER_ADDR_MAX + 1, "%s", g->known[i].addr);
			r = 0;
		}
	pthread_mutex_unlock(&g->lock);
	return r;
}
