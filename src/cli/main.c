#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct verb verbs[] = {
	{ "run", cmd_run, "boot a sandbox, run one command in it, tear it down" },
	{ "create", cmd_create, "create a sandbox in coved and print its id" },
	{ "ls", cmd_ls, "list coved's sandboxes" },
	{ "exec", cmd_exec, "run a command in a sandbox, streaming its output" },
	{ "shell", cmd_shell, "an interactive shell in a sandbox" },
	{ "cp", cmd_cp, "copy a file into or out of a sandbox" },
	{ "pause", cmd_pause, "pause sandboxes" },
	{ "resume", cmd_resume, "resume paused sandboxes" },
	{ "fork", cmd_fork, "make sandboxes that carry on from a sandbox" },
	{ "snapshot", cmd_snapshot, "snapshot a running sandbox (rm: delete snapshots)" },
	{ "snapshots", cmd_snapshots, "list snapshots" },
	{ "kill", cmd_kill, "end sandboxes" },
	{ "logs", cmd_logs, "a sandbox's console (or VMM) log" },
	{ "templates", cmd_templates, "list the templates sandboxes are made from" },
	{ "volume", cmd_volume, "coved's volumes: ls, create, info, rm" },
	{ "host", cmd_host, "a cluster's hosts: ls, drain, undrain, forget" },
	{ "port-forward", cmd_port_forward, "relay a host port to a port of a running sandbox" },
	{ "template", cmd_template, "build a template from a recipe, or snapshot one" },
	{ "net", cmd_net, "list network slots (ls), remove leftovers (gc)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cove VERB [OPTIONS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-13s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\n'cove VERB --help' describes a verb. COVE_LOG=info|debug shows more.\n");
}

int main(int argc, char **argv)
{
	log_set_level(LOG_WARN);
	log_level_from_env();
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "cove: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
