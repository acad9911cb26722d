/* The sandbox manager: every sandbox coved holds, their records in the state
 * database (written before each transition is acted on), admission control,
 * and the reaper that ends each sandbox at its deadline; also pause and
 * resume, forks, the warm pool, crash recovery and per-sandbox metrics.
 * coved's API is its one user. */
#ifndef COVE_MANAGER_MANAGER_H
#define COVE_MANAGER_MANAGER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "net/net.h"
#include "store/store.h"
#include "vmm/vmm.h"

struct sandbox_volume_access;
struct secrets;
struct volumes;

#define MANAGER_DEFAULT_TIMEOUT_S 300
/* The longest a sandbox may live unless the host says otherwise
 * (max_timeout_s): E2B's. */
#define MANAGER_DEFAULT_MAX_TIMEOUT_S (24 * 3600)
#define MANAGER_DEFAULT_MAX_SANDBOXES 64
/* The share of the sandboxes' file system (RUN_DIR's) they may fill, all
 * their disks counted as full, by default: the rest is the host's reserve
 * (twice the blocks ext4 keeps back for root, which coved could use). */
#define MANAGER_DISK_SHARE_PCT 90
#define MANAGER_DEFAULT_TEMPLATE "base"
/* How long a guest may take from its VMM's start to its agent answering.
 * Longer than `cove run`'s: the host may be running many sandboxes. */
#define MANAGER_AGENT_TIMEOUT_MS 60000
/* Metrics: a sample of every running sandbox this often, the last ones kept. */
#define MANAGER_METRICS_INTERVAL_MS 5000
#define MANAGER_METRICS_KEEP 120
/* The least an auto-resume gives a sandbox to live (E2B's anti-thrash
 * floor, minAutoResumeTimeout). */
#define MANAGER_AUTO_RESUME_MIN_S 60
/* The largest disk a template built from an image may have. */
#define MANAGER_DEFAULT_MAX_TEMPLATE_DISK_MIB (64u * 1024)

/* A sandbox as a cluster's catalog holds it (coved's host role,
 * cluster/records.h): no tokens, no policy. Borrowed strings. */
struct manager_record {
	const char *id, *template_id;
	const char *metadata;          /* a JSON object's text; NULL: none */
	enum store_sandbox_state state; /* creating, running or paused */
	unsigned vcpus, mem_mib;
	int64_t seq, started_ms, end_ms;
	bool auto_pause;
};

/* The cluster's catalog, told of every sandbox record the manager writes,
 * before the state database is: put with each record (creating, running,
 * paused; a deadline moved), remove when its record goes. A put of a
 * creating record that fails fails the create or fork (nothing is booted);
 * the catalog decides what else may fail (it may keep a failed write to
 * retry, returning 0). admit, before a create, fork or resume takes a
 * place: 0, or -ENOTCONN with why (the host is cut off from the cluster).
 * Called from any of the manager's threads, put and remove under its lock:
 * they must not call the manager. */
struct manager_catalog {
	int (*admit)(void *ctx, const char *op, struct cove_err *err);
	int (*put)(void *ctx, const struct manager_record *rec, struct cove_err *err);
	void (*remove)(void *ctx, const char *id);
	void *ctx;
};

