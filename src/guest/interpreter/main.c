/* cove-interpreter: the code interpreter's server in a sandbox, on TCP port
 * 49999, speaking what @e2b/code-interpreter sends (POST /execute, the
 * /contexts routes, GET /health) and driving Jupyter kernels itself over
 * ZeroMQ (kernel.h): no Jupyter Server. A template starts it (its
 * start_cmd) before its snapshot is taken; it makes the default Python
 * context and runs the warm-up code (WARMUP_DIR/python.py) before it
 * listens, so a sandbox restored from the snapshot answers its first
 * runCode without starting a kernel.
 *
 * Errors are plain text with 400, 401, 404 or 500, as E2B's server
 * answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/inet.h"
#include "common/log.h"
#include "common/proc.h"
#include "http/http.h"
#include "interpreter/context.h"
#include "interpreter/execute.h"
#include "interpreter/request.h"

#define INTERPRETER_PORT 49999
/* The longest code a run takes. */
#define CODE_BODY_LIMIT (16 * 1024 * 1024)
#define SMALL_BODY_LIMIT (64 * 1024)

static struct execute_options exec_options = { .envd = "127.0.0.1:49983" };

static enum MHD_Result health(struct http_request *r)
{
	return http_reply(r, 200, "text/plain", "OK", 2);
}

static enum MHD_Result execute(struct http_request *r)
{
	struct execute_request req;
	struct cove_err err = { 0 };
	if (execute_request_parse(r->body, r->len, &req, &err) < 0)
		return http_reply_text(r, 400, err.msg);
	return execute_serve(r, &req, &exec_options);
}

static enum MHD_Result contexts_get(struct http_request *r)
{
	return http_reply_json(r, 200, contexts_list());
}

static enum MHD_Result contexts_post(struct http_request *r)
{
	struct context_request req;
	struct cove_err err = { 0 };
	if (context_request_parse(r->body, r->len, &req, &err) < 0)
		return http_reply_text(r, 400, err.msg);
	struct context *c;
	int rc = context_create(req.language, req.cwd, &c, &err);
	if (rc < 0)
		return http_reply_text(r, rc == -ENOENT ? 400 : 500, err.msg);
	json_t *j = context_json(c);
	context_put(c);
	return http_reply_json(r, 200, j);
}

static enum MHD_Result context_delete(struct http_request *r)
{
	struct cove_err err = { 0 };
	if (context_remove(r->params[0], &err) < 0)
		return http_reply_text(r, 404, err.msg);
	return http_reply_empty(r, 204);
}

static enum MHD_Result context_restart_route(struct http_request *r)
{
	struct cove_err err = { 0 };
	int rc = context_restart(r->params[0], &err);
	if (rc < 0)
		return http_reply_text(r, rc == -ENOENT ? 404 : 500, err.msg);
	return http_reply_empty(r, 204);
}

static const struct http_route routes[] = {
	{ "GET", "/health", health, 0, .open = true },
	{ "POST", "/execute", execute, CODE_BODY_LIMIT, .open = true },
	{ "GET", "/contexts", contexts_get, 0, .open = true },
	{ "POST", "/contexts", contexts_post, SMALL_BODY_LIMIT, .open = true },
	{ "DELETE", "/contexts/{id}", context_delete, 0, .open = true },
	{ "POST", "/contexts/{id}/restart", context_restart_route, SMALL_BODY_LIMIT, .open = true },
};

static enum MHD_Result fail(struct http_request *r, enum http_failure what)
{
	switch (what) {
	case HTTP_UNAUTHORIZED:
		return http_reply_text(r, 401, r->auth_error[0] ? r->auth_error : "unauthorized");
	case HTTP_NOT_FOUND:
		return http_reply_text(r, 404, "no such path");
	case HTTP_METHOD_NOT_ALLOWED:
		return http_reply_text(r, 405, "method not allowed");
	case HTTP_TOO_LARGE:
		return http_reply_text(r, 413, "request body too large");
	case HTTP_BUSY:
		return http_reply_text(r, 503, "too many connections");
	case HTTP_LOCKED: /* never: auth_failures is 0 */
	case HTTP_NO_MEMORY:
		break;
	}
	return http_reply_text(r, 500, "out of memory");
}

