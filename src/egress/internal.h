/* Inside the egress proxy: one connection's state, shared by egress.c (its
 * setup: peek, judge, dial) and relay.c (the bytes afterwards). */
#ifndef COVE_EGRESS_INTERNAL_H
#define COVE_EGRESS_INTERNAL_H

#include <event2/dns.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "egress/egress.h"
#include "net/net.h"
#include "proto/peek.h"
#include "proto/socks5.h"

#define EGRESS_MAX_ADDRS 8

/* names.c: names resolved lately, for their TTL; the loop thread's. */
#define NAMES_SLOTS 256
struct name_entry {
	char name[256];
	uint32_t addrs[EGRESS_MAX_ADDRS]; /* host byte order */
	size_t n;
	int64_t expires_ms; /* now_ms */
};
struct names {
	struct name_entry slot[NAMES_SLOTS];
};
/* The addresses name had when resolved, while its TTL lasts; 0: not known. */
size_t names_get(struct names *t, const char *name, uint32_t out[EGRESS_MAX_ADDRS]);
void names_put(struct names *t, const char *name, const uint32_t *addrs, size_t n, int ttl_s);

struct egress {
	struct egress_config c;
	struct event_base *base;
	struct evdns_base *dns;
	struct evconnlistener *listener;
	uint16_t port;
	pthread_t thread;
	bool running;
	struct conn *conns; /* every open connection; the loop thread's */
	struct names names;
	/* intercept.c's: connections to hosts with rules, each with threads
	 * of its own; and the trust its upstream TLS is verified with. */
	pthread_mutex_t icpt_lock;
	pthread_cond_t icpt_done;
	struct icpt *icpts;
	size_t nicpt;
	bool stopping;
	gnutls_certificate_credentials_t trust;
	/* quota.c's: connections held per slot. */
	pthread_mutex_t quota_lock;
	struct slot_quota *quota;
	size_t nquota;
};

/* quota.c: counts a connection of slot's, false when the slot is at its
 * cap (then the caller resets it; a line is logged now and then). */
bool quota_take(struct egress *e, unsigned slot);
/* One of slot's counted connections has ended. */
void quota_give(struct egress *e, unsigned slot);

/* One direction of a relay: from's bytes to `to`, through a pipe. */
struct flow {
	struct conn *c;
	int from, to;
	int pipe[2];
	size_t queued; /* bytes in the pipe */
	size_t room;   /* the pipe's capacity */
	bool eof;      /* from has ended (its FIN passed on once drained) */
	struct event *rd, *wr;
};

struct conn {
	struct egress *e;
	/* Ends it (egress.c's conn_close): its events, sockets (reset when
	 * abort), pipes and memory. Called through here by relay.c and
	 * socks.c, which egress.c calls. */
	void (*end)(struct conn *c, bool abort);
	struct conn *prev, *next;
	int client, up;
	unsigned slot;
	uint32_t peer, dst; /* host byte order */
	uint16_t port;
	struct net_policy_copy policy;
	char name[PEEK_NAME_MAX + 1];
	uint8_t head[PEEK_MAX];
	size_t head_len;
	struct event *ev; /* during setup: the client's reads, then the dial */
	int64_t deadline_ms; /* for the name (now_ms) */
	struct evdns_request *lookup; /* of `resolving` */
	char resolving[256];
	uint32_t addrs[EGRESS_MAX_ADDRS];
	size_t naddrs, next_addr;
	uint16_t dial_port;
	/* Through the sandbox's SOCKS5 proxy (socks.c): asked for the name
	 * (allowed by name) or for dst; its answers gathered in sbuf. */
	bool via_proxy, socks_by_name;
	int socks_step;
	uint8_t sbuf[SOCKS5_MSG_MAX];
	size_t slen;
	struct flow flows[2]; /* client to upstream, upstream to client */
	bool relaying;
	/* What the first bytes were (PEEK_TLS, PEEK_HTTP; 0: neither), and,
	 * for a name with rules, the rule (in policy): the connection is
	 * intercepted once dialled. */
	int kind;
	const struct net_rule *rule;
	bool counted; /* in its slot's quota: given back when it ends, or passed on */
};

/* Speaks SOCKS5 on c->up (connected to the sandbox's proxy), then starts
 * the relay; on failure c is closed. -1 when it could not start. */
int socks_begin(struct conn *c);
/* Starts relaying c (connected); its head goes upstream first. */
int relay_start(struct conn *c);
/* Frees a relay's events and pipes (conn_close's part). */
void relay_free(struct conn *c);
/* intercept.c: hands c (connected, c->rule set) to threads of its own and
 * ends c's part in the loop; -1 when it could not (c is still the
 * caller's). */
int intercept_start(struct conn *c);
/* Resets every intercepted connection and waits for their threads. */
void intercept_stop_all(struct egress *e);

#endif
