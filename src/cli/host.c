/* cove host: a cluster's hosts through a gateway's API (api/cluster.h):
 * ls (GET /cluster/hosts as a table or JSON), drain and undrain (POST
 * /cluster/hosts/ID/drain), forget (DELETE /cluster/hosts/ID). A coved that
 * is a single host answers these with "not part of a cluster", which cove
 * says as it is. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"
#include "cluster/records.h"

#define HOST_USAGE                                   \
	"usage: cove host ls [--json]\n"             \
	"       cove host drain|undrain|forget ID\n"

/* "1.0G/16G" of two MiB figures. */
static void memory_text(json_t *h, char *buf, size_t len)
{
	char used[16], max[16];
	cli_human_bytes((uint64_t)json_integer_value(json_object_get(h, "memoryCommittedMiB")) << 20, used,
			sizeof(used));
	cli_human_bytes((uint64_t)json_integer_value(json_object_get(h, "memoryMaxMiB")) << 20, max, sizeof(max));
	snprintf(buf, len, "%s/%s", used, max);
}

/* The template names, comma separated ("-" for none). */
static void templates_text(json_t *h, char *buf, size_t len)
{
	size_t i, n = 0;
	json_t *t;
	buf[0] = '\0';
	json_array_foreach(json_object_get(h, "templates"), i, t) {
		if (n >= len) /* the rest does not fit: cut short */
			break;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
				      json_string_value(json_object_get(t, "name")) ?: "?");
	}
	if (n == 0)
		snprintf(buf, len, "-");
}

static void print_host(json_t *h, int64_t now)
{
	char sandboxes[32], memory[40] = "-", templates[256] = "-", age[16] = "-";
	long long count = json_integer_value(json_object_get(h, "sandboxCount"));
	if (json_is_true(json_object_get(h, "live"))) {
		snprintf(sandboxes, sizeof(sandboxes), "%lld/%lld", count,
			 (long long)json_integer_value(json_object_get(h, "maxSandboxes")));
		memory_text(h, memory, sizeof(memory));
		templates_text(h, templates, sizeof(templates));
		cli_human_duration(now - cli_parse_time(json_string_value(json_object_get(h, "updatedAt"))), age,
				   sizeof(age));
	} else {
		snprintf(sandboxes, sizeof(sandboxes), "%lld", count); /* records left of a gone host */
	}
	printf("%-20s  %-21s  %-8s  %9s  %11s  %6s  %s\n", json_string_value(json_object_get(h, "hostID")) ?: "?",
	       json_string_value(json_object_get(h, "address")) ?: "-",
	       json_string_value(json_object_get(h, "state")) ?: "?", sandboxes, memory, age, templates);
}

enum { O_JSON = 300 };

static int ls_option(void *ctx, int c)
{
	if (c != O_JSON)
		return -1;
	*(bool *)ctx = true;
	return 0;
}

static int host_ls(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove host ls [--json]\n"
		"\n"
		"Lists the cluster's hosts: the live ones (ready or draining), then those that\n"
		"are gone but still have sandbox records ('cove host forget' drops them). AGE\n"
		"is how old the host's last record is (hosts rewrite it every 5 s).\n"
		"  --json         print the gateway's whole answer\n" CLI_CLIENT_HELP;
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 0, 0 };
	struct client_config cc = { 0 };
	bool as_json = false;
	int r = cli_parse_verb(&syntax, argc, argv, &cc, ls_option, &as_json);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	struct client *cl = cli_client("host ls", &cc);
	if (!cl)
		return 1;
	json_t *hosts = NULL;
	int rc = cli_call(cl, "host ls", "GET", "/cluster/hosts", NULL, &hosts) < 0 ? 1 : 0;
	if (rc == 0 && as_json) {
		json_dumpf(hosts, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (rc == 0) {
		printf("%-20s  %-21s  %-8s  %9s  %11s  %6s  %s\n", "HOST ID", "ADDRESS", "STATE", "SANDBOXES", "MEMORY",
		       "AGE", "TEMPLATES");
		size_t i;
		json_t *h;
		int64_t now = time(NULL);
		json_array_foreach(hosts, i, h)
			print_host(h, now);
	}
	json_decref(hosts);
	client_close(cl);
	return rc;
}

/* drain, undrain, forget: one host by id. */
static int host_one(const char *verb, int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove host drain|undrain|forget ID\n"
		"\n"
		"drain: host ID takes no new sandboxes; its sandboxes run out.\n"
		"undrain: it takes new sandboxes again.\n"
		"forget: host ID is gone for good (refused while it is live): its running\n"
		"sandboxes are dropped from the cluster now instead of after coved's\n"
		"--dead-after; its paused ones stay listed.\n" CLI_CLIENT_HELP;
	static const struct option opts[] = { CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 } };
	static const struct cli_verb_syntax syntax = { usage_text, NULL, opts, 1, 1 };
	struct client_config cc = { 0 };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, NULL, NULL);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	char what[32], path[sizeof("/cluster/hosts//drain") + CLUSTER_HOST_ID_MAX];
	struct cove_err err = { 0 };
	snprintf(what, sizeof(what), "host %s", verb);
	/* Checked here, so that the path needs no escaping. */
	if (cluster_host_id_check(argv[optind], &err) < 0) {
		fprintf(stderr, "cove %s: %s\n", what, err.msg);
		return CLI_EXIT_USAGE;
	}
	bool forget = strcmp(verb, "forget") == 0;
	snprintf(path, sizeof(path), "/cluster/hosts/%s%s", argv[optind], forget ? "" : "/drain");
	struct client *cl = cli_client(what, &cc);
	if (!cl)
		return 1;
	json_t *body = forget ? NULL : json_pack("{s:b}", "drain", strcmp(verb, "drain") == 0);
	int rc = cli_call(cl, what, forget ? "DELETE" : "POST", path, body, NULL) < 0 ? 1 : 0;
	json_decref(body);
	client_close(cl);
	return rc;
}

int cmd_host(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "ls") == 0)
		return host_ls(argc - 1, argv + 1);
	if (strcmp(sub, "drain") == 0 || strcmp(sub, "undrain") == 0 || strcmp(sub, "forget") == 0)
		return host_one(sub, argc - 1, argv + 1);
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(HOST_USAGE "\n'cove host ls --help' and the like describe each.\n", stdout);
		return 0;
	}
	fputs(HOST_USAGE, stderr);
	return CLI_EXIT_USAGE;
}
