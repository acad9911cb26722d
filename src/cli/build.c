/* cove template build with build steps: a template made from a base
 * template (--from-template) by steps run in a build microVM (the
 * builder, build/runner.h), showing the build's log as it goes.
 *
 * Steps come in the order given: --run CMD, --copy SRC:DEST[:OWNER[:MODE]]
 * (SRC, a host file or directory, goes as a tar made here), --env K=V,
 * --workdir DIR, --user NAME. The layers of steps are cached (in
 * STATE_DIR/build), so building again with the same first steps runs only
 * the changed ones. The template appears as TEMPLATES/NAME, a link to the
 * build's own directory, swapped whole: a failed build changes nothing. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build/files.h"
#include "build/runner.h"
#include "cli/cli.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/proc.h"
#include "common/spawn.h"

#define MAX_STEPS 256

struct cli_build {
	struct build_step steps[MAX_STEPS];
	const char *args[MAX_STEPS][4];
	size_t nsteps;
	const char *from_template, *from_image, *start_cmd, *ready_cmd, *name;
	unsigned ready_timeout, vcpus, memory_mib, max_disk_mib;
	bool force, password_stdin;
	char creds[512];
	const char *username, *password;
	const char *insecure[CLI_MAX_INSECURE + 1];
	size_t ninsecure;
	char cache[PATH_MAX];
	struct files_store files;
};

static const char build_usage[] =
	"usage: cove template build (--from-template BASE | --from-image REF) [STEP]... [--start-cmd CMD]\n"
	"                           [--ready-cmd CMD] [--ready-timeout S] [--cpus N] [--memory-mib N]\n"
	"                           [--no-cache] NAME\n"
	"--from-image as cove template build --from-image takes it, with its --creds,\n"
	"--username/--password-stdin, --insecure-registry and --max-disk-mib; the steps\n"
	"then run as `user` (made when missing) in /home/user, as on E2B.\n"
	"steps, run in this order in a build microVM:\n"
	"  --run CMD                        run CMD with /bin/sh -c\n"
	"  --copy SRC:DEST[:OWNER[:MODE]]   copy the host file or directory SRC to DEST\n"
	"  --env KEY=VALUE                  set a variable for later steps and the template\n"
	"  --workdir DIR                    make DIR and run later steps in it\n"
	"  --user NAME                      run later steps as NAME (added if missing)\n";

/* SRC as a tar.gz in the files store, named by its hash (of the tar). */
static int pack(struct cli_build *b, const char *src, char hash[65], const char **name_in_tar)
{
	char path[PATH_MAX], dir[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX + 16];
	if (!realpath(src, path)) {
		fprintf(stderr, "cove template: --copy %s: %s\n", src, strerror(errno));
		return -errno;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	char *d = dirname(dir), *bn = basename(base);
	snprintf(tmp, sizeof(tmp), "%s/pack.XXXXXX", b->files.dir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return fprintf(stderr, "cove template: %s: %s\n", tmp, strerror(errno)), -errno;
	/* Owners are the COPY's to set; hard links go as files (the store
	 * takes none). */
	char *const argv[] = { "tar", "-c", "-z", "-f", tmp, "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
			       "--hard-dereference", "-C", d, "--", bn, NULL };
	struct spawn_options o = { .path = "/bin/tar", .argv = argv };
	int status = spawn_run(&o, NULL, NULL, NULL);
	FILE *f = status == 0 ? fdopen(fd, "re") : NULL;
	int r = f ? 0 : -EIO;
	struct sha256_ctx h;
	uint8_t buf[65536], dg[SHA256_DIGEST_SIZE];
	size_t n;
	sha256_init(&h);
	while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		sha256_update(&h, n, buf);
	sha256_digest(&h, sizeof(dg), dg);
	for (size_t i = 0; i < sizeof(dg); i++)
		snprintf(hash + 2 * i, 3, "%02x", dg[i]);
	/* Into the store as an upload is: checked, then put in place. */
	struct cove_err err = { 0 };
	struct files_upload *u = NULL;
	uint64_t size = 0;
	r = r ?: files_begin(&b->files, hash, &u, &err);
	if (r == 0 && fseek(f, 0, SEEK_SET) == 0) {
		while (r == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
			r = files_write(u, buf, n, &err);
			size += n;
		}
		r = r ?: files_commit(u, size, &err);
		u = NULL;
	}
	files_abort(u);
	if (f)
		fclose(f);
	else
		close(fd);
	unlink(tmp);
	if (r < 0) {
		fprintf(stderr, "cove template: --copy %s: %s\n", src, err.msg[0] ? err.msg : "tar failed");
		return r;
	}
	*name_in_tar = strdup(bn);
	return *name_in_tar ? 0 : -ENOMEM;
}

static int add_step(struct cli_build *b, enum build_step_type type, int c, char *arg)
{
	if (b->nsteps == MAX_STEPS)
		return fprintf(stderr, "cove template: more than %d steps\n", MAX_STEPS), -E2BIG;
	size_t i = b->nsteps;
	struct build_step *s = &b->steps[i];
	const char **a = b->args[i];
	*s = (struct build_step){ .type = type, .args = a, .force = b->force };
	if (c == 'r' || c == 'w') {
		a[0] = arg;
		s->n_args = 1;
	} else if (c == 'u') {
		a[0] = arg;
		s->n_args = 1;
	} else if (c == 'e') {
		char *eq = strchr(arg, '=');
		if (!eq || eq == arg)
			return fprintf(stderr, "cove template: --env %s: expected KEY=VALUE\n", arg), -EINVAL;
		*eq = '\0';
		a[0] = arg;
		a[1] = eq + 1;
		s->n_args = 2;
	} else {
		/* SRC:DEST[:OWNER[:MODE]] */
		char *parts[4] = { arg, NULL, "", "" };
		for (int p = 1; p < 4; p++) {
			char *colon = strchr(parts[p - 1], ':');
			if (!colon)
				break;
			*colon = '\0';
			parts[p] = colon + 1;
		}
		if (!parts[1] || !*parts[0] || !*parts[1])
			return fprintf(stderr, "cove template: --copy: expected SRC:DEST[:OWNER[:MODE]]\n"), -EINVAL;
		int r = pack(b, parts[0], s->files_hash, &a[0]);
		if (r < 0)
			return r;
		a[1] = parts[1];
		a[2] = parts[2];
		a[3] = parts[3];
		s->n_args = 4;
	}
	b->nsteps++;
	return 0;
}

static int parse(struct cli_build *b, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from-template", required_argument, NULL, 'f' }, { "run", required_argument, NULL, 'r' },
		{ "copy", required_argument, NULL, 'c' },	   { "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },	   { "user", required_argument, NULL, 'u' },
		{ "start-cmd", required_argument, NULL, 's' },	   { "ready-cmd", required_argument, NULL, 'R' },
		{ "ready-timeout", required_argument, NULL, 'T' }, { "cpus", required_argument, NULL, 'C' },
		{ "memory-mib", required_argument, NULL, 'M' },	   { "no-cache", no_argument, NULL, 'N' },
		{ "from-image", required_argument, NULL, 'i' },	   { "creds", required_argument, NULL, 'k' },
		{ "username", required_argument, NULL, 'U' },	   { "password-stdin", no_argument, NULL, 'P' },
		{ "insecure-registry", required_argument, NULL, 'I' },
		{ "max-disk-mib", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },		   { NULL, 0, NULL, 0 },
	};
	static const enum build_step_type types[128] = { ['r'] = BUILD_RUN, ['c'] = BUILD_COPY, ['e'] = BUILD_ENV,
							 ['w'] = BUILD_WORKDIR, ['u'] = BUILD_USER };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		long v;
		int r = 0;
		switch (c) {
		case 'f': b->from_template = optarg; break;
		case 'i': b->from_image = optarg; break;
		case 'k':
			if (!strchr(optarg, ':') || optarg[0] == ':' ||
			    (size_t)snprintf(b->creds, sizeof(b->creds), "%s", optarg) >= sizeof(b->creds))
				return fputs("cove template: --creds USER:PASSWORD\n", stderr), CLI_EXIT_USAGE;
			*strchr(b->creds, ':') = '\0';
			b->username = b->creds;
			b->password = b->creds + strlen(b->creds) + 1;
			break;
		case 'U': b->username = optarg; break;
		case 'P': b->password_stdin = true; break;
		case 'I':
			if (b->ninsecure == CLI_MAX_INSECURE)
				return fputs("cove template: too many --insecure-registry\n", stderr), CLI_EXIT_USAGE;
			b->insecure[b->ninsecure++] = optarg;
			break;
		case 'r': case 'c': case 'e': case 'w': case 'u': r = add_step(b, types[c], c, optarg); break;
		case 's': b->start_cmd = optarg; break;
		case 'R': b->ready_cmd = optarg; break;
		case 'N': b->force = true; break;
		case 'T': case 'C': case 'M': case 'D':
			r = cli_parse_count("template", c == 'T' ? "--ready-timeout" : c == 'C' ? "--cpus"
							    : c == 'M' ? "--memory-mib" : "--max-disk-mib",
					    "a number", optarg, &v);
			if (r == 0)
				*(c == 'T' ? &b->ready_timeout : c == 'C' ? &b->vcpus : c == 'M' ? &b->memory_mib
											  : &b->max_disk_mib) = (unsigned)v;
			break;
		case 'h': fputs(build_usage, stdout); return 0;
		default: fputs(build_usage, stderr); return CLI_EXIT_USAGE;
		}
		if (r < 0)
			return CLI_EXIT_USAGE;
	}
	if (optind != argc - 1 || !b->from_template == !b->from_image)
		return fputs(build_usage, stderr), CLI_EXIT_USAGE;
	if (b->password_stdin) {
		if (!b->username || !fgets(b->creds, sizeof(b->creds), stdin))
			return fputs("cove template: --password-stdin needs --username and a line on stdin\n", stderr),
			       CLI_EXIT_USAGE;
		b->creds[strcspn(b->creds, "\r\n")] = '\0';
		b->password = b->creds;
	}
	b->name = argv[optind];
	return -1;
}

static void print_progress(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "cove template: [base] %s\n", line);
}

