/* cove run: boot a sandbox, run one command, stream its output, tear down. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "net/dns.h"
#include "net/forward.h"
#include "net/net.h"
#include "sandbox/sandbox.h"
#include "template/template.h"

#define MAX_ENVS 256
/* How long `cove run` waits to learn whether coved is there. */
#define COVED_PROBE_MS 200
#define MAX_PUBLISH 16
#define MAX_RULES NET_MAX_RULES

struct run_opts {
	struct sandbox_config sc;
	char kernel[PATH_MAX];
	char rootfs[PATH_MAX];
	const char *template_name; /* NULL: COVE_TEMPLATE, else "base" */
	struct template tpl;
	const char *tpl_envs[TEMPLATE_ENV_MAX + 1]; /* every process's (sc.envs) */
	const char *envs[MAX_ENVS + 1];
	size_t nenvs;
	const char *cwd;
	struct cli_publish publish[MAX_PUBLISH];
	size_t npublish;
	const char *token_file;
	const char *allow_out[MAX_RULES + 1];
	const char *deny_out[MAX_RULES + 1];
	size_t nallow, ndeny;
	const char *dns_text;    /* --dns; NULL: $COVE_DNS, else the host's */
	struct net_dns dns;
	const char *dns_list[NET_DNS_MAX + 1]; /* sc.dns */
	bool timing;
	bool keep_logs;
	bool boot;        /* boot the kernel even when the template has a snapshot */
	bool local;       /* never through coved */
	bool local_only;  /* an option only a local run has was given */
	struct sandbox_share shares[SANDBOX_MAX_SHARES]; /* sc.shares */
	char share_dirs[SANDBOX_MAX_SHARES][PATH_MAX];
	char share_paths[SANDBOX_MAX_SHARES][PATH_MAX];
	char **argv;
};

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: cove run [OPTIONS] -- CMD [ARG...]\n"
		"\n"
		"Boots a microVM sandbox, runs CMD in it, streams its stdout and stderr, and\n"
		"tears the sandbox down. Exits with CMD's status (128+N if killed by signal N,\n"
		"127 if CMD was not found, 126 if it cannot run, 125 if cove itself failed).\n"
		"\n"
		"  --template NAME    what the sandbox is made from: its image, default user,\n"
		"                     memory and CPUs (default $COVE_TEMPLATE, else base;\n"
		"                     'tiny' is busybox only)\n"
		"  --mem MiB          guest memory (default: the template's, else %d)\n"
		"  --cpus N           virtual CPUs (default: the template's, else %d)\n"
		"  --accel MODE       auto, kvm or tcg (default auto: kvm when it really works)\n"
		"  --vmm NAME         the VMM: qemu, firecracker or cloud-hypervisor (default:\n"
		"                     the template's, else $COVE_VMM, else qemu); with the\n"
		"                     last two the guest's console is in the VMM log\n"
		"  --kernel PATH      guest kernel (default: the one built with cove)\n"
		"  --rootfs PATH      guest root file system image instead of the template's\n"
		"  --kernel-args ARGS extra guest kernel command line (e.g. 'loglevel=7' to debug boot)\n"
		"  --boot             boot the guest's kernel even when the template has a\n"
		"                     snapshot to restore\n"
		"  -e, --env K=V      set an environment variable for CMD (repeatable)\n"
		"  -w, --cwd DIR      working directory for CMD in the guest\n"
		"  -p, --publish [ADDR:]HOSTPORT:GUESTPORT\n"
		"                     relay connections to ADDR:HOSTPORT on the host (default\n"
		"                     address 127.0.0.1; port 0 picks one) to GUESTPORT in the\n"
		"                     guest while CMD runs; the port is printed (repeatable)\n"
		"  --share HOSTDIR:GUESTPATH[:ro]\n"
		"                     let the guest see the host directory HOSTDIR at GUESTPATH\n"
		"                     (virtiofs; :ro read-only, enforced on the host); at most\n"
		"                     %d; the guest then always boots its kernel (repeatable)\n"
		"  --token-file PATH  write the guest agent's access token to PATH (mode 0600)\n"
		"                     once the sandbox is up, to connect an E2B SDK to its\n"
		"                     agent through --publish HOSTPORT:49983\n"
		"  --no-internet      no outbound network (E2B's allow_internet_access=false)\n"
		"  --allow-out CIDR   let the guest reach CIDR even when otherwise denied\n"
		"                     (also private networks; repeatable); through coved also\n"
		"                     a domain name, judged by coved's egress proxy\n"
		"  --deny-out CIDR    keep the guest from reaching CIDR (repeatable)\n"
		"  --dns ADDR,...|none\n"
		"                     IPv4 nameservers for the guest's resolv.conf (default\n"
		"                     $COVE_DNS, else the host's resolv.conf less loopback\n"
		"                     ones); none: the template's file stays\n"
		"  --timing           print boot and run times to stderr\n"
		"  --local            boot the sandbox here even when coved runs (by default, when\n"
		"                     coved answers at $COVE_URL and none of --mem, --cpus,\n"
		"                     --accel, --vmm, --kernel, --rootfs, --kernel-args, --boot, -p,\n"
		"                     --share, --token-file, --dns or --keep-logs is given, coved makes\n"
		"                     it, with its own nameservers)\n"
		"  --keep-logs        keep the VMM and console logs even when all went well\n",
		VMM_DEFAULT_MEM_MIB, VMM_DEFAULT_VCPUS, SANDBOX_MAX_SHARES);
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 1u << 30)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

