/* cloud-hypervisor-double: a test double of Cloud Hypervisor for Cove's
 * Cloud Hypervisor driver (src/vmm/ch), on a machine without it. It takes
 * the real binary's command line, serves its REST API (/api/v1) on the
 * --api-socket it is handed or binds, checks every request against CH's
 * published OpenAPI document (tests/data/cloud-hypervisor.yaml; a mismatch
 * is a 400 and a recorded spec violation, vmmdouble.h), keeps CH's state
 * machine (docs/api.md and the document's status codes: 404 when there is
 * no VM, 405 when it is not in the state an action needs) and runs the
 * guest with QEMU underneath (vmmdouble/guest.h).
 *
 * Snapshots are CH's directory: config.json (the VmConfig as created),
 * state.json (a header line and then QEMU's device state: only this double
 * reads it) and memory-ranges (the guest's RAM, sparse). A guest that
 * powers off ends the process, as CH's does unless --no-shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "vmmdouble/vmmdouble.h"

/* The document is main's after the v53.0 release (tests/data/README.md). */
#define CH_VERSION "v53.0-dev"
#define CH_CRATE_VERSION "53.0.0"
#define API_BASE "/api/v1"
#define STATE_MAGIC "cove-cloud-hypervisor-double-state 1\n"
#define SNAPSHOT_CONFIG "config.json"
#define SNAPSHOT_STATE "state.json"
#define SNAPSHOT_RANGES "memory-ranges"

enum ch_state { CH_NONE, CH_CREATED, CH_RUNNING, CH_PAUSED, CH_SHUTDOWN };

struct ch {
	struct openapi *api;
	enum ch_state state;
	json_t *config; /* the VmConfig as created or restored */
	struct guest_config cfg;
	struct guest *guest;
	bool no_shutdown;
	int exit_status;
};

struct route {
	const char *method;
	const char *path; /* after /api/v1 */
	void (*fn)(struct ch *ch, json_t *body, struct http_response *resp);
};

/* CH answers a failed action with its error as plain text. */
static void fail(struct http_response *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&resp->body, fmt, ap) < 0)
		resp->body = NULL;
	va_end(ap);
	resp->status = status;
	resp->content_type = "text/plain";
}

static void no_content(struct http_response *resp)
{
	resp->status = 204;
}

static void reply_json(struct http_response *resp, json_t *v)
{
	resp->status = v ? 200 : 500;
	resp->body = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
}

static const char *state_name(enum ch_state s)
{
	static const char *const names[] = { "None", "Created", "Running", "Paused", "Shutdown" };
	return names[s];
}

/* The state an action needs: 404 without a VM, 405 in another state (the
 * document's codes for vm.pause, vm.resume, vm.snapshot, ...). */
static bool in_state(struct ch *ch, const char *what, unsigned states, struct http_response *resp)
{
	if (ch->state == CH_NONE) {
		fail(resp, 404, "Error from API: The VM could not be %s: VmNotCreated", what);
		return false;
	}
	if (!(states & (1u << ch->state))) {
		fail(resp, 405, "Error from API: The VM could not be %s: the VM is %s", what, state_name(ch->state));
		return false;
	}
	return true;
}

#define BOOTED ((1u << CH_RUNNING) | (1u << CH_PAUSED))

static void forget_vm(struct ch *ch)
{
	ch->guest = guest_free(ch->guest);
	guest_config_clear(&ch->cfg);
	json_decref(ch->config);
	ch->config = NULL;
	ch->state = CH_NONE;
}

/* --- the VMM --- */

static void vmm_ping(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)ch, (void)body;
	reply_json(resp, json_pack("{s:s, s:s, s:I, s:[]}", "build_version", CH_VERSION, "version", CH_CRATE_VERSION,
				   "pid", (json_int_t)getpid(), "features"));
}

static void vmm_shutdown(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	forget_vm(ch);
	no_content(resp);
	resp->end_loop = true;
}

/* --- the VM --- */

static void vm_create(struct ch *ch, json_t *body, struct http_response *resp)
{
	if (ch->state != CH_NONE)
		return fail(resp, 500, "Error from API: The VM could not be created: VmAlreadyCreated");
	if (!json_object_get(json_object_get(body, "payload"), "kernel"))
		return fail(resp, 500, "Error from API: The VM could not be created: the test double boots a kernel");
	ch->config = json_incref(body);
	ch->state = CH_CREATED;
	no_content(resp);
}

