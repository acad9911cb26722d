/* cove snapshot: a snapshot of a running sandbox; cove snapshot rm: delete
 * snapshots. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "template/template.h"

enum { O_NAME = 300, O_JSON };

struct snapshot_opts {
	const char *name;
	bool json;
};

static int snapshot_option(void *ctx, int c)
{
	struct snapshot_opts *o = ctx;
	if (c == O_NAME)
		o->name = optarg;
	else if (c == O_JSON)
		o->json = true;
	else
		return -1;
	return 0;
}

/* cove snapshot rm NAME|ID...: one DELETE /templates/{id} each. */
static int snapshot_rm(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove snapshot rm NAME|ID...\n"
		"\n"
		"Deletes snapshots, by name or id. Sandboxes created from one run on; its\n"
		"files go when the last of them ends.\n" CLI_CLIENT_HELP;
	static const struct option opts[] = { CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 } };
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 1, -1 };
	struct client_config cc = { 0 };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, NULL, NULL);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	struct client *cl = cli_client("snapshot rm", &cc);
	if (!cl)
		return 1;
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct cove_err err = { 0 };
		struct template_ref ref;
		char path[2 * TEMPLATE_REF_MAX + 32];
		/* Parsed here as coved would: what is sent needs no escaping. */
		if (template_ref_parse(argv[i], &ref, &err) < 0 ||
		    (snprintf(path, sizeof(path), "/templates/%s%s%s", ref.alias, ref.tag[0] ? ":" : "", ref.tag),
		     client_call(cl, "DELETE", path, NULL, NULL, NULL, &err) < 0)) {
			fprintf(stderr, "cove snapshot rm: %s\n", err.msg);
			rc = 1;
		}
	}
	client_close(cl);
	return rc;
}

int cmd_snapshot(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "rm") == 0)
		return snapshot_rm(argc - 1, argv + 1);
	static const char usage_text[] =
		"usage: cove snapshot [--name NAME[:TAG]] [--json] ID\n"
		"       cove snapshot rm NAME|ID...\n"
		"\n"
		"Snapshots sandbox ID as it runs now: its memory, processes and files. It is\n"
		"paused only while they are saved, and runs on. Prints the snapshot's id;\n"
		"'cove create --template' with that id or the name makes sandboxes that\n"
		"carry on from it. A name given again moves to the new snapshot.\n"
		"  --name N       a name (a-z, 0-9, '_', '-'; a tag after ':')\n"
		"  --json         print coved's whole answer\n"
		"'cove snapshots' lists them; 'cove snapshot rm' deletes them.\n" CLI_CLIENT_HELP;
	static const struct option opts[] = {
		{ "name", required_argument, NULL, O_NAME }, { "json", no_argument, NULL, O_JSON },
		CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 1, 1 };
	struct client_config cc = { 0 };
	struct snapshot_opts o = { NULL, false };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, snapshot_option, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	char path[128];
	if (cli_sandbox_path(path, sizeof(path), argv[optind], "/snapshots") < 0) {
		fprintf(stderr, "cove snapshot: '%s' is not a sandbox id\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("snapshot", &cc);
	if (!cl)
		return 1;
	json_t *body = o.name ? json_pack("{s:s}", "name", o.name) : json_object();
	json_t *reply = NULL;
	int rc = 0;
	if (cli_call(cl, "snapshot", "POST", path, body, &reply) < 0) {
		rc = 1;
	} else if (o.json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%s\n", json_string_value(json_object_get(reply, "snapshotID")) ?: "?");
	}
	json_decref(body);
	json_decref(reply);
	client_close(cl);
	return rc;
}
