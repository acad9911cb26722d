/* cove pause, resume and kill: one request per sandbox named, the same loop
 * for all three. pause --no-memory and resume --reboot send E2B's
 * {"memory": false}. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "client/client.h"

/* What a verb asks of coved for each sandbox. */
struct lifecycle_verb {
	const char *name;
	const char *method;
	const char *suffix; /* after /sandboxes/ID */
	bool sends_timeout; /* a body {"timeout": S}, S default 300 */
	const char *no_memory; /* the option that adds "memory": false; NULL: none */
	const char *usage;
};

struct lifecycle_opts {
	const char *verb;
	long timeout;
	bool no_memory;
};

static int lifecycle_option(void *ctx, int c)
{
	struct lifecycle_opts *o = ctx;
	if (c == 301) {
		o->no_memory = true;
		return 0;
	}
	return c == 300 ? cli_parse_count(o->verb, "--timeout", "seconds", optarg, &o->timeout) : -1;
}

static int lifecycle_one(struct client *cl, const struct lifecycle_verb *v, const char *id,
			 const struct lifecycle_opts *o, struct cove_err *err)
{
	char path[128];
	if (cli_sandbox_path(path, sizeof(path), id, v->suffix) < 0)
		return cove_errf(err, -EINVAL, "'%s' is not a sandbox id", id);
	json_t *body = v->sends_timeout ? json_pack("{s:I}", "timeout", (json_int_t)(o->timeout ? o->timeout : 300))
			: o->no_memory	? json_object()
					: NULL;
	if (o->no_memory)
		json_object_set_new(body, "memory", json_false());
	int r = client_call(cl, v->method, path, body, NULL, NULL, err);
	json_decref(body);
	return r;
}

static int lifecycle(const struct lifecycle_verb *v, int argc, char **argv)
{
	/* Each verb takes only its own options. */
	const struct option opts[] = {
		v->sends_timeout ? (struct option){ "timeout", required_argument, NULL, 300 }
				 : (struct option){ "help", no_argument, NULL, 'h' },
		v->no_memory ? (struct option){ v->no_memory, no_argument, NULL, 301 }
			     : (struct option){ "help", no_argument, NULL, 'h' },
		CLI_CLIENT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_verb_syntax syntax = { v->usage, NULL, opts, 1, -1 };
	struct client_config cc = { 0 };
	struct lifecycle_opts o = { v->name, 0, false };
	int r = cli_parse_verb(&syntax, argc, argv, &cc, lifecycle_option, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	struct client *cl = cli_client(v->name, &cc);
	if (!cl)
		return 1;
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct cove_err err = { 0 };
		if (lifecycle_one(cl, v, argv[i], &o, &err) < 0) {
			fprintf(stderr, "cove %s: %s\n", v->name, err.msg);
			rc = 1;
		}
	}
	client_close(cl);
	return rc;
}

int cmd_pause(int argc, char **argv)
{
	static const struct lifecycle_verb verb = {
		.name = "pause",
		.method = "POST",
		.suffix = "/pause",
		.no_memory = "no-memory",
		.usage = "usage: cove pause [--no-memory] ID...\n\nPauses sandboxes: each is saved to disk and its VMM ended (its memory\n"
			 "and slot freed; it survives restarts), or, booted without a template\n"
			 "snapshot, frozen in memory. Their time left stops counting.\n"
			 "  --no-memory   keep only the disk (E2B's filesystem-only pause): the next\n"
			 "                resume boots it afresh from that, its processes gone\n" CLI_CLIENT_HELP,
	};
	return lifecycle(&verb, argc, argv);
}

int cmd_resume(int argc, char **argv)
{
	static const struct lifecycle_verb verb = {
		.name = "resume",
		.method = "POST",
		.suffix = "/connect",
		.sends_timeout = true,
		.no_memory = "reboot",
		.usage = "usage: cove resume [--timeout S] [--reboot] ID...\n\nResumes paused sandboxes; each then lives at least S more\n"
			 "seconds (default 300).\n"
			 "  --reboot      boot it afresh from its saved disk, its saved memory unused\n"
			 "                (what resuming after a pause --no-memory always does)\n" CLI_CLIENT_HELP,
	};
	return lifecycle(&verb, argc, argv);
}

int cmd_kill(int argc, char **argv)
{
	static const struct lifecycle_verb verb = {
		.name = "kill",
		.method = "DELETE",
		.suffix = "",
		.usage = "usage: cove kill ID...\n\nEnds sandboxes and frees all they held.\n" CLI_CLIENT_HELP,
	};
	return lifecycle(&verb, argc, argv);
}
