/* cove template build RECIPE and cove template snapshot NAME.
 *
 * build makes TEMPLATES/NAME from a recipe directory: a recipe with a
 * build.sh runs it (build.sh BIN_DIR OUT_DIR writes rootfs.ext4 and
 * template.conf); one with `packages`, setup.sh and template.conf is a
 * Debian tree made by debootstrap (kept while the recipe is unchanged) and
 * an image of it with the current guest programs. Both end like snapshot.
 *
 * snapshot boots the template's guest once, waits for its agent and saves it
 * in TEMPLATES/NAME/snapshot, so that sandboxes of the template (cove run,
 * coved) start by restoring it instead of booting. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

static const char usage_text[] =
	"usage: cove template build [--name NAME] [--no-snapshot] RECIPE_DIR\n"
	"       cove template build --from-image REF [--creds USER:PASS | --username USER --password-stdin]\n"
	"                           [--insecure-registry HOST:PORT]... [--max-disk-mib N]\n"
	"                           [--start-cmd CMD] [--ready-cmd CMD] [--no-snapshot] NAME\n"
	"       cove template snapshot NAME\n"
	"       cove template rm NAME\n"
	"\n"
	"build makes a template (TEMPLATES/NAME; NAME defaults to the recipe\n"
	"directory's name) from a recipe, showing each step:\n"
	"  a recipe with build.sh: it is run as build.sh BIN_DIR OUT_DIR and writes\n"
	"    OUT_DIR/rootfs.ext4 and OUT_DIR/template.conf;\n"
	"  a recipe with packages, setup.sh and template.conf: a Debian tree made by\n"
	"    debootstrap from the machine's apt sources (needs root; kept, and not\n"
	"    made again, while those three files are unchanged), then an image of it\n"
	"    with the current guest programs.\n"
	"--from-image makes the template from a container image instead: REF is\n"
	"  docker://HOST[:PORT]/NAME[:TAG|@DIGEST] (or NAME[:TAG] of a registry),\n"
	"  oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE. skopeo\n"
	"  fetches it (once: the image cache is $COVE_STATE_DIR/image-cache, by the\n"
	"  manifest's digest), umoci unpacks it, and the image's Env, WorkingDir and\n"
	"  User become the template's env, workdir and user. Any libc works: the\n"
	"  guest programs are static. --creds or --username with the password on\n"
	"  stdin log in to the registry (never passed on a command line);\n"
	"  --insecure-registry HOST:PORT reaches one over plain HTTP; --max-disk-mib\n"
	"  refuses an image whose disk would be bigger; --start-cmd and --ready-cmd\n"
	"  are the template's start_cmd and ready_cmd (run before its snapshot).\n"
	"The guest programs (cove-init, cove-agent) images get are the ones next\n"
	"to cove, or in $COVE_GUEST_BIN. Then, as root, it boots the template once\n"
	"and snapshots it (unless --no-snapshot), as `cove template snapshot` does.\n"
	"\n"
	"snapshot boots the template's guest once, waits for its agent and saves it\n"
	"(memory, device state, the disk writes of its boot) in TEMPLATES/NAME/\n"
	"snapshot. From then on its sandboxes start by restoring that in\n"
	"milliseconds instead of booting a kernel; a snapshot that no longer\n"
	"matches the kernel, image, memory or CPUs is not used (the sandbox boots,\n"
	"and says why).\n"
	"\n"
	"rm removes TEMPLATES/NAME whole.\n";

/* The kernel and templates directory, as absolute paths (the VMM is handed
 * absolute paths only). create: make the templates directory if missing. */
