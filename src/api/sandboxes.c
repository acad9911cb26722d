/* One sandbox's routes: create, info, kill, timeout, refresh, connect,
 * pause, fork (E2B's spec/openapi.yml and the SDK's schema; docs/api.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "proto/placeholder.h"
#include "proto/utf8.h"
#include "secrets/secrets.h"

/* Every ${e2b.secrets.NAME} of the rules names a secret there is (field:
 * the rules' name in the request); checked when rules are set, as E2B
 * does, so that a typo is a 400 rather than a request failing later. */
static int rules_secrets_known(struct http_request *r, const struct net_policy *p, const char *field,
			       struct cove_err *err)
{
	struct secrets *s = manager_secrets(api_manager(r));
	for (size_t i = 0; i < p->nrules; i++)
		for (size_t k = 0; k < p->rules[i].nheaders; k++) {
			const struct net_header *h = &p->rules[i].headers[k];
			struct placeholder ph;
			size_t len = strlen(h->value);
			for (size_t at = 0; placeholder_next(h->value, len, at, &ph, NULL) > 0; at = ph.at + ph.len) {
				char name[PLACEHOLDER_NAME_MAX + 1];
				snprintf(name, sizeof(name), "%.*s", (int)ph.name_len, ph.name);
				if (!s || !secrets_exists(s, name))
					return cove_errf(err, -EINVAL,
							 "%s['%s']: header %s: no secret named '%s' (Secret.create it first)",
							 field, p->rules[i].host, h->name, name);
			}
		}
	return 0;
}

enum MHD_Result api_sandbox_create(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_create_body body;
	struct manager_info info = { 0 };
	int rc = api_create_body_parse(r->body, r->len, &body, &err);
	if (rc == 0) {
		rc = rules_secrets_known(r, &body.req.policy, "network.rules", &err);
		rc = rc ?: manager_create(api_manager(r), &body.req, &info, &err);
		api_create_body_clear(&body);
	}
	/* No such template is the request's fault. */
	if (rc < 0)
		return api_reply_failure(r, rc == -ENOENT ? -EINVAL : rc, &err);
	enum MHD_Result ret = http_reply_json(r, 201, api_created_json(&info));
	manager_info_clear(&info);
	return ret;
}

enum MHD_Result api_sandbox_info(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct manager_info info = { 0 };
	int rc = manager_get(api_manager(r), r->params[0], &info, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	enum MHD_Result ret = http_reply_json(r, 200, api_info_json(&info, true));
	manager_info_clear(&info);
	return ret;
}

enum MHD_Result api_sandbox_kill(struct http_request *r)
{
	struct cove_err err = { 0 };
	int rc = manager_kill(api_manager(r), r->params[0], &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

enum MHD_Result api_sandbox_timeout(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_timeout_body body;
	int rc = api_timeout_body_parse(r->body, r->len, &body, &err);
	if (rc == 0)
		rc = manager_set_timeout(api_manager(r), r->params[0], body.timeout_s, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

enum MHD_Result api_sandbox_refresh(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_refresh_body body;
	int rc = api_refresh_body_parse(r->body, r->len, &body, &err);
	if (rc == 0 && body.duration_s < 0)
		body.duration_s = manager_default_timeout(api_manager(r), API_REFRESH_DEFAULT_S);
	if (rc == 0)
		rc = manager_refresh(api_manager(r), r->params[0], body.duration_s, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

/* Connect: resumes a paused sandbox (201) or finds a running one (200); the
 * deadline moves to now + timeout if that is later, never earlier. With
 * memory false a paused one boots from its saved disk (E2B's onResume
 * 'reboot'). */
enum MHD_Result api_sandbox_connect(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_connect_body body;
	bool resumed = false;
	struct manager_info info = { 0 };
	int rc = api_connect_body_parse(r->body, r->len, &body, &err);
	if (rc == 0 && body.timeout_s < 0)
		body.timeout_s = manager_default_timeout(api_manager(r), MANAGER_DEFAULT_TIMEOUT_S);
	if (rc == 0)
		rc = manager_resume(api_manager(r), r->params[0], body.timeout_s, body.memory, &resumed, &err);
	if (rc == 0)
		rc = manager_get(api_manager(r), r->params[0], &info, &err);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	enum MHD_Result ret = http_reply_json(r, resumed ? 201 : 200, api_created_json(&info));
	manager_info_clear(&info);
	return ret;
}

/* Pause: {"memory": false} keeps the disk alone (E2B's filesystem-only
 * pause); 409 for a sandbox whose disk is thrown away. */
enum MHD_Result api_sandbox_pause(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_pause_body body;
	int rc = api_pause_body_parse(r->body, r->len, &body, &err);
	if (rc == 0)
		rc = manager_pause(api_manager(r), r->params[0], body.memory, &err);
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}

/* One child of a fork as E2B's SandboxForkResult: {"sandbox": create's
 * fields} or {"error": {"code", "message"}}. */
static json_t *fork_result_json(const struct manager_fork_child *c)
{
	if (c->r == 0)
		return json_pack("{s:o}", "sandbox", api_created_json(&c->info));
	const char *msg = c->err.msg[0] ? c->err.msg : strerror(-c->r);
	return json_pack("{s:{s:i, s:o}}", "error", "code", (int)api_status_of(c->r), "message", json_string_lossy(msg));
}

/* POST /sandboxes/{id}/fork: 201 with an array, one result a child, each
 * made or failed on its own; a failure before any child was tried is the
 * request's (404, 409, ...). Unlike E2B, a paused sandbox forks too. */
enum MHD_Result api_sandbox_fork(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_fork_body body;
	struct manager_fork_child *kids = NULL;
	int rc = api_fork_body_parse(r->body, r->len, &body, &err);
	if (rc == 0 && !(kids = calloc(body.count, sizeof(*kids))))
		rc = cove_errf(&err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = manager_fork(api_manager(r), r->params[0], body.count, body.timeout_s, kids, &err);
	if (rc < 0) {
		free(kids);
		return api_reply_failure(r, rc, &err);
	}
	json_t *list = json_array();
	for (unsigned i = 0; i < body.count; i++) {
		json_t *item = fork_result_json(&kids[i]);
		if (!item || json_array_append_new(list, item) < 0) {
			json_decref(list);
			list = NULL;
		}
		if (kids[i].r == 0)
			manager_info_clear(&kids[i].info);
	}
	free(kids);
	return http_reply_json(r, 201, list);
}

/* PUT /sandboxes/{id}/network (E2B's updateNetwork): the whole egress
 * policy replaced, in force at once. */
enum MHD_Result api_sandbox_network(struct http_request *r)
{
	struct cove_err err = { 0 };
	struct api_network_body body;
	int rc = api_network_body_parse(r->body, r->len, &body, &err);
	if (rc == 0) {
		rc = rules_secrets_known(r, &body.policy, "rules", &err);
		rc = rc ?: manager_set_network(api_manager(r), r->params[0], &body.policy, &err);
		api_network_body_clear(&body);
	}
	return rc < 0 ? api_reply_failure(r, rc, &err) : http_reply_empty(r, 204);
}
