/* The HTTP server's account of its clients by address (IPv4, host byte
 * order): how many connections each holds, against a cap in all and one per
 * address, and its failed authorizations, which past a count lock it out
 * for a while. A fixed table (twice the connection cap, at least
 * HTTP_CLIENTS_MIN entries), so what a crowd of addresses can make the
 * server hold is bounded; an address with nothing open and no lockout is
 * forgotten, the longest untouched first when the table is full. One mutex
 * guards it: MHD calls in from every connection's thread. Time is given
 * (now_ms), so tests can step it. */
#ifndef COVE_HTTP_CLIENTS_H
#define COVE_HTTP_CLIENTS_H

#include <stdbool.h>
#include <stdint.h>

#define HTTP_CLIENTS_MIN 1024

struct http_client_limits {
	unsigned max_connections; /* in all; 0: no cap */
	unsigned max_per_client;  /* from one address; 0: no cap */
	unsigned auth_failures;   /* failures that lock an address; 0: never locked */
	unsigned auth_lockout_s;  /* the failures counted within it, and the lockout's length */
};

struct http_clients;

int http_clients_new(const struct http_client_limits *l, struct http_clients **ret);
/* NULL-safe; returns NULL. */
struct http_clients *http_clients_free(struct http_clients *t);

/* A connection from addr opened: true when it is within the caps (it is
 * counted, and http_clients_close must follow); false when over one. */
bool http_clients_open(struct http_clients *t, uint32_t addr, int64_t now_ms);
void http_clients_close(struct http_clients *t, uint32_t addr);

/* Seconds addr is still locked out for (at least 1), or 0. */
unsigned http_clients_locked(struct http_clients *t, uint32_t addr, int64_t now_ms);
/* A failed authorization from addr; the one that reaches the count within
 * the window locks it out, and true is returned then (once per lockout). */
bool http_clients_failed(struct http_clients *t, uint32_t addr, int64_t now_ms);
/* A good one: its failures are forgotten. */
void http_clients_succeeded(struct http_clients *t, uint32_t addr);

#endif