/* --from-image: the image imported (once per image) into
 * STATE_DIR/build/images, with its snapshot. */
static int image_base(struct cli_build *b, const struct build_host *h, struct template *base, char *key,
		      char *source, struct cove_err *err)
{
	char images[PATH_MAX + 8], cache[PATH_MAX + 16], exe_dir[PATH_MAX];
	snprintf(images, sizeof(images), "%s/images", b->cache);
	snprintf(cache, sizeof(cache), "%s/image-cache", env_value(ENV_STATE_DIR));
	if (env_exe_dir(exe_dir, sizeof(exe_dir)) < 0)
		return cove_errf(err, -ENOENT, "cannot find the guest programs (next to cove)");
	struct build_image req = {
		.src = { b->from_image, b->username, b->password },
		.opts = { .guest_bin = env_get(ENV_GUEST_BIN) ? env_get(ENV_GUEST_BIN) : exe_dir, .cache_dir = cache,
			  .insecure = b->insecure, .max_disk_mib = b->max_disk_mib, .cancel_fd = h->cancel_fd,
			  .progress = print_progress },
		.images_dir = images,
		.vcpus = b->vcpus,
		.mem_mib = b->memory_mib,
	};
	char src[BUILD_SOURCE_MAX];
	int r = build_image_base(&req, h, base, key, src, err);
	if (r == 0)
		snprintf(source, BUILD_SOURCE_MAX + 16, "image %s", src);
	return r;
}

