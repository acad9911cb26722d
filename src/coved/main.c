/* coved: the sandbox host agent. Serves the E2B control plane on --listen,
 * keeps its state in --state-dir, and owns every sandbox it creates.
 *
 *   coved --listen 127.0.0.1:49982 --state-dir /var/lib/cove --api-key KEY
 *   coved --tls-cert FILE --tls-key FILE --domain D   (HTTPS too, see tls.c)
 *
 * Settings come from flags, then the environment (COVE_API_KEY), then a
 * config file (--config, "name = value" lines with the flags' names); the API
 * key, when none is given, is made at first start (E2B's form: e2b_ and 40
 * hex digits) and kept in STATE_DIR/api-key (mode 0600). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/control.h"
#include "api/proxy.h"
#include "api/server.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/log.h"
#include "egress/egress.h"
#include "coved/cluster.h"
#include "coved/limits.h"
#include "coved/tls.h"
#include "coved/volumes.h"
#include "manager/manager.h"
#include "net/dns.h"
#include "net/net.h"
#include "secrets/secrets.h"
#include "volume/volume.h"
#include "store/store.h"
#include "tls/tls.h"

#define DEFAULT_LISTEN "127.0.0.1:49982"
#define MAX_SETTINGS 32

struct settings {
	char listen[64];
	char state_dir[PATH_MAX];
	char api_key[256];
	char templates[PATH_MAX];
	char kernel[PATH_MAX];
	unsigned max_sandboxes;
	unsigned max_memory_mib;
	unsigned max_disk_mib;
	unsigned net_pool;
	unsigned max_boots;
	unsigned warm_pool;
	enum vmm_accel accel;
	char vmm[24]; /* the VMM driver; "": COVE_VMM, else the default */
	bool live_restore;
	unsigned max_timeout; /* seconds; 0: the manager's default */
	char insecure_registries[1024]; /* comma-separated HOST:PORT */
	unsigned max_template_disk_mib;
	unsigned volume_size_mib; /* 0: the volume module's default */
	unsigned egress_port; /* 0: a free port */
	char dns[128]; /* the --dns text; "": the host's nameservers */
	char upstream_ca[PATH_MAX]; /* "": the host's trust store only */
	struct coved_tls tls;
	struct coved_cluster cluster;
	struct coved_limits limits;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coved [--listen ADDR:PORT] [--state-dir DIR] [--api-key KEY] [--config FILE]\n"
		"             [--templates DIR] [--kernel PATH] [--max-sandboxes N] [--max-memory-mib N]\n"
		"             [--max-disk-mib N] [--net-pool N] [--accel auto|kvm|tcg] [--vmm qemu] [--live-restore]\n"
		"             [--max-boots N]\n"
		"             [--warm-pool N] [--max-timeout SECONDS] [--domain D]\n"
		"             [--insecure-registries HOST:PORT,...] [--max-template-disk-mib N]\n"
		"             [--egress-port N] [--upstream-ca FILE] [--volume-size-mib N]\n"
		"             [--dns ADDR[,ADDR...]|none] [--max-connections N]\n"
		"             [--max-connections-per-client N] [--idle-timeout S]\n"
		"             [--auth-failures N] [--auth-lockout S] [--egress-max-connections N]\n"
		"             [--tls-cert FILE --tls-key FILE | --tls-local] [--tls-listen ADDR:PORT]\n"
		"             [--cluster-etcd URL,... [--host-id ID] [--advertise HOST:PORT]\n"
		"              [--role host|gateway|host,gateway] [--host-lease-ttl S] [--dead-after S]]\n"
		"       coved --make-local-ca [--domain D] [--state-dir DIR]\n"
		"\n"
		"Serves the E2B API (point the SDK's E2B_API_URL here) and runs its sandboxes.\n"
		"  --listen ADDR:PORT   default %s\n"
		"  --state-dir DIR      state database and API key (default %s)\n"
		"  --api-key KEY        the key clients send as X-API-KEY (else $COVE_API_KEY,\n"
		"                       else the config file, else STATE_DIR/api-key, made once)\n"
		"  --templates DIR      where templates are (default: next to the binary)\n"
		"  --max-sandboxes N    refuse creates beyond N sandboxes (429; default %d)\n"
		"  --max-memory-mib N   guest memory all sandboxes may hold (default 80%% of RAM)\n"
		"  --max-disk-mib N     what RUN_DIR's file system may hold, every live sandbox's\n"
		"                       disk counted as full (default 90%% of its size)\n"
		"  --net-pool N         network slots kept ready (default 2)\n"
		"  --max-boots N        guests booting at once; more creates wait their turn\n"
		"                       (default: the CPUs under TCG, else twice them, at least 4)\n"
		"  --warm-pool N        sandboxes kept restored and paused, ready to claim, per\n"
		"                       template with a snapshot (default 0)\n"
		"  --live-restore       on SIGTERM leave sandboxes running for the next coved to\n"
		"                       take over (an upgrade); without it they are ended\n"
		"  --max-timeout S      the longest a sandbox may be asked to live, in seconds\n"
		"                       (create, connect, fork, timeout; default %d, E2B's)\n"
		"  --insecure-registries HOST:PORT,...\n"
		"                       registries template builds reach over plain HTTP\n"
		"  --max-template-disk-mib N\n"
		"                       refuse template builds from images whose disk would be\n"
		"                       bigger (default %u)\n"
		"  --volume-size-mib N  the size of each new volume's file system, sparse: it\n"
		"                       takes what it holds (else $COVE_VOLUME_SIZE_MIB, else\n"
		"                       %d; %d to %d); volumes made before keep theirs\n"
		"  --egress-port N      the egress proxy's port, where sandboxes whose network\n"
		"                       policy names domains have their web traffic redirected\n"
		"                       (default: a free port)\n"
		"  --upstream-ca FILE   CA certificates (PEM) the egress proxy trusts, besides the\n"
		"                       host's, when it connects to hosts with network rules\n"
		"  --dns ADDR,...|none  IPv4 nameservers written into every guest's resolv.conf\n"
		"                       at its start (else $COVE_DNS, else the host's resolv.conf\n"
		"                       less loopback ones); none: the template's file stays\n"
		COVED_LIMITS_USAGE COVED_TLS_USAGE COVED_CLUSTER_USAGE,
		DEFAULT_LISTEN, STORE_DEFAULT_STATE_DIR, MANAGER_DEFAULT_MAX_SANDBOXES, MANAGER_DEFAULT_MAX_TIMEOUT_S,
		MANAGER_DEFAULT_MAX_TEMPLATE_DISK_MIB, VOLUME_DEFAULT_SIZE_MIB, VOLUME_SIZE_MIB_MIN, VOLUME_SIZE_MIB_MAX);
}

