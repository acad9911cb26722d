/* What a gateway answers itself (see internal.h): a request forwarded for
 * another host (421), a sandbox it has no record of (404 as coved words it,
 * or for envd traffic E2B's edge 502), and a sandbox whose host is gone or
 * does not answer: its info from the record, a kill recorded as an intent
 * (the record goes to killing, and the host kills it when it returns), and
 * 503 for the rest (multihost §4.4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/handlers.h"
#include "api/proxy.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "gateway/internal.h"

void gateway_call_cleanup(struct http_request *r)
{
	struct gateway_call *c = r->ctx;
	if (!c)
		return;
	if (c->rl.fd >= 0)
		close(c->rl.fd);
	free(c);
	r->ctx = NULL;
}

/* Shown from the record as a host shows the sandbox (api_info_json): a
 * record holds no tokens, disk use or network settings, which show their
 * defaults. */
json_t *gateway_sandbox_json(const struct cluster_sandbox *sb)
{
	struct manager_info info = { 0 };
	snprintf(info.id, sizeof(info.id), "%s", sb->id);
	snprintf(info.template_id, sizeof(info.template_id), "%s", sb->template_id);
	info.state = sb->state == CLUSTER_SANDBOX_PAUSED ? STORE_SANDBOX_PAUSED : STORE_SANDBOX_RUNNING;
	info.metadata = sb->metadata ? sb->metadata : "{}";
	info.started_ms = sb->started_ms;
	info.end_ms = sb->end_ms;
	info.vcpus = sb->vcpus;
	info.mem_mib = sb->mem_mib;
	info.seq = sb->seq;
	info.auto_pause = sb->auto_pause;
	return api_info_json(&info, false); /* info owns nothing: no clear */
}

static enum MHD_Result not_found(struct http_request *r, const char *id)
{
	return api_reply_error(r, 404, "sandbox '%s' not found", id);
}

/* The record's info, fresh from the catalog (a miss reads etcd). */
static enum MHD_Result info_from_record(struct http_request *r, struct gateway_call *c)
{
	struct cluster_sandbox sb = { 0 };
	struct cove_err err = { 0 };
	int rc = catalog_sandbox(c->g->cat, c->d.sandbox, &sb, NULL, &err);
	if (rc == -ENOENT)
		return not_found(r, c->d.sandbox);
	if (rc < 0)
		return api_reply_error(r, 503, "sandbox's host %s is unavailable", c->d.host);
	json_t *j = gateway_sandbox_json(&sb);
	cluster_sandbox_clear(&sb);
	return http_reply_json(r, 200, j);
}

/* The record, if it is still host's, becomes killing: a txn on the
 * revision read, so a concurrent write (the host back, another gateway)
 * wins or loses whole. -ENOENT: no record; -ESTALE: it changed under us. */
static int mark_killing(struct gateway *g, const char *id, const char *host, struct cove_err *err)
{
	char key[128];
	int rc = cluster_sandbox_key(id, key, sizeof(key), err);
	struct etcd_result res = { 0 };
	if (rc == 0)
		rc = etcd_range(g->etcd, key, strlen(key), false, &res, err);
	if (rc < 0)
		return rc;
	struct cluster_sandbox sb = { 0 };
	_cleanup_free_ char *text = NULL;
	rc = res.nkvs == 1 ? 0 : cove_errf(err, -ENOENT, "sandbox '%s' not found", id);
	if (rc == 0)
		rc = cluster_sandbox_decode(id, (const char *)res.kvs[0].value.data, res.kvs[0].value.len, &sb, err);
	if (rc == 0 && strcmp(sb.host, host) != 0)
		rc = cove_errf(err, -ESTALE, "sandbox %s moved to host %s", id, sb.host);
	if (rc == 0 && sb.state != CLUSTER_SANDBOX_KILLING) {
		sb.state = CLUSTER_SANDBOX_KILLING;
		rc = cluster_sandbox_encode(&sb, &text, err);
	}
	if (rc == 0 && text) {
		struct etcd_compare cmp = { .target = ETCD_CMP_MOD, .relation = ETCD_EQUAL, .key = key,
					    .key_len = strlen(key), .number = res.kvs[0].mod_revision };
		struct etcd_request_op put = { .op = ETCD_OP_PUT, .key = key, .key_len = strlen(key), .value = text,
					       .value_len = strlen(text) };
		struct etcd_txn_request txn = { .compare = &cmp, .ncompare = 1, .success = &put, .nsuccess = 1 };
		struct etcd_txn_result tr = { 0 };
		rc = etcd_txn(g->etcd, &txn, &tr, err);
		if (rc == 0 && !tr.succeeded)
			rc = cove_errf(err, -ESTALE, "sandbox %s: its record changed meanwhile", id);
		etcd_txn_result_clear(&tr);
	}
	cluster_sandbox_clear(&sb);
	etcd_result_clear(&res);
	return rc;
}

static enum MHD_Result kill_intent(struct http_request *r, struct gateway_call *c)
{
	struct cove_err err = { 0 };
	int rc = mark_killing(c->g, c->d.sandbox, c->d.host, &err);
	if (rc == -ENOENT)
		return not_found(r, c->d.sandbox);
	if (rc < 0) {
		log_warn("op=gateway_kill sandbox=%s host=%s msg=\"%s\"", c->d.sandbox, c->d.host, err.msg);
		return api_reply_error(r, 503, "sandbox's host %s is unavailable", c->d.host);
	}
	log_info("op=gateway_kill sandbox=%s host=%s state=killing", c->d.sandbox, c->d.host);
	return http_reply_empty(r, 204);
}

enum MHD_Result gateway_host_down(struct http_request *r, struct gateway_call *c)
{
	if (!c->keyed) /* envd traffic: E2B's "not running" */
		return proxy_reply_edge(r, 502, "The sandbox was not found", c->d.sandbox);
	if (!c->d.sandbox[0])
		return api_reply_error(r, 503, "host %s is unavailable", c->d.host);
	if (c->d.sandbox_root && strcmp(r->method, "GET") == 0)
		return info_from_record(r, c);
	if (c->d.sandbox_root && strcmp(r->method, "DELETE") == 0)
		return kill_intent(r, c);
	return api_reply_error(r, 503, "sandbox's host %s is unavailable", c->d.host);
}

static enum MHD_Result answer(struct http_request *r)
{
	struct gateway_call *c = r->ctx;
	if (!c)
		return api_reply_error(r, 500, "out of memory");
	switch (c->d.action) {
	case GATEWAY_MISDIRECTED:
		return api_reply_error(r, 421, "misdirected request: this is host %s, not %s",
				       c->g->self_id[0] ? c->g->self_id : "(a gateway only)", c->d.host);
	case GATEWAY_NOT_FOUND:
		return not_found(r, c->d.sandbox);
	case GATEWAY_HOST_DOWN:
		return gateway_host_down(r, c);
	case GATEWAY_ENVD_GONE:
		return proxy_reply_edge(r, 502, "The sandbox was not found", c->d.sandbox);
	default:
		return api_reply_error(r, c->d.status ? c->d.status : 500, "%s", c->d.err.msg);
	}
}

const struct http_route gateway_answer_route = {
	.method = "*", .pattern = "*", .handler = answer, .cleanup = gateway_call_cleanup
};

/* Open, as envd traffic is on a host. */
const struct http_route gateway_envd_gone_route = {
	.method = "*", .pattern = "*", .handler = answer, .cleanup = gateway_call_cleanup, .open = true
};
