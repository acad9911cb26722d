/* Placement and the in-flight table (see placement.h). */
#include "cluster/placement.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/cleanup.h"

void placement_policy_default(struct placement_policy *p)
{
	*p = (struct placement_policy){
		.k = PLACEMENT_DEFAULT_K,
		.alpha = 0.5,
		.cpu_ratio = 4.0,
		.warm_bonus = 0.10,
		.snap_bonus = 0.05,
		.boots_weight = 0.05,
	};
}

void placement_rng_seed(struct placement_rng *rng, uint64_t seed)
{
	rng->x[0] = (unsigned short)seed;
	rng->x[1] = (unsigned short)(seed >> 16);
	rng->x[2] = (unsigned short)(seed >> 32);
}

int placement_rng_init(struct placement_rng *rng, const char *seed_text, struct cove_err *err)
{
	uint64_t seed;
	if (seed_text && *seed_text) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(seed_text, &end, 10);
		if (errno || *end || seed_text[0] < '0' || seed_text[0] > '9')
			return cove_errf(err, -EINVAL, "placement seed '%.32s': not a decimal integer", seed_text);
		seed = v;
	} else if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		return cove_errno(err, -errno, "placement seed: getrandom");
	}
	placement_rng_seed(rng, seed);
	return 0;
}

/* 0..n-1 (n > 0). nrand48 gives 31 bits; the modulo's bias over a few
 * thousand hosts at most is below 1e-6. */
static size_t rng_below(struct placement_rng *rng, size_t n)
{
	return (size_t)nrand48(rng->x) % n;
}

/* The in-flight table. */

void placement_inflight_init(struct placement_inflight *t, int64_t ttl_ms)
{
	*t = (struct placement_inflight){ .ttl_ms = ttl_ms };
}

void placement_inflight_clear(struct placement_inflight *t)
{
	free(t->bookings);
	t->bookings = NULL;
	t->n = t->cap = 0;
}

static int grow(struct placement_inflight *t, struct cove_err *err)
{
	if (t->n < t->cap)
		return 0;
	if (t->cap >= PLACEMENT_INFLIGHT_MAX)
		return cove_errf(err, -ENOSPC, "placement: %d creates in flight already", PLACEMENT_INFLIGHT_MAX);
	size_t cap = t->cap ? t->cap * 2 : 16;
	if (cap > PLACEMENT_INFLIGHT_MAX)
		cap = PLACEMENT_INFLIGHT_MAX;
	struct placement_booking *b = realloc(t->bookings, cap * sizeof(*b));
	if (!b)
		return cove_errf(err, -ENOMEM, "placement: out of memory");
	t->bookings = b;
	t->cap = cap;
	return 0;
}

int placement_book(struct placement_inflight *t, const char *host, unsigned vcpus, unsigned mem_mib, int64_t now_ms,
		   uint64_t *ret_id, struct cove_err *err)
{
	int r = cluster_host_id_check(host, err);
	if (r < 0 || (r = grow(t, err)) < 0)
		return r;
	struct placement_booking *b = &t->bookings[t->n++];
	*b = (struct placement_booking){ .id = ++t->next_id, .vcpus = vcpus, .mem_mib = mem_mib, .booked_ms = now_ms };
	snprintf(b->host, sizeof(b->host), "%s", host);
	*ret_id = b->id;
	return 0;
}

static struct placement_booking *booking_find(struct placement_inflight *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->bookings[i].id == id)
			return &t->bookings[i];
	return NULL;
}

/* Drops booking i (the last takes its place). */
static void booking_drop(struct placement_inflight *t, size_t i)
{
	t->bookings[i] = t->bookings[--t->n];
}

void placement_answered(struct placement_inflight *t, uint64_t id, int64_t now_ms)
{
	struct placement_booking *b = booking_find(t, id);
	if (b)
		b->answered_ms = now_ms > 0 ? now_ms : 1;
}

void placement_cancel(struct placement_inflight *t, uint64_t id)
{
	struct placement_booking *b = booking_find(t, id);
	if (b)
		booking_drop(t, (size_t)(b - t->bookings));
}