enum {
	OPT_MEM = 256, OPT_CPUS, OPT_ACCEL, OPT_KERNEL, OPT_ROOTFS, OPT_KERNEL_ARGS, OPT_TIMING, OPT_KEEP_LOGS,
	OPT_TEMPLATE, OPT_TOKEN_FILE, OPT_NO_INTERNET, OPT_ALLOW_OUT, OPT_DENY_OUT, OPT_LOCAL, OPT_BOOT, OPT_DNS,
	OPT_VMM, OPT_SHARE,
};

/* --share HOSTDIR:GUESTPATH[:ro|:rw]: the syntax only (-EINVAL); the
 * directory is looked at by resolve_shares. */
static int parse_share(const char *arg, struct run_opts *o)
{
	if (o->sc.nshares >= SANDBOX_MAX_SHARES)
		return fprintf(stderr, "cove run: --share %s: at most %d shares\n", arg, SANDBOX_MAX_SHARES), -EINVAL;
	size_t i = o->sc.nshares;
	const char *colon = strchr(arg, ':');
	const char *guest = colon ? colon + 1 : NULL;
	const char *mode = guest ? strchr(guest, ':') : NULL;
	size_t host_len = colon ? (size_t)(colon - arg) : 0;
	size_t guest_len = mode ? (size_t)(mode - guest) : guest ? strlen(guest) : 0;
	bool ro = mode && strcmp(mode, ":ro") == 0;
	if (!colon || host_len == 0 || guest_len == 0 || guest[0] != '/' || (mode && !ro && strcmp(mode, ":rw") != 0) ||
	    host_len >= PATH_MAX || guest_len >= PATH_MAX) {
		fprintf(stderr, "cove run: --share %s: expected HOSTDIR:GUESTPATH[:ro], GUESTPATH absolute\n", arg);
		return -EINVAL;
	}
	snprintf(o->share_dirs[i], PATH_MAX, "%.*s", (int)host_len, arg);
	snprintf(o->share_paths[i], PATH_MAX, "%.*s", (int)guest_len, guest);
	o->shares[i] = (struct sandbox_share){ o->share_dirs[i], o->share_paths[i], ro };
	o->sc.shares = o->shares;
	o->sc.nshares = i + 1;
	return 0;
}

/* Each share's host directory, made absolute: it must exist and be a
 * directory before anything boots. */
static int resolve_shares(struct run_opts *o)
{
	for (size_t i = 0; i < o->sc.nshares; i++) {
		char real[PATH_MAX];
		struct stat st;
		if (!realpath(o->share_dirs[i], real) || stat(real, &st) < 0) {
			fprintf(stderr, "cove run: --share: host directory %s: %s\n", o->share_dirs[i], strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "cove run: --share: host directory %s: not a directory\n", o->share_dirs[i]);
			return -1;
		}
		snprintf(o->share_dirs[i], PATH_MAX, "%s", real);
	}
	return 0;
}