static int parse_unsigned(const char *name, const char *v, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n > 1u << 30) {
		fprintf(stderr, "coved: %s '%s': not a number\n", name, v);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

/* One setting by name, from a flag or the config file. */
static int set_one(struct settings *s, const char *name, const char *v)
{
	if (strcmp(name, "listen") == 0)
		snprintf(s->listen, sizeof(s->listen), "%s", v);
	else if (strcmp(name, "state-dir") == 0)
		snprintf(s->state_dir, sizeof(s->state_dir), "%s", v);
	else if (strcmp(name, "api-key") == 0)
		snprintf(s->api_key, sizeof(s->api_key), "%s", v);
	else if (strcmp(name, "templates") == 0)
		snprintf(s->templates, sizeof(s->templates), "%s", v);
	else if (strcmp(name, "kernel") == 0)
		snprintf(s->kernel, sizeof(s->kernel), "%s", v);
	else if (strcmp(name, "max-sandboxes") == 0)
		return parse_unsigned(name, v, &s->max_sandboxes);
	else if (strcmp(name, "max-memory-mib") == 0)
		return parse_unsigned(name, v, &s->max_memory_mib);
	else if (strcmp(name, "max-disk-mib") == 0)
		return parse_unsigned(name, v, &s->max_disk_mib);
	else if (strcmp(name, "net-pool") == 0)
		return parse_unsigned(name, v, &s->net_pool);
	else if (strcmp(name, "max-boots") == 0)
		return parse_unsigned(name, v, &s->max_boots);
	else if (strcmp(name, "warm-pool") == 0)
		return parse_unsigned(name, v, &s->warm_pool);
	else if (strcmp(name, "max-template-disk-mib") == 0)
		return parse_unsigned(name, v, &s->max_template_disk_mib);
	else if (strcmp(name, "volume-size-mib") == 0) {
		if (parse_unsigned(name, v, &s->volume_size_mib) < 0)
			return -1;
		if (s->volume_size_mib < VOLUME_SIZE_MIB_MIN || s->volume_size_mib > VOLUME_SIZE_MIB_MAX) {
			fprintf(stderr, "coved: volume-size-mib '%s': from %d to %d\n", v, VOLUME_SIZE_MIB_MIN,
				VOLUME_SIZE_MIB_MAX);
			return -1;
		}
	}
	else if (strcmp(name, "egress-port") == 0) {
		if (parse_unsigned(name, v, &s->egress_port) < 0)
			return -1;
		if (s->egress_port > 65535) {
			fprintf(stderr, "coved: egress-port '%s': not a port\n", v);
			return -1;
		}
	}
	else if (strcmp(name, "upstream-ca") == 0) {
		if (strlen(v) >= sizeof(s->upstream_ca)) {
			fprintf(stderr, "coved: upstream-ca: path too long\n");
			return -1;
		}
		snprintf(s->upstream_ca, sizeof(s->upstream_ca), "%s", v);
	}
	else if (strcmp(name, "insecure-registries") == 0) {
		if ((size_t)snprintf(s->insecure_registries, sizeof(s->insecure_registries), "%s", v) >=
		    sizeof(s->insecure_registries)) {
			fprintf(stderr, "coved: insecure-registries: too long\n");
			return -1;
		}
	}
	else if (strcmp(name, "dns") == 0) {
		/* Parsed whole in serve(); here only kept. */
		if (!*v || (size_t)snprintf(s->dns, sizeof(s->dns), "%s", v) >= sizeof(s->dns)) {
			fprintf(stderr, "coved: dns '%.64s': empty or too long\n", v);
			return -1;
		}
	}
	else if (strcmp(name, "max-timeout") == 0) {
		if (parse_unsigned(name, v, &s->max_timeout) < 0)
			return -1;
		if (s->max_timeout == 0) {
			fprintf(stderr, "coved: max-timeout must be at least 1 second\n");
			return -1;
		}
	}
	else if (strcmp(name, "live-restore") == 0) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			fprintf(stderr, "coved: live-restore '%s': expected true or false\n", v);
			return -1;
		}
		s->live_restore = strcmp(v, "true") == 0;
	} else if (strcmp(name, "accel") == 0) {
		if (vmm_accel_parse(v, &s->accel) < 0) {
			fprintf(stderr, "coved: accel '%s': expected auto, kvm or tcg\n", v);
			return -1;
		}
	} else if (strcmp(name, "vmm") == 0) {
		struct cove_err err = { 0 };
		if (vmm_driver_check(v, &err) < 0) {
			fprintf(stderr, "coved: vmm: %s\n", err.msg);
			return -1;
		}
		snprintf(s->vmm, sizeof(s->vmm), "%s", v);
	} else if (coved_limits_known(name)) {
		unsigned n;
		if (parse_unsigned(name, v, &n) < 0)
			return -1;
		coved_limits_set(&s->limits, name, n);
	} else if (coved_tls_known(name)) {
		return coved_tls_set(&s->tls, name, v);
	} else if (coved_cluster_known(name)) {
		return coved_cluster_set(&s->cluster, name, v);
	} else {
		fprintf(stderr, "coved: unknown setting '%s'\n", name);
		return -1;
	}
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int read_config(const char *path, struct settings *s)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "coved: config %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[1024];
	int n = 0, r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		n++;
		char *l = trim(line);
		if (!*l || *l == '#')
			continue;
		char *eq = strchr(l, '=');
		if (!eq) {
			fprintf(stderr, "coved: config %s:%d: expected 'name = value'\n", path, n);
			r = -1;
			break;
		}
		*eq = '\0';
		if (set_one(s, trim(l), trim(eq + 1)) < 0) {
			fprintf(stderr, "coved: (in %s:%d)\n", path, n);
			r = -1;
		}
	}
	fclose(f);
	return r;
}

