/* cove-pager: serves one Firecracker VM's memory through userfaultfd
 * (src/vmm/pager/pager.h). Started by Cove's Firecracker driver, never by
 * hand:
 *
 *   cove-pager --vmm-pid PID --layers N [--accept-timeout-ms MS]
 *
 * with the listening socket as descriptor 3 and the N memory files, top
 * first, as 4, 5, ...; it runs as the VMM's own uid (the driver's setup).
 * It outlives the process that started it (a coved restarting adopts the
 * VMM, and the VMM would hang on its next fault without it) and ends when
 * the VMM does. Exit status 0 once the VMM is gone, 1 on an error (said on
 * stderr, which is the VMM's log). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmm/pager/pager.h"

#define LISTEN_FD 3
#define FIRST_LAYER_FD 4

static int usage(void)
{
	fprintf(stderr, "usage: cove-pager --vmm-pid PID --layers N [--accept-timeout-ms MS]\n"
			"  (descriptor 3: the listening socket; 4...: the memory files, top first)\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vmm-pid", required_argument, NULL, 'p' },
		{ "layers", required_argument, NULL, 'l' },
		{ "accept-timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct pager_options o = { .listen_fd = LISTEN_FD, .accept_timeout_ms = 30000 };
	long layers = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			o.vmm_pid = (pid_t)strtol(optarg, NULL, 10);
		else if (c == 'l')
			layers = strtol(optarg, NULL, 10);
		else if (c == 't')
			o.accept_timeout_ms = (int)strtol(optarg, NULL, 10);
		else
			return usage();
	}
	if (optind != argc || o.vmm_pid <= 0 || layers < 1 || layers > PAGER_MAX_LAYERS || o.accept_timeout_ms <= 0)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	/* The VMM runs as the same uid: it may not read this one's memory. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	int fds[PAGER_MAX_LAYERS];
	for (long i = 0; i < layers; i++)
		fds[i] = FIRST_LAYER_FD + (int)i;
	struct cove_err err = { 0 };
	struct pager_layers *l = NULL;
	struct pager_stats st;
	int r = pager_layers_open(fds, (size_t)layers, &l, &err);
	r = r ?: pager_serve(&o, l, &st, &err);
	pager_layers_free(l);
	if (r < 0) {
		fprintf(stderr, "cove-pager: %s\n", err.msg);
		return 1;
	}
	uint64_t below = 0;
	for (long i = 1; i < layers; i++)
		below += st.from_layer[i];
	fprintf(stderr, "cove-pager: the VMM (pid %d) ended; %llu faults answered with %llu pages from the top file, "
			"%llu from below it, %llu zero pages; %llu pages given back\n", (int)o.vmm_pid,
		(unsigned long long)st.faults, (unsigned long long)st.from_layer[0], (unsigned long long)below,
		(unsigned long long)st.zero, (unsigned long long)st.removed);
	return 0;
}
