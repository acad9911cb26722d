/* firecracker-double: a test double of Firecracker for Cove's Firecracker
 * driver (src/vmm/fc), on a machine without Firecracker. It takes the real
 * binary's command line, serves its REST API on --api-sock, checks every
 * request against the published Swagger document
 * (tests/data/firecracker-swagger.yaml; a mismatch is the 400 Firecracker
 * gives and a recorded spec violation, vmmdouble.h), keeps Firecracker's
 * state machine (pre-boot resources refused once started, PATCH /vm only
 * after, snapshots only paused, loads only on a fresh process) and runs the
 * guest with QEMU underneath (vmmdouble/guest.h).
 *
 * Snapshot files: snapshot_path holds a header (a magic line and a JSON
 * line: what QEMU is started from) and then QEMU's device state;
 * mem_file_path the guest's RAM, sparse. Only this double reads them.
 *
 * Dirty page tracking (track_dirty_pages) is kept as a copy of the RAM as
 * it was loaded or last snapshotted (its baseline): a Diff snapshot is the
 * pages that differ from it, as KVM's dirty log would give them. A Uffd
 * memory backend gets its memory from the page server at backend_path
 * (vmmdouble/uffd.c), every page of it before QEMU starts.
 *
 * Under its jailer (tests/tools/jailer-double.c, or the real one) it takes
 * the jailer's arguments too (--start-time-us and the others), and checks
 * --id as Firecracker does. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "vmmdouble/vmmdouble.h"

#define SNAPSHOT_MAGIC "cove-firecracker-double-snapshot 1\n"
/* Scratch files in guest_root(). */
#define BASELINE ".double-baseline"
#define BASELINE_NEW ".double-baseline.new"
#define UFFD_RAM ".double-uffd-ram"
/* Firecracker's own messages (vmm::rpc_interface::VmmActionError). */
#define MSG_POST_BOOT "The requested operation is not supported after starting the microVM."
#define MSG_PRE_BOOT "The requested operation is not supported before starting the microVM."
#define MSG_LOAD_AFTER_CONFIG "Loading a microVM snapshot not allowed after configuring boot-specific resources."

enum fc_state { FC_NOT_STARTED, FC_RUNNING, FC_PAUSED };

struct fc {
	struct openapi *api;
	const char *id;
	const char *version;
	enum fc_state state;
	bool configured; /* a boot-specific resource was set: no snapshot load */
	bool boot_source;
	bool track_dirty_pages;
	bool baseline; /* the RAM as loaded or last snapshotted is in BASELINE; else it was zeros */
	struct guest_config cfg;
	char *drive_ids[GUEST_MAX_DISKS];
	char *iface_id;
	struct guest *guest;
	int exit_status;
};

struct route {
	const char *method;
	const char *prefix; /* a path, or a prefix ending in '/' for /drives/{id} */
	void (*fn)(struct fc *fc, const char *tail, json_t *body, struct http_response *resp);
};

