/* Drives the network slot allocator without VMs, for the tests and the
 * benchmark. Settings come from the environment (net_config_from_env).
 *
 *   netslots cycle N           N acquire/release cycles; prints timings
 *   netslots hold ID [POLICY]  acquire a slot for sandbox ID, print "slot=N
 *                              netns=PATH" and wait (to be killed)
 *   netslots bench N LIVE      with LIVE slots held, time N cycles made from
 *                              scratch, then N taken from a pool of 4
 *   netslots gc [--pool]       reconcile records with the kernel
 *
 * POLICY: any of no-internet, allow=CIDR, deny=CIDR (comma separated), and
 * vmm: a child process stands in for the slot's VMM (it outlives a SIGKILL
 * of netslots, as a VMM outlives a daemon; its pid is printed as vmm=PID). */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "net/net.h"

static int die(const char *what, const struct cove_err *err)
{
	fprintf(stderr, "netslots: %s: %s\n", what, err->msg);
	return 1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, int64_t *us, size_t n)
{
	qsort(us, n, sizeof(*us), cmp_i64);
	size_t p99 = n ? (n * 99 + 99) / 100 - 1 : 0;
	printf("%s n=%zu median_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", name, n, n ? (double)us[n / 2] / 1000.0 : 0.0,
	       n ? (double)us[p99] / 1000.0 : 0.0, n ? (double)us[n - 1] / 1000.0 : 0.0);
}

static int open_slots(unsigned pool, struct net_slots **ns)
{
	struct net_config c;
	net_config_from_env(&c);
	if (pool)
		c.pool_size = pool;
	struct cove_err err = { 0 };
	struct net_recovery rec;
	if (net_slots_open(&c, ns, &rec, &err) < 0)
		return die("open", &err);
	if (rec.removed || rec.strays)
		fprintf(stderr, "netslots: recovered adopted=%u removed=%u strays=%u\n", rec.adopted, rec.removed,
			rec.strays);
	return 0;
}

/* Times n cycles; acquire and release times go to a and r (may be NULL). */
static int cycles(struct net_slots *ns, size_t n, int64_t *a, int64_t *r, const char *tag)
{
	for (size_t i = 0; i < n; i++) {
		char id[64];
		snprintf(id, sizeof(id), "%s-%zu", tag, i);
		struct cove_err err = { 0 };
		struct net_slot *slot;
		int64_t t0 = now_us();
		if (net_slot_acquire(ns, id, NULL, &slot, &err) < 0)
			return die("acquire", &err);
		int64_t t1 = now_us();
		if (net_slot_release(ns, slot, &err) < 0)
			return die("release", &err);
		int64_t t2 = now_us();
		if (a)
			a[i] = t1 - t0;
		if (r)
			r[i] = t2 - t1;
	}
	return 0;
}

static int cmd_cycle(size_t n)
{
	struct net_slots *ns;
	if (open_slots(0, &ns))
		return 1;
	int64_t *a = calloc(n, sizeof(*a)), *r = calloc(n, sizeof(*r));
	int rc = cycles(ns, n, a, r, "cycle");
	if (!rc) {
		report("acquire", a, n);
		report("release", r, n);
	}
	free(a);
	free(r);
	net_slots_close(ns);
	return rc;
}

static int parse_policy(char *spec, struct net_policy *p, const char **allow, const char **deny, bool *vmm)
{
	size_t na = 0, nd = 0;
	p->internet = true;
	for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
		if (strcmp(tok, "no-internet") == 0)
			p->internet = false;
		else if (strcmp(tok, "vmm") == 0)
			*vmm = true;
		else if (strncmp(tok, "allow=", 6) == 0 && na < 16)
			allow[na++] = tok + 6;
		else if (strncmp(tok, "deny=", 5) == 0 && nd < 16)
			deny[nd++] = tok + 5;
		else
			return -1;
	}
	p->allow_out = allow;
	p->deny_out = deny;
	return 0;
}