static void vm_boot(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	if (!in_state(ch, "booted", 1u << CH_CREATED | 1u << CH_SHUTDOWN, resp))
		return;
	struct cove_err err = { 0 };
	guest_config_clear(&ch->cfg);
	int r = vmmdouble_ch_config(ch->config, &ch->cfg, &err);
	r = r ?: guest_start(&ch->cfg, NULL, &ch->guest, &err);
	if (r < 0)
		return fail(resp, 500, "Error from API: The VM could not boot: %s", err.msg);
	ch->state = CH_RUNNING;
	no_content(resp);
}

static void qmp_action(struct ch *ch, const char *what, unsigned states, const char *command, enum ch_state next,
		       struct http_response *resp)
{
	if (!in_state(ch, what, states, resp))
		return;
	struct cove_err err = { 0 };
	if (guest_qmp(ch->guest, command, &err) < 0)
		return fail(resp, 500, "Error from API: The VM could not be %s: %s", what, err.msg);
	ch->state = next;
	no_content(resp);
}

static void vm_pause(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	qmp_action(ch, "paused", 1u << CH_RUNNING, "stop", CH_PAUSED, resp);
}

static void vm_resume(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	qmp_action(ch, "resumed", 1u << CH_PAUSED, "cont", CH_RUNNING, resp);
}

/* An ACPI power button: the guest shuts down, and then so does CH. */
static void vm_power_button(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	qmp_action(ch, "powered off", BOOTED, "system_powerdown", ch->state, resp);
}

/* vm.shutdown stops the VM and keeps the VMM (CH's shutdown of the VM,
 * not of itself); vm.boot may start it again. */
static void vm_shutdown(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	if (!in_state(ch, "shut down", BOOTED, resp))
		return;
	ch->guest = guest_free(ch->guest);
	ch->state = CH_SHUTDOWN;
	no_content(resp);
}

/* A reboot is a fresh boot of the same VmConfig (-no-reboot keeps QEMU
 * from resetting on its own). */
static void vm_reboot(struct ch *ch, json_t *body, struct http_response *resp)
{
	if (!in_state(ch, "rebooted", BOOTED, resp))
		return;
	ch->guest = guest_free(ch->guest);
	ch->state = CH_SHUTDOWN;
	vm_boot(ch, body, resp);
}

static void vm_delete(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	forget_vm(ch);
	no_content(resp);
}

static void vm_info(struct ch *ch, json_t *body, struct http_response *resp)
{
	(void)body;
	if (ch->state == CH_NONE)
		return fail(resp, 404, "Error from API: The VM information could not be retrieved: VmNotCreated");
	json_t *memory = json_object_get(ch->config, "memory");
	json_int_t size = memory ? json_integer_value(json_object_get(memory, "size")) : 512LL << 20;
	size_t i;
	json_t *z;
	json_array_foreach(json_object_get(memory, "zones"), i, z) {
		size += json_integer_value(json_object_get(z, "size"));
	}
	reply_json(resp, json_pack("{s:O, s:s, s:I}", "config", ch->config, "state", state_name(ch->state),
				   "memory_actual_size", size));
}

/* --- snapshots --- */

/* "file:///dir" -> "/dir"; NULL for another scheme. */
static const char *file_url(const char *url)
{
	if (!url || strncmp(url, "file://", 7) != 0)
		return NULL;
	return url[7] ? url + 7 : "/";
}

static int path_in(char *buf, size_t len, const char *dir, const char *name)
{
	return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

static int write_snapshot(struct ch *ch, const char *dir, struct cove_err *err)
{
	char config[4096], state[4096], ranges[4096];
	if (path_in(config, sizeof(config), dir, SNAPSHOT_CONFIG) < 0 ||
	    path_in(state, sizeof(state), dir, SNAPSHOT_STATE) < 0 ||
	    path_in(ranges, sizeof(ranges), dir, SNAPSHOT_RANGES) < 0)
		return cove_errf(err, -ENAMETOOLONG, "snapshot directory %s: path too long", dir);
	if (json_dump_file(ch->config, config, JSON_INDENT(2)) < 0)
		return cove_errf(err, -EIO, "write %s", config);
	_cleanup_close_ int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "open %s", state);
	json_t *h = json_pack("{s:i}", "mem_mib", (int)ch->cfg.mem_mib);
	int r = h ? vmmdouble_state_write(fd, STATE_MAGIC, h, err) : cove_errf(err, -ENOMEM, "out of memory");
	json_decref(h);
	return r ?: guest_save(ch->guest, fd, ranges, err);
}