static void fault(struct http_response *resp, int status, const char *msg)
{
	resp->status = status;
	resp->body = vmmdouble_fault("fault_message", "%s", msg);
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

/* Pre-boot resources: refused once the microVM runs, and they make a
 * snapshot load impossible. */
static bool pre_boot(struct fc *fc, struct http_response *resp)
{
	if (fc->state != FC_NOT_STARTED) {
		fault(resp, 400, MSG_POST_BOOT);
		return false;
	}
	fc->configured = true;
	return true;
}

static char *dup_str(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static void replace(char **slot, char *value)
{
	free(*slot);
	*slot = value;
}

/* --- information --- */

static const char *state_name(enum fc_state s)
{
	return s == FC_RUNNING ? "Running" : s == FC_PAUSED ? "Paused" : "Not started";
}

static void get_instance(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail, (void)body;
	reply_json(resp, json_pack("{s:s, s:s, s:s, s:s}", "app_name", "Firecracker", "id", fc->id, "state",
				   state_name(fc->state), "vmm_version", fc->version));
}

static void get_version(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail, (void)body;
	reply_json(resp, json_pack("{s:s}", "firecracker_version", fc->version));
}

static json_t *machine_config(const struct fc *fc)
{
	return json_pack("{s:i, s:i, s:b, s:b}", "vcpu_count", (int)fc->cfg.vcpus, "mem_size_mib",
			 (int)fc->cfg.mem_mib, "smt", 0, "track_dirty_pages", fc->track_dirty_pages);
}

static void get_machine_config(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail, (void)body;
	reply_json(resp, machine_config(fc));
}

static void get_vm_config(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail, (void)body;
	json_t *drives = json_array(), *nets = json_array();
	for (size_t i = 0; drives && i < fc->cfg.ndisks; i++)
		json_array_append_new(drives, json_pack("{s:s, s:s, s:b, s:b}", "drive_id", fc->drive_ids[i],
							"path_on_host", fc->cfg.disks[i].path, "is_root_device",
							fc->cfg.disks[i].root, "is_read_only", fc->cfg.disks[i].read_only));
	if (nets && fc->cfg.tap)
		json_array_append_new(nets, json_pack("{s:s, s:s, s:s?}", "iface_id", fc->iface_id, "host_dev_name",
						      fc->cfg.tap, "guest_mac", fc->cfg.mac));
	json_t *boot = fc->boot_source ? json_pack("{s:s, s:s?}", "kernel_image_path", fc->cfg.kernel, "boot_args",
						   fc->cfg.cmdline)
				       : json_object();
	reply_json(resp, json_pack("{s:o, s:o, s:o, s:o}", "boot-source", boot, "drives", drives, "machine-config",
				   machine_config(fc), "network-interfaces", nets));
}

/* --- pre-boot configuration --- */

static void put_machine_config(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail;
	if (!pre_boot(fc, resp))
		return;
	json_t *v = json_object_get(body, "vcpu_count"), *m = json_object_get(body, "mem_size_mib");
	if (v)
		fc->cfg.vcpus = (unsigned)json_integer_value(v);
	if (m && json_integer_value(m) <= 0)
		return fault(resp, 400, "The memory size (MiB) is invalid.");
	if (m)
		fc->cfg.mem_mib = (unsigned)json_integer_value(m);
	json_t *t = json_object_get(body, "track_dirty_pages");
	if (t)
		fc->track_dirty_pages = json_is_true(t);
	no_content(resp);
}

static void put_boot_source(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail;
	if (!pre_boot(fc, resp))
		return;
	replace(&fc->cfg.kernel, dup_str(json_object_get(body, "kernel_image_path")));
	replace(&fc->cfg.initrd, dup_str(json_object_get(body, "initrd_path")));
	replace(&fc->cfg.cmdline, dup_str(json_object_get(body, "boot_args")));
	fc->boot_source = true;
	no_content(resp);
}

static void put_drive(struct fc *fc, const char *id, json_t *body, struct http_response *resp)
{
	const char *body_id = json_string_value(json_object_get(body, "drive_id"));
	if (!body_id || strcmp(body_id, id) != 0)
		return fault(resp, 400, "The id from the path does not match the id from the body!");
	if (!pre_boot(fc, resp))
		return;
	if (json_object_get(body, "socket"))
		return fault(resp, 400, "the test double does not serve vhost-user-block drives");
	const char *path = json_string_value(json_object_get(body, "path_on_host"));
	if (!path)
		return fault(resp, 400, "Unable to create the block device: path_on_host is required");
	bool root = json_is_true(json_object_get(body, "is_root_device"));
	size_t i = 0;
	while (i < fc->cfg.ndisks && strcmp(fc->drive_ids[i], id) != 0)
		i++;
	for (size_t j = 0; root && j < fc->cfg.ndisks; j++)
		if (j != i && fc->cfg.disks[j].root)
			return fault(resp, 400, "A root block device already exists!");
	if (i == GUEST_MAX_DISKS)
		return fault(resp, 400, "the test double serves at most 8 drives");
	if (i == fc->cfg.ndisks) {
		fc->drive_ids[i] = strdup(id);
		fc->cfg.ndisks++;
	}
	replace(&fc->cfg.disks[i].path, strdup(path));
	fc->cfg.disks[i].root = root;
	fc->cfg.disks[i].read_only = json_is_true(json_object_get(body, "is_read_only"));
	no_content(resp);
}

static void put_network(struct fc *fc, const char *id, json_t *body, struct http_response *resp)
{
	const char *body_id = json_string_value(json_object_get(body, "iface_id"));
	if (!body_id || strcmp(body_id, id) != 0)
		return fault(resp, 400, "The id from the path does not match the id from the body!");
	if (!pre_boot(fc, resp))
		return;
	if (fc->iface_id && strcmp(fc->iface_id, id) != 0)
		return fault(resp, 400, "the test double serves one network interface");
	replace(&fc->iface_id, strdup(id));
	replace(&fc->cfg.tap, dup_str(json_object_get(body, "host_dev_name")));
	replace(&fc->cfg.mac, dup_str(json_object_get(body, "guest_mac")));
	no_content(resp);
}

static void put_entropy(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail, (void)body;
	if (!pre_boot(fc, resp))
		return;
	fc->cfg.entropy = true;
	no_content(resp);
}

/* The logger and metrics: accepted (the double logs to stderr regardless),
 * and they leave a snapshot load possible, as in Firecracker. */
static void put_ignored(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)fc, (void)tail, (void)body;
	no_content(resp);
}

/* --- running --- */

static void start_guest(struct fc *fc, const char *ram_from, struct http_response *resp)
{
	struct cove_err err = { 0 };
	if (guest_start(&fc->cfg, ram_from, &fc->guest, &err) < 0)
		return fault(resp, 400, err.msg);
	no_content(resp);
}

static void instance_start(struct fc *fc, struct http_response *resp)
{
	if (fc->state != FC_NOT_STARTED)
		return fault(resp, 400, MSG_POST_BOOT);
	if (!fc->boot_source)
		return fault(resp, 400, "Cannot start microvm without kernel configuration.");
	start_guest(fc, NULL, resp);
	if (resp->status == 204)
		fc->state = FC_RUNNING;
}

static void put_actions(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail;
	const char *action = json_string_value(json_object_get(body, "action_type"));
	if (strcmp(action, "InstanceStart") == 0)
		return instance_start(fc, resp);
	if (strcmp(action, "FlushMetrics") == 0)
		return no_content(resp);
	/* SendCtrlAltDel */
	if (fc->state == FC_NOT_STARTED)
		return fault(resp, 400, MSG_PRE_BOOT);
	/* QEMU's system_powerdown stands in for Firecracker's i8042
	 * Ctrl+Alt+Del: the guest sees a power button (ACPI) and shuts down,
	 * as a guest given Ctrl+Alt+Del does under Firecracker. */
	struct cove_err err = { 0 };
	if (guest_qmp(fc->guest, "system_powerdown", &err) < 0)
		return fault(resp, 400, err.msg);
	no_content(resp);
}

static void patch_vm(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail;
	if (fc->state == FC_NOT_STARTED)
		return fault(resp, 400, MSG_PRE_BOOT);
	bool pause = strcmp(json_string_value(json_object_get(body, "state")), "Paused") == 0;
	struct cove_err err = { 0 };
	if (guest_qmp(fc->guest, pause ? "stop" : "cont", &err) < 0)
		return fault(resp, 400, err.msg);
	fc->state = pause ? FC_PAUSED : FC_RUNNING;
	no_content(resp);
}

/* --- snapshots --- */

static int write_header(int fd, const struct fc *fc, struct cove_err *err)
{
	json_t *cfg = guest_config_to_json(&fc->cfg);
	json_t *ids = json_array();
	for (size_t i = 0; ids && i < fc->cfg.ndisks; i++)
		json_array_append_new(ids, json_string(fc->drive_ids[i]));
	json_t *h = json_pack("{s:o, s:o, s:s?, s:b}", "guest", cfg, "drive_ids", ids, "iface_id", fc->iface_id,
			      "track_dirty_pages", fc->track_dirty_pages);
	int r = h ? vmmdouble_state_write(fd, SNAPSHOT_MAGIC, h, err) : cove_errf(err, -ENOMEM, "out of memory");
	json_decref(h);
	return r;
}

static void scratch(const char *name, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s", guest_root(), name);
}

/* The pages that differ from the baseline to mem_path (a Diff), or all of
 * them (Full); the baseline becomes the RAM as it is now. */
static int save_memory(struct fc *fc, int state_fd, const char *mem_path, bool diff, struct cove_err *err)
{
	char base[PATH_MAX], next[PATH_MAX];
	scratch(BASELINE, base);
	scratch(BASELINE_NEW, next);
	if (!diff && !fc->track_dirty_pages)
		return guest_save(fc->guest, state_fd, mem_path, err);
	int r = guest_save(fc->guest, state_fd, next, err);
	r = r ?: diff ? guest_write_diff(guest_ram_path(fc->guest), fc->baseline ? base : NULL, mem_path, err)
		     : guest_copy_sparse(next, mem_path, err);
	if (r == 0 && rename(next, base) < 0)
		r = cove_errno(err, -errno, "rename %s", next);
	if (r == 0)
		fc->baseline = true;
	unlink(next);
	return r;
}

static void snapshot_create(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail;
	if (fc->state == FC_NOT_STARTED)
		return fault(resp, 400, MSG_PRE_BOOT);
	if (fc->state != FC_PAUSED)
		return fault(resp, 400, "Create snapshot error: the microVM must be paused to be snapshotted.");
	const char *type = json_string_value(json_object_get(body, "snapshot_type"));
	bool diff = type && strcmp(type, "Diff") == 0;
	if (diff && !fc->track_dirty_pages)
		return fault(resp, 400, "Diff snapshots need track_dirty_pages enabled in the machine configuration.");
	const char *state_path = json_string_value(json_object_get(body, "snapshot_path"));
	const char *mem_path = json_string_value(json_object_get(body, "mem_file_path"));
	_cleanup_close_ int fd = open(state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct cove_err err = { 0 };
	int r = fd < 0 ? cove_errno(&err, -errno, "open %s", state_path) : 0;
	r = r ?: write_header(fd, fc, &err);
	r = r ?: save_memory(fc, fd, mem_path, diff, &err);
	if (r < 0)
		return fault(resp, 400, err.msg);
	no_content(resp);
}

/* Firecracker's restored device state names its drives and interface; the
 * request may move the interface to another TAP. */
static int load_header(struct fc *fc, json_t *h, json_t *body, struct cove_err *err)
{
	int r = guest_config_from_json(json_object_get(h, "guest"), &fc->cfg, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(h, "drive_ids"), i, v) {
		if (i < fc->cfg.ndisks)
			fc->drive_ids[i] = dup_str(v);
	}
	fc->iface_id = dup_str(json_object_get(h, "iface_id"));
	fc->track_dirty_pages = json_is_true(json_object_get(h, "track_dirty_pages")) ||
				json_is_true(json_object_get(body, "track_dirty_pages"));
	json_array_foreach(json_object_get(body, "network_overrides"), i, v) {
		const char *id = json_string_value(json_object_get(v, "iface_id"));
		if (!fc->iface_id || strcmp(id, fc->iface_id) != 0)
			return cove_errf(err, -EINVAL, "Invalid network override: no interface %s in the snapshot", id);
		replace(&fc->cfg.tap, dup_str(json_object_get(v, "host_dev_name")));
	}
	return 0;
}

/* The memory a load starts QEMU from: the File backend's file, or what
 * the Uffd backend's page server served, in UFFD_RAM. */
static const char *load_memory(struct fc *fc, json_t *body, char uffd_ram[PATH_MAX], struct http_response *resp)
{
	json_t *backend = json_object_get(body, "mem_backend");
	const char *file = json_string_value(json_object_get(body, "mem_file_path"));
	if (!!backend == !!file) {
		fault(resp, 400, "Either mem_backend or mem_file_path must be present, and not both.");
		return NULL;
	}
	if (file)
		return file;
	const char *path = json_string_value(json_object_get(backend, "backend_path"));
	if (strcmp(json_string_value(json_object_get(backend, "backend_type")), "File") == 0)
		return path;
	scratch(UFFD_RAM, uffd_ram);
	struct cove_err err = { 0 };
	if (vmmdouble_uffd_fetch(path, (uint64_t)fc->cfg.mem_mib << 20, uffd_ram, &err) < 0) {
		fprintf(stderr, "firecracker-double: Uffd backend: %s\n", err.msg);
		fault(resp, 400, err.msg);
		unlink(uffd_ram);
		return NULL;
	}
	return uffd_ram;
}

static void snapshot_load(struct fc *fc, const char *tail, json_t *body, struct http_response *resp)
{
	(void)tail;
	if (fc->state != FC_NOT_STARTED || fc->configured)
		return fault(resp, 400, MSG_LOAD_AFTER_CONFIG);
	const char *state_path = json_string_value(json_object_get(body, "snapshot_path"));
	_cleanup_close_ int fd = open(state_path, O_RDONLY | O_CLOEXEC);
	struct cove_err err = { 0 };
	json_t *h = NULL;
	int r = fd < 0 ? cove_errno(&err, -errno, "open %s", state_path)
			 : vmmdouble_state_read(fd, state_path, SNAPSHOT_MAGIC, &h, &err);
	r = r ?: load_header(fc, h, body, &err);
	json_decref(h);
	fc->configured = true;
	if (r < 0)
		return fault(resp, 400, err.msg);
	char uffd_ram[PATH_MAX] = "", base[PATH_MAX];
	const char *mem = load_memory(fc, body, uffd_ram, resp);
	if (!mem)
		return;
	/* Dirty pages are counted from here on. */
	scratch(BASELINE, base);
	if (fc->track_dirty_pages && (r = guest_copy_sparse(mem, base, &err)) == 0)
		fc->baseline = true;
	r = r ?: guest_start(&fc->cfg, mem, &fc->guest, &err);
	if (uffd_ram[0])
		unlink(uffd_ram);
	r = r ?: guest_restore(fc->guest, fd, &err);
	bool resume = json_is_true(json_object_get(body, "resume_vm"));
	r = r ?: (resume ? guest_qmp(fc->guest, "cont", &err) : 0);
	if (r < 0) {
		/* Firecracker ends itself after a failed load part way. */
		fprintf(stderr, "firecracker-double: snapshot load failed: %s\n", err.msg);
		fault(resp, 400, err.msg);
		fc->guest = guest_free(fc->guest);
		return;
	}
	fc->boot_source = true;
	fc->state = resume ? FC_RUNNING : FC_PAUSED;
	no_content(resp);
}

/* --- requests --- */

static const struct route routes[] = {
	{ "GET", "/", get_instance },
	{ "GET", "/version", get_version },
	{ "GET", "/machine-config", get_machine_config },
	{ "GET", "/vm/config", get_vm_config },
	{ "PUT", "/machine-config", put_machine_config },
	{ "PATCH", "/machine-config", put_machine_config },
	{ "PUT", "/boot-source", put_boot_source },
	{ "PUT", "/drives/", put_drive },
	{ "PUT", "/network-interfaces/", put_network },
	{ "PUT", "/entropy", put_entropy },
	{ "PUT", "/logger", put_ignored },
	{ "PUT", "/metrics", put_ignored },
	{ "PUT", "/actions", put_actions },
	{ "PATCH", "/vm", patch_vm },
	{ "PUT", "/snapshot/create", snapshot_create },
	{ "PUT", "/snapshot/load", snapshot_load },
};

static void handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct fc *fc = ctx;
	struct cove_err err = { 0 };
	json_t *body = NULL;
	int r = openapi_check(fc->api, req->method, req->path, req->body, req->body_len, &body, &err);
	if (r < 0) {
		vmmdouble_spec_violation(req->method, req->path, err.msg);
		if (r == -ENOENT || r == -EOPNOTSUPP)
			return fault(resp, 400, "Invalid request method and/or path.");
		char msg[COVE_ERR_MAX + 80];
		snprintf(msg, sizeof(msg), "An error occurred when deserializing the json body of a request: %s",
			 err.msg);
		return fault(resp, 400, msg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const struct route *rt = &routes[i];
		size_t n = strlen(rt->prefix);
		bool prefix = n > 1 && rt->prefix[n - 1] == '/';
		if (strcmp(req->method, rt->method) != 0 ||
		    (prefix ? strncmp(req->path, rt->prefix, n) != 0 : strcmp(req->path, rt->prefix) != 0))
			continue;
		rt->fn(fc, req->path + (prefix ? n : 0), body, resp);
		json_decref(body);
		return;
	}
	json_decref(body);
	char msg[1200];
	snprintf(msg, sizeof(msg), "the test double does not serve %s %s", req->method, req->path);
	fault(resp, 400, msg);
}

static int watch_fd(void *ctx)
{
	return guest_pidfd(((struct fc *)ctx)->guest);
}

/* QEMU ended (the guest powered off or reset): so does Firecracker. */
static bool on_guest_exit(void *ctx)
{
	struct fc *fc = ctx;
	fc->exit_status = guest_reap(fc->guest);
	return true;
}

/* --- the command line --- */

static void usage_error(const char *arg)
{
	fprintf(stderr, "Arguments parsing error: Found argument '%s' which wasn't expected, or isn't valid in this "
			"context.\n\nFor more information try --help\n", arg);
	exit(1);
}

static const char *valid_id(const char *id)
{
	if (!vmmdouble_fc_id_valid(id)) {
		fprintf(stderr, "Invalid instance ID: '%s'\n", id);
		exit(1);
	}
	return id;
}

static void number(const char *arg, const char *value)
{
	char *end;
	errno = 0;
	strtoull(value, &end, 10);
	if (errno || end == value || *end || *value == '-') {
		fprintf(stderr, "Arguments parsing error: %s: '%s' is not a number\n", arg, value);
		exit(1);
	}
}

static int parse_args(int argc, char **argv, const char **sock, const char **id, const char *version)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 's' }, { "id", required_argument, NULL, 'i' },
		{ "version", no_argument, NULL, 'V' },       { "level", required_argument, NULL, 0 },
		{ "log-path", required_argument, NULL, 0 },  { "no-seccomp", no_argument, NULL, 0 },
		{ "boot-timer", no_argument, NULL, 0 },      { "show-level", no_argument, NULL, 0 },
		{ "show-log-origin", no_argument, NULL, 0 },
		/* What its jailer passes (docs/jailer.md). */
		{ "start-time-us", required_argument, NULL, 't' }, { "start-time-cpu-us", required_argument, NULL, 't' },
		{ "parent-cpu-time-us", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
	};
	opterr = 0;
	int c;
	while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			*sock = optarg;
		else if (c == 'i')
			*id = valid_id(optarg);
		else if (c == 't')
			number(argv[optind - 2], optarg);
		else if (c == 'V') {
			printf("Firecracker v%s\n", version);
			exit(0);
		} else if (c == '?')
			usage_error(argv[optind - 1]);
	}
	if (optind < argc)
		usage_error(argv[optind]);
	return 0;
}

