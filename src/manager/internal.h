/* Shared by the files of the manager module only: the manager, its entries
 * and warm sandboxes, and the helpers more than one file calls.
 *
 * One lock, m->lock, guards the list of entries and every field of each
 * entry, the counts (count, committed_mib, booting, last_seq), the warm pool
 * (warm, warming) and stop. What manager_open sets (c, the paths,
 * max_memory_mib, cancel) is read without it; created, killed and
 * create_failures are atomic counters. The threads that take it:
 *   - the HTTP connection threads, calling the manager_* entry points
 *     (create, fork, pause, resume, kill, connect, get, list, ...);
 *   - the reaper (reaper.c), asleep on `wake` until the next deadline,
 *     then killing or auto-pausing the sandbox that is due;
 *   - the metrics sampler (sampler.c), every MANAGER_METRICS_INTERVAL_MS,
 *     which also ends sandboxes whose VMM died and sweeps empty cgroups;
 *   - the warmer (pool.c), with a warm pool, asleep on `warm_wake`;
 *   - a fork's child threads (fork.c), one a child, while they boot.
 * The long waits (a boot, a save to disk or a restore, a request to a
 * guest, a walk of a directory) are made without it: the caller lets it go,
 * and meanwhile the entry is either still creating (nobody else touches its
 * sandbox) or busy (nobody kills, pauses, resumes or forks it; a kill and
 * the envd routing's wake wait on `settled` for it to be done, so busy goes
 * false only under the lock, once the entry is whole). Short ones
 * stay under it: a record's write, a pause or resume in memory. Boots wait
 * their turn on `boot_done` (admission.c).
 *
 * The helpers below are named by what they act on (entry_, saved_, run_,
 * warm_, boot_), so that none is a bare word in the library's symbols. */
#ifndef COVE_MANAGER_INTERNAL_H
#define COVE_MANAGER_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "manager/manager.h"

struct sandbox;
struct sandbox_config;
struct template;
struct template_ref;

struct entry {
	struct entry *next;
	char id[64];
	char template_id[64];
	char token[65];
	enum store_sandbox_state state;
	char *metadata;
	int64_t started_ms, end_ms, seq;
	int64_t left_ms;    /* while paused: the time that was left */
	bool auto_pause;
	/* The egress policy it was created with: its text as recorded (NULL:
	 * not known, an older record; its slots get a closed policy, as before
	 * Cove kept it), and decoded, what its slots get on a resume or fork. */
	char *policy_text;
	struct net_policy_copy policy;
	unsigned disk_size_mib; /* the template image's size */
	bool auto_pause_fs_only; /* the auto-pause keeps the disk alone */
	bool auto_resume;   /* paused with its memory: the envd routing resumes it */
	long timeout_s;     /* as made: what an auto-resume gives it; 0: not known */
	char *envs;         /* its /init environment, envs_encode's text; NULL: none */
	struct manager_ingress ingress; /* who reaches its servers through the routing */
	char traffic_token[65]; /* ingress.private_traffic: its traffic access token; else "" */
	/* The volumes it mounts (volumes.c): their record's text (NULL: none),
	 * and decoded, pointing into volumes_json. */
	char *volumes_text;
	struct sandbox_volume *volumes;
	size_t nvolumes;
	struct json_t *volumes_json;
	/* The snapshot it was created from (or forked from one that was):
	 * its RAM and disk are over that snapshot's files, and its template
	 * is the snapshot's; "" for none. */
	char snapshot[32];
	bool saved;         /* paused to disk: no VMM, memory or slot (sb NULL) */
	bool disk_only;     /* saved: its disk alone; the next resume boots it */
	bool busy;          /* a pause or resume is under way outside the lock */
	uint64_t disk_bytes; /* on the host's disk (run_usage, saved_usage): kept, not read per request */
	unsigned vcpus, mem_mib;
	struct sandbox *sb; /* NULL while creating, and while saved */
	int *streams;       /* sockets the proxy has open to the guest */
	size_t nstreams, streams_cap;
	struct manager_metric samples[MANAGER_METRICS_KEEP]; /* a ring */
	size_t first_sample, nsamples;
	uint64_t last_cpu_usec;
	int64_t last_cpu_us; /* monotonic, of last_cpu_usec */
};

/* A snapshot (snapshots.c, snaplist.c): its record, and who holds it.
 * Its files are in snapshots_dir/ID while it is recorded. */
