/* cove fork: sandboxes that carry on from a running or paused one. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "client/client.h"

/* E2B's most children of one fork (coved's MANAGER_MAX_FORK). */
#define CLI_MAX_FORK 100

struct fork_opts {
	long timeout;
	long count;
	bool json;
};

static int fork_option(void *ctx, int c)
{
	struct fork_opts *o = ctx;
	if (c == 'j') {
		o->json = true;
		return 0;
	}
	if (c == 'n') {
		char *end;
		errno = 0;
		o->count = strtol(optarg, &end, 10);
		if (errno || *end || o->count < 1 || o->count > CLI_MAX_FORK) {
			fprintf(stderr, "cove fork: -n wants a number from 1 to %d, not '%s'\n", CLI_MAX_FORK, optarg);
			return -1;
		}
		return 0;
	}
	return c == 300 ? cli_parse_count("fork", "--timeout", "seconds", optarg, &o->timeout) : -1;
}

/* Each child's id on stdout, each failure on stderr; -1 when any failed. */
static int print_children(json_t *reply)
{
	if (!json_is_array(reply)) {
		fprintf(stderr, "cove fork: coved's answer is not a list of children\n");
		return -1;
	}
	int r = 0;
	size_t i;
	json_t *item;
	json_array_foreach(reply, i, item) {
		const char *id = json_string_value(json_object_get(json_object_get(item, "sandbox"), "sandboxID"));
		json_t *error = json_object_get(item, "error");
		if (id) {
			printf("%s\n", id);
			continue;
		}
		r = -1;
		fprintf(stderr, "cove fork: child %zu: %s (%lld)\n", i + 1,
			json_string_value(json_object_get(error, "message")) ?: "failed, and coved did not say why",
			(long long)json_integer_value(json_object_get(error, "code")));
	}
	return r;
}

int cmd_fork(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove fork [-n N] [--timeout S] [--json] ID\n"
		"\n"
		"Makes N sandboxes (default 1) that carry on from sandbox ID as it is now\n"
		"(running, or paused): its processes, files and environment, each with an\n"
		"id, token, network and disk of its own and its own random numbers. ID runs\n"
		"on. Prints the new ids; a child that could not be made (over the host's\n"
		"limits, say) is told on stderr, and cove exits 1, the others made.\n"
		"  -n N           how many (1 to 100)\n"
		"  --timeout S    seconds each lives unless extended (default 300)\n"
		"  --json         print coved's whole answer\n" CLI_CLIENT_HELP;
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 300 }, { "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'n' }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static const struct cli_verb_syntax syntax = { usage_text, "hn:", opts, 1, 1 };
	struct client_config cc = { 0 };
	struct fork_opts o = { 0, 1, false };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, fork_option, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	char path[128];
	if (cli_sandbox_path(path, sizeof(path), argv[optind], "/fork") < 0) {
		fprintf(stderr, "cove fork: '%s' is not a sandbox id\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("fork", &cc);
	if (!cl)
		return 1;
	json_t *body = json_pack("{s:I, s:I}", "count", (json_int_t)o.count, "timeout",
				 (json_int_t)(o.timeout ? o.timeout : 300));
	json_t *reply = NULL;
	int rc = 0;
	if (cli_call(cl, "fork", "POST", path, body, &reply) < 0) {
		rc = 1;
	} else if (o.json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (print_children(reply) < 0) {
		rc = 1;
	}
	json_decref(body);
	json_decref(reply);
	client_close(cl);
	return rc;
}