static int cmd_hold(const char *id, char *policy_spec)
{
	const char *allow[17] = { 0 }, *deny[17] = { 0 };
	struct net_policy p = { .internet = true };
	bool vmm = false;
	if (policy_spec && parse_policy(policy_spec, &p, allow, deny, &vmm) < 0) {
		fprintf(stderr, "netslots: bad policy\n");
		return 2;
	}
	struct net_slots *ns;
	if (open_slots(0, &ns))
		return 1;
	struct cove_err err = { 0 };
	struct net_slot *slot;
	if (net_slot_acquire(ns, id, &p, &slot, &err) < 0)
		return die("acquire", &err);
	pid_t child = 0;
	if (vmm) {
		child = fork();
		if (child == 0) {
			setsid();
			for (;;)
				pause();
		}
		struct proc_identity vid;
		if (child < 0 || proc_identity_read(child, &vid, &err) < 0 || net_slot_set_vmm(ns, slot, &vid, &err) < 0)
			return die("stand-in VMM", &err);
	}
	printf("slot=%u link=%s address=%s vmm=%d\n", net_slot_index(slot), net_slot_host_link(slot),
	       net_slot_address(slot), (int)child);
	fflush(stdout);
	/* Released on SIGTERM/SIGINT; SIGKILL leaves it for recovery. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sig;
	sigwait(&set, &sig);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	int rc = net_slot_release(ns, slot, &err) < 0 ? die("release", &err) : 0;
	net_slots_close(ns);
	return rc;
}

static int cmd_bench(size_t n, size_t live)
{
	struct net_slots *ns;
	if (open_slots(0, &ns))
		return 1;
	struct net_slot **held = calloc(live ? live : 1, sizeof(*held));
	int64_t *a = calloc(n, sizeof(*a)), *r = calloc(n, sizeof(*r));
	int64_t *first = calloc(live ? live : 1, sizeof(*first));
	int rc = 0;
	/* The set-up time of each of the live slots, to see whether it grows. */
	for (size_t i = 0; i < live && !rc; i++) {
		char id[32];
		snprintf(id, sizeof(id), "live-%zu", i);
		struct cove_err err = { 0 };
		int64_t t0 = now_us();
		if (net_slot_acquire(ns, id, NULL, &held[i], &err) < 0)
			rc = die("acquire live", &err);
		first[i] = now_us() - t0;
	}
	if (!rc && live >= 100) {
		size_t k = live / 10;
		report("setup_first_10pct", first, k);
		report("setup_last_10pct", first + live - k, k);
	}
	if (!rc && !(rc = cycles(ns, n, a, r, "scratch"))) {
		report("setup_scratch", a, n);
		report("teardown", r, n);
	}
	net_slots_close(ns);
	/* Pool: a second handle on the same state with a pool, so claims are
	 * timed with the pool kept full in the background. */
	struct net_slots *pooled = NULL;
	if (!rc && !(rc = open_slots(4, &pooled))) {
		struct cove_err err = { 0 };
		for (size_t i = 0; i < n && !rc; i++) {
			if (net_slots_fill_pool(pooled, &err) < 0) {
				rc = die("fill pool", &err);
				break;
			}
			char id[32];
			snprintf(id, sizeof(id), "pool-%zu", i);
			struct net_slot *slot;
			int64_t t0 = now_us();
			if (net_slot_acquire(pooled, id, NULL, &slot, &err) < 0) {
				rc = die("acquire from pool", &err);
				break;
			}
			a[i] = now_us() - t0;
			if (net_slot_release(pooled, slot, &err) < 0)
				rc = die("release", &err);
		}
		if (!rc)
			report("setup_pool", a, n);
		struct net_recovery rec;
		if (net_slots_recover(pooled, true, &rec, &err) < 0)
			rc = die("drain pool", &err);
		net_slots_close(pooled);
	}
	if (open_slots(0, &ns) == 0) {
		for (size_t i = 0; i < live; i++) {
			struct cove_err err = { 0 };
			if (held[i] && net_slot_release(ns, held[i], &err) < 0)
				rc = die("release live", &err);
		}
		net_slots_close(ns);
	}
	free(held);
	free(first);
	free(a);
	free(r);
	return rc;
}

static int cmd_gc(int pool)
{
	struct net_slots *ns;
	if (open_slots(0, &ns))
		return 1;
	struct cove_err err = { 0 };
	struct net_recovery rec;
	int rc = net_slots_recover(ns, pool, &rec, &err) < 0 ? die("gc", &err) : 0;
	if (!rc)
		printf("adopted=%u removed=%u strays=%u\n", rec.adopted, rec.removed, rec.strays);
	net_slots_close(ns);
	return rc;
}

int main(int argc, char **argv)
{
	log_set_level(LOG_WARN);
	log_level_from_env();
	if (argc >= 3 && strcmp(argv[1], "cycle") == 0)
		return cmd_cycle(strtoul(argv[2], NULL, 10));
	if (argc >= 3 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(argv[2], argc > 3 ? argv[3] : NULL);
	if (argc >= 4 && strcmp(argv[1], "bench") == 0)
		return cmd_bench(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
	if (argc >= 2 && strcmp(argv[1], "gc") == 0)
		return cmd_gc(argc > 2 && strcmp(argv[2], "--pool") == 0);
	fprintf(stderr, "usage: netslots cycle N | hold ID [POLICY] | bench N LIVE | gc [--pool]\n");
	return 2;
}