struct snap {
	struct snap *next;
	struct store_snapshot rec;
	unsigned pins;       /* creates from it under way */
	uint64_t disk_bytes; /* measured once it is made */
};

/* A warm sandbox: restored from its template's snapshot and paused, its id
 * chosen already, waiting for a create to claim it. */
struct warm {
	struct warm *next;
	char id[64];
	char template_id[64];
	struct sandbox *sb;
};

struct manager {
	struct manager_config c;
	char templates_dir[PATH_MAX];
	char saved_dir[PATH_MAX];
	char snapshots_dir[PATH_MAX]; /* "": no snapshots */
	char kernel[PATH_MAX];
	unsigned max_memory_mib;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;  /* the reaper's: a deadline changed, or stop */
	pthread_cond_t sample_wake; /* the sampler's (CLOCK_MONOTONIC): stop */
	pthread_cond_t boot_done; /* a boot ended: another may start */
	pthread_cond_t settled; /* an entry stopped being busy (entry_settle) */
	unsigned booting;     /* boots under way (at most c.max_boots) */
	struct entry *list;   /* newest first: seq descending */
	int64_t last_seq;     /* the highest seq handed out or adopted */
	unsigned count;
	unsigned committed_mib;
	bool stop;
	int cancel[2];        /* readable once stopping: creates in flight give up */
	pthread_t reaper;
	bool reaper_running;
	pthread_t sampler;
	bool sampler_running;
	struct snap *snaps;   /* every snapshot recorded, newest first */
	int64_t snap_seq;     /* the highest snapshot seq handed out */
	struct warm *warm;    /* the warm pool: ready to claim */
	unsigned warming;     /* being prepared */
	pthread_cond_t warm_wake; /* the warmer's: one was claimed, or stop */
	pthread_t warmer;
	bool warmer_running;
	uint64_t created, killed, create_failures;
	/* Builds (builds.c, builder.c, buildlog.c); build_dir "": none. */
	char build_dir[PATH_MAX];
	char busybox[PATH_MAX];
	char guest_bin[PATH_MAX];
	char insecure[1024];       /* "HOST:PORT,..." */
	struct files_store *files;
	char build_secret[65];
	pthread_cond_t build_wake; /* the builder's: a build was queued, or stop */
	pthread_t builder;
	bool builder_running;
	char building[40];         /* the build running now, "" none */
	struct build_log *logs;    /* logs in memory, most recently used first */
	/* Ended sandboxes whose record or slot is still to be removed. */
	char (*unrecorded)[64];
	size_t nunrecorded, unrecorded_cap;
};

static inline int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* registry.c: entries, their records, and what they hold on disk. Unless
 * said otherwise, under the lock (or on an entry nobody else reaches). */
int new_sandbox_id(char *id, size_t len);
void saved_path(const struct manager *m, const char *id, char path[PATH_MAX]);
int entry_info(const struct entry *e, struct manager_info *info);
struct entry *entry_new(const char *metadata);
struct entry *entry_of(const struct store_sandbox *rec, struct cove_err *err);
void entry_free(struct entry *e);
/* Writes e's record in state: first to the cluster's catalog (if any),
 * then to the state database. */
int entry_record(struct manager *m, const struct entry *e, enum store_sandbox_state state, struct cove_err *err);
/* e as the catalog sees it (borrowing e's strings). */
void entry_catalog_record(const struct entry *e, enum store_sandbox_state state, struct manager_record *rec);
/* The catalog's admit (0 without one): op is "create", "fork", "resume". */
int entry_catalog_admit(struct manager *m, const char *op, struct cove_err *err);
struct entry *entry_find(struct manager *m, const char *id);
/* entry_find for the API's entry points: NULL, with -ENOENT "sandbox 'ID'
 * not found" in err, for one that does not exist or is still being
 * created (its sandbox is its creator's alone). Under the lock. */
struct entry *entry_find_visible(struct manager *m, const char *id, struct cove_err *err);
/* A timeout a request gave, in seconds: 0 up to the longest a sandbox may
 * live on this host (max_timeout_s), else -EINVAL saying so (lowest: the
 * least the caller means, 0 or 1, as the message names it). */
int timeout_check(const struct manager *m, long seconds, int lowest, struct cove_err *err);
/* e's policy becomes text's (copied; NULL: not known). -ENOMEM, or -EINVAL
 * for text that is no policy. */
