/* The cluster catalog's records as plain values (issue 18; docs: the design
 * study's §4.2): what a host publishes about itself under
 * /cove/v1/hosts/<host> and what the catalog holds about each sandbox under
 * /cove/v1/sb/<id>, with their JSON encoding. Everything read from etcd is
 * hostile until decoded here: decoding is strict and bounded (required fields
 * of the right JSON type, numbers in range, ids and names checked, at most
 * CLUSTER_MAX_TEMPLATES templates and CLUSTER_METADATA_MAX metadata entries,
 * no duplicate keys); a bad record is -EINVAL with a message naming the record
 * and the field. Unknown fields are ignored (a newer Cove may add some), except
 * any whose name holds "token": the catalog never holds tokens (the envd token
 * stays in the owning host's SQLite), so such a record is refused.
 *
 * Encoding checks the struct with the same rules and writes compact JSON with
 * sorted keys, so encode(decode(x)) is canonical and decode(encode(r)) == r.
 * Pure: no I/O, no etcd; the id in a record's key is given to the decoder
 * (records carry no id of their own). */
#ifndef COVE_CLUSTER_RECORDS_H
#define COVE_CLUSTER_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CLUSTER_KEY_PREFIX "/cove/v1/"
#define CLUSTER_HOSTS_PREFIX CLUSTER_KEY_PREFIX "hosts/"
#define CLUSTER_SANDBOXES_PREFIX CLUSTER_KEY_PREFIX "sb/"
/* dead/<host>: {"since": ms}, the janitor declared the host dead (the host
 * clears it when it registers again). */
#define CLUSTER_DEAD_PREFIX CLUSTER_KEY_PREFIX "dead/"
/* The janitor's election: held by one gateway's lease ({"gateway": id}). */
#define CLUSTER_JANITOR_KEY CLUSTER_KEY_PREFIX "janitor"

/* A host id: 1-63 of [A-Za-z0-9._-], starting with a letter or digit (a
 * host name, coved's default, fits). */
#define CLUSTER_HOST_ID_MAX 63
/* A sandbox id: 1-63 of [a-z0-9] (coved makes 20; the bound is its field's). */
#define CLUSTER_SANDBOX_ID_MAX 63
/* A template (or snapshot, "alias:tag") name as coved records it: 1-63 of
 * [a-z0-9._:-], starting with a letter or digit. */
#define CLUSTER_TEMPLATE_NAME_MAX 63
#define CLUSTER_ADDR_MAX 255        /* HOST:PORT, [V6]:PORT */
#define CLUSTER_VERSION_MAX 63      /* visible ASCII */
#define CLUSTER_ACCEL_MAX 15        /* [a-z0-9]: "kvm", "tcg" */
#define CLUSTER_SNAP_KEY_MAX 127    /* visible ASCII */
#define CLUSTER_MAX_TEMPLATES 256
/* Bounds of the numbers (each field's range is in records.c's table). */
#define CLUSTER_MAX_CPUS 4096
#define CLUSTER_MAX_MIB (1u << 24)      /* 16 TiB */
#define CLUSTER_MAX_COUNT (1u << 20)    /* sandboxes, vCPUs, boots, warm */
/* Metadata as coved's create takes it (api/request.h's API_MAX_*), so the
 * catalog refuses nothing a single host accepts. */
#define CLUSTER_METADATA_MAX 64
#define CLUSTER_METADATA_KEY_MAX 256
#define CLUSTER_METADATA_VALUE_MAX 4096
/* The longest record text decoded. A host record of CLUSTER_MAX_TEMPLATES
 * is about 25 KiB; a sandbox record's metadata at most about 280 KiB. */
#define CLUSTER_RECORD_MAX (512 * 1024)

enum cluster_host_state {
	CLUSTER_HOST_READY,
	CLUSTER_HOST_DRAINING, /* no new placements; its sandboxes run out */
};

/* One template (or snapshot) a host can make sandboxes from. */
struct cluster_template {
	char name[CLUSTER_TEMPLATE_NAME_MAX + 1];
	bool snap;     /* a snapshot of it is on the host (restore, not cold boot) */
	unsigned warm; /* ready warm-pool sandboxes of it */
	/* Its sandboxes' size, so placement can book it: optional in the JSON
	 * ("vcpus" 1..CLUSTER_MAX_CPUS, "mem_mib" 1..CLUSTER_MAX_MIB when
	 * given); 0: not published (the gateway assumes the VMM's defaults). */
	unsigned vcpus, mem_mib;
};

/* /cove/v1/hosts/<id>: {addr, state, version, accel, cpus, snap_key,
 * mem_max_mib, mem_committed_mib, vcpus_alloc, cpu_busy_pct, sandboxes,
 * max_sandboxes, boots_inflight, max_boots, templates: {name: {snap, warm,
 * vcpus?, mem_mib?}}, ts}, every field required but a template's sizes. */
