/* cove ls: coved's sandboxes as a table (or JSON), every page of the
 * listing fetched. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"

static void print_table(json_t *list)
{
	printf("%-20s  %-12s  %-8s  %4s  %7s  %7s  %5s  %7s  %s\n", "SANDBOX ID", "TEMPLATE", "STATE", "CPUS", "MEMORY",
	       "DISK", "AGE", "ENDS IN", "METADATA");
	int64_t now = time(NULL);
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) {
		char age[16], left[16], meta[512] = "";
		const char *state = json_string_value(json_object_get(s, "state")) ?: "?";
		cli_human_duration(now - cli_parse_time(json_string_value(json_object_get(s, "startedAt"))), age, sizeof(age));
		if (strcmp(state, "running") == 0)
			cli_human_duration(cli_parse_time(json_string_value(json_object_get(s, "endAt"))) - now, left, sizeof(left));
		else
			snprintf(left, sizeof(left), "-");
		const char *k;
		json_t *v;
		size_t n = 0;
		json_object_foreach(json_object_get(s, "metadata"), k, v)
			n += (size_t)snprintf(meta + n, n < sizeof(meta) ? sizeof(meta) - n : 0, "%s%s=%s", n ? "," : "", k,
					      json_string_value(v) ?: "");
		char disk[16];
		cli_human_bytes((uint64_t)json_integer_value(json_object_get(s, "diskBytes")), disk, sizeof(disk));
		printf("%-20s  %-12s  %-8s  %4lld  %6lldM  %7s  %5s  %7s  %s\n",
		       json_string_value(json_object_get(s, "sandboxID")) ?: "?",
		       json_string_value(json_object_get(s, "templateID")) ?: "?", state,
		       (long long)json_integer_value(json_object_get(s, "cpuCount")),
		       (long long)json_integer_value(json_object_get(s, "memoryMB")), disk, age, left, meta);
	}
}

/* Appends s percent-encoded (all but unreserved characters) at buf + n. */
static size_t url_encode(char *buf, size_t len, size_t n, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p)) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	buf[n < len ? n : len - 1] = '\0';
	return n;
}

static void ls_usage(FILE *f)
{
	fprintf(f, "usage: cove ls [--state running|paused] [--meta K=V]... [--json]\n"
		   "\n"
		   "Lists coved's sandboxes, newest first.\n" CLI_CLIENT_HELP);
}

int cmd_ls(int argc, char **argv)
{
	enum { O_STATE = 300, O_META, O_JSON };
	static const struct option opts[] = {
		{ "state", required_argument, NULL, O_STATE }, { "meta", required_argument, NULL, O_META },
		{ "json", no_argument, NULL, O_JSON },	       CLI_CLIENT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },	       { 0 },
	};
	struct client_config cc = { 0 };
	const char *state = NULL, *meta[CLI_MAX_META];
	size_t nmeta = 0;
	bool as_json = false;
	int c, bad = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': ls_usage(stdout); return 0;
		case O_STATE: state = optarg; break;
		case O_META:
			if (nmeta >= CLI_MAX_META || !strchr(optarg, '='))
				bad = 1;
			else
				meta[nmeta++] = optarg;
			break;
		case O_JSON: as_json = true; break;
		default: bad = cli_client_option(c, &cc);
		}
	}
	if (bad || optind < argc) {
		ls_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("ls", &cc);
	if (!cl)
		return 1;
	/* The v2 listing pages; every page is fetched. */
	char query[4096];
	size_t n = (size_t)snprintf(query, sizeof(query), "/v2/sandboxes?limit=100");
	if (state)
		n += (size_t)snprintf(query + n, sizeof(query) - n, "&state=%s", state);
	if (nmeta) {
		/* metadata=k%3Dv%26k%3Dv, as the SDK encodes it */
		n += (size_t)snprintf(query + n, sizeof(query) - n, "&metadata=");
		for (size_t i = 0; i < nmeta; i++) {
			if (i)
				n += (size_t)snprintf(query + n, sizeof(query) - n, "%%26");
			n = url_encode(query, sizeof(query), n, meta[i]);
		}
	}
	json_t *all = cli_get_all(cl, "ls", query);
	if (all && as_json) {
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