static void vm_snapshot(struct ch *ch, json_t *body, struct http_response *resp)
{
	if (!in_state(ch, "snapshotted", 1u << CH_PAUSED, resp))
		return;
	const char *url = json_string_value(json_object_get(body, "destination_url"));
	const char *dir = file_url(url);
	struct stat st;
	if (!dir)
		return fail(resp, 500, "Error from API: The VM could not be snapshotted: unsupported URL %s",
			    url ? url : "(none)");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail(resp, 500, "Error from API: The VM could not be snapshotted: %s is not a directory", dir);
	struct cove_err err = { 0 };
	if (write_snapshot(ch, dir, &err) < 0)
		return fail(resp, 500, "Error from API: The VM could not be snapshotted: %s", err.msg);
	no_content(resp);
}

/* config.json (as the restoring side rewrote it), then QEMU from the
 * state's stream over memory-ranges. Every memory_restore_mode restores as
 * Copy does: memory-ranges copied into the RAM file up front. */
static int restore_from(struct ch *ch, const char *dir, struct cove_err *err)
{
	char config[4096], state[4096], ranges[4096];
	if (path_in(config, sizeof(config), dir, SNAPSHOT_CONFIG) < 0 ||
	    path_in(state, sizeof(state), dir, SNAPSHOT_STATE) < 0 ||
	    path_in(ranges, sizeof(ranges), dir, SNAPSHOT_RANGES) < 0)
		return cove_errf(err, -ENAMETOOLONG, "snapshot directory %s: path too long", dir);
	json_error_t jerr;
	json_t *v = json_load_file(config, 0, &jerr);
	if (!v)
		return cove_errf(err, -EINVAL, "%s: %s", config, jerr.text);
	ch->config = v;
	int r = vmmdouble_ch_config(v, &ch->cfg, err);
	_cleanup_close_ int fd = r < 0 ? -1 : open(state, O_RDONLY | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = cove_errno(err, -errno, "open %s", state);
	json_t *h = NULL;
	r = r ?: vmmdouble_state_read(fd, state, STATE_MAGIC, &h, err);
	json_decref(h);
	r = r ?: guest_start(&ch->cfg, ranges, &ch->guest, err);
	return r ?: guest_restore(ch->guest, fd, err);
}

static void vm_restore(struct ch *ch, json_t *body, struct http_response *resp)
{
	if (ch->state != CH_NONE)
		return fail(resp, 404, "Error from API: The VM could not be restored: VmAlreadyCreated");
	const char *url = json_string_value(json_object_get(body, "source_url"));
	const char *dir = file_url(url);
	if (!dir)
		return fail(resp, 400, "Error from API: The VM could not be restored: unsupported URL %s", url);
	struct cove_err err = { 0 };
	int r = restore_from(ch, dir, &err);
	/* CH restores a VM paused, unless told to resume it. */
	bool resume = json_is_true(json_object_get(body, "resume"));
	r = r ?: (resume ? guest_qmp(ch->guest, "cont", &err) : 0);
	if (r < 0) {
		forget_vm(ch);
		fprintf(stderr, "cloud-hypervisor-double: restore from %s failed: %s\n", dir, err.msg);
		return fail(resp, 500, "Error from API: The VM could not be restored: %s", err.msg);
	}
	ch->state = resume ? CH_RUNNING : CH_PAUSED;
	no_content(resp);
}

/* --- requests --- */

static const struct route routes[] = {
	{ "GET", "/vmm.ping", vmm_ping },
	{ "PUT", "/vmm.shutdown", vmm_shutdown },
	{ "PUT", "/vm.create", vm_create },
	{ "PUT", "/vm.boot", vm_boot },
	{ "PUT", "/vm.pause", vm_pause },
	{ "PUT", "/vm.resume", vm_resume },
	{ "PUT", "/vm.shutdown", vm_shutdown },
	{ "PUT", "/vm.reboot", vm_reboot },
	{ "PUT", "/vm.power-button", vm_power_button },
	{ "PUT", "/vm.delete", vm_delete },
	{ "GET", "/vm.info", vm_info },
	{ "PUT", "/vm.snapshot", vm_snapshot },
	{ "PUT", "/vm.restore", vm_restore },
};

static void handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct ch *ch = ctx;
	struct cove_err err = { 0 };
	json_t *body = NULL;
	if (openapi_check(ch->api, req->method, req->path, req->body, req->body_len, &body, &err) < 0) {
		vmmdouble_spec_violation(req->method, req->path, err.msg);
		return fail(resp, 400, "%s", err.msg);
	}
	const char *path = req->path + strlen(API_BASE);
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		if (strcmp(req->method, routes[i].method) == 0 && strcmp(path, routes[i].path) == 0) {
			routes[i].fn(ch, body, resp);
			json_decref(body);
			return;
		}
	}
	json_decref(body);
	fail(resp, 500, "the test double does not serve %s %s", req->method, req->path);
}

