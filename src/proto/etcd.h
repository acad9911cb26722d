/* etcd v3's JSON gateway (POST /v3/kv/..., /v3/lease/..., /v3/watch), as
 * plain structs: the request bodies Cove sends and the responses it reads.
 * Pure (no I/O): src/cluster/etcd.c does the HTTP. What etcd 3.4's gateway
 * does that a careless parser trips on (issue 18's design study,
 * multihost.md section 4.8, and the answers captured from etcd 3.4.23 in
 * tests/fuzz/corpus/fuzz_etcd): int64 fields come as strings
 * ("revision":"7"; numbers are accepted too); proto3 leaves out defaults,
 * so a failed txn has no "succeeded", a PUT watch event no "type", an empty
 * range no "kvs" or "count", and the keepalive of an expired or revoked
 * lease no "TTL"; streamed answers (keepalive, watch) are wrapped in
 * {"result":...}; errors are {"error","message","code"} (code: gRPC's). Keys
 * and values are bytes (base64 on the wire) and stay binary-safe here: a
 * length and the bytes, with a NUL after them for convenience. */
#ifndef COVE_PROTO_ETCD_H
#define COVE_PROTO_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The largest response body or watch message read (etcd's own request
 * limit is 1.5 MiB; a range over 100k catalog records is about 100 MiB, which
 * a caller pages with a limit instead). */
#define ETCD_MAX_RESPONSE (64 * 1024 * 1024)

struct etcd_bytes {
	uint8_t *data; /* NUL-terminated after len bytes; NULL when len is 0 */
	size_t len;
};

struct etcd_header {
	uint64_t cluster_id, member_id;
	int64_t revision; /* the store's revision the answer reflects */
	int64_t raft_term;
};

struct etcd_kv {
	struct etcd_bytes key, value;
	int64_t create_revision, mod_revision, version;
	int64_t lease; /* 0: none */
};

enum etcd_op { ETCD_OP_RANGE, ETCD_OP_PUT, ETCD_OP_DELETE };

/* One range, put or delete, alone or as a txn's operation. */
struct etcd_request_op {
	enum etcd_op op;
	const void *key;
	size_t key_len;
	bool prefix;       /* range, delete: every key starting with key (empty: all keys) */
	const void *value; /* put */
	size_t value_len;
	int64_t lease;    /* put: 0 for none */
	int64_t limit;    /* range: 0 for no limit */
	int64_t revision; /* range: read at this revision; 0 for the latest */
	bool prev_kv;     /* put, delete: answer the previous key-values */
};

/* What a range, put or delete answered. */
struct etcd_result {
	enum etcd_op op;
	struct etcd_header header; /* inside a txn: only the revision */
	/* range: the keys found; put: the previous kv (prev_kv asked and the key
	 * existed); delete: the deleted kvs (prev_kv asked) */
	struct etcd_kv *kvs;
	size_t nkvs;
	bool more;     /* range: keys past the limit remain */
	int64_t count; /* range: keys in the range; delete: keys deleted */
};

enum etcd_target { ETCD_CMP_VERSION, ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VALUE, ETCD_CMP_LEASE };
enum etcd_relation { ETCD_EQUAL, ETCD_GREATER, ETCD_LESS, ETCD_NOT_EQUAL };

/* key's target (its version, create_revision, mod_revision, value or
 * lease) relation number (or value). A key that does not exist has
 * create_revision, mod_revision, version and lease 0: CREATE EQUAL 0 is
 * "absent". */
struct etcd_compare {
	enum etcd_target target;
	enum etcd_relation relation;
	const void *key;
	size_t key_len;
	int64_t number;    /* all targets but VALUE */
	const void *value; /* VALUE */
	size_t value_len;
};

struct etcd_txn_request {
	const struct etcd_compare *compare;
	size_t ncompare;
	const struct etcd_request_op *success, *failure;
	size_t nsuccess, nfailure;
};

struct etcd_txn_result {
	struct etcd_header header;
	bool succeeded;                /* absent in a failed txn's JSON */
	struct etcd_result *responses; /* of the branch that ran, in order */
	size_t nresponses;
};

/* A lease/grant, keepalive, timetolive or revoke answer. */
struct etcd_lease {
	struct etcd_header header;
	int64_t id;
	/* seconds left; keepalive: 0 when the lease is gone (the field is
	 * absent); timetolive: -1 when it is gone */
	int64_t ttl;
	int64_t granted_ttl;     /* timetolive */
	struct etcd_bytes *keys; /* timetolive with keys asked */
	size_t nkeys;
};

enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE };

struct etcd_event {
	enum etcd_event_type type; /* PUT when absent */
	struct etcd_kv kv;         /* DELETE: key and mod_revision only */
	bool has_prev_kv;
	struct etcd_kv prev_kv; /* the watch asked for prev_kv */
};

struct etcd_watch_request {
	const void *key;
	size_t key_len;
	bool prefix;
	int64_t start_revision; /* 0: from now on */
	bool prev_kv;
};

/* One message of a watch stream. */
struct etcd_watch_msg {
	struct etcd_header header;
	int64_t watch_id;
	bool created;
	/* the watch ended: compacted past its revision (compact_revision > 0;
	 * list again, then watch from the list's revision + 1) or cancelled */
	bool canceled;
	int64_t compact_revision;
	char cancel_reason[256];
	struct etcd_event *events;
	size_t nevents;
};

/* An etcd error body: {"error":"...","message":"...","code":N}, or a
 * stream's {"error":{"grpc_code":N,"http_code":N,"message":"..."}}. */
struct etcd_error {
	int code; /* gRPC status code: 5 NOT_FOUND, 11 OUT_OF_RANGE (compacted), 14 UNAVAILABLE, ... */
	char message[256];
};

/* Request bodies: malloc'd JSON, NULL when out of memory or a length
 * overflows. The path each op posts to: /v3/kv/range|put|deleterange. */
const char *etcd_op_path(enum etcd_op op);
char *etcd_op_encode(const struct etcd_request_op *op);
char *etcd_txn_encode(const struct etcd_txn_request *txn);
char *etcd_lease_grant_encode(int64_t ttl);
/* revoke and keepalive: {"ID":id}; timetolive: also "keys" */
char *etcd_lease_id_encode(int64_t id, bool keys);
char *etcd_watch_encode(const struct etcd_watch_request *w);
/* /v3/kv/compaction: drop the history before revision. */
char *etcd_compact_encode(int64_t revision);

/* The range_end that makes [key, end) every key with key as prefix: key
 * with its last byte below 0xff incremented and the rest dropped; "\0" (all
 * keys) when there is none. out holds len bytes (1 at least); returns its
 * length. */
size_t etcd_prefix_end(const uint8_t *key, size_t len, uint8_t *out);

/* Response parsers: 0, or a negative errno with err filled: an etcd error
 * body gives etcd_error_errno(code) and etcd's message; anything else that
 * is not the answer expected, -EBADMSG. On success the struct owns what it
 * points to until its clear function; on failure it is left cleared. */
int etcd_result_parse(enum etcd_op op, const char *json, size_t len, struct etcd_result *out, struct cove_err *err);
void etcd_result_clear(struct etcd_result *r);
int etcd_txn_parse(const char *json, size_t len, struct etcd_txn_result *out, struct cove_err *err);
void etcd_txn_result_clear(struct etcd_txn_result *t);
int etcd_lease_parse(const char *json, size_t len, struct etcd_lease *out, struct cove_err *err);
void etcd_lease_clear(struct etcd_lease *l);
int etcd_watch_parse(const char *json, size_t len, struct etcd_watch_msg *out, struct cove_err *err);
void etcd_watch_msg_clear(struct etcd_watch_msg *m);
void etcd_kv_clear(struct etcd_kv *kv);

/* 0 when json is an etcd error body (out filled), else -EINVAL. */
int etcd_error_parse(const char *json, size_t len, struct etcd_error *out);
/* The negative errno for a gRPC code: NOT_FOUND -ENOENT, INVALID_ARGUMENT
 * -EINVAL, OUT_OF_RANGE (compacted) -ERANGE, UNAVAILABLE -EAGAIN, ... */
int etcd_error_errno(int code);

/* A watch stream's messages are one JSON object a line; the last may lack
 * its newline. Data is appended as it arrives, and each complete line taken
 * out in turn. */
struct etcd_lines {
	char *buf;
	size_t len, cap;
	size_t start; /* where the next line begins */
};
/* -ENOMEM, or -EMSGSIZE when a line would pass ETCD_MAX_RESPONSE. */
int etcd_lines_append(struct etcd_lines *l, const void *data, size_t len);
/* The next complete line (without its newline) in *line and *len, valid
 * until the next append; false when none is complete. At the end of the
 * stream, final takes the rest as a line too. */
bool etcd_lines_next(struct etcd_lines *l, bool final, const char **line, size_t *len);
void etcd_lines_clear(struct etcd_lines *l);

#endif
