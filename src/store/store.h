/* Durable state: one SQLite database per Cove host (STATE_DIR/cove.db),
 * shared by every Cove process on it. WAL mode, so readers never wait for a
 * writer; every change is written before it is acted on, so a process killed
 * at any point leaves records that say what it was doing.
 *
 * Writers take the database's write lock with store_begin() (BEGIN IMMEDIATE)
 * and hold it across a read-decide-write, which makes the database the lock
 * between processes as well as between threads. */
#ifndef COVE_STORE_H
#define COVE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/env.h"
#include "common/err.h"
#include "common/proc.h"

#define STORE_DEFAULT_STATE_DIR COVE_DEFAULT_STATE_DIR
#define STORE_FILE "cove.db"

struct store;

/* Opens (creating if needed) STATE_DIR/cove.db and brings its schema up to
 * date. state_dir NULL: STORE_DEFAULT_STATE_DIR. */
int store_open(const char *state_dir, struct store **ret, struct cove_err *err);
struct store *store_close(struct store *s);

/* A write transaction: the caller holds it until commit or rollback. */
int store_begin(struct store *s, struct cove_err *err);
int store_commit(struct store *s, struct cove_err *err);
void store_rollback(struct store *s);

/* Small settings (key, value); -ENOENT when key is unset. */
int store_meta_get(struct store *s, const char *key, char *buf, size_t len, struct cove_err *err);
int store_meta_set(struct store *s, const char *key, const char *value, struct cove_err *err);

/* Network slots (net/slots.c): one row per slot that has kernel objects or is
 * about to. */
enum store_slot_state {
	STORE_SLOT_CREATING,   /* kernel objects being made */
	STORE_SLOT_READY,      /* made, in the pool, nobody's */
	STORE_SLOT_USED,       /* held by a sandbox */
	STORE_SLOT_DESTROYING, /* kernel objects being removed */
};

struct store_slot {
	unsigned index;
	enum store_slot_state state;
	char sandbox[64];            /* "" when none */
	struct proc_identity holder; /* the process that made or claimed it; pid 0: none */
	struct proc_identity vmm;    /* the VMM using it; pid 0: none */
	int64_t updated_ms;          /* wall clock, for people */
};

const char *store_slot_state_name(enum store_slot_state state);

/* Inserts or replaces the row of slot->index. */
int store_slot_put(struct store *s, const struct store_slot *slot, struct cove_err *err);
int store_slot_delete(struct store *s, unsigned index, struct cove_err *err);
/* -ENOENT when there is no row. */
int store_slot_get(struct store *s, unsigned index, struct store_slot *ret, struct cove_err *err);
/* The sandbox's slot; a used one first (a released one may still be on its
 * way out under the same id). */
int store_slot_find_sandbox(struct store *s, const char *sandbox, struct store_slot *ret, struct cove_err *err);
/* The ready slot with the lowest index; -ENOENT when the pool is empty. */
int store_slot_first_ready(struct store *s, struct store_slot *ret, struct cove_err *err);
/* The lowest index below limit that has no row; -ENOSPC when all are taken. */
int store_slot_free_index(struct store *s, unsigned limit, unsigned *ret, struct cove_err *err);

/* The slot's egress policy as text (the net module's encoding; "" is the
 * default). Kept across store_slot_put; goes with the row. get: *ret is
 * malloc'd, -ENOENT without a row. */
int store_slot_set_policy(struct store *s, unsigned index, const char *policy, struct cove_err *err);
int store_slot_get_policy(struct store *s, unsigned index, char **ret, struct cove_err *err);

typedef int (*store_slot_fn)(void *ctx, const struct store_slot *slot);
/* Calls fn for every row in index order; a negative return stops and is returned. */
int store_slot_each(struct store *s, store_slot_fn fn, void *ctx, struct cove_err *err);
int store_slot_count(struct store *s, enum store_slot_state state, unsigned *ret, struct cove_err *err);

/* coved's sandboxes, one row each, newest (highest seq) first in listings. */
enum store_sandbox_state {
	STORE_SANDBOX_CREATING,
	STORE_SANDBOX_RUNNING,
	STORE_SANDBOX_PAUSED,
	STORE_SANDBOX_DEAD,
};

/* A sandbox's https_ports text: 64 ports of 5 digits and a comma. */
#define STORE_HTTPS_PORTS_MAX 400

