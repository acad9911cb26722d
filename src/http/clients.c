/* Clients by address (see clients.h). A linear scan of a few thousand
 * entries per connection and per failure costs microseconds, less than
 * MHD's own work for the connection. */
#include "http/clients.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct client {
	uint32_t addr;
	unsigned conns;
	unsigned failures;
	int64_t first_failure_ms; /* of those counted */
	int64_t locked_until_ms;
	int64_t touched_ms;
};

struct http_clients {
	pthread_mutex_t lock;
	struct http_client_limits l;
	unsigned total; /* connections counted */
	size_t n;
	struct client slot[];
};

int http_clients_new(const struct http_client_limits *l, struct http_clients **ret)
{
	size_t n = (size_t)l->max_connections * 2;
	if (n < HTTP_CLIENTS_MIN)
		n = HTTP_CLIENTS_MIN;
	struct http_clients *t = calloc(1, sizeof(*t) + n * sizeof(t->slot[0]));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->l = *l;
	t->n = n;
	*ret = t;
	return 0;
}

struct http_clients *http_clients_free(struct http_clients *t)
{
	if (t) {
		pthread_mutex_destroy(&t->lock);
		free(t);
	}
	return NULL;
}

/* Which entry goes first when the table is full: an unused one, then
 * those not locked out, the longest untouched first. */
static bool sooner(const struct client *a, const struct client *b, int64_t now)
{
	if (!a->touched_ms || !b->touched_ms)
		return !a->touched_ms && b->touched_ms;
	bool la = a->locked_until_ms > now, lb = b->locked_until_ms > now;
	return la != lb ? lb : a->touched_ms < b->touched_ms;
}

/* addr's entry, or when add a new one in place of the entry that goes
 * first among those holding no connection; NULL when none. */
static struct client *find(struct http_clients *t, uint32_t addr, int64_t now, bool add)
{
	struct client *spare = NULL;
	for (size_t i = 0; i < t->n; i++) {
		struct client *c = &t->slot[i];
		if (c->touched_ms && c->addr == addr)
			return c;
		if (add && c->conns == 0 && (!spare || sooner(c, spare, now)))
			spare = c;
	}
	if (spare)
		*spare = (struct client){ .addr = addr, .touched_ms = now ? now : 1 };
	return spare;
}

bool http_clients_open(struct http_clients *t, uint32_t addr, int64_t now_ms)
{
	pthread_mutex_lock(&t->lock);
	bool ok = !t->l.max_connections || t->total < t->l.max_connections;
	struct client *c = ok ? find(t, addr, now_ms, true) : NULL;
	ok = c && (!t->l.max_per_client || c->conns < t->l.max_per_client);
	if (ok) {
		c->conns++;
		c->touched_ms = now_ms ? now_ms : 1;
		t->total++;
	}
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void http_clients_close(struct http_clients *t, uint32_t addr)
{
	pthread_mutex_lock(&t->lock);
	struct client *c = find(t, addr, 0, false);
	if (c && c->conns) {
		c->conns--;
		t->total--;
	}
	pthread_mutex_unlock(&t->lock);
}

unsigned http_clients_locked(struct http_clients *t, uint32_t addr, int64_t now_ms)
{
	pthread_mutex_lock(&t->lock);
	struct client *c = find(t, addr, now_ms, false);
	int64_t left = c ? c->locked_until_ms - now_ms : 0;
	pthread_mutex_unlock(&t->lock);
	return left > 0 ? (unsigned)((left + 999) / 1000) : 0;
}

bool http_clients_failed(struct http_clients *t, uint32_t addr, int64_t now_ms)
{
	if (!t->l.auth_failures)
		return false;
	int64_t window = (int64_t)t->l.auth_lockout_s * 1000;
	bool locked = false;
	pthread_mutex_lock(&t->lock);
	struct client *c = find(t, addr, now_ms, true);
	if (c) {
		c->touched_ms = now_ms ? now_ms : 1;
		if (c->failures && now_ms - c->first_failure_ms >= window)
			c->failures = 0;
		if (c->failures++ == 0)
			c->first_failure_ms = now_ms;
		if (c->failures >= t->l.auth_failures) {
			c->failures = 0;
			c->locked_until_ms = now_ms + window;
			locked = true;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return locked;
}

void http_clients_succeeded(struct http_clients *t, uint32_t addr)
{
	pthread_mutex_lock(&t->lock);
	struct client *c = find(t, addr, 0, false);
	if (c)
		c->failures = 0;
	pthread_mutex_unlock(&t->lock);
}