static int add_rule(const char *opt, const char **list, size_t *n)
{
	if (*n >= MAX_RULES) {
		fprintf(stderr, "cove run: %s: at most %d entries\n", opt, MAX_RULES);
		return -1;
	}
	list[(*n)++] = optarg;
	return 0;
}

static int parse_option(int c, struct run_opts *o)
{
	switch (c) {
	case OPT_MEM:
		return parse_uint(optarg, &o->sc.mem_mib) < 0 ? (fprintf(stderr, "cove run: --mem %s: not a number of MiB\n", optarg), -1) : 0;
	case OPT_CPUS:
		return parse_uint(optarg, &o->sc.vcpus) < 0 ? (fprintf(stderr, "cove run: --cpus %s: not a number\n", optarg), -1) : 0;
	case OPT_ACCEL:
		return vmm_accel_parse(optarg, &o->sc.accel) < 0 ? (fprintf(stderr, "cove run: --accel %s: expected auto, kvm or tcg\n", optarg), -1) : 0;
	case OPT_VMM: {
		struct cove_err err = { 0 };
		if (vmm_driver_check(optarg, &err) < 0)
			return fprintf(stderr, "cove run: --vmm: %s\n", err.msg), -1;
		o->sc.vmm_driver = optarg;
		return 0;
	}
	case OPT_KERNEL:
		snprintf(o->kernel, sizeof(o->kernel), "%s", optarg);
		return 0;
	case OPT_ROOTFS:
		snprintf(o->rootfs, sizeof(o->rootfs), "%s", optarg);
		return 0;
	case 'p':
		if (o->npublish >= MAX_PUBLISH || cli_parse_publish(optarg, &o->publish[o->npublish]) < 0) {
			fprintf(stderr, "cove run: --publish %s: expected [ADDR:]HOSTPORT:GUESTPORT (at most %d)\n", optarg,
				MAX_PUBLISH);
			return -1;
		}
		o->npublish++;
		return 0;
	case OPT_TOKEN_FILE:
		o->token_file = optarg;
		return 0;
	case OPT_SHARE:
		return parse_share(optarg, o) < 0 ? -1 : 0;
	case OPT_NO_INTERNET:
		o->sc.policy.internet = false;
		return 0;
	case OPT_ALLOW_OUT:
		return add_rule("--allow-out", o->allow_out, &o->nallow);
	case OPT_DENY_OUT:
		return add_rule("--deny-out", o->deny_out, &o->ndeny);
	case OPT_DNS:
		o->dns_text = optarg;
		return 0;
	case OPT_TEMPLATE:
		o->template_name = optarg;
		return 0;
	case OPT_KERNEL_ARGS:
		o->sc.kernel_args = optarg;
		return 0;
	case OPT_TIMING:
		o->timing = true;
		return 0;
	case OPT_KEEP_LOGS:
		o->keep_logs = true;
		return 0;
	case OPT_BOOT:
		o->boot = true;
		return 0;
	case 'e':
		if (!strchr(optarg, '=') || optarg[0] == '=' || o->nenvs >= MAX_ENVS) {
			fprintf(stderr, "cove run: --env %s: expected KEY=VALUE (at most %d)\n", optarg, MAX_ENVS);
			return -1;
		}
		o->envs[o->nenvs++] = optarg;
		return 0;
	case 'w':
		o->cwd = optarg;
		return 0;
	default:
		return -1;
	}
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "mem", required_argument, NULL, OPT_MEM },	   { "cpus", required_argument, NULL, OPT_CPUS },
		{ "accel", required_argument, NULL, OPT_ACCEL },   { "vmm", required_argument, NULL, OPT_VMM },   { "kernel", required_argument, NULL, OPT_KERNEL },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS }, { "env", required_argument, NULL, 'e' },
		{ "cwd", required_argument, NULL, 'w' },	   { "timing", no_argument, NULL, OPT_TIMING },
		{ "kernel-args", required_argument, NULL, OPT_KERNEL_ARGS },
		{ "keep-logs", no_argument, NULL, OPT_KEEP_LOGS }, { "template", required_argument, NULL, OPT_TEMPLATE },
		{ "local", no_argument, NULL, OPT_LOCAL },	   { "boot", no_argument, NULL, OPT_BOOT },
		{ "publish", required_argument, NULL, 'p' },	   { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "no-internet", no_argument, NULL, OPT_NO_INTERNET },
		{ "allow-out", required_argument, NULL, OPT_ALLOW_OUT }, { "deny-out", required_argument, NULL, OPT_DENY_OUT },
		{ "dns", required_argument, NULL, OPT_DNS },	   { "share", required_argument, NULL, OPT_SHARE },
		{ "help", no_argument, NULL, 'h' },		   { 0 },
	};
	int c;
	optind = 1;
	/* '+': stop at the first non-option, so CMD's own options stay its own. */
	while ((c = getopt_long(argc, argv, "+e:w:p:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			run_usage(stdout);
			exit(0);
		}
		if (c == OPT_LOCAL) {
			o->local = true;
			continue;
		}
		/* What coved decides for its sandboxes (or cannot do) makes the
		 * run a local one. */
		if (c == OPT_MEM || c == OPT_CPUS || c == OPT_ACCEL || c == OPT_VMM || c == OPT_KERNEL || c == OPT_ROOTFS ||
		    c == OPT_KERNEL_ARGS || c == 'p' || c == OPT_TOKEN_FILE || c == OPT_KEEP_LOGS || c == OPT_BOOT ||
		    c == OPT_DNS || c == OPT_SHARE)
			o->local_only = true;
		if (parse_option(c, o) < 0) {
			run_usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "cove run: no command given\n");
		run_usage(stderr);
		return -1;
	}
	o->argv = argv + optind;
	return 0;
}