size_t placement_host_seen(struct placement_inflight *t, const char *host, int64_t ts_ms)
{
	size_t gone = 0;
	for (size_t i = t->n; i-- > 0;) {
		const struct placement_booking *b = &t->bookings[i];
		if (b->answered_ms && b->answered_ms < ts_ms && strcmp(b->host, host) == 0) {
			booking_drop(t, i);
			gone++;
		}
	}
	return gone;
}

size_t placement_expire(struct placement_inflight *t, int64_t now_ms)
{
	int64_t ttl = t->ttl_ms > 0 ? t->ttl_ms : PLACEMENT_INFLIGHT_TTL_MS;
	size_t gone = 0;
	for (size_t i = t->n; i-- > 0;) {
		if (now_ms - t->bookings[i].booked_ms > ttl) {
			booking_drop(t, i);
			gone++;
		}
	}
	return gone;
}

struct placement_load placement_inflight_load(const struct placement_inflight *t, const char *host)
{
	struct placement_load l = { 0 };
	for (size_t i = 0; t && i < t->n; i++) {
		const struct placement_booking *b = &t->bookings[i];
		if (strcmp(b->host, host) == 0) {
			l.vcpus += b->vcpus;
			l.mem_mib += b->mem_mib;
			l.count++;
		}
	}
	return l;
}

/* Choosing. */

/* How far a host gets through the filters, in the order a 429 reports the
 * furthest any host got. */
enum stage {
	STAGE_UNAVAILABLE,
	STAGE_NO_TEMPLATE,
	STAGE_NO_SNAPSHOT,
	STAGE_NO_ROOM,
	STAGE_CANDIDATE,
};

static bool excluded(const struct placement_input *in, const char *id)
{
	for (size_t i = 0; i < in->nexcluded; i++)
		if (in->excluded[i] && strcmp(in->excluded[i], id) == 0)
			return true;
	return false;
}

static bool has_room(const struct cluster_host *h, const struct placement_request *req,
		     const struct placement_load *load)
{
	uint64_t mem = (uint64_t)h->mem_committed_mib + load->mem_mib + req->mem_mib;
	return mem <= h->mem_max_mib && (uint64_t)h->sandboxes + load->count < h->max_sandboxes;
}

static enum stage host_stage(const struct placement_input *in, const struct cluster_host *h,
			     const struct placement_load *load)
{
	if (h->state != CLUSTER_HOST_READY || excluded(in, h->id))
		return STAGE_UNAVAILABLE;
	if (!cluster_host_template(h, in->req.template_id))
		return STAGE_NO_TEMPLATE;
	if (in->req.snap_key && in->req.snap_key[0] && strcmp(h->snap_key, in->req.snap_key) != 0)
		return STAGE_NO_SNAPSHOT;
	return has_room(h, &in->req, load) ? STAGE_CANDIDATE : STAGE_NO_ROOM;
}

double placement_score(const struct cluster_host *h, const struct placement_request *req,
		       const struct placement_load *load, const struct placement_policy *p)
{
	double mem_frac = h->mem_max_mib ? ((double)h->mem_committed_mib + load->mem_mib + req->mem_mib) / h->mem_max_mib
					 : 1e9;
	double cpus = p->cpu_ratio * (h->cpus ? h->cpus : 1);
	double cpu_frac = ((double)h->vcpus_alloc + load->vcpus + req->vcpus + p->alpha * h->cpu_busy_pct / 100.0) / cpus;
	const struct cluster_template *t = req->template_id ? cluster_host_template(h, req->template_id) : NULL;
	double bonus = 0;
	if (t && t->warm)
		bonus += p->warm_bonus;
	if (t && t->snap)
		bonus += p->snap_bonus;
	if (h->max_boots)
		bonus -= p->boots_weight * h->boots_inflight / h->max_boots;
	return (mem_frac > cpu_frac ? mem_frac : cpu_frac) - bonus;
}

const char *placement_reason_name(enum placement_reason r)
{
	static const char *const names[] = { "ok", "no-hosts", "unavailable", "no-template", "no-snapshot", "no-room" };
	return (size_t)r < ARRAY_SIZE(names) ? names[r] : "?";
}