struct manager_config {
	struct store *store;     /* borrowed */
	struct net_slots *net;   /* borrowed */
	const char *templates_dir;
	const char *kernel;
	const char *run_dir;     /* NULL: the VMM default */
	const char *log_dir;     /* NULL: the VMM default */
	const char *vmm_binary;  /* NULL: the driver's setting (COVE_QEMU...), else PATH */
	const char *vmm_driver;  /* the host's VMM (a template's vmm= wins); NULL: the default */
	enum vmm_accel accel;
	unsigned max_sandboxes;  /* 0: MANAGER_DEFAULT_MAX_SANDBOXES */
	unsigned max_memory_mib; /* guest memory all sandboxes may hold; 0: 80% of the host's */
	/* What the file system of run_dir (the sandboxes' disk overlays) may
	 * hold, MiB, counting every live sandbox's disk as full: 0:
	 * MANAGER_DISK_SHARE_PCT of its size (see admission.c). */
	unsigned max_disk_mib;
	/* manager_close leaves running and paused sandboxes as they are, for
	 * the next coved to re-adopt (an upgrade), instead of ending them. */
	bool live_restore;
	/* Boots at once; more creates wait their turn (a guest boot is CPU
	 * bound: many at once only make each slower). 0: the CPUs under TCG,
	 * else twice the CPUs, at least 4. */
	unsigned max_boots;
	/* Where a paused sandbox is saved whole (DIR/ID, see sandbox_save),
	 * its VMM ended and its memory and slot freed; it survives restarts of
	 * coved and of the host. NULL, or a sandbox booted without a template
	 * snapshot (a throwaway disk): pausing freezes it in memory. */
	const char *saved_dir;
	/* Where snapshots are kept (DIR/ID, see manager_snapshot_create),
	 * beside the records that name them. NULL: no snapshots. */
	const char *snapshots_dir;
	/* Sandboxes kept restored and paused, ready to claim, per template
	 * that has a snapshot; a create of one only resumes it and calls
	 * /init. Refilled in the background. 0: none. */
	unsigned warm_pool;
	/* The longest timeout a create, connect, fork or deadline change may
	 * ask for, in seconds. 0: MANAGER_DEFAULT_MAX_TIMEOUT_S. */
	long max_timeout_s;
	/* Template builds (E2B's build API): their cache, uploads and logs
	 * are kept here (see manager_build_*), the templates they make go in
	 * templates_dir. NULL: no builds. */
	const char *build_dir;
	const char *busybox; /* the host's static busybox, for build VMs; NULL: found on PATH */
	const char *guest_bin; /* cove-init and cove-agent, for templates from images; NULL: none */
	const char *insecure_registries; /* "HOST:PORT,..." reached over plain HTTP; NULL or "": none */
	unsigned max_template_disk_mib; /* 0: MANAGER_DEFAULT_MAX_TEMPLATE_DISK_MIB */
	/* IPv4 nameservers every sandbox's resolv.conf names (coved --dns,
	 * net/dns.h), given at each /init: create, fork, reboot, claim from
	 * the warm pool. NULL-terminated, borrowed; NULL or empty: none (the
	 * template's file stays). Template build VMs get none. */
	const char *const *dns;
	/* Certificates (PEM) every sandbox's guest is to trust: the egress
	 * authority's (tls.h's tls_minter), given at each /init as dns is,
	 * resumes too. Borrowed; NULL: none. */
	const char *ca_pem;
	/* The host's secrets (secrets/secrets.h), for the API and the egress
	 * proxy to reach through the manager; borrowed. NULL: none. */
	struct secrets *secrets;
	/* The host's volumes (volume/volume.h), for the API; borrowed. NULL: none. */
	struct volumes *volumes;
	/* The volume server (coved's, nfs/nfs.h): lets sandboxes' slots mount
	 * their volumes. NULL: volumeMounts are refused (-ENOSYS). */
	const struct sandbox_volume_access *volume_access;
	/* A cluster's catalog (coved --cluster-etcd); all NULL: one host alone. */
	struct manager_catalog catalog;
};

/* Who reaches a sandbox's own servers through the envd routing, as what
 * host, and how (E2B's network.allowPublicTraffic, maskRequestHost and
 * httpsPorts). With
 * private set, the sandbox gets a traffic access token of its own at
 * create (and each fork child its own), and the routing relays a request
 * to any port of it but envd's only with that token. */
