/* POST /sandboxes and /v2/sandboxes on a gateway (multihost §4.4, §4.6):
 * the body, parsed by coved's own parser only for its templateID, is placed
 * over the live hosts' records (cluster/placement.h, booked in flight until
 * the host's records show it) and forwarded unchanged to the chosen host.
 * A host's 429 (full since its last record) excludes it without counting as
 * an attempt; a connection error or a 5xx excludes it and counts (3 at
 * most). With no candidate left: 429 with Retry-After and placement's reason
 * ("no host has template 'x'"). The host's answer (201 with the token) is
 * streamed back as it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/handlers.h"
#include "common/log.h"
#include "common/proc.h"
#include "gateway/internal.h"
#include "proto/http1.h"
#include "template/template.h"
#include "vmm/vmm.h"

/* Hosts excluded in one create: every candidate may answer 429. */
#define MAX_EXCLUDED 64

/* The live hosts' records, copied out of the catalog. */
struct hosts {
	struct cluster_host *v;
	const struct cluster_host **ptrs;
	size_t n, cap;
	size_t *records;       /* per host: its sandbox records (but killing ones) */
	uint64_t *records_mib; /* and the memory of its creating and running ones */
	int error;
};

static int copy_host(const struct cluster_host *h, void *data)
{
	struct hosts *hs = data;
	if (hs->n == hs->cap) {
		size_t cap = hs->cap ? hs->cap * 2 : 8;
		struct cluster_host *v = realloc(hs->v, cap * sizeof(*v));
		if (!v)
			return hs->error = -ENOMEM;
		hs->v = v;
		hs->cap = cap;
	}
	struct cluster_host *copy = &hs->v[hs->n];
	*copy = *h;
	copy->templates = h->ntemplates ? malloc(h->ntemplates * sizeof(*h->templates)) : NULL;
	if (h->ntemplates && !copy->templates)
		return hs->error = -ENOMEM;
	if (h->ntemplates)
		memcpy(copy->templates, h->templates, h->ntemplates * sizeof(*h->templates));
	hs->n++;
	return 0;
}

static void hosts_clear(struct hosts *hs)
{
	for (size_t i = 0; i < hs->n; i++)
		cluster_host_clear(&hs->v[i]);
	free(hs->v);
	free(hs->ptrs);
	free(hs->records);
	free(hs->records_mib);
	*hs = (struct hosts){ 0 };
}

/* A host's load as its sandbox records in the catalog have it, when that
 * is more than its last host record says: a record is written before its
 * sandbox boots and deleted when it ends, within milliseconds of the
 * watch, while the host record follows within a second. */
static int count_record(const struct cluster_sandbox *sb, bool host_live, void *data)
{
	struct hosts *hs = data;
	if (!host_live || sb->state == CLUSTER_SANDBOX_KILLING)
		return 0;
	for (size_t i = 0; i < hs->n; i++)
		if (strcmp(hs->v[i].id, sb->host) == 0) {
			hs->records[i]++;
			if (sb->state != CLUSTER_SANDBOX_PAUSED)
				hs->records_mib[i] += sb->mem_mib;
			break;
		}
	return 0;
}

static void records_load(struct gateway *g, struct hosts *hs)
{
	hs->records = calloc(hs->n ? hs->n : 1, sizeof(*hs->records));
	hs->records_mib = calloc(hs->n ? hs->n : 1, sizeof(*hs->records_mib));
	if (!hs->records || !hs->records_mib) {
		hs->error = -ENOMEM;
		return;
	}
	catalog_sandboxes(g->cat, count_record, hs);
	for (size_t i = 0; i < hs->n; i++) {
		struct cluster_host *h = &hs->v[i];
		if (hs->records[i] > h->sandboxes)
			h->sandboxes = hs->records[i] > CLUSTER_MAX_COUNT ? CLUSTER_MAX_COUNT : (unsigned)hs->records[i];
		if (hs->records_mib[i] > h->mem_committed_mib)
			h->mem_committed_mib = hs->records_mib[i] > CLUSTER_MAX_MIB ? CLUSTER_MAX_MIB
										: (unsigned)hs->records_mib[i];
	}
}