int entry_set_policy(struct entry *e, const char *text);
/* --- volumes.c --- */
/* Its volumes from their recorded text (NULL or "": none); -EINVAL when
 * it is not one volumes.c wrote. */
int entry_set_volumes(struct entry *e, const char *text);
void entry_volumes_free(struct entry *e);
/* A create's volumeMounts resolved to volumes (by name) and set. */
int entry_resolve_volumes(struct manager *m, struct entry *e, const struct manager_create *req, struct cove_err *err);
/* info->volume_mounts from e's volumes. */
int entry_volumes_info(const struct entry *e, struct manager_info *info);
/* e's ingress becomes in's, with a new traffic access token when it is
 * private (none when not). -errno when getrandom fails. */
int entry_set_ingress(struct entry *e, const struct manager_ingress *in);
/* The state database's key for how many sandboxes were made of template
 * name ("COUNT LAST_MS"). */
void template_spawns_key(const char *name, char key[128]);
void entry_unlink(struct manager *m, struct entry *e);
uint64_t run_usage(const struct manager *m, const char *id);
uint64_t saved_usage(const struct manager *m, const char *id);
void saved_remove(struct manager *m, const char *id);
void entry_teardown(struct manager *m, struct entry *e, const char *why);
void entry_destroy(struct manager *m, struct entry *e, const char *why);
/* A sandbox ended while its records could not be written (the state's file
 * system full) keeps its record and its slot (release records first) until
 * entry_forget_unrecorded, on each sampler round, removes them once writes
 * work again. Under the lock; it is let go while each is tried. */
void entry_forget_unrecorded(struct manager *m);
void entry_sandbox_config(const struct manager *m, const struct entry *e, const struct template *tpl,
			  struct sandbox_config *sc);
/* e is no longer busy: those waiting on `settled` look again. */
void entry_settle(struct manager *m, struct entry *e);
/* Whether e's disk can be saved alone (a filesystem-only pause): it runs
 * over a disk of its own (a template snapshot's), and there is saved_dir. */
bool entry_disk_savable(const struct manager *m, const struct entry *e);
/* A sandbox's environment ("KEY=VALUE", NULL-terminated) as text for its
 * record (a JSON array; *ret NULL for none) and back (*ret NULL for none;
 * envs_free frees it). -ENOMEM, or -EINVAL for text that is not such. */
int envs_encode(const char *const *envs, char **ret);
int envs_decode(const char *text, char ***ret);
char **envs_free(char **envs);

/* admission.c: a place in the list, and a turn to boot. */
int entry_admit(struct manager *m, struct entry *e, struct cove_err *err);
/* Under the lock: the disk's figures (manager_stats), and whether e's disk
 * fits (-EAGAIN saying why when not). */
void disk_figures(struct manager *m, uint64_t *used, uint64_t *growth, uint64_t *limit);
int disk_admit(struct manager *m, const struct entry *e, struct cove_err *err);
int boot_begin(struct manager *m, struct cove_err *err);
void boot_end(struct manager *m);

/* pool.c: the warm pool and its thread. */
struct warm *warm_take(struct manager *m, const char *name);
void warm_put_back(struct manager *m, struct warm *w);
void warm_free(struct manager *m, struct warm *w);
void *warmer_main(void *arg);

/* create.c, for forks too. */
int entry_go_live(struct manager *m, struct entry *e, long timeout_s, struct manager_info *ret, struct cove_err *err);
void entry_abandon(struct manager *m, struct entry *e, const char *op, const struct cove_err *err);

/* lifecycle.c, for the reaper: pauses e (running, not busy) with its
 * memory or its disk alone, under the lock. */
int entry_pause_locked(struct manager *m, struct entry *e, bool memory, bool *ended, struct cove_err *err);

/* reaper.c, for the sampler's rounds: ends each sandbox whose VMM exited
 * on its own (killed, crashed), so that none is listed that cannot answer.
 * Under the lock; it is let go while each is torn down. */
void reaper_end_dead(struct manager *m);

/* The other threads. */
void *reaper_main(void *arg);
void *sampler_main(void *arg);

/* snaplist.c: the snapshots' records and files, and what uses them. Under
 * the lock unless said otherwise. */
void snap_path(const struct manager *m, const char *id, char path[PATH_MAX]);
/* What the snapshot in dir takes on the host's disk: all but the disk
 * layer it shares with its template (counted when nothing else has it). */