#define MANAGER_MASK_HOST_MAX 256
/* The most ports network.httpsPorts lists (Cove's bound; E2B states none). */
#define MANAGER_MAX_HTTPS_PORTS 64
struct manager_ingress {
	bool private_traffic;                 /* allowPublicTraffic false */
	char mask_host[MANAGER_MASK_HOST_MAX]; /* "": the Host as the routing sets it; else "${PORT}" stands for the port */
	/* E2B's httpsPorts: the guest's ports whose servers speak HTTPS, which
	 * the routing reaches over TLS (as given: 1 to 65535, each once). */
	uint16_t https_ports[MANAGER_MAX_HTTPS_PORTS];
	unsigned n_https_ports;
};

/* One of E2B's volumeMounts: a volume by name, and where the guest has it
 * (an absolute path; the agent refuses paths that would hide the system,
 * see docs/agent-protocol.md). */
#define MANAGER_MAX_VOLUMES 16
struct manager_volume_mount {
	const char *name;
	const char *path;
};

struct manager_create {
	const char *template_id;  /* NULL: MANAGER_DEFAULT_TEMPLATE */
	long timeout_s;           /* 0: MANAGER_DEFAULT_TIMEOUT_S */
	const char *metadata;     /* a JSON object's text; NULL: {} */
	const char *const *envs;  /* "KEY=VALUE", NULL-terminated; may be NULL */
	struct net_policy policy;
	bool auto_pause;          /* at the deadline, pause instead of kill */
	/* With auto_pause: keep its disk alone, not its memory (E2B's
	 * autoPauseMemory false); the next connect reboots it. */
	bool auto_pause_fs_only;
	/* While paused with its memory, a request through the envd routing
	 * resumes it (manager_wake). */
	bool auto_resume;
	struct manager_ingress ingress;
	/* Volumes it mounts at these paths (at most MANAGER_MAX_VOLUMES, names
	 * and paths each once): -ENOENT when a name is no volume's. Its forks
	 * and resumes mount them too. */
	const struct manager_volume_mount *volumes;
	size_t nvolumes;
};

struct manager_info {
	char id[64];
	char template_id[64];
	char token[65];
	enum store_sandbox_state state;
	char *metadata;          /* JSON object text, owned: manager_info_clear */
	int64_t started_ms, end_ms; /* wall clock */
	unsigned vcpus, mem_mib;
	int64_t seq;             /* creation order: listings are newest first */
	uint64_t disk_bytes;     /* on the host's disk: its overlay, or its saved copy while paused */
	unsigned disk_size_mib;  /* its disk as the guest sees it: the template image's size */
	bool auto_pause;         /* onTimeout: pause (else kill) */
	bool auto_resume;        /* a request through the envd routing resumes it */
	/* The egress policy it was created with (owned: manager_info_clear);
	 * policy_known false: made before Cove kept it (policy is the default). */
	bool policy_known;
	struct net_policy_copy policy;
	struct manager_ingress ingress;
	char traffic_token[65];  /* private_traffic: its traffic access token; else "" */
	/* Its volumes: [{"name","path"}] (E2B's volumeMounts), owned; NULL: none. */
	char *volume_mounts;
};

void manager_info_clear(struct manager_info *info);

struct manager;

/* Sandboxes recorded by an earlier coved whose VMM is gone are marked dead
 * and their records removed. */
int manager_open(const struct manager_config *c, struct manager **ret, struct cove_err *err);
/* Refuses new creates and makes those in flight give up (they fail with
 * -ECANCELED or -ESHUTDOWN): the first step of shutting down. NULL-safe. */
void manager_stop(struct manager *m);
/* Stops the reaper and ends every sandbox (or, with live_restore, lets go of
 * them), after waiting for the creates in flight. NULL-safe. */
void manager_close(struct manager *m);

/* A default timeout (dflt seconds) as this host allows it: at most its
 * longest (max_timeout_s), so that a request that gives none never fails
 * for the default. */
long manager_default_timeout(const struct manager *m, long dflt);

