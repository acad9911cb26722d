/* cove net ls|gc, and cove port-forward: the network slots seen from the
 * host, for people. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/forward.h"
#include "net/net.h"

#define MAX_FORWARDS 16

static int open_slots(const char *verb, struct net_slots **ns, struct net_recovery *rec)
{
	struct net_config c;
	net_config_from_env(&c);
	struct cove_err err = { 0 };
	if (net_slots_open(&c, ns, rec, &err) < 0) {
		fprintf(stderr, "cove %s: %s\n", verb, err.msg);
		return -1;
	}
	return 0;
}

static int print_row(void *ctx, const struct net_slot_info *i)
{
	(void)ctx;
	char holder[32] = "-", vmm[32] = "-";
	if (i->holder_pid)
		snprintf(holder, sizeof(holder), "%d%s", (int)i->holder_pid, i->holder_alive ? "" : " (gone)");
	if (i->vmm_pid)
		snprintf(vmm, sizeof(vmm), "%d%s", (int)i->vmm_pid, i->vmm_alive ? "" : " (gone)");
	printf("%-6u %-10s %-20s %-12s %-15s %-14s %s\n", i->index, i->state, i->sandbox[0] ? i->sandbox : "-",
	       i->host_link, i->address, holder, vmm);
	return 0;
}

static int add_json(void *ctx, const struct net_slot_info *i)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:b, s:i, s:b}", "slot", (int)i->index, "state",
			      i->state, "sandbox", i->sandbox, "hostLink", i->host_link, "address", i->address,
			      "holderPid", (int)i->holder_pid, "holderAlive", i->holder_alive, "vmmPid",
			      (int)i->vmm_pid, "vmmAlive", i->vmm_alive);
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

static void net_usage(FILE *f)
{
	fprintf(f, "usage: cove net ls [--json]\n"
		   "       cove net gc [--pool]\n"
		   "\n"
		   "ls lists the network slots of this host: index, state, sandbox, host link,\n"
		   "the sandbox's address as the host sees it, and the processes holding it.\n"
		   "gc removes what sandboxes that died left (done anyway whenever cove starts);\n"
		   "--pool also removes the ready slots kept in the pool.\n"
		   "Settings: COVE_NET_NAME, COVE_NET_RANGE, COVE_STATE_DIR, COVE_RUN_DIR.\n");
}

int cmd_net(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		net_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
	bool pool = argc == 3 && strcmp(argv[2], "--pool") == 0;
	bool ls = strcmp(argv[1], "ls") == 0, gc = strcmp(argv[1], "gc") == 0;
	if (!(ls || gc) || argc > 3 || (argc == 3 && !(ls ? json : pool))) {
		net_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	struct net_slots *ns;
	struct net_recovery rec = { 0 };
	if (open_slots("net", &ns, &rec) < 0)
		return CLI_EXIT_FAILURE;
	struct cove_err err = { 0 };
	int r = 0;
	if (gc) {
		struct net_recovery more = { 0 };
		r = net_slots_recover(ns, pool, &more, &err);
		if (r == 0)
			printf("kept %u slots, removed %u, removed %u strays, restored the rules of %u\n", more.adopted,
			       rec.removed + more.removed, rec.strays + more.strays, rec.restored + more.restored);
	} else if (json) {
		json_t *arr = json_array();
		r = net_slots_list(ns, add_json, arr, &err);
		if (r == 0) {
			json_dumpf(arr, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		json_decref(arr);
	} else {
		printf("%-6s %-10s %-20s %-12s %-15s %-14s %s\n", "SLOT", "STATE", "SANDBOX", "LINK", "ADDRESS", "HOLDER",
		       "VMM");
		r = net_slots_list(ns, print_row, NULL, &err);
	}
	if (r < 0)
		fprintf(stderr, "cove net: %s\n", err.msg);
	net_slots_close(ns);
	return r < 0 ? CLI_EXIT_FAILURE : 0;
}

static void port_forward_usage(FILE *f)
{
	fprintf(f, "usage: cove port-forward SANDBOX [ADDR:]HOSTPORT:GUESTPORT...\n"
		   "\n"
		   "Relays connections to ADDR:HOSTPORT on the host (default address 127.0.0.1;\n"
		   "port 0 picks one) to GUESTPORT of a running sandbox, from inside its network\n"
		   "namespace: the guest is never published on any other host interface. Prints\n"
		   "one line per port and runs until Ctrl-C or until the sandbox ends.\n");
}

/* The sandbox still has its slot. */
static bool sandbox_alive(struct net_slots *ns, const char *id)
{
	struct net_slot *slot = NULL;
	struct cove_err err = { 0 };
	if (net_slot_find(ns, id, &slot, &err) < 0)
		return false;
	net_slot_free(slot);
	return true;
}

static int relay_until_done(struct net_slots *ns, const char *id)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	struct pollfd p = { .fd = sfd, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, 500);
		if (r > 0)
			break;
		if (!sandbox_alive(ns, id)) {
			fprintf(stderr, "cove: sandbox %s ended\n", id);
			break;
		}
	}
	close(sfd);
	return 0;
}

int cmd_port_forward(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		port_forward_usage(stdout);
		return 0;
	}
	if (argc < 3 || argc - 2 > MAX_FORWARDS) {
		port_forward_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	struct cli_publish ports[MAX_FORWARDS];
	for (int i = 2; i < argc; i++)
		if (cli_parse_publish(argv[i], &ports[i - 2]) < 0) {
			fprintf(stderr, "cove port-forward: %s: expected [ADDR:]HOSTPORT:GUESTPORT\n", argv[i]);
			return CLI_EXIT_USAGE;
		}
	/* Signals are blocked before any thread starts, so all inherit it. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct net_slots *ns;
	if (open_slots("port-forward", &ns, NULL) < 0)
		return CLI_EXIT_FAILURE;
	const char *id = argv[1];
	struct cove_err err = { 0 };
	struct net_slot *slot = NULL;
	struct net_forward *fw[MAX_FORWARDS] = { 0 };
	int n = argc - 2, started = 0, rc = 0;
	if (net_slot_find(ns, id, &slot, &err) < 0) {
		fprintf(stderr, "cove port-forward: %s\n", err.msg);
		rc = CLI_EXIT_FAILURE;
	}
	for (; !rc && started < n; started++) {
		struct cli_publish *p = &ports[started];
		struct net_forward_config c = { .netns_fd = net_slot_netns_fd(slot), .target_addr = NET_GUEST_ADDR,
						.target_port = p->guest_port, .listen_addr = p->addr,
						.listen_port = p->host_port };
		if (net_forward_start(&c, &fw[started], &err) < 0) {
			fprintf(stderr, "cove port-forward: %s:%u:%u: %s\n", p->addr, p->host_port, p->guest_port, err.msg);
			rc = CLI_EXIT_FAILURE;
			break;
		}
		fprintf(stderr, "cove: sandbox=%s forwarding=%s:%u guest_port=%u\n", id, p->addr,
			net_forward_port(fw[started]), p->guest_port);
	}
	if (!rc)
		relay_until_done(ns, id);
	for (int i = 0; i < started; i++)
		net_forward_stop(fw[i]);
	net_slot_free(slot);
	net_slots_close(ns);
	return rc;
}