static int hosts_load(struct gateway *g, struct hosts *hs)
{
	*hs = (struct hosts){ 0 };
	catalog_hosts(g->cat, copy_host, hs);
	if (!hs->error)
		records_load(g, hs);
	if (!hs->error && hs->n && !(hs->ptrs = calloc(hs->n, sizeof(*hs->ptrs))))
		hs->error = -ENOMEM;
	for (size_t i = 0; !hs->error && i < hs->n; i++)
		hs->ptrs[i] = &hs->v[i];
	return hs->error;
}

/* The template's size as its hosts publish it, else the VMM's defaults. */
static void request_size(const struct hosts *hs, struct placement_request *req)
{
	req->vcpus = VMM_DEFAULT_VCPUS;
	req->mem_mib = VMM_DEFAULT_MEM_MIB;
	for (size_t i = 0; i < hs->n; i++) {
		const struct cluster_template *t = cluster_host_template(&hs->v[i], req->template_id);
		if (t && t->vcpus && t->mem_mib) {
			req->vcpus = t->vcpus;
			req->mem_mib = t->mem_mib;
			return;
		}
	}
}

struct attempt {
	struct placement_request req;
	const char *excluded[MAX_EXCLUDED];
	char excluded_ids[MAX_EXCLUDED][CLUSTER_HOST_ID_MAX + 1];
	size_t nexcluded;
	unsigned failures;
	char last_error[256];
};

/* Chooses and books a host into host/addr: 0, -EAGAIN (err: why), or
 * another error. */
static int choose(struct gateway *g, struct attempt *a, char host[CLUSTER_HOST_ID_MAX + 1],
		  char addr[CLUSTER_ADDR_MAX + 1], uint64_t *booking, struct cove_err *err)
{
	struct hosts hs;
	int rc = hosts_load(g, &hs);
	if (rc < 0) {
		hosts_clear(&hs);
		return cove_errf(err, rc, "out of memory");
	}
	if (a->req.mem_mib == 0)
		request_size(&hs, &a->req);
	struct placement_input in = { hs.ptrs, hs.n, a->req, &g->inflight, a->excluded, a->nexcluded, NULL };
	struct placement_choice choice;
	pthread_mutex_lock(&g->lock);
	rc = placement_choose(&in, &g->rng, &choice, err);
	const struct cluster_host *h = rc == 0 ? hs.ptrs[choice.index] : NULL;
	if (h)
		rc = placement_book(&g->inflight, h->id, a->req.vcpus, a->req.mem_mib, wall_now_ms(), booking, err);
	pthread_mutex_unlock(&g->lock);
	if (rc == 0) {
		snprintf(host, CLUSTER_HOST_ID_MAX + 1, "%s", h->id);
		snprintf(addr, CLUSTER_ADDR_MAX + 1, "%s", h->addr);
	}
	hosts_clear(&hs);
	return rc;
}

static void exclude(struct attempt *a, const char *host)
{
	if (a->nexcluded == MAX_EXCLUDED)
		return;
	snprintf(a->excluded_ids[a->nexcluded], sizeof(a->excluded_ids[0]), "%s", host);
	a->excluded[a->nexcluded] = a->excluded_ids[a->nexcluded];
	a->nexcluded++;
}

/* One try on host: the host's status (its head read into c->rl), or a
 * negative errno when it did not answer. */
static int try_host(struct gateway_call *c, struct http_request *r, const char *host, const char *addr)
{
	if (c->rl.fd >= 0)
		close(c->rl.fd);
	c->rl.fd = -1;
	c->down = 0;
	int rc = gateway_send_head(c, r, host, addr);
	if (rc == 0 && r->len && relay_body(&c->rl, r->body, r->len) < 0)
		rc = -EPIPE;
	if (rc == 0 && relay_body_end(&c->rl) < 0)
		rc = -EPIPE;
	if (rc == 0)
		rc = relay_read_head(&c->rl);
	return rc < 0 ? rc : (int)c->rl.resp.status;
}

/* A create answered (or failed) gives its booking back: once the host
 * answered, the sandbox's own record (written before the answer) counts it
 * in records_load, so waiting for the next host record to release it
 * would count it twice (creates and kills in a row found hosts full). */