/* Boots a sandbox and returns once its agent has its token, environment and
 * clock. -ENOENT: no such template; -EINVAL: bad request; -EAGAIN: over the
 * host's limits (err says which). */
int manager_create(struct manager *m, const struct manager_create *req, struct manager_info *ret,
		   struct cove_err *err);
/* Most children one fork makes (E2B's). */
#define MANAGER_MAX_FORK 100
/* A fork child's life when the request gives none (E2B's). */
#define MANAGER_FORK_DEFAULT_TIMEOUT_S 15
/* One child of a fork: r 0 and its info, or r < 0 and why (err): -EAGAIN
 * over the host's limits, -ESHUTDOWN, or its boot's failure. */
struct manager_fork_child {
	int r;
	struct cove_err err;
	struct manager_info info; /* r == 0: manager_info_clear */
};
/* Makes count new sandboxes from sandbox id (running: saved aside, and it
 * runs on; or paused to disk), into ret[0..count-1]: each carries on from
 * the parent's state (processes, files, environment, egress policy) with an
 * id, token, network slot and disk of its own and its guest's RNG reseeded,
 * and lives timeout_s (0: MANAGER_FORK_DEFAULT_TIMEOUT_S). Each child is
 * admitted and made on its own: some may fail while others run. Returns
 * < 0 only when none was tried: -ENOENT no such sandbox, -EBUSY, -EINVAL,
 * -EOPNOTSUPP the parent was booted without a template snapshot, or the
 * parent's save failing. */
int manager_fork(struct manager *m, const char *id, unsigned count, long timeout_s, struct manager_fork_child *ret,
		 struct cove_err *err);
/* -ENOENT: no such sandbox; -EBUSY: still being created. A pause or resume
 * of it under way is waited for, then it is killed. */
int manager_kill(struct manager *m, const char *id, struct cove_err *err);
/* Pauses the sandbox: saved to disk and its VMM ended (saved_dir), else
 * frozen in memory; the time left stops counting. Without memory (E2B's
 * filesystem-only pause): its disk alone is saved, and the next resume
 * boots it from that (-EOPNOTSUPP for a sandbox booted without a template
 * snapshot: its disk is thrown away). A save that fails leaves it running
 * and says why. -ENOENT: no such sandbox; -EALREADY: already paused;
 * -EBUSY: a pause or resume of it is under way. */
int manager_pause(struct manager *m, const char *id, bool memory, struct cove_err *err);
/* Connect: resumes a paused sandbox (restored from disk in a new VMM, or
 * thawed; its time left counts again) and makes the deadline now +
 * timeout_s if that is later. *resumed says whether it was paused. One
 * paused without its memory is booted from its saved disk (a reboot: its
 * processes are gone, its files, token and environment kept); so is one
 * saved with it when memory is false (its saved RAM is not used;
 * -EOPNOTSUPP for one frozen in memory). A resume that fails leaves it
 * paused, its saved state untouched. -EAGAIN: over the host's limits. */
int manager_resume(struct manager *m, const char *id, long timeout_s, bool memory, bool *resumed,
		   struct cove_err *err);
/* For the envd routing, before it connects: a sandbox paused with its
 * memory and auto_resume is resumed, its deadline now + the timeout it was
 * made with (at least MANAGER_AUTO_RESUME_MIN_S: E2B's rule). Requests that
 * come meanwhile wait for that one resume, as they wait for a pause under
 * way. On envd's port (envd) only a request with the sandbox's access token
 * (token) may wake it; on another port of a private sandbox, only one with
 * its traffic access token (traffic_token; E2B's rule). 0: it runs;
 * -ENOENT: no such sandbox, or it is not running and may not be woken (err
 * says which); -EACCES: private, and traffic_token is not its token; else
 * the resume's failure, and it stays paused. */
int manager_wake(struct manager *m, const char *id, bool envd, const char *token, const char *traffic_token,
		 struct cove_err *err);
