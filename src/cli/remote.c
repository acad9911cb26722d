/* The verbs that manage coved's sandboxes through its API: create, ls,
 * pause, resume, fork, kill, logs, templates. Each takes --url and --api-key
 * (else $COVE_URL and $COVE_API_KEY, else coved's defaults). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"

#define MAX_META 64

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

/* KEY=VALUE into obj (metadata, env vars). */
static int add_pair(const char *verb, const char *opt, const char *arg, json_t *obj)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || json_object_size(obj) >= MAX_META * 4) {
		fprintf(stderr, "cove %s: %s %s: expected KEY=VALUE\n", verb, opt, arg);
		return -1;
	}
	char key[256];
	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	return json_object_set_new(obj, key, json_string(eq + 1));
}

static int parse_seconds(const char *verb, const char *arg, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 1) {
		fprintf(stderr, "cove %s: --timeout %s: expected a number of seconds\n", verb, arg);
		return -1;
	}
	*out = v;
	return 0;
}

/* --- create --- */

static void create_usage(FILE *f)
{
	fprintf(f, "usage: cove create [--template T] [--timeout S] [--meta K=V]... [-e K=V]... [--no-internet]\n"
		   "                   [--auto-pause] [--json]\n"
		   "\n"
		   "Creates a sandbox in coved and prints its id once its agent answers.\n"
		   "  --template T      what it is made from (default base; 'cove templates' lists them)\n"
		   "  --timeout S       seconds it lives unless extended (default 300)\n"
		   "  --meta K=V        metadata to find it by (repeatable)\n"
		   "  -e, --env K=V     environment of every process in it (repeatable)\n"
		   "  --no-internet     no outbound network\n"
		   "  --auto-pause      at its deadline pause it instead of killing it\n"
		   "  --json            print coved's whole answer\n" CLI_CLIENT_HELP);
}

int cmd_create(int argc, char **argv)
{
	enum { O_TEMPLATE = 300, O_TIMEOUT, O_META, O_NO_INTERNET, O_AUTO_PAUSE, O_JSON };
	static const struct option opts[] = {
		{ "template", required_argument, NULL, O_TEMPLATE }, { "timeout", required_argument, NULL, O_TIMEOUT },
		{ "meta", required_argument, NULL, O_META },	     { "env", required_argument, NULL, 'e' },
		{ "no-internet", no_argument, NULL, O_NO_INTERNET }, { "auto-pause", no_argument, NULL, O_AUTO_PAUSE },
		{ "json", no_argument, NULL, O_JSON },		     CLI_CLIENT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },		     { 0 },
	};
	struct client_config cc = { 0 };
	json_t *body = json_object(), *meta = json_object(), *envs = json_object();
	bool as_json = false;
	int c, bad = 0;
	long timeout = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': create_usage(stdout); json_decref(body); json_decref(meta); json_decref(envs); return 0;
		case O_TEMPLATE: json_object_set_new(body, "templateID", json_string(optarg)); break;
		case O_TIMEOUT: bad = parse_seconds("create", optarg, &timeout); break;
		case O_META: bad = add_pair("create", "--meta", optarg, meta); break;
		case 'e': bad = add_pair("create", "--env", optarg, envs); break;
		case O_NO_INTERNET: json_object_set_new(body, "allow_internet_access", json_false()); break;
		case O_AUTO_PAUSE: json_object_set_new(body, "autoPause", json_true()); break;
		case O_JSON: as_json = true; break;
		default: bad = cli_client_option(c, &cc);
		}
	}
	if (bad || optind < argc) {
		create_usage(stderr);
		json_decref(body);
		json_decref(meta);
		json_decref(envs);
		return CLI_EXIT_USAGE;
	}
	if (timeout)
		json_object_set_new(body, "timeout", json_integer(timeout));
	json_object_set_new(body, "metadata", meta);
	json_object_set_new(body, "envVars", envs);
	struct client *cl = cli_client("create", &cc);
	int rc = 1;
	json_t *reply = NULL;
	struct cove_err err = { 0 };
	if (cl && client_call(cl, "POST", "/sandboxes", body, NULL, &reply, &err) < 0)
		fprintf(stderr, "cove create: %s\n", err.msg);
	else if (cl) {
		if (as_json)
			json_dumpf(reply, stdout, JSON_INDENT(2));
		else
			fputs(json_string_value(json_object_get(reply, "sandboxID")) ?: "", stdout);
		putchar('\n');
		rc = 0;
	}
	json_decref(reply);
	json_decref(body);
	client_close(cl);
	return rc;
}

