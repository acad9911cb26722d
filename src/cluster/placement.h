/* Placement: which host a gateway sends a create to (issue 18; the design
 * study's §4.6). A pure function of the live host records, the request, the
 * gateway's own in-flight bookings, the hosts earlier attempts excluded, and
 * a random state; plus the in-flight table that books a placed create
 * against its host until the host's records show it.
 *
 * Candidates are the hosts that are ready (not draining), not excluded, have
 * the template, have the request's snapshot key (when it names one), and
 * have room: mem_committed + in-flight + request <= mem_max and sandboxes +
 * in-flight < max_sandboxes. Of those, K (3) are sampled at random and the
 * lowest score wins:
 *   score = max(mem_frac, cpu_frac) - bonus
 *   mem_frac = (mem_committed + inflight_mem + req_mem) / mem_max
 *   cpu_frac = (vcpus_alloc + inflight_vcpus + req_vcpus + alpha * cpu_busy/100) / (R * cpus)
 *   bonus = warm_bonus (a ready warm sandbox of the template there)
 *         + snap_bonus (the template's snapshot is there)
 *         - boots_weight * boots_inflight / max_boots
 * Sampling rather than the global minimum keeps gateways working from the
 * same slightly stale records from all picking the same host.
 *
 * Where this differs from the study, and why:
 * - A booking is released by a host record whose ts is later than the
 *   host's *answer* to the create (placement_answered), not later than the
 *   booking: a record written after the booking but before the host admitted
 *   the create does not count it, and releasing on it would let the next
 *   placements overfill the host. Until the answer a booking is only
 *   released by placement_cancel (the create failed, or the host answered
 *   429/5xx and the gateway moves on) or by expiry. ts is the host's clock
 *   and the answer time the gateway's: skew of s shifts the release by s,
 *   and expiry bounds the damage (the study too relies on NTP, §4.9).
 * - In-flight creates count against max_sandboxes as well as memory (the
 *   study counts them in memory only): otherwise a burst of creates sees the
 *   same free sandbox slot many times over.
 * - The request's snapshot key may be empty: a create from a template, which
 *   every host restores from its own snapshot (or boots cold), needs no
 *   particular key; one from a snapshot made on some host names its key.
 * - The random state is glibc's erand48 family (reentrant, a 48-bit seed),
 *   so a seed (COVE_PLACEMENT_SEED, read by the caller) fixes every choice.
 *
 * Not thread-safe: a gateway holds its own lock around the table and the rng. */
#ifndef COVE_CLUSTER_PLACEMENT_H
#define COVE_CLUSTER_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/records.h"
#include "common/err.h"

#define PLACEMENT_DEFAULT_K 3
/* Bookings held at once, and how long one lives at most: a create through
 * a gateway that has not been answered or reflected in a minute has failed
 * or been counted (a TCG cold boot takes about 10 s; records come every 5 s). */
#define PLACEMENT_INFLIGHT_MAX 4096
#define PLACEMENT_INFLIGHT_TTL_MS 60000

struct placement_policy {
	unsigned k;          /* best of K; 0 means PLACEMENT_DEFAULT_K */
	double alpha;        /* weight of the host's busy CPU in cpu_frac (0.5) */
	double cpu_ratio;    /* R: vCPUs per CPU at which a host counts as full (4; lower under TCG) */
	double warm_bonus;   /* 0.10: a warm claim is ~40 ms against a 0.5 s restore */
	double snap_bonus;   /* 0.05: a restore is ~0.4 s against a 2 s cold boot */
	double boots_weight; /* 0.05, times boots_inflight / max_boots */
};
void placement_policy_default(struct placement_policy *p);

/* The random state. seed: a fixed seed (tests, COVE_PLACEMENT_SEED). */
struct placement_rng {
	unsigned short x[3];
};
void placement_rng_seed(struct placement_rng *rng, uint64_t seed);
/* From seed_text (a decimal integer, COVE_PLACEMENT_SEED's value) when not
 * NULL or empty, else from getrandom. -EINVAL naming the text. */