/* --template, else COVE_TEMPLATE, else base. */
static const char *template_name(const struct run_opts *o)
{
	const char *name = o->template_name ? o->template_name : env_value(ENV_TEMPLATE);
	return *name ? name : COVE_DEFAULT_TEMPLATE;
}

/* The template gives the image and the defaults (user, workdir, size); an
 * explicit --rootfs replaces the image, and alone means no template. */
static int resolve_guest_files(struct run_opts *o)
{
	if (!o->kernel[0] && env_guest_path(ENV_KERNEL, o->kernel, sizeof(o->kernel)) < 0) {
		fprintf(stderr, "cove run: no guest kernel found (looked for %s); build it with 'make' or pass --kernel\n", o->kernel);
		return -1;
	}
	if (o->rootfs[0] && !o->template_name)
		return 0;
	const char *name = template_name(o);
	char dir[PATH_MAX];
	if (env_guest_path(ENV_TEMPLATES, dir, sizeof(dir)) < 0) {
		fprintf(stderr, "cove run: no templates found (looked for %s); build them with 'make'\n", dir);
		return -1;
	}
	struct cove_err err = { 0 };
	if (template_load(dir, name, &o->tpl, &err) < 0) {
		fprintf(stderr, "cove run: %s\n", err.msg);
		return -1;
	}
	/* The template's snapshot, when the run is the template's own guest
	 * (sandbox_start checks the rest and boots when it does not match);
	 * never with shares, which a restored VM cannot have. */
	if (!o->rootfs[0] && !o->sc.kernel_args && !o->boot && !o->sc.nshares && access(o->tpl.snapshot, F_OK) == 0)
		o->sc.snapshot = o->tpl.snapshot;
	if (!o->rootfs[0])
		snprintf(o->rootfs, sizeof(o->rootfs), "%s", o->tpl.rootfs);
	if (!o->sc.mem_mib)
		o->sc.mem_mib = o->tpl.memory_mib;
	if (!o->sc.vcpus)
		o->sc.vcpus = o->tpl.vcpus;
	o->sc.default_user = o->tpl.user[0] ? o->tpl.user : NULL;
	o->sc.default_workdir = o->tpl.workdir[0] ? o->tpl.workdir : NULL;
	/* --vmm, else the template's, else COVE_VMM. */
	if (!o->sc.vmm_driver)
		o->sc.vmm_driver = o->tpl.vmm[0] ? o->tpl.vmm : env_get(ENV_VMM);
	if (o->sc.vmm_driver && vmm_driver_check(o->sc.vmm_driver, &err) < 0) {
		fprintf(stderr, "cove run: template %s: %s\n", name, err.msg);
		return -1;
	}
	template_envs(&o->tpl, NULL, o->tpl_envs, sizeof(o->tpl_envs) / sizeof(o->tpl_envs[0]));
	o->sc.envs = o->tpl_envs;
	return 0;
}