/* For the envd routing: what it must know of a sandbox (running or
 * paused) before it relays a request to it: its ingress and traffic access
 * token ("" for a public one), copied. -ENOENT: no such sandbox. */
int manager_ingress(struct manager *m, const char *id, struct manager_ingress *ret, char traffic_token[65],
		    struct cove_err *err);
/* The sandbox's egress policy becomes policy (E2B's updateNetwork): at
 * once for a sandbox that has a network slot (running, or frozen in
 * memory), at its resume for one paused to disk; recorded either way, so
 * forks, snapshots and a restarted coved keep it. -ENOENT: no such
 * sandbox; -EBUSY: being paused, resumed, forked or snapshotted. */
int manager_set_network(struct manager *m, const char *id, const struct net_policy *policy, struct cove_err *err);
/* The deadline becomes now + timeout_s. */
int manager_set_timeout(struct manager *m, const char *id, long timeout_s, struct cove_err *err);
/* The deadline becomes now + duration_s if that is later. */
int manager_refresh(struct manager *m, const char *id, long duration_s, struct cove_err *err);
int manager_get(struct manager *m, const char *id, struct manager_info *ret, struct cove_err *err);
/* How many sandboxes (running, paused or being made) mount the volume;
 * who, if given, gets one of them. */
int manager_volume_users(struct manager *m, const char *volume_id, char who[64]);
/* Opens a TCP connection to port of the sandbox's guest, from inside its
 * slot, for the envd proxy. The socket is registered with the sandbox: when
 * the sandbox ends, it is shut down, so every stream through it ends too.
 * -ENOENT: no such sandbox (or not running); -ECONNREFUSED etc.: the guest's
 * answer. manager_disconnect unregisters it (before the caller closes it). */
int manager_connect(struct manager *m, const char *id, unsigned port, int timeout_ms, int *fd,
		    struct cove_err *err);
/* The most connections to one sandbox's guest at once (manager_connect's
 * -EBUSY past it): each holds a thread and about 150 KiB of coved's (the
 * envd proxy's buffers), and a sandbox's clients should not take every
 * connection coved serves. */
#define MANAGER_MAX_STREAMS 256
void manager_disconnect(struct manager *m, const char *id, int fd);

struct manager_metric {
	int64_t ts_ms;           /* wall clock */
	double cpu_used_pct;     /* of the sandbox's CPUs, from its VMM's cgroup (else the guest's view) */
	unsigned cpu_count;
	uint64_t mem_used, mem_total;   /* the guest's view, bytes */
	uint64_t mem_cache;             /* the guest's page cache, bytes */
	uint64_t disk_used, disk_total; /* the guest's root file system, bytes */
	uint64_t vmm_mem;        /* the VMM's memory on the host (cgroup), bytes */
};
typedef int (*manager_metric_fn)(void *ctx, const struct manager_metric *m);
/* The samples of [start_ms, end_ms] (0: unbounded), oldest first. */
int manager_metrics(struct manager *m, const char *id, int64_t start_ms, int64_t end_ms, manager_metric_fn fn,
		    void *ctx, struct cove_err *err);

struct manager_stats {
	unsigned running, paused, creating;
	unsigned vcpus;          /* of the sandboxes that hold memory (not saved to disk) */
	unsigned booting, max_boots;
	unsigned saved;          /* of the paused: saved to disk */
	unsigned warm;           /* in the warm pool */
	unsigned committed_mib, max_memory_mib, max_sandboxes;
	/* The file system of the sandboxes' disks (bytes): used now, what its
	 * live sandboxes may still write (their disks' size less what they
	 * use), and the limit admission keeps used + growth under. */
	uint64_t disk_used, disk_growth, disk_limit;
	uint64_t created, killed, create_failures;
};
void manager_stats(struct manager *m, struct manager_stats *ret);
/* Calls fn with each template that has warm sandboxes, and how many. */
typedef int (*manager_warm_fn)(void *ctx, const char *template_id, unsigned count);
int manager_each_warm(struct manager *m, manager_warm_fn fn, void *ctx);
/* Calls fn with each running sandbox's info and its latest sample (NULL when none yet). */
typedef int (*manager_latest_fn)(void *ctx, const struct manager_info *info, const struct manager_metric *latest);
int manager_each_latest(struct manager *m, manager_latest_fn fn, void *ctx);