struct store_sandbox {
	char id[64];
	char template_id[64];
	enum store_sandbox_state state;
	char *metadata;              /* JSON object text; owned (store_sandbox_clear) */
	char token[65];              /* the agent's access token */
	unsigned vcpus, mem_mib;
	int64_t started_ms, end_ms;  /* wall clock; end_ms is the deadline */
	struct proc_identity vmm;
	bool auto_pause;
	int64_t seq;                 /* creation order (the creator's choice, e.g. microseconds) */
	int64_t left_ms;             /* while paused: the time that was left */
	/* The egress policy it was created with, as the net module writes it
	 * ("": the default); NULL: not recorded (made by an older Cove).
	 * Owned when read (store_sandbox_clear); copied when written. */
	char *policy;
	/* The lifecycle (schema 6). */
	bool auto_pause_fs_only;     /* with auto_pause: the disk only is kept (E2B's autoPauseMemory false) */
	bool auto_resume;            /* while paused, a request through the envd routing resumes it */
	long timeout_s;              /* the timeout it was made with; 0: not known */
	char *envs;                  /* its environment, as the manager encodes it; owned; NULL: none */
	/* Its ingress (schema 9; E2B's allowPublicTraffic false and
	 * maskRequestHost): the traffic access token the envd routing asks
	 * for ("": public), and the Host its servers see ("": as the routing
	 * sets it). */
	char traffic_token[65];
	char mask_host[256];
	/* Schema 10: E2B's httpsPorts, the ports whose servers the routing
	 * reaches over TLS, as the manager writes them ("8443,9443"; "": none). */
	char https_ports[STORE_HTTPS_PORTS_MAX];
	/* Schema 13: the volumes it mounts, as the manager encodes them;
	 * owned; NULL: none. */
	char *volumes;
};

const char *store_sandbox_state_name(enum store_sandbox_state state);
int store_sandbox_state_parse(const char *s, enum store_sandbox_state *ret);
void store_sandbox_clear(struct store_sandbox *sb);
/* Inserts or replaces the row of sb->id (metadata, policy and envs are copied). */
int store_sandbox_put(struct store *s, const struct store_sandbox *sb, struct cove_err *err);
int store_sandbox_delete(struct store *s, const char *id, struct cove_err *err);
typedef int (*store_sandbox_fn)(void *ctx, const struct store_sandbox *sb);
/* Every row, newest first; sb is valid during the call only. */
int store_sandbox_each(struct store *s, store_sandbox_fn fn, void *ctx, struct cove_err *err);

/* coved's snapshots (snapshots.c): one row each, written 'making' before
 * its files are, so that a coved killed meanwhile leaves a record of what
 * to remove; and which snapshot each sandbox made from one uses. */
enum store_snapshot_state {
	STORE_SNAPSHOT_MAKING,
	STORE_SNAPSHOT_READY,
	STORE_SNAPSHOT_DELETED, /* its files go once no sandbox uses them */
};

struct store_snapshot {
	char id[32];                 /* 20 of [a-z0-9]: its directory */
	char alias[64], tag[64];     /* its name; "" alias: none, "" tag: E2B's default */
	enum store_snapshot_state state;
	char sandbox[64];            /* what it was made from */
	char template_id[64];        /* the template under that sandbox */
	char token[65];              /* the saved agent's access token */
	unsigned vcpus, mem_mib;
	int64_t created_ms;          /* wall clock */
	int64_t seq;                 /* creation order: listings are newest first */
};

const char *store_snapshot_state_name(enum store_snapshot_state state);
/* Inserts or replaces the row of snap->id. At most one ready snapshot has
 * a name (alias and tag): another is -EEXIST. */
int store_snapshot_put(struct store *s, const struct store_snapshot *snap, struct cove_err *err);
int store_snapshot_delete(struct store *s, const char *id, struct cove_err *err);
typedef int (*store_snapshot_fn)(void *ctx, const struct store_snapshot *snap);
/* Every row, newest first. */
int store_snapshot_each(struct store *s, store_snapshot_fn fn, void *ctx, struct cove_err *err);
/* Sandbox sandbox uses snapshot snapshot (its RAM file, its disk layer). */
int store_snapshot_use_put(struct store *s, const char *sandbox, const char *snapshot, struct cove_err *err);
int store_snapshot_use_delete(struct store *s, const char *sandbox, struct cove_err *err);
/* The snapshot sandbox uses, into snapshot (len bytes); -ENOENT: none. */
int store_snapshot_use_get(struct store *s, const char *sandbox, char *snapshot, size_t len, struct cove_err *err);
/* Forgets the uses of sandboxes that have no record. */
int store_snapshot_use_prune(struct store *s, struct cove_err *err);

/* Template builds (E2B's build API): each build of a template, from its
 * registration to its end, with the request that started it (spec, the
 * trigger's JSON) so that a coved restarted meanwhile can run it again;
 * and the tags naming a template's builds ("default": the one its name
 * means). */
enum store_build_state {
	STORE_BUILD_WAITING,  /* registered, not triggered */
	STORE_BUILD_QUEUED,   /* triggered, waiting its turn */
	STORE_BUILD_BUILDING,
	STORE_BUILD_READY,
	STORE_BUILD_FAILED,
};

