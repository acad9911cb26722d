/* What the verbs that talk to coved share: the client (--url, --api-key,
 * else $COVE_URL and $COVE_API_KEY, else coved's defaults), their option
 * parsing, sandbox paths and sizes as people read them. The verbs are one
 * file each: create.c, ls.c, lifecycle.c (pause, resume, kill), fork.c,
 * logs.c, templates.c, exec.c, cp.c, host.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"

int cli_client_option(int c, struct client_config *cc)
{
	if (c == CLI_OPT_URL)
		cc->url = optarg;
	else if (c == CLI_OPT_API_KEY)
		cc->api_key = optarg;
	else
		return -1;
	return 0;
}

struct client *cli_client(const char *verb, const struct client_config *cc)
{
	struct client *c = NULL;
	struct cove_err err = { 0 };
	if (client_open(cc, &c, &err) < 0) {
		fprintf(stderr, "cove %s: %s\n", verb, err.msg);
		return NULL;
	}
	return c;
}

int cli_parse_count(const char *verb, const char *option, const char *what, const char *arg, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 1) {
		fprintf(stderr, "cove %s: %s %s: expected a number of %s\n", verb, option, arg, what);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_verb(const struct cli_verb_syntax *syn, int argc, char **argv, struct client_config *cc,
		   int (*fn)(void *ctx, int c), void *ctx)
{
	int c, bad = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, syn->shortopts ? syn->shortopts : "h", syn->opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(syn->usage, stdout);
			return 1;
		}
		bad = cli_client_option(c, cc) == 0 ? 0 : fn ? fn(ctx, c) : -1;
	}
	int operands = argc - optind;
	if (!bad && (operands < syn->min_operands || (syn->max_operands >= 0 && operands > syn->max_operands)))
		bad = -1;
	if (bad) {
		fputs(syn->usage, stderr);
		return -1;
	}
	return 0;
}

int cli_sandbox_path(char *buf, size_t len, const char *id, const char *suffix)
{
	/* Ids are [a-z0-9-]; anything else cannot name a sandbox. */
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return -1;
	return snprintf(buf, len, "/sandboxes/%s%s", id, suffix) < (int)len && *id ? 0 : -1;
}

int cli_call(struct client *cl, const char *verb, const char *method, const char *path, json_t *body, json_t **reply)
{
	struct cove_err err = { 0 };
	if (client_call(cl, method, path, body, NULL, reply, &err) < 0) {
		fprintf(stderr, "cove %s: %s\n", verb, err.msg);
		return -1;
	}
	return 0;
}

/* 1.5K, 20M, 3.1G: what a file takes on disk. */
void cli_human_bytes(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGT";
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u && v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

int64_t cli_parse_time(const char *iso)
{
	struct tm tm = { 0 };
	if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

void cli_human_duration(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
}

json_t *cli_get_all(struct client *cl, const char *verb, const char *base)
{
	json_t *all = json_array();
	char query[4096], next[256] = "";
	do {
		snprintf(query, sizeof(query), "%s%s%s", base, next[0] ? "&nextToken=" : "", next);
		json_t *page = NULL;
		if (!all || cli_call(cl, verb, "GET", query, NULL, &page) < 0) {
			json_decref(all);
			return NULL;
		}
		json_array_extend(all, page);
		snprintf(next, sizeof(next), "%s", client_next_token(cl));
		json_decref(page);
	} while (next[0]);
	return all;
}