static void print_log(void *ctx, enum build_log_level level, const char *step, const char *msg)
{
	(void)ctx;
	if (level == BUILD_LOG_DEBUG)
		return;
	fprintf(stderr, "cove template: [%s] %s\n", step, msg);
}

/* TEMPLATES/NAME becomes a link to the build's directory (.NAME-ID);
 * what it named before goes. */
static int publish(const char *dir, const char *name, const char *build_dir)
{
	char link[PATH_MAX + 80], old[PATH_MAX];
	snprintf(link, sizeof(link), "%s/%s", dir, name);
	ssize_t n = readlink(link, old, sizeof(old) - 1);
	old[n > 0 ? n : 0] = '\0';
	struct stat st;
	if (n < 0 && lstat(link, &st) == 0) {
		fprintf(stderr, "cove template: %s exists and was not made by a build; remove it first\n", link);
		return -EEXIST;
	}
	struct cove_err err = { 0 };
	if (template_link(dir, name, build_dir, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return err.code;
	}
	if (old[0] && old[0] == '.' && !strchr(old, '/')) {
		char path[PATH_MAX * 2];
		snprintf(path, sizeof(path), "%s/%s", dir, old);
		fs_remove_tree(path, NULL);
	}
	return 0;
}

int cli_template_build_steps(int argc, char **argv, const char *templates, const char *kernel)
{
	struct cli_build *b = calloc(1, sizeof(*b));
	if (!b)
		return CLI_EXIT_FAILURE;
	int r = CLI_EXIT_FAILURE;
	struct cove_err err = { 0 };
	const char *state = env_get(ENV_STATE_DIR);
	snprintf(b->cache, sizeof(b->cache), "%s/build", state);
	char files[PATH_MAX + 8];
	snprintf(files, sizeof(files), "%s/files", b->cache);
	if (fs_mkdir_p(b->cache, 0700, &err) < 0 || files_store_open(files, &b->files, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		goto out;
	}
	if ((r = parse(b, argc, argv)) >= 0)
		goto out;
	r = CLI_EXIT_FAILURE;
	char busybox[PATH_MAX], key[BUILD_BASE_KEY_MAX], source[BUILD_SOURCE_MAX + 16], out_dir[PATH_MAX + 96], id[9];
	if (fs_find_executable("busybox", "/bin:/usr/bin", busybox, sizeof(busybox)) < 0) {
		fprintf(stderr, "cove template: busybox not found; install busybox-static ('make deps')\n");
		goto out;
	}
	struct template base = { 0 };
	if (template_name_check(b->name, &err) < 0 ||
	    (b->from_template && template_load(templates, b->from_template, &base, &err) < 0)) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		goto out;
	}
	if (b->from_template) {
		struct stat st;
		stat(base.rootfs, &st);
		snprintf(key, sizeof(key), "template %s %lld %lld", base.name, (long long)st.st_size,
			 (long long)st.st_mtime);
		snprintf(source, sizeof(source), "template %s", base.name);
	}
	random_hex(id, 4);
	snprintf(out_dir, sizeof(out_dir), "%s/.%s-%s", templates, b->name, id);
	int sfd = cli_signal_fd(false);
	struct net_config nc;
	net_config_from_env(&nc);
	struct build_host h = { .kernel = kernel, .accel = VMM_ACCEL_AUTO, .run_dir = env_get(ENV_RUN_DIR), .log_dir = env_get(ENV_LOG_DIR),
				.busybox = busybox, .cache_dir = b->cache,
				.cancel_fd = sfd, .log = print_log };
	struct build_plan p = { .base = &base, .base_key = key, .steps = b->steps, .nsteps = b->nsteps,
				.files = &b->files, .start_cmd = b->start_cmd, .ready_cmd = b->ready_cmd,
				.ready_timeout_s = b->ready_timeout, .vcpus = b->vcpus, .memory_mib = b->memory_mib,
				.force = b->force, .source = source, .user = b->from_image ? "user" : NULL,
				.workdir = b->from_image ? "/home/user" : NULL, .user_create = b->from_image != NULL };
	if (net_slots_open(&nc, &h.net, NULL, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		goto out;
	}
	if (b->from_image && image_base(b, &h, &base, key, source, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		net_slots_close(h.net);
		goto out;
	}
	/* The steps start with the base's environment (an image's Env). */
	const char *envs[TEMPLATE_ENV_MAX + 1];
	if (template_envs(&base, NULL, envs, TEMPLATE_ENV_MAX + 1) >= 0)
		p.env = envs;
	int64_t t0 = now_ms();
	char step[16];
	int br = build_run(&p, &h, out_dir, step, &err);
	net_slots_close(h.net);
	if (sfd >= 0)
		close(sfd);
	if (br < 0) {
		fprintf(stderr, "cove template: build failed at step %s: %s\n", step, err.msg);
		fs_remove_tree(out_dir, NULL);
		r = br == -ECANCELED ? 130 : CLI_EXIT_FAILURE;
		goto out;
	}
	if (publish(templates, b->name, basename(out_dir)) < 0) {
		fs_remove_tree(out_dir, NULL);
		goto out;
	}
	fprintf(stderr, "cove template: built %s in %.1f s\n", b->name, (double)(now_ms() - t0) / 1000.0);
	r = 0;
out:
	for (size_t i = 0; i < b->nsteps; i++)
		if (b->steps[i].type == BUILD_COPY)
			free((char *)b->args[i][0]);
	free(b);
	return r;
}
