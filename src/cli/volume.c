/* cove volume: coved's volumes (E2B's Volume API), for people on the host:
 * ls, create NAME, info ID, rm ID... A volume's files are read and
 * written with the SDK's Volume methods (the volume content API, with its
 * token) or, on the host, in STATE_DIR/volumes/ID. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "volume/volume.h"

enum { O_JSON = 300 };

static int json_option(void *ctx, int c)
{
	if (c != O_JSON)
		return -1;
	*(bool *)ctx = true;
	return 0;
}

static void print(json_t *j, bool json)
{
	if (json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		return;
	}
	json_t *list = json_is_array(j) ? j : NULL;
	if (list)
		printf("%-30s  %s\n", "VOLUME ID", "NAME");
	else
		printf("%-30s  %-32s  %s\n", "VOLUME ID", "NAME", "TOKEN");
	size_t i;
	json_t *v;
	if (!list) {
		printf("%-30s  %-32s  %s\n", json_string_value(json_object_get(j, "volumeID")) ?: "?",
		       json_string_value(json_object_get(j, "name")) ?: "?",
		       json_string_value(json_object_get(j, "token")) ?: "?");
		return;
	}
	json_array_foreach(list, i, v)
		printf("%-30s  %s\n", json_string_value(json_object_get(v, "volumeID")) ?: "?",
		       json_string_value(json_object_get(v, "name")) ?: "?");
}

/* What is sent in a path needs no escaping: the API's own rules, here. */
static bool id_ok(const char *id)
{
	return strlen(id) < VOLUME_ID_MAX && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(id) && *id;
}

int cmd_volume(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove volume ls [--json]\n"
		"       cove volume create NAME [--json]\n"
		"       cove volume info ID [--json]\n"
		"       cove volume rm ID...\n"
		"\n"
		"coved's volumes: storage that outlives sandboxes (E2B's Volume API). create\n"
		"prints the new volume's id and token (the volume content API's credential);\n"
		"info prints them again; rm destroys volumes and their files. A name is 1 to\n"
		"63 letters, digits and '-'.\n"
		"  --json         print coved's whole answer\n" CLI_CLIENT_HELP;
	static const struct option opts[] = { { "json", no_argument, NULL, O_JSON }, CLI_CLIENT_LONGOPTS,
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 1, -1 };
	struct client_config cc = { 0 };
	bool json = false;
	int r = cli_parse_verb(&syntax, argc, argv, &cc, json_option, &json);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	const char *sub = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	struct cove_err err = { 0 };
	if ((strcmp(sub, "ls") == 0 && nargs != 0) || (strcmp(sub, "create") == 0 && nargs != 1) ||
	    (strcmp(sub, "info") == 0 && nargs != 1) || (strcmp(sub, "rm") == 0 && nargs < 1) ||
	    (strcmp(sub, "ls") && strcmp(sub, "create") && strcmp(sub, "info") && strcmp(sub, "rm"))) {
		fputs(usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(sub, "create") == 0 && volume_name_check(args[0], &err) < 0) {
		fprintf(stderr, "cove volume create: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	for (int i = 0; strcmp(sub, "create") && i < nargs; i++)
		if (!id_ok(args[i])) {
			fprintf(stderr, "cove volume %s: '%s' is not a volume id\n", sub, args[i]);
			return CLI_EXIT_USAGE;
		}
	struct client *cl = cli_client("volume", &cc);
	if (!cl)
		return 1;
	int rc = 0;
	char verb[32], path[64];
	snprintf(verb, sizeof(verb), "volume %s", sub);
	json_t *reply = NULL;
	if (strcmp(sub, "ls") == 0) {
		rc = cli_call(cl, verb, "GET", "/volumes", NULL, &reply);
	} else if (strcmp(sub, "create") == 0) {
		json_t *body = json_pack("{s:s}", "name", args[0]);
		rc = cli_call(cl, verb, "POST", "/volumes", body, &reply);
		json_decref(body);
	} else if (strcmp(sub, "info") == 0) {
		snprintf(path, sizeof(path), "/volumes/%s", args[0]);
		rc = cli_call(cl, verb, "GET", path, NULL, &reply);
	} else {
		for (int i = 0; i < nargs; i++) {
			snprintf(path, sizeof(path), "/volumes/%s", args[i]);
			if (cli_call(cl, verb, "DELETE", path, NULL, NULL) < 0)
				rc = -1;
		}
	}
	if (rc == 0 && reply)
		print(reply, json);
	json_decref(reply);
	client_close(cl);
	return rc < 0 ? 1 : 0;
}