static int guest_paths(char *kernel, char *dir, bool create)
{
	char k[PATH_MAX], d[PATH_MAX];
	if (env_guest_path(ENV_KERNEL, k, sizeof(k)) < 0 ||
	    (env_guest_path(ENV_TEMPLATES, d, sizeof(d)) < 0 && !create)) {
		fprintf(stderr, "cove template: no guest kernel or templates found; build them with 'make'\n");
		return -ENOENT;
	}
	struct cove_err err = { 0 };
	if (create && fs_mkdir_p(d, 0755, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return err.code;
	}
	if (!realpath(k, kernel) || !realpath(d, dir)) {
		int e = errno;
		fprintf(stderr, "cove template: %s: %s\n", realpath(k, kernel) ? d : k, strerror(e));
		return -e;
	}
	return 0;
}

static int snapshot(const char *dir, const char *kernel, const char *name)
{
	struct template tpl;
	struct cove_err err = { 0 };
	if (template_load(dir, name, &tpl, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	const char *vmm = tpl.vmm[0] ? tpl.vmm : env_get(ENV_VMM);
	if (vmm && vmm_driver_check(vmm, &err) < 0) {
		fprintf(stderr, "cove template: %s: %s\n", name, err.msg);
		return CLI_EXIT_FAILURE;
	}
	const char *envs[TEMPLATE_ENV_MAX + 1];
	template_envs(&tpl, NULL, envs, ARRAY_SIZE(envs));
	int sfd = cli_signal_fd(false);
	struct sandbox_config sc = {
		.policy = { .internet = true },
		.kernel = kernel,
		.rootfs = tpl.rootfs,
		.vcpus = tpl.vcpus,
		.mem_mib = tpl.memory_mib,
		.accel = VMM_ACCEL_AUTO,
		.run_dir = env_get(ENV_RUN_DIR),
		.log_dir = env_get(ENV_LOG_DIR),
		/* Made by the VMM its sandboxes will restore it with. */
		.vmm_driver = vmm,
		.die_with_parent = true,
		.cancel_fd = sfd,
		.default_user = tpl.user[0] ? tpl.user : NULL,
		.start_cmd = tpl.start_cmd[0] ? tpl.start_cmd : NULL,
		.ready_cmd = tpl.ready_cmd[0] ? tpl.ready_cmd : NULL,
		.ready_timeout_s = tpl.ready_timeout_s,
		.envs = envs,
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

/* Runs one build step's program, its output going where ours does. */
static int run_step(char *const argv[])
{
	struct spawn_options o = { .path = argv[0], .argv = argv };
	int status = spawn_run(&o, NULL, NULL, NULL);
	if (status < 0) {
		fprintf(stderr, "cove template: run %s: %s\n", argv[0], strerror(-status));
		return CLI_EXIT_FAILURE;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "cove template: %s was killed by signal %d\n", argv[0], WTERMSIG(status));
	else
		fprintf(stderr, "cove template: %s failed (exit %d)\n", argv[0], WEXITSTATUS(status));
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGINT ? 130 : CLI_EXIT_FAILURE;
}

static bool file_in(const char *dir, const char *name)
{
	char p[PATH_MAX];
	return snprintf(p, sizeof(p), "%s/%s", dir, name) < (int)sizeof(p) && access(p, F_OK) == 0;
}

struct build {
	char recipe[PATH_MAX], name[TEMPLATE_NAME_MAX + 1];
	char dir[PATH_MAX], kernel[PATH_MAX], out[PATH_MAX + TEMPLATE_NAME_MAX + 2], bin[PATH_MAX];
	char tools[PATH_MAX];
	bool debootstrap, snapshot;
	struct cli_image_build image; /* image.ref: --from-image */
	char creds[512];
	bool password_stdin;
};

/* The image: build.sh, or debootstrap.sh and image.sh (guest tools). */
static int build_image(struct build *b, int *step, int steps)
{
	char script[PATH_MAX + 16], image[PATH_MAX + 16];
	if (!b->debootstrap) {
		snprintf(script, sizeof(script), "%s/build.sh", b->recipe);
		fprintf(stderr, "cove template: [%d/%d] %s: running the recipe's build.sh\n", ++*step, steps, b->name);
		return run_step((char *const[]){ script, b->bin, b->out, NULL });
	}
	if (env_guest_path(ENV_GUEST_TOOLS, b->tools, sizeof(b->tools)) < 0) {
		fprintf(stderr, "cove template: the guest tools (debootstrap.sh, image.sh) are not found; 'make' puts them "
				"in the build's guest/tools\n");
		return CLI_EXIT_FAILURE;
	}
	snprintf(script, sizeof(script), "%s/debootstrap.sh", b->tools);
	snprintf(image, sizeof(image), "%s/image.sh", b->tools);
	fprintf(stderr, "cove template: [%d/%d] %s: the Debian tree (debootstrap)\n", ++*step, steps, b->name);
	int r = run_step((char *const[]){ script, b->recipe, b->out, NULL });
	if (r != 0)
		return r;
	fprintf(stderr, "cove template: [%d/%d] %s: the disk image, with the current guest programs\n", ++*step, steps,
		b->name);
	return run_step((char *const[]){ image, b->recipe, b->bin, b->out, NULL });
}

enum { O_NO_SNAPSHOT = 300, O_FROM_IMAGE, O_CREDS, O_USERNAME, O_PASSWORD_STDIN, O_START_CMD, O_READY_CMD,
       O_INSECURE, O_MAX_DISK };

/* One option of build's; -1 for one it does not know. */
static int build_option(struct build *b, int c, const char **name)
{
	struct cli_image_build *ib = &b->image;
	size_t n = 0;
	switch (c) {
	case 'n': *name = optarg; return 0;
	case O_NO_SNAPSHOT: b->snapshot = false; return 0;
	case O_FROM_IMAGE: ib->ref = optarg; return 0;
	case O_USERNAME: ib->username = optarg; return 0;
	case O_PASSWORD_STDIN: b->password_stdin = true; return 0;
	case O_START_CMD: ib->start_cmd = optarg; return strchr(optarg, '\n') ? -1 : 0;
	case O_READY_CMD: ib->ready_cmd = optarg; return strchr(optarg, '\n') ? -1 : 0;
	case O_CREDS:
		snprintf(b->creds, sizeof(b->creds), "%s", optarg);
		explicit_bzero(optarg, strlen(optarg)); /* out of ps's sight from now on */
		return strchr(b->creds, ':') ? 0 : -1;
	case O_INSECURE:
		while (ib->insecure[n])
			n++;
		if (n == CLI_MAX_INSECURE)
			return -1;
		ib->insecure[n] = optarg;
		return 0;
	case O_MAX_DISK: ib->max_disk_mib = (unsigned)strtoul(optarg, NULL, 10); return ib->max_disk_mib ? 0 : -1;
	}
	return -1;
}

/* --creds USER:PASS, or --username and a password line on stdin. */
static int build_credentials(struct build *b)
{
	struct cli_image_build *ib = &b->image;
	if (b->creds[0]) {
		char *colon = strchr(b->creds, ':');
		*colon = '\0';
		ib->username = b->creds;
		ib->password = colon + 1;
		return ib->username[0] ? 0 : -1;
	}
	if (!b->password_stdin)
		return 0;
	if (!ib->username || !fgets(b->creds, sizeof(b->creds), stdin))
		return -1;
	b->creds[strcspn(b->creds, "\r\n")] = '\0';
	ib->password = b->creds;
	return 0;
}

static int build_parse(int argc, char **argv, struct build *b)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "no-snapshot", no_argument, NULL, O_NO_SNAPSHOT },
		{ "from-image", required_argument, NULL, O_FROM_IMAGE },
		{ "creds", required_argument, NULL, O_CREDS },
		{ "username", required_argument, NULL, O_USERNAME },
		{ "password-stdin", no_argument, NULL, O_PASSWORD_STDIN },
		{ "start-cmd", required_argument, NULL, O_START_CMD },
		{ "ready-cmd", required_argument, NULL, O_READY_CMD },
		{ "insecure-registry", required_argument, NULL, O_INSECURE },
		{ "max-disk-mib", required_argument, NULL, O_MAX_DISK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL;
	int c;
	b->snapshot = true;
	while ((c = getopt_long(argc, argv, "+n:h", longopts, NULL)) != -1) {
		if (c == 'h')
			return fputs(usage_text, stdout), 0;
		if (build_option(b, c, &name) < 0)
			return fputs(usage_text, stderr), CLI_EXIT_USAGE;
	}
	if (optind != argc - 1 || build_credentials(b) < 0)
		return fputs(usage_text, stderr), CLI_EXIT_USAGE;
	struct cove_err err = { 0 };
	if (b->image.ref) {
		/* The image form: the one argument is the template's name. */
		if (template_name_check(argv[optind], &err) < 0) {
			fprintf(stderr, "cove template: %s\n", err.msg);
			return CLI_EXIT_USAGE;
		}
		snprintf(b->name, sizeof(b->name), "%s", argv[optind]);
		return -1;
	}
	struct stat st;
	if (!realpath(argv[optind], b->recipe) || stat(b->recipe, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cove template: recipe %s: %s\n", argv[optind], errno ? strerror(errno) : "not a directory");
		return CLI_EXIT_FAILURE;
	}
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", b->recipe);
	if (!name)
		name = basename(copy);
	if (template_name_check(name, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->debootstrap = !file_in(b->recipe, "build.sh");
	if (b->debootstrap && !(file_in(b->recipe, "packages") && file_in(b->recipe, "setup.sh") &&
				file_in(b->recipe, "template.conf"))) {
		fprintf(stderr, "cove template: recipe %s has neither a build.sh nor packages, setup.sh and "
				"template.conf\n", b->recipe);
		return CLI_EXIT_FAILURE;
	}
	return -1; /* go on */
}

/* A recipe's template says where it came from (source=, as an image's
 * does), unless its template.conf says so itself. */
static void note_source(const char *out, const char *recipe)
{
	char conf[PATH_MAX + TEMPLATE_NAME_MAX + 32];
	snprintf(conf, sizeof(conf), "%s/template.conf", out);
	FILE *f = strchr(recipe, '\n') ? NULL : fopen(conf, "ae");
	if (f) {
		fprintf(f, "source=recipe %s\n", recipe);
		fclose(f);
	}
}

static int cmd_build(int argc, char **argv)
{
	struct build b = { 0 };
	int r = build_parse(argc, argv, &b);
	if (r >= 0)
		return r;
	char exe_dir[PATH_MAX];
	if (env_exe_dir(exe_dir, sizeof(exe_dir)) < 0 || guest_paths(b.kernel, b.dir, true) < 0)
		return CLI_EXIT_FAILURE;
	/* The guest programs images get: next to cove, unless COVE_GUEST_BIN
	 * names others (a sanitizer build's are not for guests). */
	const char *guest_bin = env_get(ENV_GUEST_BIN);
	snprintf(b.bin, sizeof(b.bin), "%s", guest_bin ? guest_bin : exe_dir);
	snprintf(b.out, sizeof(b.out), "%s/%s", b.dir, b.name);
	struct cove_err err = { 0 };
	if (!b.image.ref && fs_mkdir_p(b.out, 0755, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	bool root = geteuid() == 0;
	int step = 0, steps = (b.debootstrap ? 2 : 1) + (b.snapshot && root);
	int64_t t0 = now_ms();
	if (b.image.ref) {
		b.image.bin = b.bin;
		b.image.dir = b.dir;
		b.image.name = b.name;
		fprintf(stderr, "cove template: [%d/%d] %s: the image %s\n", ++step, steps, b.name, b.image.ref);
		r = cli_template_from_image(&b.image);
		explicit_bzero(b.creds, sizeof(b.creds));
	} else {
		r = build_image(&b, &step, steps);
	}
	if (r != 0)
		return r;
	struct template tpl;
	if (template_load(b.dir, b.name, &tpl, &err) < 0) {
		fprintf(stderr, "cove template: the recipe made no usable template: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	if (!tpl.source[0])
		note_source(b.out, b.recipe);
	if (b.snapshot && root) {
		fprintf(stderr, "cove template: [%d/%d] %s: the snapshot its sandboxes start from\n", ++step, steps, b.name);
		if ((r = snapshot(b.dir, b.kernel, b.name)) != 0)
			return r;
	} else if (b.snapshot) {
		fprintf(stderr, "cove template: %s: no snapshot (making one needs root); its sandboxes will boot\n", b.name);
	}
	fprintf(stderr, "cove template: built %s in %.1f s: %s (image %.0f MiB on disk, snapshot %.0f MiB)\n", b.name,
		(double)(now_ms() - t0) / 1000.0, b.out, (double)fs_disk_usage(tpl.rootfs, false) / 1048576.0,
		(double)fs_disk_usage(tpl.snapshot, false) / 1048576.0);
	return 0;
}

int cmd_template(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "build") == 0) {
		/* With a base template or steps, the builder's. */
		static const char *const steps[] = { "--from-template", "--run", "--copy", "--env", "--workdir", "--user" };
		for (int i = 2; i < argc; i++) {
			bool builder = false;
			for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
				builder |= strncmp(argv[i], steps[k], strlen(steps[k])) == 0 &&
					   (!argv[i][strlen(steps[k])] || argv[i][strlen(steps[k])] == '=');
			if (builder) {
				char kernel[PATH_MAX], dir[PATH_MAX];
				if (guest_paths(kernel, dir, true) < 0)
					return CLI_EXIT_FAILURE;
				return cli_template_build_steps(argc - 1, argv + 1, dir, kernel);
			}
		}
		return cmd_build(argc - 1, argv + 1);
	}
	if (argc != 3 || (strcmp(argv[1], "snapshot") != 0 && strcmp(argv[1], "rm") != 0)) {
		fputs(usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	char kernel[PATH_MAX], dir[PATH_MAX];
	if (guest_paths(kernel, dir, false) < 0)
		return CLI_EXIT_FAILURE;
	if (strcmp(argv[1], "rm") == 0)
		return cli_template_rm(dir, argv[2]);
	return snapshot(dir, kernel, argv[2]);
}
