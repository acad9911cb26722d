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

static enum MHD_Result health(struct http_request *r)
{
	return http_reply(r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

/* POST /init: the host's access token, env vars, default workdir and clock.
 * Once a token is set, /init too needs it (a process in the guest must not
 * be able to take the sandbox's token over). */
static enum MHD_Result init(struct http_request *r)
{
	json_error_t jerr;
	json_t *j = r->len ? json_loadb(r->body, r->len, 0, &jerr) : json_object();
	if (!json_is_object(j)) {
		json_decref(j);
		return http_reply_connect_error(r, "invalid_argument", "the body must be a JSON object");
	}
	struct cove_err err = { 0 };
	int rc = agent_init_apply(j, &err);
	json_decref(j);
	if (rc < 0)
		return http_reply_connect_error(r, rc == -EINVAL ? "invalid_argument" : "internal", err.msg);
	return http_reply(r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

static const struct http_route routes[] = {
	{ "GET", "/health", 0, health, .open = true },
	{ "POST", "/init", SMALL_BODY_LIMIT, init },
	{ "GET", "/metrics", 0, metrics_get },
	{ "POST", "/process.Process/Start", START_BODY_LIMIT, process_start },
	{ "POST", "/process.Process/Connect", SMALL_BODY_LIMIT, process_connect },
	{ "POST", "/process.Process/List", SMALL_BODY_LIMIT, process_list },
	{ "POST", "/process.Process/SendInput", INPUT_BODY_LIMIT, process_send_input },
	{ "POST", "/process.Process/SendSignal", SMALL_BODY_LIMIT, process_send_signal },
	{ "POST", "/process.Process/CloseStdin", SMALL_BODY_LIMIT, process_close_stdin },
	{ "POST", "/process.Process/Update", SMALL_BODY_LIMIT, process_update },
	{ "POST", "/filesystem.Filesystem/Stat", SMALL_BODY_LIMIT, fs_stat },
	{ "POST", "/filesystem.Filesystem/MakeDir", SMALL_BODY_LIMIT, fs_make_dir },
	{ "POST", "/filesystem.Filesystem/Move", SMALL_BODY_LIMIT, fs_move },
	{ "POST", "/filesystem.Filesystem/ListDir", SMALL_BODY_LIMIT, fs_list_dir },
	{ "POST", "/filesystem.Filesystem/Remove", SMALL_BODY_LIMIT, fs_remove },
	{ "POST", "/filesystem.Filesystem/WatchDir", SMALL_BODY_LIMIT, watch_dir },
	{ "POST", "/filesystem.Filesystem/CreateWatcher", SMALL_BODY_LIMIT, watcher_create },
	{ "POST", "/filesystem.Filesystem/GetWatcherEvents", SMALL_BODY_LIMIT, watcher_get_events },
	{ "POST", "/filesystem.Filesystem/RemoveWatcher", SMALL_BODY_LIMIT, watcher_remove },
	{ "GET", "/files", 0, files_get, .authorize = files_authorize_read },
	{ "POST", "/files", 0, files_post, files_post_body, files_post_cleanup, .authorize = files_authorize_write },
};

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: cove-agent [--listen ADDR:PORT] [--set-clock]   (default 0.0.0.0:%d)\n"
			"  --set-clock  let POST /init set the system clock (cove-init passes it in guests)\n",
		ENVD_PORT);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ENVD_PORT) };
	bool set_clock = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--set-clock") == 0) {
			set_clock = true;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			if (parse_listen(argv[++i], &sa) < 0) {
				fprintf(stderr, "cove-agent: --listen %s: expected ADDR:PORT\n", argv[i]);
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	agent_state_setup(set_clock);
	struct http_server *server;
	struct cove_err err = { 0 };
	if (http_server_start(&sa, routes, sizeof(routes) / sizeof(routes[0]), agent_token_ok, &server, &err) < 0) {
		fprintf(stderr, "cove-agent: %s\n", err.msg);
		return 1;
	}
	/* Printed once listening, so a supervisor or test can wait for it. */
	printf("cove-agent: listening on port %u\n", http_server_port(server));
	fflush(stdout);
	for (;;)
		pause();
}