/* Flags win over the environment, which wins over the file. */
static int parse_settings(int argc, char **argv, struct settings *s)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 0 },	  { "state-dir", required_argument, NULL, 0 },
		{ "api-key", required_argument, NULL, 0 },	  { "config", required_argument, NULL, 0 },
		{ "templates", required_argument, NULL, 0 },	  { "kernel", required_argument, NULL, 0 },
		{ "max-sandboxes", required_argument, NULL, 0 }, { "max-memory-mib", required_argument, NULL, 0 },
		{ "max-disk-mib", required_argument, NULL, 0 },
		{ "net-pool", required_argument, NULL, 0 },	  { "accel", required_argument, NULL, 0 },
		{ "vmm", required_argument, NULL, 0 },
		{ "live-restore", no_argument, NULL, 0 },	  { "max-boots", required_argument, NULL, 0 },
		{ "warm-pool", required_argument, NULL, 0 },	  { "max-timeout", required_argument, NULL, 0 },
		{ "insecure-registries", required_argument, NULL, 0 },
		{ "max-template-disk-mib", required_argument, NULL, 0 },
		{ "egress-port", required_argument, NULL, 0 },
		{ "volume-size-mib", required_argument, NULL, 0 },
		{ "upstream-ca", required_argument, NULL, 0 },
		{ "dns", required_argument, NULL, 0 },
		COVED_LIMITS_OPTIONS,
		COVED_TLS_OPTIONS,
		COVED_CLUSTER_OPTIONS,
		{ "help", no_argument, NULL, 'h' },		  { 0 },
	};
	const char *names[MAX_SETTINGS], *values[MAX_SETTINGS], *config = NULL;
	size_t n = 0;
	int c, idx;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c != 0 || n >= MAX_SETTINGS) {
			usage(stderr);
			return -1;
		}
		if (strcmp(opts[idx].name, "config") == 0)
			config = optarg;
		else {
			names[n] = opts[idx].name;
			values[n++] = optarg ? optarg : "true";
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coved: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (config && read_config(config, s) < 0)
		return -1;
	const char *env_key = env_get(ENV_API_KEY);
	if (env_key)
		snprintf(s->api_key, sizeof(s->api_key), "%s", env_key);
	if (env_get(ENV_DNS) && set_one(s, "dns", env_get(ENV_DNS)) < 0)
		return -1;
	if (env_get(ENV_VMM) && set_one(s, "vmm", env_get(ENV_VMM)) < 0)
		return -1;
	if (env_get(ENV_VOLUME_SIZE_MIB) && set_one(s, "volume-size-mib", env_get(ENV_VOLUME_SIZE_MIB)) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (set_one(s, names[i], values[i]) < 0)
			return -1;
	return 0;
}

/* The state directory holds the API key, the egress CA's key and the
 * database: only root may enter it, whatever mode it was made with (the
 * files in it are 0600 too, but files made by others' code, sqlite's
 * journals, snapshots, need not be). No process-wide umask: coved writes
 * guest root filesystems, and its children inherit it. */
static int private_dir(const char *dir, struct cove_err *err)
{
	struct stat st;
	if (stat(dir, &st) < 0 || ((st.st_mode & 077) && chmod(dir, 0700) < 0))
		return cove_errno(err, -errno, "make %s private (0700)", dir);
	if (st.st_mode & 077)
		log_warn("op=state-dir msg=\"was mode %04o: made 0700\" path=%s", (unsigned)(st.st_mode & 07777), dir);
	return 0;
}

/* The key kept in the state directory, made (0600) when there is none. */
static int stored_api_key(struct settings *s)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/api-key", s->state_dir);
	FILE *f = fopen(path, "re");
	if (f) {
		char line[256] = "";
		char *ok = fgets(line, sizeof(line), f);
		fclose(f);
		if (ok && *trim(line)) {
			snprintf(s->api_key, sizeof(s->api_key), "%s", trim(line));
			return 0;
		}
	}
	/* E2B's form (e2b_ and hex(20 random bytes)), which every SDK takes. */
	char hex[41];
	if (random_hex(hex, 20) < 0)
		return -1;
	snprintf(s->api_key, sizeof(s->api_key), "e2b_%s", hex);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || fs_write_all(fd, s->api_key, strlen(s->api_key)) < 0 || fs_write_all(fd, "\n", 1) < 0) {
		fprintf(stderr, "coved: write the API key to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	log_info("op=api-key msg=\"made a new API key\" path=%s", path);
	fprintf(stderr, "coved: made an API key; it is in %s\n", path);
	return 0;
}