struct store_build {
	char id[40];          /* a UUID: its directory (TEMPLATES/.build-ID) */
	char template_id[64]; /* the template (its name) */
	char tags[512];       /* the tags it gets when ready, comma-separated */
	enum store_build_state state;
	unsigned vcpus, mem_mib, min_free_mib;
	char reason[1024], reason_step[16]; /* why it failed, at which step */
	int64_t created_ms, started_ms, finished_ms;
	int64_t seq;
};

const char *store_build_state_name(enum store_build_state state);
/* Inserts or replaces the row of b->id (its spec stays). */
int store_build_put(struct store *s, const struct store_build *b, struct cove_err *err);
/* -ENOENT: no such build. */
int store_build_get(struct store *s, const char *id, struct store_build *ret, struct cove_err *err);
int store_build_delete(struct store *s, const char *id, struct cove_err *err);
/* The trigger's JSON (malloc'd into *ret; "" before it). */
int store_build_spec_set(struct store *s, const char *id, const char *spec, struct cove_err *err);
int store_build_spec_get(struct store *s, const char *id, char **ret, struct cove_err *err);
typedef int (*store_build_fn)(void *ctx, const struct store_build *b);
/* Every build (of template, or all when NULL), oldest first. */
int store_build_each(struct store *s, const char *template_id, store_build_fn fn, void *ctx, struct cove_err *err);

struct store_tag {
	char template_id[64], tag[64], build[40];
	int64_t created_ms;
};
/* Points template's tag at build (replacing where it pointed). */
int store_tag_put(struct store *s, const struct store_tag *t, struct cove_err *err);
/* -ENOENT: no such tag. */
int store_tag_get(struct store *s, const char *template_id, const char *tag, struct store_tag *ret, struct cove_err *err);
int store_tag_delete(struct store *s, const char *template_id, const char *tag, struct cove_err *err);
typedef int (*store_tag_fn)(void *ctx, const struct store_tag *t);
/* template's tags (every template's when NULL), by tag. */
int store_tag_each(struct store *s, const char *template_id, store_tag_fn fn, void *ctx, struct cove_err *err);

/* Secrets (src/secrets, E2B's Secret API; secrets.c): a row each, its value
 * sealed by the secrets module (the store sees only the nonce and the
 * ciphertext with its tag), its name unique. */
#define STORE_SECRET_NONCE 12
struct store_secret {
	char id[40];
	char name[128];
	int64_t version;
	char *metadata;              /* JSON object text; owned when read (store_secret_clear) */
	unsigned char nonce[STORE_SECRET_NONCE];
	unsigned char *sealed;       /* ciphertext and tag; owned when read */
	size_t sealed_len;
	int64_t created_ms, updated_ms;
	int64_t seq;                 /* creation order: listings are newest first */
};
void store_secret_clear(struct store_secret *sec);
/* A new row; -EEXIST when its name is taken. */
int store_secret_insert(struct store *s, const struct store_secret *sec, struct cove_err *err);
/* Replaces the version, metadata, nonce, sealed value and updated_ms of
 * the row of sec->id; -ENOENT when there is none. */
int store_secret_replace(struct store *s, const struct store_secret *sec, struct cove_err *err);
/* The row of id, or else of name (either may be NULL); -ENOENT: none. */
int store_secret_get(struct store *s, const char *id, const char *name, struct store_secret *ret,
		     struct cove_err *err);
/* -ENOENT when there is no such row. */
int store_secret_delete(struct store *s, const char *id, struct cove_err *err);
typedef int (*store_secret_fn)(void *ctx, const struct store_secret *sec);
/* At most limit rows made before before_seq (0: any), newest first, without
 * their values (sealed NULL); sec is valid during the call only. */
int store_secret_each(struct store *s, int64_t before_seq, size_t limit, store_secret_fn fn, void *ctx,
		      struct cove_err *err);

/* Volumes (src/volume, E2B's Volume API; volumes.c): a row each, its name
 * unique; the token is the volume content API's credential. */
struct store_volume {
	char id[32];
	char name[64];
	char token[72];
	int64_t created_ms;
};
/* A new row; -EEXIST when its name is taken. */
int store_volume_insert(struct store *s, const struct store_volume *v, struct cove_err *err);
/* -ENOENT: no such row. */
int store_volume_get(struct store *s, const char *id, struct store_volume *ret, struct cove_err *err);
int store_volume_delete(struct store *s, const char *id, struct cove_err *err);
typedef int (*store_volume_fn)(void *ctx, const struct store_volume *v);
/* Every row, oldest first (v valid during the call; the store is busy
 * meanwhile: fn must not call it). */
int store_volume_each(struct store *s, store_volume_fn fn, void *ctx, struct cove_err *err);

#endif
