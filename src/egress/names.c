/* The egress proxy's cache of names it resolved: each kept for its DNS TTL
 * (at most NAMES_MAX_TTL_S), in a fixed table where a name has one place
 * (a newer name takes an older one's). Only the loop thread uses it. */
#include <string.h>

#include "common/proc.h"
#include "egress/internal.h"

#define NAMES_MAX_TTL_S 300

static size_t place(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % NAMES_SLOTS;
}

size_t names_get(struct names *t, const char *name, uint32_t out[EGRESS_MAX_ADDRS])
{
	const struct name_entry *e = &t->slot[place(name)];
	if (!e->n || e->expires_ms <= now_ms() || strcmp(e->name, name) != 0)
		return 0;
	memcpy(out, e->addrs, e->n * sizeof(*out));
	return e->n;
}

void names_put(struct names *t, const char *name, const uint32_t *addrs, size_t n, int ttl_s)
{
	if (ttl_s <= 0 || n == 0 || strlen(name) >= sizeof(t->slot[0].name))
		return;
	struct name_entry *e = &t->slot[place(name)];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->n = n < EGRESS_MAX_ADDRS ? n : EGRESS_MAX_ADDRS;
	memcpy(e->addrs, addrs, e->n * sizeof(*addrs));
	e->expires_ms = now_ms() + (int64_t)(ttl_s < NAMES_MAX_TTL_S ? ttl_s : NAMES_MAX_TTL_S) * 1000;
}