/* Where the sandbox's guest serial console and VMM logs are. */
int manager_log_paths(struct manager *m, const char *id, char console[PATH_MAX], char vmm[PATH_MAX],
		      struct cove_err *err);
/* The templates sandboxes can be made from. */
const char *manager_templates_dir(const struct manager *m);
/* The secrets it was given (manager_config.secrets), or NULL. */
struct secrets *manager_secrets(const struct manager *m);
/* The volumes it was given (manager_config.volumes), or NULL. */
struct volumes *manager_volumes(const struct manager *m);
/* How many sandboxes were created from template name, and when the last
 * was (wall clock ms; 0: never), as the state database counts them. */
int manager_template_spawns(struct manager *m, const char *name, uint64_t *count, int64_t *last_ms,
			    struct cove_err *err);

/* Each sandbox as the catalog sees it (creating ones too), newest first,
 * under the manager's lock: fn must not call the manager. With id, only that
 * one (-ENOENT when there is none). */
typedef int (*manager_record_fn)(void *ctx, const struct manager_record *rec);
int manager_each_record(struct manager *m, const char *id, manager_record_fn fn, void *ctx);

typedef int (*manager_info_fn)(void *ctx, const struct manager_info *info);
/* Every sandbox, newest first. */
int manager_list(struct manager *m, manager_info_fn fn, void *ctx);

/* Snapshots (snapshots.c): a running sandbox's state (RAM, device state,
 * disk) kept on the host's disk, that sandboxes are created from
 * (manager_create with its id or name as template_id) as forks are: each
 * carries on from that state, sharing the snapshot's RAM file until it
 * writes a page. They survive restarts; a deleted one's files go once no
 * sandbox uses them. Names are E2B's (template_ref): one tenant, so no
 * namespace; a name given again moves to the new snapshot. */
struct template_ref;
struct manager_snapshot {
	char id[64];          /* E2B's snapshotID: "NAME:TAG", or "ID:default" for one without a name */
	char name[64];        /* its name as E2B's names list has it ("NAME" or "NAME:TAG"); "": none */
	char sandbox[64];     /* the sandbox it was made from */
	char template_id[64]; /* the template under that */
	int64_t created_ms;   /* wall clock */
	int64_t seq;          /* creation order: listings are newest first */
	uint64_t disk_bytes;  /* on the host's disk (not the disk layer it shares with its template) */
	unsigned vcpus, mem_mib;
	int64_t pause_ms;     /* manager_snapshot_create: how long the sandbox was paused */
};
/* Snapshots sandbox id as it runs now; it is paused only while its state
 * is saved, and runs on. name NULL: without a name. -ENOENT: no such
 * sandbox; -EALREADY: it is paused; -EBUSY: it is being paused, resumed,
 * forked or snapshotted; -EINVAL: the name cannot be used; -EOPNOTSUPP: a
 * sandbox booted without a template snapshot (a throwaway disk). */
int manager_snapshot_create(struct manager *m, const char *id, const struct template_ref *name,
			    struct manager_snapshot *ret, struct cove_err *err);
struct manager_snapshot_filter {
	const char *sandbox;             /* made from it; NULL: any */
	const struct template_ref *name; /* its id or name (without a tag: every tag of the name); NULL: any */
	int64_t before_seq;              /* older than this; 0: from the newest */
};
typedef int (*manager_snapshot_fn)(void *ctx, const struct manager_snapshot *s);
/* The snapshots that match, newest first, until fn returns non-zero
 * (which is returned). Called under the manager's lock: fn must not call
 * the manager. */