/* --- ls --- */

static int64_t parse_time(const char *iso)
{
	struct tm tm = { 0 };
	if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

static void human_duration(int64_t s, char *buf, size_t len)
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

/* 1.5K, 20M, 3.1G: what a file takes on disk. */
static void human_bytes(uint64_t b, char *buf, size_t len)
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
		human_duration(now - parse_time(json_string_value(json_object_get(s, "startedAt"))), age, sizeof(age));
		if (strcmp(state, "running") == 0)
			human_duration(parse_time(json_string_value(json_object_get(s, "endAt"))) - now, left, sizeof(left));
		else
			snprintf(left, sizeof(left), "-");
		const char *k;
		json_t *v;
		size_t n = 0;
		json_object_foreach(json_object_get(s, "metadata"), k, v)
			n += (size_t)snprintf(meta + n, n < sizeof(meta) ? sizeof(meta) - n : 0, "%s%s=%s", n ? "," : "", k,
					      json_string_value(v) ?: "");
		char disk[16];
		human_bytes((uint64_t)json_integer_value(json_object_get(s, "diskBytes")), disk, sizeof(disk));
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
	const char *state = NULL, *meta[MAX_META];
	size_t nmeta = 0;
	bool as_json = false;
	int c, bad = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': ls_usage(stdout); return 0;
		case O_STATE: state = optarg; break;
		case O_META:
			if (nmeta >= MAX_META || !strchr(optarg, '='))
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
	json_t *all = json_array();
	char query[4096], next[256] = "";
	struct cove_err err = { 0 };
	int rc = 0;
	do {
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
		if (next[0])
			snprintf(query + n, sizeof(query) - n, "&nextToken=%s", next);
		json_t *page = NULL;
		if (client_call(cl, "GET", query, NULL, NULL, &page, &err) < 0) {
			fprintf(stderr, "cove ls: %s\n", err.msg);
			rc = 1;
			break;
		}
		json_array_extend(all, page);
		snprintf(next, sizeof(next), "%s", client_next_token(cl));
		json_decref(page);
	} while (next[0]);
	if (rc == 0) {
		if (as_json) {
			json_dumpf(all, stdout, JSON_INDENT(2));
			putchar('\n');
		} else {
			print_table(all);
		}
	}
	json_decref(all);
	client_close(cl);
	return rc;
}

/* getopt for the verbs below: --help prints usage_text (1), --url and
 * --api-key go to cc, any other option (long, or short from shortopts,
 * "h" when NULL) to fn (non-zero: a bad value); a usage error prints
 * usage_text to stderr (-1). 0: optind at the operands. */
static int parse_verb(int argc, char **argv, const char *shortopts, const struct option *opts,
		      const char *usage_text, struct client_config *cc, int (*fn)(void *ctx, int c), void *ctx)
{
	int c, bad = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, shortopts ? shortopts : "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 1;
		}
		bad = cli_client_option(c, cc) == 0 ? 0 : fn ? fn(ctx, c) : -1;
	}
	if (bad) {
		fputs(usage_text, stderr);
		return -1;
	}
	return 0;
}

/* --- pause, resume, kill --- */

struct simple_opts {
	const char *verb;
	long timeout;
};

static int simple_option(void *ctx, int c)
{
	struct simple_opts *o = ctx;
	return c == 300 ? parse_seconds(o->verb, optarg, &o->timeout) : -1;
}

static int simple(const char *verb, int argc, char **argv, const char *usage_text,
		  int (*act)(struct client *cl, const char *id, long timeout, struct cove_err *err))
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 300 }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	struct client_config cc = { 0 };
	struct simple_opts o = { verb, 0 };
	int r = parse_verb(argc, argv, NULL, opts, usage_text, &cc, simple_option, &o);
	if (r == 0 && optind >= argc) {
		fputs(usage_text, stderr);
		r = -1;
	}
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	struct client *cl = cli_client(verb, &cc);
	if (!cl)
		return 1;
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct cove_err err = { 0 };
		if (act(cl, argv[i], o.timeout, &err) < 0) {
			fprintf(stderr, "cove %s: %s\n", verb, err.msg);
			rc = 1;
		}
	}
	client_close(cl);
	return rc;
}

