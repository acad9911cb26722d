/* cove logs: the last lines of a sandbox's serial console, or of its VMM's
 * own log. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"

struct logs_opts {
	bool vmm;
	long limit;
};

static int logs_option(void *ctx, int c)
{
	struct logs_opts *o = ctx;
	if (c == 300) {
		o->vmm = true;
		return 0;
	}
	return c == 301 ? cli_parse_count("logs", "--limit", "lines", optarg, &o->limit) : -1;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vmm", no_argument, NULL, 300 }, { "limit", required_argument, NULL, 301 }, CLI_CLIENT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },  { 0 },
	};
	static const char usage_text[] =
		"usage: cove logs [--vmm] [--limit N] ID\n\n"
		"Prints the last lines of the sandbox's serial console (the guest kernel and\n"
		"init), or with --vmm of its VMM's own log.\n" CLI_CLIENT_HELP;
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 1, 1 };
	struct client_config cc = { 0 };
	struct logs_opts o = { false, 1000 };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, logs_option, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	bool vmm = o.vmm;
	long limit = o.limit;
	char path[160], suffix[32];
	snprintf(suffix, sizeof(suffix), "/logs?limit=%ld", limit);
	if (cli_sandbox_path(path, sizeof(path), argv[optind], suffix) < 0) {
		fprintf(stderr, "cove logs: '%s' is not a sandbox id\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("logs", &cc);
	if (!cl)
		return 1;
	json_t *reply = NULL;
	int rc = 0;
	if (cli_call(cl, "logs", "GET", path, NULL, &reply) < 0) {
		rc = 1;
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(reply, "logEntries"), i, e) {
			const char *source = json_string_value(json_object_get(json_object_get(e, "fields"), "source"));
			if (source && strcmp(source, vmm ? "vmm" : "console") == 0)
				puts(json_string_value(json_object_get(e, "message")) ?: "");
		}
	}
	json_decref(reply);
	client_close(cl);
	return rc;
}