static int watch_fd(void *ctx)
{
	return guest_pidfd(((struct ch *)ctx)->guest);
}

/* QEMU ended: the guest powered off (or reset). CH ends too, unless told
 * --no-shutdown: then its VM is Shutdown and the API stays. */
static bool on_guest_exit(void *ctx)
{
	struct ch *ch = ctx;
	ch->exit_status = guest_reap(ch->guest);
	if (!ch->no_shutdown)
		return true;
	ch->guest = guest_free(ch->guest);
	ch->state = CH_SHUTDOWN;
	return false;
}

/* --- the command line --- */

/* --api-socket's forms: "fd=N" (a listening socket handed over),
 * "path=P" or a bare path. */
static int api_socket(const char *arg)
{
	if (strncmp(arg, "fd=", 3) == 0) {
		char *end;
		long fd = strtol(arg + 3, &end, 10);
		int listening = 0;
		socklen_t len = sizeof(listening);
		if (*end || end == arg + 3 || fd < 0 || fd > 65535 ||
		    getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
			fprintf(stderr, "Error: --api-socket %s: not a listening socket\n", arg);
			return -1;
		}
		return (int)fd;
	}
	return http_listen_unix(strncmp(arg, "path=", 5) == 0 ? arg + 5 : arg, "Error: Failed to bind the API socket");
}

struct options {
	const char *api_socket;
	bool no_shutdown;
};

static void usage_error(const char *arg)
{
	fprintf(stderr, "error: unexpected argument '%s' found\n\nUsage: cloud-hypervisor [OPTIONS]\n\n"
			"For more information, try '--help'.\n", arg);
	exit(1);
}

/* --log-file: CH's log (here: the double's stderr) goes to the file. */
static void log_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
		fprintf(stderr, "Error: --log-file %s: %m\n", path);
		exit(1);
	}
	close(fd);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "api-socket", required_argument, NULL, 's' }, { "log-file", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },          { "no-shutdown", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "vV", opts, NULL)) != -1) {
		if (c == 's')
			o->api_socket = optarg;
		else if (c == 'l')
			log_to(optarg);
		else if (c == 'n')
			o->no_shutdown = true;
		else if (c == 'V') {
			printf("cloud-hypervisor %s\n", CH_VERSION);
			exit(0);
		} else if (c == '?')
			usage_error(argv[optind - 1]);
		/* -v, -vv: more logging; the double logs what it logs. */
	}
	if (optind < argc)
		usage_error(argv[optind]);
	if (!o->api_socket) {
		fprintf(stderr, "Error: the test double needs --api-socket\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	parse_args(argc, argv, &o);
	struct ch ch = { .no_shutdown = o.no_shutdown };
	struct cove_err err = { 0 };
	size_t len = (size_t)(vmmdouble_cloud_hypervisor_yaml_end - vmmdouble_cloud_hypervisor_yaml);
	if (openapi_parse(vmmdouble_cloud_hypervisor_yaml, len, API_BASE, &ch.api, &err) < 0) {
		fprintf(stderr, "cloud-hypervisor-double: %s\n", err.msg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int listen_fd = api_socket(o.api_socket);
	if (listen_fd < 0)
		return 1;
	fprintf(stderr, "cloud-hypervisor-double: cloud-hypervisor %s (test double over QEMU) api=%s\n", CH_VERSION,
		o.api_socket);
	struct http_loop_ops ops = { .handle = handle, .watch_fd = watch_fd, .on_event = on_guest_exit };
	int r = http_serve(listen_fd, &ops, &ch);
	close(listen_fd);
	bool guest_ended = ch.guest && guest_pidfd(ch.guest) < 0;
	forget_vm(&ch);
	openapi_free(ch.api);
	if (r < 0)
		return 1;
	if (guest_ended)
		fprintf(stderr, "cloud-hypervisor-double: the guest ended (QEMU status %d); exiting\n", ch.exit_status);
	return 0;
}