struct cluster_host {
	char id[CLUSTER_HOST_ID_MAX + 1]; /* from the key, not the JSON */
	char addr[CLUSTER_ADDR_MAX + 1];  /* where gateways reach its coved */
	enum cluster_host_state state;
	char version[CLUSTER_VERSION_MAX + 1];   /* Cove's version */
	char accel[CLUSTER_ACCEL_MAX + 1];       /* the VMM's accelerator */
	unsigned cpus;                           /* 1..CLUSTER_MAX_CPUS */
	/* Snapshot compatibility (VMM version, accelerator, CPU): a snapshot
	 * restores only on a host of the same key. */
	char snap_key[CLUSTER_SNAP_KEY_MAX + 1];
	unsigned mem_max_mib;       /* 1..CLUSTER_MAX_MIB: what it admits */
	unsigned mem_committed_mib; /* 0..CLUSTER_MAX_MIB, creating ones included */
	unsigned vcpus_alloc;       /* vCPUs of its sandboxes */
	unsigned cpu_busy_pct;      /* 0..100, the whole host */
	unsigned sandboxes, max_sandboxes;
	unsigned boots_inflight, max_boots;
	struct cluster_template *templates; /* owned (cluster_host_clear); sorted by name */
	size_t ntemplates;                  /* at most CLUSTER_MAX_TEMPLATES */
	int64_t ts_ms;                      /* when written, ms since the epoch (the host's clock) */
};

enum cluster_sandbox_state {
	CLUSTER_SANDBOX_CREATING,
	CLUSTER_SANDBOX_RUNNING,
	CLUSTER_SANDBOX_PAUSED,
	CLUSTER_SANDBOX_KILLING, /* a gateway's intent: the host kills it when it can */
};

/* /cove/v1/sb/<id>: {host, epoch, state, template, vcpus, mem_mib, seq,
 * started, end, auto_pause, metadata}; metadata may be absent or null (none).
 * No tokens. */
struct cluster_sandbox {
	char id[CLUSTER_SANDBOX_ID_MAX + 1]; /* from the key, not the JSON */
	char host[CLUSTER_HOST_ID_MAX + 1];  /* the owning host */
	int64_t epoch;                       /* create_revision of its host's key, >= 1 */
	enum cluster_sandbox_state state;
	char template_id[CLUSTER_TEMPLATE_NAME_MAX + 1];
	unsigned vcpus;                      /* 1..CLUSTER_MAX_CPUS */
	unsigned mem_mib;                    /* 1..CLUSTER_MAX_MIB */
	int64_t seq;                         /* creation order (list order), >= 0 */
	int64_t started_ms, end_ms;          /* ms since the epoch; end: its deadline (0: none) */
	bool auto_pause;
	/* Its metadata as compact JSON text with sorted keys (an object of
	 * strings), or NULL for none. Owned (cluster_sandbox_clear). */
	char *metadata;
};

/* Id and name checks (-EINVAL, err naming the value and the rule). */
int cluster_host_id_check(const char *id, struct cove_err *err);
int cluster_sandbox_id_check(const char *id, struct cove_err *err);
int cluster_template_name_check(const char *name, struct cove_err *err);

/* The key of a host's or a sandbox's record into buf (-EINVAL for a bad id). */
int cluster_host_key(const char *id, char *buf, size_t size, struct cove_err *err);
int cluster_sandbox_key(const char *id, char *buf, size_t size, struct cove_err *err);
/* The id in a key as etcd returns it (bytes, len): -EINVAL when the key is
 * not under the prefix or the id is not valid. id gets the id. */
int cluster_key_host_id(const char *key, size_t len, char id[CLUSTER_HOST_ID_MAX + 1], struct cove_err *err);
int cluster_key_sandbox_id(const char *key, size_t len, char id[CLUSTER_SANDBOX_ID_MAX + 1],
			   struct cove_err *err);

const char *cluster_host_state_name(enum cluster_host_state s);
const char *cluster_sandbox_state_name(enum cluster_sandbox_state s);

/* Checks every field by the rules above (what encode and decode apply). */
int cluster_host_check(const struct cluster_host *h, struct cove_err *err);
int cluster_sandbox_check(const struct cluster_sandbox *sb, struct cove_err *err);

/* JSON text (malloc'd, NUL-terminated) into *ret; -EINVAL when the struct
 * does not pass the check, -ENOMEM. */
int cluster_host_encode(const struct cluster_host *h, char **ret, struct cove_err *err);
int cluster_sandbox_encode(const struct cluster_sandbox *sb, char **ret, struct cove_err *err);

/* The record of host id (or sandbox id) from its JSON text. ret is written
 * only on success and then owns its allocations (clear it). */
int cluster_host_decode(const char *id, const char *text, size_t len, struct cluster_host *ret,
			struct cove_err *err);
int cluster_sandbox_decode(const char *id, const char *text, size_t len, struct cluster_sandbox *ret,
			   struct cove_err *err);

/* The template of that name on h, or NULL. */
const struct cluster_template *cluster_host_template(const struct cluster_host *h, const char *name);

/* Field by field (templates in order; metadata as text). */
bool cluster_host_equal(const struct cluster_host *a, const struct cluster_host *b);
bool cluster_sandbox_equal(const struct cluster_sandbox *a, const struct cluster_sandbox *b);

/* Release what a record owns; safe on a zeroed or already cleared one. */
void cluster_host_clear(struct cluster_host *h);
void cluster_sandbox_clear(struct cluster_sandbox *sb);

#endif
