/* Inside the control API: the route handlers (control.c's table names them)
 * and what they share (reply.c): the manager behind the server, the errno
 * each manager failure answers with, a sandbox's JSON. Each handler parses
 * its request whole (api/request.h) before it acts. */
#ifndef COVE_API_HANDLERS_H
#define COVE_API_HANDLERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/request.h"
#include "api/server.h"
#include "manager/manager.h"

/* sandboxes.c */
enum MHD_Result api_sandbox_create(struct http_request *r);
enum MHD_Result api_sandbox_info(struct http_request *r);
enum MHD_Result api_sandbox_kill(struct http_request *r);
enum MHD_Result api_sandbox_timeout(struct http_request *r);
enum MHD_Result api_sandbox_refresh(struct http_request *r);
enum MHD_Result api_sandbox_connect(struct http_request *r);
enum MHD_Result api_sandbox_pause(struct http_request *r);
enum MHD_Result api_sandbox_network(struct http_request *r);
enum MHD_Result api_sandbox_fork(struct http_request *r);
/* list.c */
enum MHD_Result api_list_v1(struct http_request *r);
enum MHD_Result api_list_v2(struct http_request *r);
/* metrics.c */
enum MHD_Result api_sandbox_metrics(struct http_request *r);
enum MHD_Result api_host_metrics(struct http_request *r);
/* GET /metrics's reply: the host's figures (host) and extra (Prometheus
 * text, may be NULL) after them: a cluster coved's. */
enum MHD_Result api_metrics_reply(struct http_request *r, bool host, const char *extra);
/* logs.c */
enum MHD_Result api_sandbox_logs(struct http_request *r);
/* templates.c */
enum MHD_Result api_templates(struct http_request *r);
enum MHD_Result api_template_alias(struct http_request *r);
/* snapshots.c */
enum MHD_Result api_snapshot_create(struct http_request *r);
enum MHD_Result api_snapshots(struct http_request *r);
enum MHD_Result api_template_delete(struct http_request *r);
enum MHD_Result api_template_delete_namespaced(struct http_request *r);

/* builds.c */
/* A trigger's body: up to 256 steps of long commands. */
#define API_BUILD_BODY_LIMIT (8u << 20)
enum MHD_Result api_build_register(struct http_request *r);
enum MHD_Result api_build_files(struct http_request *r);
enum MHD_Result api_build_trigger(struct http_request *r);
enum MHD_Result api_build_status(struct http_request *r);
enum MHD_Result api_tags_assign(struct http_request *r);
enum MHD_Result api_tags_remove(struct http_request *r);
enum MHD_Result api_template_tags(struct http_request *r);
enum MHD_Result api_upload(struct http_request *r);
int api_upload_sink(struct http_request *r, const char *data, size_t len);
void api_upload_cleanup(struct http_request *r);
int api_upload_authorize(struct http_request *r, char *why, size_t len);
/* secrets.c */
/* A value of SECRETS_VALUE_MAX bytes, every one a JSON escape, and metadata. */
#define API_SECRET_BODY_LIMIT (512u << 10)
enum MHD_Result api_secrets(struct http_request *r);
enum MHD_Result api_secret_create(struct http_request *r);
enum MHD_Result api_secret_info(struct http_request *r);
enum MHD_Result api_secret_update(struct http_request *r);
enum MHD_Result api_secret_destroy(struct http_request *r);

/* volumes.c */
enum MHD_Result api_volumes(struct http_request *r);
enum MHD_Result api_volume_create(struct http_request *r);
enum MHD_Result api_volume_info(struct http_request *r);
enum MHD_Result api_volume_destroy(struct http_request *r);
/* The content routes: authorize opens the volume by its token (Bearer) and
 * parses the query; cleanup lets go of it. */
int api_volume_content_authorize(struct http_request *r, char *why, size_t len);
void api_volume_content_cleanup(struct http_request *r);
enum MHD_Result api_volume_list(struct http_request *r);
enum MHD_Result api_volume_mkdir(struct http_request *r);
enum MHD_Result api_volume_stat(struct http_request *r);
enum MHD_Result api_volume_set_attrs(struct http_request *r);
enum MHD_Result api_volume_remove(struct http_request *r);
enum MHD_Result api_volume_read(struct http_request *r);
enum MHD_Result api_volume_write(struct http_request *r);
int api_volume_write_sink(struct http_request *r, const char *data, size_t len);

/* reply.c */
struct manager *api_manager(struct http_request *r);
/* The request's query string, for the parsers. */
struct api_query api_query_of(struct http_request *r);
/* ms since the epoch as 2006-01-02T15:04:05.000Z. */
void api_iso8601(int64_t ms, char buf[32]);
const char *api_state_name(enum store_sandbox_state s);
/* A manager failure's status: -ENOENT 404, -EINVAL 400, -EAGAIN 429, ... */
unsigned api_status_of(int code);
/* On a 503 for -ENOTCONN (a cluster host that cannot write the catalog:
 * fenced, or etcd out of its reach): the failure may be the cluster's, not
 * this host's alone (gateway/create.c probes which). */
#define API_CLUSTER_DOWN_HEADER "X-Cove-Cluster-Down"
/* A failure as its status, with err's message, else the errno's. */
enum MHD_Result api_reply_failure(struct http_request *r, int code, const struct cove_err *err);
/* A route of E2B's that Cove does not serve: 501 naming it, so that no SDK
 * reads its absence as "not found". */
enum MHD_Result api_not_supported(struct http_request *r);
/* The fields create and connect answer with. */
json_t *api_created_json(const struct manager_info *info);
/* A sandbox as info and list show it. */
json_t *api_info_json(const struct manager_info *info, bool with_token);

#endif