int placement_rng_init(struct placement_rng *rng, const char *seed_text, struct cove_err *err);

struct placement_request {
	const char *template_id; /* as hosts publish it (cluster_template.name) */
	const char *snap_key;    /* the snapshot compatibility key it needs; NULL or "": any */
	unsigned vcpus, mem_mib;
};

/* What the gateway has placed on a host and not yet seen in its records. */
struct placement_load {
	unsigned vcpus, mem_mib, count;
};

/* One create placed and not yet reflected in its host's record. */
struct placement_booking {
	uint64_t id;
	char host[CLUSTER_HOST_ID_MAX + 1];
	unsigned vcpus, mem_mib;
	int64_t booked_ms;   /* the gateway's clock */
	int64_t answered_ms; /* when the host answered the create; 0: not yet */
};

/* The gateway's in-flight bookings. Zero it, or placement_inflight_init. */
struct placement_inflight {
	struct placement_booking *bookings; /* owned */
	size_t n, cap;
	uint64_t next_id;
	int64_t ttl_ms; /* 0: PLACEMENT_INFLIGHT_TTL_MS */
};
void placement_inflight_init(struct placement_inflight *t, int64_t ttl_ms);
void placement_inflight_clear(struct placement_inflight *t);

/* Books req's vCPUs and memory on host at now_ms; *ret_id names the booking.
 * -ENOSPC with PLACEMENT_INFLIGHT_MAX held, -ENOMEM. */
int placement_book(struct placement_inflight *t, const char *host, unsigned vcpus, unsigned mem_mib, int64_t now_ms,
		   uint64_t *ret_id, struct cove_err *err);
/* The host answered the create (2xx) at now_ms: from now on a record of
 * that host written later releases the booking. Unknown ids are ignored. */
void placement_answered(struct placement_inflight *t, uint64_t id, int64_t now_ms);
/* The booking goes now (the create failed, or went to another host). */
void placement_cancel(struct placement_inflight *t, uint64_t id);
/* A record of host with that ts arrived: releases its answered bookings
 * answered before ts. Returns how many went. */
size_t placement_host_seen(struct placement_inflight *t, const char *host, int64_t ts_ms);
/* Releases bookings older than the table's ttl at now_ms; returns how many. */
size_t placement_expire(struct placement_inflight *t, int64_t now_ms);
/* What host has booked. */
struct placement_load placement_inflight_load(const struct placement_inflight *t, const char *host);

enum placement_reason {
	PLACEMENT_OK,
	PLACEMENT_NO_HOSTS,       /* no live host at all */
	PLACEMENT_UNAVAILABLE,    /* every live host is draining or excluded by an earlier attempt */
	PLACEMENT_NO_TEMPLATE,    /* no available host has the template */
	PLACEMENT_NO_SNAPSHOT,    /* hosts have it, none with a compatible snapshot key */
	PLACEMENT_NO_ROOM,        /* the compatible hosts have no memory or sandbox slot left */
};

struct placement_input {
	const struct cluster_host *const *hosts; /* the live hosts' records */
	size_t nhosts;
	struct placement_request req;
	const struct placement_inflight *inflight; /* NULL: none */
	const char *const *excluded;               /* host ids earlier attempts failed on */
	size_t nexcluded;
	const struct placement_policy *policy;     /* NULL: the defaults */
};

struct placement_choice {
	size_t index; /* into hosts */
	double score;
	enum placement_reason reason;
};

/* The host for in's request. 0 with ret->index; or -EAGAIN with ret->reason
 * and err saying why in a line a 429's message can carry ("no host has
 * template 'base'"). -EINVAL for a request without a template or memory. */
int placement_choose(const struct placement_input *in, struct placement_rng *rng, struct placement_choice *ret,
		     struct cove_err *err);

/* The score of host h for req with load booked (lower is better); for tests
 * and the gateway's metrics. */
double placement_score(const struct cluster_host *h, const struct placement_request *req,
		       const struct placement_load *load, const struct placement_policy *policy);

const char *placement_reason_name(enum placement_reason r);

#endif