/* The default Python context and its warm-up, before listening. */
static int warm_up(const char *dir, int timeout_ms)
{
	struct context *c;
	struct cove_err err = { 0 };
	int64_t t0 = now_ms();
	if (context_default("python", &c, &err) < 0) {
		fprintf(stderr, "cove-interpreter: no default Python context: %s\n", err.msg);
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/python.py", dir);
	FILE *f = fopen(path, "re");
	if (f) {
		char *code = NULL;
		size_t n = 0;
		ssize_t len = getdelim(&code, &n, '\0', f);
		fclose(f);
		uint64_t t = context_enqueue(c);
		while (context_wait_turn(c, t, 1000) == 0)
			;
		int r = len > 0 ? execute_silent(c, code, timeout_ms, &err) : 0;
		context_release(c);
		free(code);
		if (r < 0)
			fprintf(stderr, "cove-interpreter: warm-up %s: %s (going on without it)\n", path, err.msg);
	}
	context_put(c);
	fprintf(stderr, "cove-interpreter: default Python context ready in %.1f s\n", (double)(now_ms() - t0) / 1000.0);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: cove-interpreter [--listen ADDR:PORT] [--envd ADDR:PORT|none] [--cwd DIR]\n"
		"                        [--warmup-dir DIR] [--no-warmup] [--kernel-timeout SECONDS]\n"
		"  --listen          where to serve (default 0.0.0.0:%d)\n"
		"  --envd            the guest agent, for the sandbox's env vars (default %s)\n"
		"  --cwd             contexts' default working directory (default $HOME)\n"
		"  --warmup-dir      code each default context runs first (default /etc/cove-interpreter/warmup)\n"
		"  --no-warmup       make no context before listening\n"
		"  --kernel-timeout  how long a kernel may take to start (default 300)\n",
		INTERPRETER_PORT, exec_options.envd);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(INTERPRETER_PORT) };
	const char *cwd = getenv("HOME"), *warmup_dir = "/etc/cove-interpreter/warmup";
	bool warmup = true;
	int kernel_timeout_s = 300;
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },	 { "envd", required_argument, NULL, 'e' },
		{ "cwd", required_argument, NULL, 'c' },	 { "warmup-dir", required_argument, NULL, 'w' },
		{ "no-warmup", no_argument, NULL, 'n' },	 { "kernel-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },		 { 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			if (inet_addr_port_parse(optarg, &sa) < 0) {
				fprintf(stderr, "cove-interpreter: --listen %s: expected ADDR:PORT\n", optarg);
				return 2;
			}
			break;
		case 'e':
			exec_options.envd = strcmp(optarg, "none") == 0 ? NULL : optarg;
			break;
		case 'c':
			cwd = optarg;
			break;
		case 'w':
			warmup_dir = optarg;
			break;
		case 'n':
			warmup = false;
			break;
		case 't':
			kernel_timeout_s = atoi(optarg);
			if (kernel_timeout_s <= 0) {
				fprintf(stderr, "cove-interpreter: --kernel-timeout %s: expected seconds\n", optarg);
				return 2;
			}
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	log_level_from_env();
	contexts_setup(cwd && *cwd ? cwd : "/", kernel_timeout_s * 1000);
	if (warmup && warm_up(warmup_dir, kernel_timeout_s * 1000) < 0)
		return 1;
	struct http_server_config c = {
		.addr = &sa,
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.max_connections = 256,
		.connection_memory = 256 * 1024,
		.fail = fail,
	};
	struct http_server *server;
	struct cove_err err = { 0 };
	if (http_server_start(&c, &server, &err) < 0) {
		fprintf(stderr, "cove-interpreter: %s\n", err.msg);
		return 1;
	}
	printf("cove-interpreter: listening on port %u\n", http_server_port(server));
	fflush(stdout);
	for (;;)
		pause();
}