static int refuse(const struct placement_input *in, enum stage best, struct placement_choice *ret,
		  struct cove_err *err)
{
	const struct placement_request *q = &in->req;
	static const enum placement_reason reasons[] = {
		[STAGE_UNAVAILABLE] = PLACEMENT_UNAVAILABLE, [STAGE_NO_TEMPLATE] = PLACEMENT_NO_TEMPLATE,
		[STAGE_NO_SNAPSHOT] = PLACEMENT_NO_SNAPSHOT, [STAGE_NO_ROOM] = PLACEMENT_NO_ROOM,
	};
	ret->reason = in->nhosts ? reasons[best] : PLACEMENT_NO_HOSTS;
	switch (ret->reason) {
	case PLACEMENT_NO_HOSTS: return cove_errf(err, -EAGAIN, "no host is live in the cluster");
	case PLACEMENT_UNAVAILABLE:
		return cove_errf(err, -EAGAIN, "all %zu hosts are draining or failed this create", in->nhosts);
	case PLACEMENT_NO_TEMPLATE: return cove_errf(err, -EAGAIN, "no host has template '%s'", q->template_id);
	case PLACEMENT_NO_SNAPSHOT:
		return cove_errf(err, -EAGAIN, "no host with template '%s' has a compatible snapshot key (%.64s)",
				 q->template_id, q->snap_key);
	default:
		return cove_errf(err, -EAGAIN, "no host with template '%s' has room for %u MiB and %u vCPUs",
				 q->template_id, q->mem_mib, q->vcpus);
	}
}

/* The candidates' indexes into cand (and their loads into loads, by host
 * index); the furthest stage any host reached into *best. */
static size_t candidates(const struct placement_input *in, size_t *cand, struct placement_load *loads,
			 enum stage *best)
{
	size_t n = 0;
	*best = STAGE_UNAVAILABLE;
	for (size_t i = 0; i < in->nhosts; i++) {
		loads[i] = placement_inflight_load(in->inflight, in->hosts[i]->id);
		enum stage s = host_stage(in, in->hosts[i], &loads[i]);
		if (s > *best)
			*best = s;
		if (s == STAGE_CANDIDATE)
			cand[n++] = i;
	}
	return n;
}

/* Best of k sampled without replacement (a partial Fisher-Yates shuffle);
 * the first sampled wins a tie. */
static void best_of_k(const struct placement_input *in, const struct placement_policy *p, size_t *cand, size_t n,
		      const struct placement_load *loads, struct placement_rng *rng, struct placement_choice *ret)
{
	size_t k = p->k ? p->k : PLACEMENT_DEFAULT_K;
	if (k > n)
		k = n;
	for (size_t i = 0; i < k; i++) {
		size_t j = i + rng_below(rng, n - i), tmp = cand[i];
		cand[i] = cand[j];
		cand[j] = tmp;
		size_t h = cand[i];
		double s = placement_score(in->hosts[h], &in->req, &loads[h], p);
		if (i == 0 || s < ret->score) {
			ret->index = h;
			ret->score = s;
		}
	}
}

int placement_choose(const struct placement_input *in, struct placement_rng *rng, struct placement_choice *ret,
		     struct cove_err *err)
{
	if (!in->req.template_id || !in->req.template_id[0] || !in->req.mem_mib)
		return cove_errf(err, -EINVAL, "placement: a request needs a template and its memory");
	struct placement_policy defaults;
	placement_policy_default(&defaults);
	const struct placement_policy *p = in->policy ? in->policy : &defaults;
	_cleanup_free_ size_t *cand = calloc(in->nhosts + 1, sizeof(*cand));
	_cleanup_free_ struct placement_load *loads = calloc(in->nhosts + 1, sizeof(*loads));
	if (!cand || !loads)
		return cove_errf(err, -ENOMEM, "placement: out of memory");
	enum stage best;
	size_t n = candidates(in, cand, loads, &best);
	*ret = (struct placement_choice){ .reason = PLACEMENT_OK };
	if (!n)
		return refuse(in, best, ret, err);
	best_of_k(in, p, cand, n, loads, rng, ret);
	return 0;
}