/* The token file appears whole (written aside, renamed), readable only by
 * its owner. */
static int write_token_file(const char *path, const char *token, struct cove_err *err)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "--token-file %s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "--token-file: create %s", tmp);
	int r = fs_write_all(fd, token, strlen(token));
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return cove_errno(err, r, "--token-file: write %s", path);
	}
	return 0;
}

static int start_publishing(const struct run_opts *o, struct sandbox *sb, struct net_forward **forwards,
			    struct cove_err *err)
{
	for (size_t i = 0; i < o->npublish; i++) {
		const struct cli_publish *p = &o->publish[i];
		struct net_forward_config c = { .netns_fd = sandbox_netns_fd(sb), .target_addr = NET_GUEST_ADDR,
						.target_port = p->guest_port, .listen_addr = p->addr,
						.listen_port = p->host_port };
		int r = net_forward_start(&c, &forwards[i], err);
		if (r < 0) {
			while (i-- > 0)
				net_forward_stop(forwards[i]);
			return cove_err_prefix(err, "--publish %s:%u:%u", p->addr, p->host_port, p->guest_port);
		}
		/* One line per port, for people and for scripts. */
		fprintf(stderr, "cove: sandbox=%s published=%s:%u guest_port=%u\n", sandbox_id(sb), p->addr,
			net_forward_port(forwards[i]), p->guest_port);
	}
	if (o->token_file) {
		int r = write_token_file(o->token_file, sandbox_token(sb), err);
		if (r < 0) {
			for (size_t i = 0; i < o->npublish; i++)
				net_forward_stop(forwards[i]);
			return r;
		}
	}
	return 0;
}

static void print_timing(struct sandbox *sb, int64_t exec_start, int64_t exec_end)
{
	const struct sandbox_timings *t = sandbox_timings(sb);
	int64_t launched = vmm_launch_time_us(sandbox_vmm(sb));
	/* key=value, so scripts (bench/run.sh) can read it. */
	fprintf(stderr,
		"cove: sandbox=%s accel=%s setup_ms=%.1f vmm_to_agent_ms=%.1f boot_ms=%.1f command_ms=%.1f\n",
		sandbox_id(sb), vmm_accel_name(vmm_accel_used(sandbox_vmm(sb))),
		(double)(launched - t->start_us) / 1000.0, (double)(t->agent_ready_us - launched) / 1000.0,
		(double)(t->agent_ready_us - t->start_us) / 1000.0, (double)(exec_end - exec_start) / 1000.0);
}

/* The same run through coved: create, exec, kill. The sandbox's deadline is
 * kept a minute ahead while the command runs, so if cove itself is killed
 * outright, coved's reaper ends the sandbox within a minute. */
#define COVED_RUN_TIMEOUT_S 60
#define COVED_REFRESH_S 20

struct refresher {
	char path[128];
	int stop[2];
};

static void *refresh_main(void *arg)
{
	struct refresher *rf = arg;
	struct client *cl = NULL;
	struct cove_err err = { 0 };
	if (client_open(NULL, &cl, &err) < 0)
		return NULL;
	json_t *body = json_pack("{s:i}", "duration", COVED_RUN_TIMEOUT_S);
	struct pollfd p = { rf->stop[0], POLLIN, 0 };
	while (poll(&p, 1, COVED_REFRESH_S * 1000) == 0)
		if (client_call(cl, "POST", rf->path, body, NULL, NULL, &err) < 0)
			log_warn("op=refresh msg=\"%s\"", err.msg);
	json_decref(body);
	client_close(cl);
	return NULL;
}