uint64_t snap_usage(const char *dir);
/* E2B's snapshotID of rec, and its name as E2B's names list has it ("": none). */
void snap_names(const struct store_snapshot *rec, char id[64], char name[64]);
/* Whether rec is the snapshot ref names (any_tag: a ref without a tag
 * names every tag of its name). */
bool snap_matches(const struct store_snapshot *rec, const struct template_ref *ref, bool any_tag);
struct snap *snap_find(struct manager *m, const struct template_ref *ref);
struct snap *snap_by_id(struct manager *m, const char *id);
/* Without the lock: a snapshot's files (and a save of it cut short), then
 * its record. */
void snap_remove(struct manager *m, const char *id, const char *why);
/* Deleted snapshots no sandbox or create uses any more: out of the list,
 * then (without the lock, which it takes) their files and records. */
void snap_collect(struct manager *m);
/* A create from a snapshot: what it needs of it, held (pinned) meanwhile. */
struct snap_pin {
	char snapshot[32];      /* "": not a snapshot */
	char id[64];            /* E2B's snapshotID: the new sandbox's template_id */
	char template_id[64];   /* the template under it */
	char token[65];
	char dir[PATH_MAX];
	unsigned vcpus, mem_mib;
};
/* Without the lock: 1 and *ret pinned when name is a ready snapshot's id
 * or name, else 0. */
int snap_pin(struct manager *m, const char *name, struct snap_pin *ret);
void snap_unpin(struct manager *m, struct snap_pin *p);
/* In a snapshot's directory: the environment its guest was given. */
#define SNAP_ENVS_FILE "envs"
/* Without the lock: the environment of a sandbox made from snapshot p with
 * the create's add ("KEY=VALUE", NULL-terminated, or NULL) on top (a name
 * given again takes add's value), as envs_encode's text into *ret (NULL:
 * none). A snapshot made before Cove kept it counts as none. */
int snap_envs(const struct snap_pin *p, const char *const *add, char **ret);
/* In a snapshot's directory: the volumes its guest mounts (volumes.c's
 * record text); absent for none. */
#define SNAP_VOLUMES_FILE "volumes"
/* Without the lock: that text into *ret (NULL: none). */
int snap_volumes(const struct snap_pin *p, char **ret);
/* Without the lock: the template of e (its own, or its snapshot's; then
 * tpl->snapshot is the snapshot's directory, whose files e's are over). */
int entry_template_load(struct manager *m, const struct entry *e, struct template *tpl, struct cove_err *err);
/* Without the lock: the record that e uses its snapshot (if it has one),
 * written before its own; and, when it ends, forgotten. */
int entry_use_snapshot(struct manager *m, const struct entry *e, struct cove_err *err);
/* On recovery: which snapshot (if any) e was made from, as recorded. */
int entry_snapshot_of(struct manager *m, struct entry *e, struct cove_err *err);
void entry_release_snapshot(struct manager *m, const struct entry *e);
/* On opening, without the lock: the records (half-made snapshots go),
 * before the sandboxes are recovered; then what no record names, uses of
 * sandboxes that are gone, and deleted snapshots nobody uses. */
int snap_open(struct manager *m, struct cove_err *err);
void snap_sweep(struct manager *m);
void snap_free_all(struct manager *m);

/* builds.c, builder.c, buildlog.c: template builds. */
#define BUILDS_SUBDIR ".builds"
/* On opening (before the threads): the build directory, the uploads'
 * store; builds cut short queued again, what they left removed; the
 * builder thread started. */
int builds_open(struct manager *m, struct cove_err *err);
void builds_close(struct manager *m);
void *builder_main(void *arg);
/* TEMPLATES/.builds/ID. */
void build_path(const struct manager *m, const char *id, char path[PATH_MAX]);
/* Appends a line to a build's log (memory and LOGS/ID.jsonl); takes the
 * lock. */
void build_log_add(struct manager *m, const char *id, int level, const char *step, const char *msg);
/* Under the lock: forgets the logs in memory of builds beyond the last
 * few; without: removes a build's log file. */
void build_logs_trim(struct manager *m);
void build_log_remove(struct manager *m, const char *id);
void build_logs_free(struct manager *m);
/* Under the lock: TEMPLATES/template_id becomes a link to build's
 * directory, swapped whole. */
int builds_link_default(struct manager *m, const char *template_id, const char *build, struct cove_err *err);

/* recover.c: what an earlier coved left, on opening. */
int recover_one(void *ctx, const struct store_sandbox *rec);
void forget_unrecorded(struct manager *m);

#endif
