/* cove snapshots: coved's snapshots as a table (or JSON), every page of
 * the listing fetched. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "template/template.h"

enum { O_JSON = 300, O_SANDBOX, O_NAME };

struct snapshots_opts {
	bool json;
	const char *sandbox, *name;
};

static int snapshots_option(void *ctx, int c)
{
	struct snapshots_opts *o = ctx;
	if (c == O_JSON)
		o->json = true;
	else if (c == O_SANDBOX)
		o->sandbox = optarg;
	else if (c == O_NAME)
		o->name = optarg;
	else
		return -1;
	return 0;
}

static void print_table(json_t *list)
{
	printf("%-36s  %-24s  %-20s  %-12s  %-20s  %7s\n", "SNAPSHOT ID", "NAME", "FROM SANDBOX", "TEMPLATE", "CREATED",
	       "ON DISK");
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) {
		char used[16], created[20];
		cli_human_bytes((uint64_t)json_integer_value(json_object_get(s, "diskBytes")), used, sizeof(used));
		/* 2006-01-02T15:04:05 of the ISO 8601 time, in UTC */
		snprintf(created, sizeof(created), "%s", json_string_value(json_object_get(s, "createdAt")) ?: "?");
		const char *name = json_string_value(json_array_get(json_object_get(s, "names"), 0));
		printf("%-36s  %-24s  %-20s  %-12s  %-20s  %7s\n", json_string_value(json_object_get(s, "snapshotID")) ?: "?",
		       name ? name : "-", json_string_value(json_object_get(s, "sandboxID")) ?: "?",
		       json_string_value(json_object_get(s, "templateID")) ?: "?", created, used);
	}
}

int cmd_snapshots(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove snapshots [--sandbox ID] [--name NAME[:TAG]] [--json]\n"
		"\n"
		"Lists coved's snapshots, newest first ('cove snapshot' makes them).\n"
		"  --sandbox ID   those made from sandbox ID\n"
		"  --name N       those of that name or id (without a tag: every tag)\n"
		"  --json         print coved's whole answer\n" CLI_CLIENT_HELP;
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON }, { "sandbox", required_argument, NULL, O_SANDBOX },
		{ "name", required_argument, NULL, O_NAME }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 0, 0 };
	struct client_config cc = { 0 };
	struct snapshots_opts o = { false, NULL, NULL };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, snapshots_option, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	/* Checked here, so that what is sent needs no escaping. */
	char sandbox_path[128], filter[2 * TEMPLATE_REF_MAX + 16] = "";
	struct template_ref ref;
	struct cove_err err = { 0 };
	if (o.sandbox && cli_sandbox_path(sandbox_path, sizeof(sandbox_path), o.sandbox, "") < 0) {
		fprintf(stderr, "cove snapshots: '%s' is not a sandbox id\n", o.sandbox);
		return CLI_EXIT_USAGE;
	}
	if (o.name && template_ref_parse(o.name, &ref, &err) < 0) {
		fprintf(stderr, "cove snapshots: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	if (o.name)
		snprintf(filter, sizeof(filter), "&name=%s%s%s", ref.alias, ref.tag[0] ? ":" : "", ref.tag);
	struct client *cl = cli_client("snapshots", &cc);
	if (!cl)
		return 1;
	char query[1024];
	snprintf(query, sizeof(query), "/snapshots?limit=100%s%s%s", o.sandbox ? "&sandboxID=" : "",
		 o.sandbox ? o.sandbox : "", filter);
	json_t *all = cli_get_all(cl, "snapshots", query);
	if (all && o.json) {
		json_dumpf(all, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (all) {
		print_table(all);
	}
	int rc = all ? 0 : 1;
	json_decref(all);
	client_close(cl);
	return rc;
}