static void settle(struct gateway *g, uint64_t booking)
{
	pthread_mutex_lock(&g->lock);
	placement_cancel(&g->inflight, booking);
	pthread_mutex_unlock(&g->lock);
}

/* The host answered that it cannot write the catalog: when the gateway
 * cannot reach a quorum either (a linearizable read, GATEWAY_PROBE_TIMEOUT_MS
 * on a member), every host shares the failure and the answer is passed on
 * at once; else the host is cut off alone and another is tried. */
static bool cluster_down(struct gateway_call *c)
{
	if (!c->g->probe || !http1_header(&c->rl.resp, API_CLUSTER_DOWN_HEADER))
		return false;
	struct etcd_result res;
	struct cove_err err = { 0 };
	if (etcd_range(c->g->probe, CLUSTER_JANITOR_KEY, strlen(CLUSTER_JANITOR_KEY), false, &res, &err) == 0) {
		etcd_result_clear(&res);
		return false;
	}
	log_warn("op=gateway_create msg=\"etcd is out of reach here too: %s\"", err.msg);
	return true;
}

static enum MHD_Result place(struct http_request *r, struct gateway_call *c, struct attempt *a)
{
	for (;;) {
		char host[CLUSTER_HOST_ID_MAX + 1], addr[CLUSTER_ADDR_MAX + 1];
		uint64_t booking = 0;
		struct cove_err err = { 0 };
		int rc = choose(c->g, a, host, addr, &booking, &err);
		if (rc == -EAGAIN && a->failures)
			return api_reply_error(r, 503, "no host could create the sandbox: %s", a->last_error);
		if (rc < 0)
			return api_reply_error(r, rc == -EAGAIN ? 429 : 500, "%s", err.msg);
		int status = try_host(c, r, host, addr);
		log_info("op=gateway_create template=%s host=%s status=%d", a->req.template_id, host, status);
		settle(c->g, booking);
		if (status == 429) {
			exclude(a, host);
			continue;
		}
		if ((status >= 0 && status < 500) || (status == 503 && cluster_down(c)))
			return relay_reply(&c->rl, r, NULL);
		exclude(a, host);
		snprintf(a->last_error, sizeof(a->last_error), "host %s %s %d", host,
			 status < 0 ? "did not answer:" : "answered", status < 0 ? -status : status);
		if (++a->failures == GATEWAY_CREATE_ATTEMPTS)
			return status < 0 ? api_reply_error(r, 503, "no host could create the sandbox: %s", a->last_error)
					  : relay_reply(&c->rl, r, NULL);
	}
}

void gateway_template_name(const char *given, char name[CLUSTER_TEMPLATE_NAME_MAX + 1])
{
	struct template_ref ref;
	if (template_ref_parse(given, &ref, NULL) < 0)
		snprintf(name, CLUSTER_TEMPLATE_NAME_MAX + 1, "%s", given); /* no host has it: placement says so */
	else
		snprintf(name, CLUSTER_TEMPLATE_NAME_MAX + 1, "%s%s%s", ref.alias, ref.tag[0] ? ":" : "", ref.tag);
}

static enum MHD_Result create(struct http_request *r)
{
	struct gateway_call *c = r->ctx;
	if (!c)
		return api_reply_error(r, 500, "out of memory");
	struct api_create_body b;
	struct cove_err err = { 0 };
	int rc = api_create_body_parse(r->body, r->len, &b, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	char template_id[CLUSTER_TEMPLATE_NAME_MAX + 1];
	gateway_template_name(b.req.template_id ? b.req.template_id : MANAGER_DEFAULT_TEMPLATE, template_id);
	api_create_body_clear(&b);
	struct attempt *a = calloc(1, sizeof(*a));
	if (!a)
		return api_reply_error(r, 500, "out of memory");
	a->req.template_id = template_id;
	enum MHD_Result res = place(r, c, a);
	free(a);
	return res;
}

const struct http_route gateway_create_route = {
	.method = "POST", .pattern = "*", .handler = create, .cleanup = gateway_call_cleanup
};