static int sandbox_path(char *buf, size_t len, const char *id, const char *suffix)
{
	/* Ids are [a-z0-9-]; anything else cannot name a sandbox. */
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return -1;
	return snprintf(buf, len, "/sandboxes/%s%s", id, suffix) < (int)len && *id ? 0 : -1;
}

static int do_pause(struct client *cl, const char *id, long timeout, struct cove_err *err)
{
	(void)timeout;
	char path[128];
	if (sandbox_path(path, sizeof(path), id, "/pause") < 0)
		return cove_errf(err, -EINVAL, "'%s' is not a sandbox id", id);
	return client_call(cl, "POST", path, NULL, NULL, NULL, err);
}

static int do_resume(struct client *cl, const char *id, long timeout, struct cove_err *err)
{
	char path[128];
	if (sandbox_path(path, sizeof(path), id, "/connect") < 0)
		return cove_errf(err, -EINVAL, "'%s' is not a sandbox id", id);
	json_t *body = json_pack("{s:I}", "timeout", (json_int_t)(timeout ? timeout : 300));
	int r = client_call(cl, "POST", path, body, NULL, NULL, err);
	json_decref(body);
	return r;
}

static int do_kill(struct client *cl, const char *id, long timeout, struct cove_err *err)
{
	(void)timeout;
	char path[128];
	if (sandbox_path(path, sizeof(path), id, "") < 0)
		return cove_errf(err, -EINVAL, "'%s' is not a sandbox id", id);
	return client_call(cl, "DELETE", path, NULL, NULL, NULL, err);
}

int cmd_pause(int argc, char **argv)
{
	return simple("pause", argc, argv,
		      "usage: cove pause ID...\n\nPauses sandboxes: each is saved to disk and its VMM ended (its memory\n"
		      "and slot freed; it survives restarts), or, booted without a template\n"
		      "snapshot, frozen in memory. Their time left stops counting.\n" CLI_CLIENT_HELP,
		      do_pause);
}

int cmd_resume(int argc, char **argv)
{
	return simple("resume", argc, argv,
		      "usage: cove resume [--timeout S] ID...\n\nResumes paused sandboxes; each then lives at least S more\n"
		      "seconds (default 300).\n" CLI_CLIENT_HELP,
		      do_resume);
}

int cmd_kill(int argc, char **argv)
{
	return simple("kill", argc, argv, "usage: cove kill ID...\n\nEnds sandboxes and frees all they held.\n" CLI_CLIENT_HELP,
		      do_kill);
}

/* --- fork --- */

struct fork_opts {
	long timeout;
	long count;
	bool json;
};

static int fork_option(void *ctx, int c)
{
	struct fork_opts *o = ctx;
	if (c == 'j') {
		o->json = true;
		return 0;
	}
	if (c == 'n') {
		char *end;
		errno = 0;
		o->count = strtol(optarg, &end, 10);
		if (errno || *end || o->count < 1 || o->count > 16) {
			fprintf(stderr, "cove fork: -n wants a number from 1 to 16, not '%s'\n", optarg);
			return -1;
		}
		return 0;
	}
	return c == 300 ? parse_seconds("fork", optarg, &o->timeout) : -1;
}

