/* Where a request is served, from its headers (see gateway.h and
 * internal.h). The order matters: a forwarded request is the host's own
 * before anything else, envd traffic is recognised by its headers whatever
 * its path, and only then do the paths decide. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway/internal.h"

/* An old SDK's sandboxID-clientID (before July 2025); Cove's clientID. */
#define OLD_CLIENT_SUFFIX "-cove"

int gateway_sandbox_id(const char *given, char id[CLUSTER_SANDBOX_ID_MAX + 1])
{
	size_t n = strlen(given), suffix = strlen(OLD_CLIENT_SUFFIX);
	if (n > suffix && strcmp(given + n - suffix, OLD_CLIENT_SUFFIX) == 0)
		n -= suffix;
	if (n == 0 || n > CLUSTER_SANDBOX_ID_MAX)
		return -ENOENT;
	memcpy(id, given, n);
	id[n] = '\0';
	return cluster_sandbox_id_check(id, NULL) < 0 ? -ENOENT : 0;
}

struct lowest {
	char *id, *addr;
	bool found;
};

static int first_ready(const struct cluster_host *h, void *data)
{
	struct lowest *l = data;
	snprintf(l->id, CLUSTER_HOST_ID_MAX + 1, "%s", h->id);
	snprintf(l->addr, CLUSTER_ADDR_MAX + 1, "%s", h->addr);
	l->found = true;
	return 1; /* in id order: the first is the lowest */
}

int gateway_any_host(struct gateway *g, char id[CLUSTER_HOST_ID_MAX + 1], char addr[CLUSTER_ADDR_MAX + 1])
{
	struct lowest l = { id, addr, false };
	catalog_hosts(g->cat, first_ready, &l);
	return l.found ? 0 : -ENOENT;
}

static void fail(struct gateway_decision *d, unsigned status, int code, const char *fmt, const char *arg)
{
	char copy[sizeof(d->err.msg)]; /* arg may be d->err's own message */
	snprintf(copy, sizeof(copy), "%s", arg);
	d->action = GATEWAY_FAIL;
	d->status = status;
	cove_errf(&d->err, code, fmt, copy);
}

/* Sandbox id's owner: where its requests go. envd: its envd traffic. */
static void to_owner(struct gateway *g, const char *given, bool envd, struct gateway_decision *d)
{
	if (gateway_sandbox_id(given, d->sandbox) < 0) {
		snprintf(d->sandbox, sizeof(d->sandbox), "%.63s", given);
		d->action = envd ? GATEWAY_ENVD_GONE : GATEWAY_NOT_FOUND;
		return;
	}
	struct cluster_sandbox sb = { 0 };
	bool live = false;
	int rc = catalog_sandbox(g->cat, d->sandbox, &sb, &live, &d->err);
	if (rc == 0) {
		snprintf(d->host, sizeof(d->host), "%s", sb.host);
		cluster_sandbox_clear(&sb);
	}
	if (rc == -ENOENT || rc == -EINVAL) {
		/* A host serves what it has even when the catalog has not got it. */
		d->action = g->self_id[0] ? GATEWAY_LOCAL : envd ? GATEWAY_ENVD_GONE : GATEWAY_NOT_FOUND;
		return;
	}
	if (rc < 0) { /* etcd does not answer a miss: a host tries its own */
		if (g->self_id[0])
			d->action = GATEWAY_LOCAL;
		else if (envd)
			d->action = GATEWAY_ENVD_GONE;
		else
			fail(d, 503, rc, "%s", d->err.msg);
		return;
	}
	if (g->self_id[0] && strcmp(d->host, g->self_id) == 0) {
		d->action = GATEWAY_LOCAL;
		return;
	}
	struct cluster_host h = { 0 };
	if (!live || catalog_host(g->cat, d->host, &h, NULL) < 0) {
		d->action = envd ? GATEWAY_ENVD_GONE : GATEWAY_HOST_DOWN;
		return;
	}
	snprintf(d->addr, sizeof(d->addr), "%s", h.addr);
	cluster_host_clear(&h);
	d->action = envd ? GATEWAY_ENVD : GATEWAY_RELAY;
}

/* "/sandboxes/ID..." or "/v2/sandboxes/ID...": the ID into id, and whether
 * the path ends there. false for any other path. */
static bool sandbox_path(const char *path, char id[HTTP_MAX_PARAM], bool *root)
{
	const char *rest = NULL;
	if (strncmp(path, "/sandboxes/", 11) == 0)
		rest = path + 11;
	else if (strncmp(path, "/v2/sandboxes/", 14) == 0)
		rest = path + 14;
	if (!rest)
		return false;
	size_t n = strcspn(rest, "/");
	if (n == 0 || n >= HTTP_MAX_PARAM)
		return false;
	memcpy(id, rest, n);
	id[n] = '\0';
	*root = rest[n] == '\0' && rest == path + 11;
	/* The one fixed route under /sandboxes/ (control.c's table). */
	return !(*root && strcmp(id, "metrics") == 0);
}

/* Anything else: here on a host, else on the lowest live host. */
static void elsewhere(struct gateway *g, struct gateway_decision *d)
{
	if (g->self_id[0]) {
		d->action = GATEWAY_LOCAL;
		return;
	}
	if (gateway_any_host(g, d->host, d->addr) < 0)
		fail(d, 503, -EAGAIN, "%s", "no host of the cluster is live");
	else
		d->action = GATEWAY_RELAY;
}

static bool is(const struct gateway_request *req, const char *method, const char *path)
{
	return strcmp(req->method, method) == 0 && strcmp(req->path, path) == 0;
}

void gateway_decide(struct gateway *g, const struct gateway_request *req, struct gateway_decision *d)
{
	*d = (struct gateway_decision){ .action = GATEWAY_LOCAL };
	if (req->cove_host) {
		if (!(g->self_id[0] && strcmp(req->cove_host, g->self_id) == 0)) {
			d->action = GATEWAY_MISDIRECTED;
			snprintf(d->host, sizeof(d->host), "%.63s", req->cove_host);
		}
		return;
	}
	struct api_sandbox_target t;
	int rc = api_sandbox_target_parse(req->sandbox_id, req->sandbox_port, req->host, g->domain, &t, &d->err);
	if (rc > 0) {
		to_owner(g, t.id, true, d);
		return;
	}
	if (rc < 0) { /* named wrongly: a host's proxy words it; a gateway alike */
		if (g->self_id[0])
			return;
		snprintf(d->sandbox, sizeof(d->sandbox), "%.63s", t.id);
		if (rc == -ENOENT)
			d->action = GATEWAY_ENVD_GONE;
		else
			fail(d, 400, rc, "%s", d->err.msg);
		return;
	}
	/* The cluster's own routes are every gateway's. */
	if (strncmp(req->path, "/cluster/", 9) == 0)
		return;
	if (is(req, "POST", "/sandboxes") || is(req, "POST", "/v2/sandboxes")) {
		d->action = GATEWAY_CREATE;
		return;
	}
	if (is(req, "GET", "/sandboxes") || is(req, "GET", "/v2/sandboxes")) {
		d->action = GATEWAY_LIST;
		d->v2 = req->path[1] == 'v';
		return;
	}
	char id[HTTP_MAX_PARAM];
	if (sandbox_path(req->path, id, &d->sandbox_root))
		to_owner(g, id, false, d);
	else
		elsewhere(g, d);
}