int manager_snapshots(struct manager *m, const struct manager_snapshot_filter *f, manager_snapshot_fn fn, void *ctx);
/* Deletes the snapshot of that id or name (its files go once no sandbox
 * uses them). -ENOENT: no such snapshot. */
int manager_snapshot_delete(struct manager *m, const struct template_ref *ref, struct cove_err *err);
/* How many snapshots there are, and what they take on the host's disk. */
void manager_snapshot_stats(struct manager *m, unsigned *count, uint64_t *disk_bytes);

/* Template builds (E2B's build API; the builder is build/runner.h). A
 * build is registered (waiting), triggered with its steps (queued), run by
 * the builder thread, one at a time, its build VM taking a boot turn like
 * any sandbox (building), and ends ready or failed. A ready build's
 * template is TEMPLATES/.builds/ID; its tags name it, and the tag
 * "default" is what the template's name means (TEMPLATES/NAME links to
 * it). A coved restarted mid-build queues the build again (its finished
 * steps come from the cache) and removes what it had half made. */
struct build_create;
struct build_trigger;
struct build_tags_body;
struct files_store;

/* -ENOSYS: coved has no build directory. -EEXIST: name is a template
 * that no build made (a recipe's). */
int manager_build_register(struct manager *m, const struct build_create *req, struct store_build *ret,
			   struct cove_err *err);
/* spec: the trigger's body as sent, kept for a restart. -ENOENT: no such
 * build of template_id; -EINVAL: not waiting, or a COPY's files were not
 * uploaded. */
int manager_build_trigger(struct manager *m, const char *template_id, const char *build_id,
			  const struct build_trigger *t, const char *spec, struct cove_err *err);
int manager_build_get(struct manager *m, const char *template_id, const char *build_id, struct store_build *ret,
		      struct cove_err *err);
/* The build's log from entry offset on, at most limit entries of level
 * min_level or above; *total: how many there are in all. */
struct manager_log_entry {
	int64_t ms;
	int level; /* enum build_log_level */
	char step[16];
	const char *msg;
};
typedef int (*manager_log_fn)(void *ctx, const struct manager_log_entry *e);
int manager_build_logs(struct manager *m, const char *build_id, size_t offset, size_t limit, int min_level,
		       manager_log_fn fn, void *ctx, struct cove_err *err);
/* The uploads' store (NULL without builds) and the token an upload of
 * hash for template_id carries (valid an hour). */
const struct files_store *manager_build_files(struct manager *m);
void manager_upload_token(struct manager *m, const char *template_id, const char *hash, char out[96]);
int manager_upload_token_check(struct manager *m, const char *template_id, const char *hash, const char *token,
			       struct cove_err *err);
/* Whether template_id is a template builds make (registered). */
bool manager_template_is_built(struct manager *m, const char *template_id);
/* POST /templates/tags: the build body->ref names (its tag, else
 * "default") gets body's tags too; its id into build_id. */
int manager_tags_assign(struct manager *m, const struct build_tags_body *body, char build_id[40],
			struct cove_err *err);
int manager_tags_remove(struct manager *m, const struct build_tags_body *body, struct cove_err *err);
int manager_template_tags(struct manager *m, const char *template_id, store_tag_fn fn, void *ctx,
			  struct cove_err *err);
/* Removes a built template: its tags, builds and files. -EBUSY while a
 * sandbox of it exists or it is building. */
int manager_build_template_delete(struct manager *m, const char *template_id, struct cove_err *err);
/* The directory name (under TEMPLATES) of the template a name means: tag
 * "" is the template itself, another its build's .builds/ID. -ENOENT. */
int manager_template_dir(struct manager *m, const char *alias, const char *tag, char dir[PATH_MAX], char name[64],
			 struct cove_err *err);

#endif