static int run_via_coved(const struct run_opts *o, struct client *cl, int sfd)
{
	const char *tpl = template_name(o);
	json_t *allow = json_array(), *deny = json_array();
	for (size_t i = 0; i < o->nallow; i++)
		json_array_append_new(allow, json_string(o->allow_out[i]));
	for (size_t i = 0; i < o->ndeny; i++)
		json_array_append_new(deny, json_string(o->deny_out[i]));
	json_t *body = json_pack("{s:s, s:i, s:b, s:{s:o, s:o}, s:{s:s}}", "templateID", tpl,
				 "timeout", COVED_RUN_TIMEOUT_S, "allow_internet_access", o->sc.policy.internet,
				 "network", "allowOut", allow, "denyOut", deny, "metadata", "cove.run", "true");
	json_t *reply = NULL;
	struct cove_err err = { 0 };
	int64_t t0 = now_us();
	int r = body ? client_call(cl, "POST", "/sandboxes", body, NULL, &reply, &err) : -ENOMEM;
	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "cove: coved at %s: %s\n", client_url(cl), r == -ENOMEM ? "out of memory" : err.msg);
		return CLI_EXIT_FAILURE;
	}
	struct cli_endpoint ce = { 0 };
	snprintf(ce.id, sizeof(ce.id), "%s", json_string_value(json_object_get(reply, "sandboxID")) ?: "");
	snprintf(ce.token, sizeof(ce.token), "%s", json_string_value(json_object_get(reply, "envdAccessToken")) ?: "");
	json_decref(reply);
	ce.ep = (struct agent_endpoint){ .netns_fd = -1, .port = ENVD_PORT, .token = ce.token,
					 .via = client_url(cl), .sandbox = ce.id };
	int64_t t1 = now_us();
	struct refresher rf = { .stop = { -1, -1 } };
	snprintf(rf.path, sizeof(rf.path), "/sandboxes/%s/refreshes", ce.id);
	pthread_t refresher;
	bool refreshing = pipe2(rf.stop, O_CLOEXEC) == 0 && pthread_create(&refresher, NULL, refresh_main, &rf) == 0;
	if (!refreshing)
		log_warn("op=refresh msg=\"the sandbox ends %d s after it was made\"", COVED_RUN_TIMEOUT_S);
	struct agent_exec_request req = { .argv = (const char *const *)o->argv, .envs = o->envs, .cwd = o->cwd,
				    .on_output = cli_write_output };
	int code = cli_exec_via(&ce.ep, &req, sfd, "run");
	if (refreshing) {
		if (write(rf.stop[1], "x", 1) < 0)
			pthread_cancel(refresher);
		pthread_join(refresher, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (rf.stop[i] >= 0)
			close(rf.stop[i]);
	if (o->timing)
		fprintf(stderr, "cove: sandbox=%s via=coved create_ms=%.1f command_ms=%.1f\n", ce.id,
			(double)(t1 - t0) / 1000.0, (double)(now_us() - t1) / 1000.0);
	char path[128];
	snprintf(path, sizeof(path), "/sandboxes/%s", ce.id);
	if (client_call(cl, "DELETE", path, NULL, NULL, NULL, &err) < 0 && err.code != -ENOENT)
		fprintf(stderr, "cove: kill %s: %s\n", ce.id, err.msg);
	return code;
}

/* Whether coved runs and this run can go through it: the client if so. */
static struct client *coved_for(const struct run_opts *o)
{
	if (o->local || o->local_only)
		return NULL;
	struct client *cl = NULL;
	struct cove_err err = { 0 };
	if (client_open(NULL, &cl, &err) < 0)
		return NULL;
	if (!client_reachable(cl, COVED_PROBE_MS)) {
		client_close(cl);
		return NULL;
	}
	return cl;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	o.sc.accel = VMM_ACCEL_AUTO;
	o.sc.policy.internet = true;
	if (parse_args(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	o.sc.policy.allow_out = o.allow_out;
	o.sc.policy.deny_out = o.deny_out;
	struct cove_err err = { 0 };
	if (net_policy_check(&o.sc.policy, &err) < 0) {
		fprintf(stderr, "cove run: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	if (o.dns_text && net_dns_parse(o.dns_text, &o.dns, &err) < 0) {
		fprintf(stderr, "cove run: --dns: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = coved_for(&o);
	if (cl) {
		int sfd = cli_signal_fd(false);
		int code = run_via_coved(&o, cl, sfd);
		client_close(cl);
		return code;
	}
	if (net_policy_has_domains(&o.sc.policy)) {
		fprintf(stderr, "cove run: domain names in --allow-out or --deny-out need coved's egress proxy, which "
				"judges them; with no coved at COVE_URL only addresses and CIDRs are enforced\n");
		return CLI_EXIT_USAGE;
	}
	/* A local run's guest gets --dns, else $COVE_DNS, else the host's. */
	if (!o.dns_text && net_dns_setting(env_get(ENV_DNS), &o.dns, &err) < 0) {
		fprintf(stderr, "cove run: COVE_DNS: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	net_dns_list(&o.dns, o.dns_list);
	o.sc.dns = o.dns_list;
	if (resolve_shares(&o) < 0 || resolve_guest_files(&o) < 0)
		return CLI_EXIT_FAILURE;
	int sfd = cli_signal_fd(false);
	o.sc.kernel = o.kernel;
	o.sc.rootfs = o.rootfs;
	o.sc.run_dir = env_get(ENV_RUN_DIR);
	o.sc.log_dir = env_get(ENV_LOG_DIR);
	o.sc.die_with_parent = true;
	o.sc.cancel_fd = sfd;

	/* Leftovers of runs that were killed outright; harmless when none. */
	if (vmm_sweep_stale(o.sc.run_dir ? o.sc.run_dir : VMM_DEFAULT_RUN_DIR, &err) < 0)
		log_warn("op=sweep msg=\"%s\"", err.msg);
	/* Opening the slots also removes the network leftovers of such runs. */
	struct net_config nc;
	net_config_from_env(&nc);
	if (net_slots_open(&nc, &o.sc.net, NULL, &err) < 0) {
		fprintf(stderr, "cove: %s\n", err.msg);
		return CLI_EXIT_FAILURE;
	}
	struct sandbox *sb = NULL;
	int r = sandbox_start(&o.sc, &sb, &err);
	if (r < 0) {
		fprintf(stderr, "cove: %s\n", err.msg);
		net_slots_close(o.sc.net);
		return r == -ECANCELED ? 130 : CLI_EXIT_FAILURE;
	}
	struct net_forward *forwards[MAX_PUBLISH] = { 0 };
	r = start_publishing(&o, sb, forwards, &err);
	if (r < 0) {
		fprintf(stderr, "cove: %s\n", err.msg);
		vmm_remove_logs(sandbox_vmm(sb));
		sandbox_free(sb);
		net_slots_close(o.sc.net);
		return CLI_EXIT_FAILURE;
	}
	struct agent_exec_request req = {
		.argv = (const char *const *)o.argv,
		.envs = o.envs,
		.cwd = o.cwd,
		.on_output = cli_write_output,
	};
	struct agent_exec_result res;
	int64_t t0 = now_us();
	r = sandbox_exec(sb, &req, &res, &err);
	int64_t t1 = now_us();
	if (o.timing)
		print_timing(sb, t0, t1);
	if (r < 0 && r != -EPIPE) {
		if (r == -ENOENT)
			fprintf(stderr, "cove: %s: command not found in sandbox (%s)\n", o.argv[0], err.msg);
		else if (r != -ECANCELED)
			fprintf(stderr, "cove: %s\n", err.msg);
	}
	int code = cli_exit_code(r, &res);
	for (size_t i = 0; i < o.npublish; i++)
		net_forward_stop(forwards[i]);
	if (o.token_file)
		unlink(o.token_file);
	/* The root disk was a throwaway overlay: nothing in the guest is worth
	 * a graceful shutdown, so the VMM is killed and everything released. */
	bool keep_logs = o.keep_logs || (r < 0 && r != -ENOENT && r != -EACCES && r != -ECANCELED && r != -EPIPE);
	if (keep_logs)
		fprintf(stderr, "cove: logs kept: %s %s\n", vmm_log_path(sandbox_vmm(sb)), vmm_console_path(sandbox_vmm(sb)));
	else
		vmm_remove_logs(sandbox_vmm(sb));
	sandbox_free(sb);
	net_slots_close(o.sc.net);
	return code;
}
