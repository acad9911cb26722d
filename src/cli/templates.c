/* cove templates: the templates coved makes sandboxes from. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "client/client.h"

enum { O_JSON = 300 };

/* Its one flag (--json) sets the bool at ctx; anything else is a usage
 * error. */
static int flag_option(void *ctx, int c)
{
	if (c != O_JSON)
		return -1;
	*(bool *)ctx = true;
	return 0;
}

int cmd_templates(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static const char usage_text[] = "usage: cove templates [--json]\n\nLists the templates coved makes sandboxes from.\n" CLI_CLIENT_HELP;
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 0, 0 };
	struct client_config cc = { 0 };
	bool as_json = false;
	int r = cli_parse_verb(&syntax, argc, argv, &cc, flag_option, &as_json);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	struct client *cl = cli_client("templates", &cc);
	if (!cl)
		return 1;
	json_t *reply = NULL;
	int rc = 0;
	if (cli_call(cl, "templates", "GET", "/templates", NULL, &reply) < 0) {
		rc = 1;
	} else if (as_json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%-16s  %4s  %7s  %8s  %7s  %-8s  %-8s  %-8s  %s\n", "TEMPLATE", "CPUS", "MEMORY", "DISK",
		       "ON DISK", "USER", "DEBIAN", "SNAPSHOT", "SOURCE");
		size_t i;
		json_t *t;
		json_array_foreach(reply, i, t) {
			const char *suite = json_string_value(json_object_get(t, "suite"));
			char used[16];
			cli_human_bytes((uint64_t)json_integer_value(json_object_get(t, "diskBytes")), used,
					sizeof(used));
			const char *source = json_string_value(json_object_get(t, "source"));
			printf("%-16s  %4lld  %6lldM  %7lldM  %7s  %-8s  %-8s  %-8s  %s\n",
			       json_string_value(json_object_get(t, "templateID")) ?: "?",
			       (long long)json_integer_value(json_object_get(t, "cpuCount")),
			       (long long)json_integer_value(json_object_get(t, "memoryMB")),
			       (long long)json_integer_value(json_object_get(t, "diskSizeMB")), used,
			       json_string_value(json_object_get(t, "defaultUser")) ?: "root", suite && *suite ? suite : "-",
			       json_is_true(json_object_get(t, "snapshot")) ? "yes" : "no",
			       source && *source ? source : "-");
		}
	}
	json_decref(reply);
	client_close(cl);
	return rc;
}
