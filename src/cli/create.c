/* cove create: a sandbox in coved, its id printed once its agent answers. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/json.h"

/* KEY=VALUE into obj (metadata, env vars). */
static int add_pair(const char *verb, const char *opt, const char *arg, json_t *obj)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || json_object_size(obj) >= CLI_MAX_META * 4) {
		fprintf(stderr, "cove %s: %s %s: expected KEY=VALUE\n", verb, opt, arg);
		return -1;
	}
	char key[256];
	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	return json_object_set_new(obj, key, json_string(eq + 1));
}

/* NAME:PATH into arr (volumeMounts). */
static int add_volume(const char *arg, json_t *arr)
{
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg || colon[1] != '/' || json_array_size(arr) >= 16) {
		fprintf(stderr, "cove create: --volume %s: expected NAME:/PATH (at most 16)\n", arg);
		return -1;
	}
	char name[128];
	snprintf(name, sizeof(name), "%.*s", (int)(colon - arg), arg);
	return json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "path", colon + 1));
}

static void create_usage(FILE *f)
{
	fprintf(f, "usage: cove create [--template T] [--timeout S] [--meta K=V]... [-e K=V]... [--no-internet]\n"
		   "                   [--auto-pause | --auto-pause-no-memory] [--auto-resume] [-v NAME:/PATH]... [--json]\n"
		   "\n"
		   "Creates a sandbox in coved and prints its id once its agent answers.\n"
		   "  --template T      what it is made from (default base; 'cove templates' lists them)\n"
		   "  --timeout S       seconds it lives unless extended (default 300)\n"
		   "  --meta K=V        metadata to find it by (repeatable)\n"
		   "  -e, --env K=V     environment of every process in it (repeatable)\n"
		   "  --no-internet     no outbound network\n"
		   "  --auto-pause      at its deadline pause it instead of killing it\n"
		   "  --auto-pause-no-memory\n"
		   "                    the same, keeping only its disk: the next resume boots it\n"
		   "  --auto-resume     once paused with its memory, a request to it through\n"
		   "                    coved (envd's port with its token, or any other) resumes it\n"
		   "  -v, --volume NAME:/PATH\n"
		   "                    mount volume NAME (cove volume create) at PATH in the guest,\n"
		   "                    over NFS from coved's volume server (repeatable)\n"
		   "  --json            print coved's whole answer\n" CLI_CLIENT_HELP);
}

int cmd_create(int argc, char **argv)
{
	enum { O_TEMPLATE = 300, O_TIMEOUT, O_META, O_NO_INTERNET, O_AUTO_PAUSE, O_AUTO_PAUSE_NO_MEMORY, O_AUTO_RESUME, O_JSON };
	static const struct option opts[] = {
		{ "template", required_argument, NULL, O_TEMPLATE }, { "timeout", required_argument, NULL, O_TIMEOUT },
		{ "meta", required_argument, NULL, O_META },	     { "env", required_argument, NULL, 'e' },
		{ "no-internet", no_argument, NULL, O_NO_INTERNET }, { "auto-pause", no_argument, NULL, O_AUTO_PAUSE },
		{ "auto-pause-no-memory", no_argument, NULL, O_AUTO_PAUSE_NO_MEMORY },
		{ "auto-resume", no_argument, NULL, O_AUTO_RESUME }, { "volume", required_argument, NULL, 'v' },
		{ "json", no_argument, NULL, O_JSON },		     CLI_CLIENT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },		     { 0 },
	};
	struct client_config cc = { 0 };
	_cleanup_json_ json_t *body = json_object(), *meta = json_object(), *envs = json_object(), *vols = json_array();
	bool as_json = false;
	int c, bad = 0;
	long timeout = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "e:hv:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': create_usage(stdout); return 0;
		case O_TEMPLATE: json_object_set_new(body, "templateID", json_string(optarg)); break;
		case O_TIMEOUT: bad = cli_parse_count("create", "--timeout", "seconds", optarg, &timeout); break;
		case O_META: bad = add_pair("create", "--meta", optarg, meta); break;
		case 'e': bad = add_pair("create", "--env", optarg, envs); break;
		case 'v': bad = add_volume(optarg, vols); break;
		case O_NO_INTERNET: json_object_set_new(body, "allow_internet_access", json_false()); break;
		case O_AUTO_PAUSE: json_object_set_new(body, "autoPause", json_true()); break;
		case O_AUTO_PAUSE_NO_MEMORY:
			json_object_set_new(body, "autoPause", json_true());
			json_object_set_new(body, "autoPauseMemory", json_false());
			break;
		case O_AUTO_RESUME: json_object_set_new(body, "autoResume", json_pack("{s:b}", "enabled", 1)); break;
		case O_JSON: as_json = true; break;
		default: bad = cli_client_option(c, &cc);
		}
	}
	if (bad || optind < argc) {
		create_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (timeout)
		json_object_set_new(body, "timeout", json_integer(timeout));
	json_object_set_new(body, "metadata", TAKE_PTR(meta));
	json_object_set_new(body, "envVars", TAKE_PTR(envs));
	if (json_array_size(vols))
		json_object_set_new(body, "volumeMounts", TAKE_PTR(vols));
	struct client *cl = cli_client("create", &cc);
	int rc = 1;
	_cleanup_json_ json_t *reply = NULL;
	if (cl && cli_call(cl, "create", "POST", "/sandboxes", body, &reply) == 0) {
		if (as_json)
			json_dumpf(reply, stdout, JSON_INDENT(2));
		else
			fputs(json_string_value(json_object_get(reply, "sandboxID")) ?: "", stdout);
		putchar('\n');
		rc = 0;
	}
	client_close(cl);
	return rc;
}
