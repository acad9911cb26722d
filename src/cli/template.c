/* cove template snapshot NAME: boots the template's guest once, waits for its
 * agent and saves it in TEMPLATE_DIR/NAME/snapshot, so that sandboxes of the
 * template (cove run, coved) start by restoring it instead of booting. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

static const char usage_text[] =
	"usage: cove template snapshot NAME\n"
	"\n"
	"Boots the template's guest once, waits for its agent and saves it (memory,\n"
	"device state, the disk writes of its boot) in TEMPLATES/NAME/snapshot. From\n"
	"then on its sandboxes start by restoring that in milliseconds instead of\n"
	"booting a kernel; a snapshot that no longer matches the kernel, image,\n"
	"memory or CPUs is not used (the sandbox boots, and says why).\n";

int cmd_template(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "snapshot") != 0) {
		fputs(usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	char kernel[PATH_MAX], dir[PATH_MAX];
	if (cli_default_guest_file("COVE_KERNEL", "vmlinux", kernel, sizeof(kernel)) < 0 ||
	    cli_default_guest_file("COVE_TEMPLATES", "templates", dir, sizeof(dir)) < 0) {
		fprintf(stderr, "cove template: no guest kernel or templates found; build them with 'make'\n");
		return CLI_EXIT_FAILURE;
	}
	/* The VMM is handed absolute paths only. */
	char abs_dir[PATH_MAX], abs_kernel[PATH_MAX];
	if (!realpath(dir, abs_dir) || !realpath(kernel, abs_kernel)) {
		fprintf(stderr, "cove template: %s: %s\n", realpath(dir, abs_dir) ? kernel : dir, strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	struct template tpl;
	struct cove_err err = { 0 };
	if (template_load(abs_dir, argv[2], &tpl, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	int sfd = cli_signal_fd(false);
	struct sandbox_config sc = {
		.policy = { .internet = true },
		.kernel = abs_kernel,
		.rootfs = tpl.rootfs,
		.vcpus = tpl.vcpus,
		.mem_mib = tpl.memory_mib,
		.accel = VMM_ACCEL_AUTO,
		.run_dir = getenv("COVE_RUN_DIR"),
		.log_dir = getenv("COVE_LOG_DIR"),
		.vmm_binary = getenv("COVE_QEMU"),
		.die_with_parent = true,
		.cancel_fd = sfd,
	};
	struct net_config nc;
	net_config_from_env(&nc);
	if (net_slots_open(&nc, &sc.net, NULL, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	fprintf(stderr, "cove template: booting %s to snapshot it...\n", tpl.name);
	int64_t t0 = now_ms();
	int r = sandbox_snapshot_make(&sc, tpl.snapshot, &err);
	net_slots_close(sc.net);
	if (sfd >= 0)
		close(sfd);
	if (r < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return r == -ECANCELED ? 130 : CLI_EXIT_FAILURE;
	}
	fprintf(stderr, "cove template: %s snapshotted in %.1f s: %s\n", tpl.name, (double)(now_ms() - t0) / 1000.0,
		tpl.snapshot);
	return 0;
}