int cmd_fork(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: cove fork [-n N] [--timeout S] [--json] ID\n"
		"\n"
		"Makes N sandboxes (default 1) that carry on from sandbox ID as it is now:\n"
		"its processes, files and environment, each with an id, token, network and\n"
		"disk of its own and its own random numbers. ID runs on. Prints their ids.\n"
		"  -n N           how many (1 to 16)\n"
		"  --timeout S    seconds each lives unless extended (default 300)\n"
		"  --json         print coved's whole answer\n" CLI_CLIENT_HELP;
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 300 }, { "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'n' }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	struct client_config cc = { 0 };
	struct fork_opts o = { 0, 1, false };
	int r = parse_verb(argc, argv, "hn:", opts, usage_text, &cc, fork_option, &o);
	if (r == 0 && optind != argc - 1) {
		fputs(usage_text, stderr);
		r = -1;
	}
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	char path[128];
	if (sandbox_path(path, sizeof(path), argv[optind], "/fork") < 0) {
		fprintf(stderr, "cove fork: '%s' is not a sandbox id\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("fork", &cc);
	if (!cl)
		return 1;
	json_t *body = json_pack("{s:I, s:I}", "count", (json_int_t)o.count, "timeout",
				 (json_int_t)(o.timeout ? o.timeout : 300));
	json_t *reply = NULL;
	struct cove_err err = { 0 };
	int rc = 0;
	if (client_call(cl, "POST", path, body, NULL, &reply, &err) < 0) {
		fprintf(stderr, "cove fork: %s\n", err.msg);
		rc = 1;
	} else if (o.json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		size_t i;
		json_t *sb;
		json_array_foreach(json_object_get(reply, "sandboxes"), i, sb)
			printf("%s\n", json_string_value(json_object_get(sb, "sandboxID")));
	}
	json_decref(body);
	json_decref(reply);
	client_close(cl);
	return rc;
}

/* --- logs --- */

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
	return c == 301 ? parse_seconds("logs", optarg, &o->limit) : -1;
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
	struct client_config cc = { 0 };
	struct logs_opts o = { false, 1000 };
	int r = parse_verb(argc, argv, NULL, opts, usage_text, &cc, logs_option, &o);
	if (r == 0 && optind != argc - 1) {
		fputs(usage_text, stderr);
		r = -1;
	}
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	bool vmm = o.vmm;
	long limit = o.limit;
	char path[160], suffix[32];
	snprintf(suffix, sizeof(suffix), "/logs?limit=%ld", limit);
	if (sandbox_path(path, sizeof(path), argv[optind], suffix) < 0) {
		fprintf(stderr, "cove logs: '%s' is not a sandbox id\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("logs", &cc);
	if (!cl)
		return 1;
	json_t *reply = NULL;
	struct cove_err err = { 0 };
	int rc = 0;
	if (client_call(cl, "GET", path, NULL, NULL, &reply, &err) < 0) {
		fprintf(stderr, "cove logs: %s\n", err.msg);
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

/* --- templates --- */

/* One flag (--json): sets the bool at ctx. */
static int flag_option(void *ctx, int c)
{
	(void)c;
	*(bool *)ctx = true;
	return 0;
}

int cmd_templates(int argc, char **argv)
{
	enum { O_JSON = 300 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON }, CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static const char usage_text[] = "usage: cove templates [--json]\n\nLists the templates coved makes sandboxes from.\n" CLI_CLIENT_HELP;
	struct client_config cc = { 0 };
	bool as_json = false;
	int r = parse_verb(argc, argv, NULL, opts, usage_text, &cc, flag_option, &as_json);
	if (r == 0 && optind != argc) {
		fputs(usage_text, stderr);
		r = -1;
	}
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	struct client *cl = cli_client("templates", &cc);
	if (!cl)
		return 1;
	json_t *reply = NULL;
	struct cove_err err = { 0 };
	int rc = 0;
	if (client_call(cl, "GET", "/templates", NULL, NULL, &reply, &err) < 0) {
		fprintf(stderr, "cove templates: %s\n", err.msg);
		rc = 1;
	} else if (as_json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%-16s  %4s  %7s  %8s  %7s  %-8s  %-8s  %s\n", "TEMPLATE", "CPUS", "MEMORY", "DISK", "ON DISK",
		       "USER", "DEBIAN", "SNAPSHOT");
		size_t i;
		json_t *t;
		json_array_foreach(reply, i, t) {
			const char *suite = json_string_value(json_object_get(t, "suite"));
			char used[16];
			human_bytes((uint64_t)json_integer_value(json_object_get(t, "diskBytes")), used, sizeof(used));
			printf("%-16s  %4lld  %6lldM  %7lldM  %7s  %-8s  %-8s  %s\n",
			       json_string_value(json_object_get(t, "templateID")) ?: "?",
			       (long long)json_integer_value(json_object_get(t, "cpuCount")),
			       (long long)json_integer_value(json_object_get(t, "memoryMB")),
			       (long long)json_integer_value(json_object_get(t, "diskSizeMB")), used,
			       json_string_value(json_object_get(t, "defaultUser")) ?: "root", suite && *suite ? suite : "-",
			       json_is_true(json_object_get(t, "snapshot")) ? "yes" : "no");
		}
	}
	json_decref(reply);
	client_close(cl);
	return rc;
}