int main(int argc, char **argv)
{
	struct fc fc = { .id = "anonymous-instance", .cfg = { .vcpus = 1, .mem_mib = 128 } };
	struct cove_err err = { 0 };
	size_t len = (size_t)(vmmdouble_firecracker_yaml_end - vmmdouble_firecracker_yaml);
	if (openapi_parse(vmmdouble_firecracker_yaml, len, "", &fc.api, &err) < 0) {
		fprintf(stderr, "firecracker-double: %s\n", err.msg);
		return 1;
	}
	fc.version = openapi_version(fc.api);
	const char *sock = "/run/firecracker.socket";
	parse_args(argc, argv, &sock, &fc.id, fc.version);
	signal(SIGPIPE, SIG_IGN);
	int listen_fd = http_listen_unix(sock, "Failed to open the API socket at");
	if (listen_fd < 0)
		return 1;
	fprintf(stderr, "firecracker-double: Firecracker v%s (test double over QEMU) id=%s api=%s\n", fc.version,
		fc.id, sock);
	struct http_loop_ops ops = { .handle = handle, .watch_fd = watch_fd, .on_event = on_guest_exit };
	int r = http_serve(listen_fd, &ops, &fc);
	close(listen_fd);
	fc.guest = guest_free(fc.guest);
	char base[PATH_MAX];
	scratch(BASELINE, base);
	unlink(base);
	guest_config_clear(&fc.cfg);
	for (size_t i = 0; i < GUEST_MAX_DISKS; i++)
		free(fc.drive_ids[i]);
	free(fc.iface_id);
	openapi_free(fc.api);
	if (r < 0)
		return 1;
	fprintf(stderr, "firecracker-double: the guest ended (QEMU status %d); exiting\n", fc.exit_status);
	return 0;
}
