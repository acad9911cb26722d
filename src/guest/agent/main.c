/* cove-agent: the guest agent. An HTTP/1.1 server on TCP port 49983 (envd's
 * port) speaking the Connect protocol of E2B's envd (docs/agent-protocol.md).
 * Also runs directly on a host, bound to loopback, for tests
 * (--listen 127.0.0.1:PORT; port 0 picks a free one). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/inet.h"
#include "agent/fs_service.h"
#include "agent/http.h"
#include "agent/process_service.h"
#include "agent/metrics.h"
#include "agent/state.h"
#include "agent/watch.h"
#include "proto/version.h"

/* A StartRequest is argv plus environment. */
#define START_BODY_LIMIT (1024 * 1024)
/* SendInput carries base64 bytes; the SDK sends what the user wrote at once. */
#define INPUT_BODY_LIMIT (8 * 1024 * 1024)
#define SMALL_BODY_LIMIT (64 * 1024)
/* A compose names up to 10000 source paths (proto/compose.h). */
#define COMPOSE_BODY_LIMIT (4 * 1024 * 1024)

static enum MHD_Result health(struct http_request *r)
{
	return http_reply(r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

/* POST /init: the host's access token, env vars, default workdir, clock,
 * nameservers, the egress authority's certificate and the volumes to
 * mount. 400: a field is malformed; 501: volumeMounts to an agent without
 * --mount-volumes; 500: a mount (or another change) failed.
 * Once a token is set, /init too needs it (a process in the guest must not
 * be able to take the sandbox's token over). */
static enum MHD_Result init(struct http_request *r)
{
	json_error_t jerr;
	json_t *j = r->len ? json_loadb(r->body, r->len, 0, &jerr) : json_object();
	if (!json_is_object(j)) {
		json_decref(j);
		return agent_reply_rest_error(r, 400, "the body must be a JSON object");
	}
	struct cove_err err = { 0 };
	int rc = agent_init_apply(j, &err);
	json_decref(j);
	if (rc < 0)
		return agent_reply_rest_error(r, rc == -EINVAL ? 400 : rc == -EOPNOTSUPP ? 501 : 500, err.msg);
	return http_reply(r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

/* GET /envs: /init's envVars, for services in the guest (E2B's code
 * interpreter reads them so); never cached, as envd says. */
static enum MHD_Result envs(struct http_request *r)
{
	return http_reply_json_with(r, MHD_HTTP_OK, agent_envs_json(), "Cache-Control", "no-store");
}

static const struct http_route routes[] = {
	{ "GET", "/health", health, 0, .open = true },
	{ "POST", "/init", init, SMALL_BODY_LIMIT },
	{ "GET", "/envs", envs, 0 },
	{ "GET", "/metrics", metrics_get, 0 },
	{ "POST", "/process.Process/Start", process_start, START_BODY_LIMIT },
	{ "POST", "/process.Process/Connect", process_connect, SMALL_BODY_LIMIT },
	{ "POST", "/process.Process/List", process_list, SMALL_BODY_LIMIT },
	{ "POST", "/process.Process/SendInput", process_send_input, INPUT_BODY_LIMIT },
	{ "POST", "/process.Process/SendSignal", process_send_signal, SMALL_BODY_LIMIT },
	{ "POST", "/process.Process/CloseStdin", process_close_stdin, SMALL_BODY_LIMIT },
	{ "POST", "/process.Process/Update", process_update, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/Stat", fs_stat, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/MakeDir", fs_make_dir, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/Move", fs_move, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/ListDir", fs_list_dir, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/Remove", fs_remove, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/WatchDir", watch_dir, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/CreateWatcher", watcher_create, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/GetWatcherEvents", watcher_get_events, SMALL_BODY_LIMIT },
	{ "POST", "/filesystem.Filesystem/RemoveWatcher", watcher_remove, SMALL_BODY_LIMIT },
	{ "GET", "/files", files_get, 0, .authorize = files_authorize_read },
	{ "POST", "/files", files_post, 0, files_post_body, files_post_cleanup, .authorize = files_authorize_write },
	{ "POST", "/files/compose", files_compose, COMPOSE_BODY_LIMIT },
};

static void usage(void)
{
	fprintf(stderr, "usage: cove-agent [--listen ADDR:PORT] [--set-clock] [--mount-volumes] [--resolv-conf FILE]\n"
			"                  [--ca-root DIR] (default 0.0.0.0:%d)\n"
			"  --set-clock         let POST /init set the system clock (cove-init passes it in guests)\n"
			"  --mount-volumes     let POST /init mount its volumeMounts over NFS (cove-init passes\n"
			"                      it in guests; without it such an /init is refused)\n"
			"  --resolv-conf FILE  write POST /init's nameservers to FILE (cove-init passes\n"
			"                      /etc/resolv.conf in guests)\n"
			"  --ca-root DIR       install POST /init's caBundle in the trust store of the tree\n"
			"                      at DIR (cove-init passes / in guests)\n",
		ENVD_PORT);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ENVD_PORT) };
	bool set_clock = false, mount_volumes = false;
	const char *resolv_conf = NULL, *ca_root = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--set-clock") == 0) {
			set_clock = true;
		} else if (strcmp(argv[i], "--mount-volumes") == 0) {
			mount_volumes = true;
		} else if (strcmp(argv[i], "--resolv-conf") == 0 && i + 1 < argc) {
			resolv_conf = argv[++i];
		} else if (strcmp(argv[i], "--ca-root") == 0 && i + 1 < argc) {
			ca_root = argv[++i];
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			if (inet_addr_port_parse(argv[++i], &sa) < 0) {
				fprintf(stderr, "cove-agent: --listen %s: expected ADDR:PORT\n", argv[i]);
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	agent_state_setup(set_clock, mount_volumes, resolv_conf, ca_root);
	struct http_server *server;
	struct cove_err err = { 0 };
	if (agent_http_start(&sa, routes, sizeof(routes) / sizeof(routes[0]), &server, &err) < 0) {
		fprintf(stderr, "cove-agent: %s\n", err.msg);
		return 1;
	}
	/* Printed once listening, so a supervisor or test can wait for it. */
	printf("cove-agent: listening on port %u\n", http_server_port(server));
	fflush(stdout);
	for (;;)
		pause();
}