/* e2b_ and hex digits: what E2B's SDKs from 2.25 to 2.50 check a key
 * against, refusing any other before a request is made. */
static bool e2b_key_form(const char *key)
{
	if (strncmp(key, "e2b_", 4) != 0 || !key[4])
		return false;
	for (const char *p = key + 4; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

static int split_listen(const char *listen, char *addr, size_t len, unsigned *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= len)
		return -1;
	memcpy(addr, listen, (size_t)(colon - listen));
	addr[colon - listen] = '\0';
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

/* The egress proxy's ${e2b.secrets.NAME}: the secret's value now. */
static int egress_secret(void *ctx, const char *name, char **value, size_t *len, struct cove_err *err)
{
	int r = secrets_value(ctx, name, value, len, err);
	return r == -ENOENT ? cove_errf(err, r, "secret '%s' does not exist (any more)", name) : r;
}

static int serve(struct settings *s)
{
	struct cove_err err = { 0 };
	char addr[64];
	unsigned port;
	if (split_listen(s->listen, addr, sizeof(addr), &port) < 0) {
		fprintf(stderr, "coved: --listen '%s': expected ADDR:PORT\n", s->listen);
		return 2;
	}
	struct net_dns dns;
	const char *dns_list[NET_DNS_MAX + 1];
	if (net_dns_setting(s->dns[0] ? s->dns : NULL, &dns, &err) < 0) {
		fprintf(stderr, "coved: --dns: %s\n", err.msg);
		return 2;
	}
	net_dns_list(&dns, dns_list);
	if (fs_mkdir_p(s->state_dir, 0700, &err) < 0 || private_dir(s->state_dir, &err) < 0 ||
	    (!s->api_key[0] && stored_api_key(s) < 0)) {
		fprintf(stderr, "coved: %s\n", err.msg[0] ? err.msg : "cannot make an API key");
		return 1;
	}
	if (!e2b_key_form(s->api_key))
		log_warn("op=api-key msg=\"the API key is not e2b_ and hex digits: E2B SDKs 2.25 to 2.50 refuse such a key "
			 "before sending a request (2.51 takes any); coved takes it\"");
	if (coved_tls_open(&s->tls, s->state_dir, &err) < 0) {
		fprintf(stderr, "coved: %s\n", err.msg);
		coved_tls_close(&s->tls);
		return 1;
	}
	/* The egress authority, which every guest is told to trust and the
	 * egress proxy mints with; kept in the state directory, so guests'
	 * trust survives restarts (removing it makes a new one). */
	char egress_ca[PATH_MAX + 16];
	snprintf(egress_ca, sizeof(egress_ca), "%s/egress-ca", s->state_dir);
	struct tls_minter *minter = NULL;
	struct store *store = NULL;
	struct net_slots *net = NULL;
	struct manager *m = NULL;
	struct api_server *api = NULL;
	struct egress *egress = NULL;
	struct secrets *secrets = NULL;
	struct volumes *volumes = NULL;
	struct volumes_config vc = { .state_dir = s->state_dir, .size_mib = s->volume_size_mib };
	struct coved_volumes *volume_server = NULL;
	struct net_config nc;
	net_config_from_env(&nc);
	nc.state_dir = s->state_dir;
	nc.pool_size = s->net_pool;
	nc.dns = dns_list; /* reachable on port 53 where a policy would block them */
	int rc = 1;
	if (tls_minter_new(egress_ca, &minter, &err) < 0 || store_open(s->state_dir, &store, &err) < 0 ||
	    secrets_open(s->state_dir, &secrets, &err) < 0 || volumes_open(&vc, &volumes, &err) < 0 ||
	    net_slots_open(&nc, &net, NULL, &err) < 0 ||
	    coved_volumes_open(net, volumes, env_get(ENV_RUN_DIR), &volume_server, &err) < 0)
		goto out;
	/* Before the manager: the sandboxes it takes over may name domains. */
	struct egress_config ec = { .slots = net, .dns = nc.dns, .port = (uint16_t)s->egress_port,
				    .upstream_ca = s->upstream_ca[0] ? s->upstream_ca : NULL, .minter = minter,
				    .secret = egress_secret, .secret_ctx = secrets,
				    .max_per_sandbox = s->limits.egress_per_sandbox };
	if (egress_start(&ec, &egress, &err) < 0)
		goto out;
	/* Paused sandboxes are saved here, and snapshots kept, beside the
	 * records that name them. */
	char saved_dir[PATH_MAX + 8], snapshots_dir[PATH_MAX + 16], build_dir[PATH_MAX + 8];
	snprintf(saved_dir, sizeof(saved_dir), "%s/saved", s->state_dir);
	snprintf(snapshots_dir, sizeof(snapshots_dir), "%s/snapshots", s->state_dir);
	/* Template builds' cache, uploads and logs. */
	snprintf(build_dir, sizeof(build_dir), "%s/build", s->state_dir);
	struct manager_config mc = { .store = store, .net = net, .templates_dir = s->templates, .kernel = s->kernel,
				     .run_dir = env_get(ENV_RUN_DIR), .log_dir = env_get(ENV_LOG_DIR),
				     .vmm_driver = s->vmm[0] ? s->vmm : NULL,
				     .accel = s->accel,
				     .max_sandboxes = s->max_sandboxes, .max_memory_mib = s->max_memory_mib,
				     .max_disk_mib = s->max_disk_mib,
				     .live_restore = s->live_restore, .max_boots = s->max_boots,
				     .saved_dir = saved_dir, .snapshots_dir = snapshots_dir, .warm_pool = s->warm_pool,
				     .max_timeout_s = s->max_timeout, .build_dir = build_dir,
				     .insecure_registries = s->insecure_registries,
				     .max_template_disk_mib = s->max_template_disk_mib, .dns = dns_list,
				     .ca_pem = tls_minter_ca_pem(minter), .secrets = secrets,
				     .volumes = volumes, .volume_access = coved_volumes_access(volume_server) };
	char exe_dir[PATH_MAX];
	/* Images become templates with the guest programs next to coved, or
	 * $COVE_GUEST_BIN's. */
	if (env_exe_dir(exe_dir, sizeof(exe_dir)) == 0)
		mc.guest_bin = env_get(ENV_GUEST_BIN) ? env_get(ENV_GUEST_BIN) : exe_dir;
	if (coved_cluster_prepare(&s->cluster, s->state_dir, &mc, &err) < 0 || manager_open(&mc, &m, &err) < 0)
		goto out;
	struct api_server_config ac = { .address = addr, .port = port, .api_key = s->api_key, .app = m,
					.proxy = &proxy_ops, .limits = &s->limits.api };
	ac.routes = control_routes(&ac.nroutes);
	coved_tls_config(&s->tls, &ac);
	if (coved_cluster_start(&s->cluster, m, &ac, &err) < 0)
		goto out;
	if (api_server_start(&ac, &api, &err) < 0)
		goto out;
	/* For people and scripts: where it listens (the port, with :0). */
	log_msg(LOG_INFO, "op=listen address=%s:%u state_dir=%s", addr, api_server_port(api), s->state_dir);
	fprintf(stderr, "coved: listening on %s:%u\n", addr, api_server_port(api));
	coved_tls_announce(&s->tls, ac.tls_address, api_server_tls_port(api));
	if (coved_cluster_register(&s->cluster, addr, api_server_port(api), &err) < 0)
		goto out;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sig;
	sigwait(&set, &sig);
	log_info("op=shutdown signal=%d", sig);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "coved: %s\n", err.msg);
	/* Creates in flight give up first, so the server's wait for its
	 * requests is short. */
	manager_stop(m);
	api_server_stop(api);
	/* The gateway goes, and the host role lets go of the manager; its
	 * records' deletes as manager_close ends sandboxes still go to etcd. */
	coved_cluster_detach(&s->cluster);
	manager_close(m);
	coved_cluster_stop(&s->cluster);
	egress_stop(egress);
	coved_volumes_close(volume_server);
	net_slots_close(net);
	secrets_close(secrets);
	volumes_close(volumes);
	store_close(store);
	tls_minter_free(minter);
	coved_tls_close(&s->tls);
	return rc;
}

int main(int argc, char **argv)
{
	log_set_level(LOG_INFO);
	log_level_from_env();
	/* Blocked before any thread starts, so only sigwait sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Each connection through the egress proxy holds six descriptors (two
	 * sockets, two pipes): as many as the hard limit allows. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	struct settings s = { .accel = VMM_ACCEL_AUTO, .net_pool = 2 };
	coved_tls_defaults(&s.tls);
	coved_limits_defaults(&s.limits);
	coved_cluster_defaults(&s.cluster);
	snprintf(s.listen, sizeof(s.listen), "%s", DEFAULT_LISTEN);
	snprintf(s.state_dir, sizeof(s.state_dir), "%s", env_value(ENV_STATE_DIR));
	/* Not found is for the first sandbox to say (templates may come later). */
	(void)env_guest_path(ENV_TEMPLATES, s.templates, sizeof(s.templates));
	(void)env_guest_path(ENV_KERNEL, s.kernel, sizeof(s.kernel));
	if (parse_settings(argc, argv, &s) < 0 || coved_tls_check(&s.tls) < 0 ||
	    coved_cluster_check(&s.cluster, s.listen) < 0)
		return 2;
	if (s.tls.make_local_ca)
		return coved_tls_make_local_ca(&s.tls, s.state_dir);
	return serve(&s);
}
