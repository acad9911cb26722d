/* Jupyter's wire protocol (messaging 5.3, jupyter-client.readthedocs.io
 * "Messaging in Jupyter", "The Wire Protocol"): a message is a ZeroMQ
 * multipart of routing identities, the delimiter "<IDS|MSG>", an HMAC, and
 * four JSON frames (header, parent header, metadata, content), then
 * optional binary buffers. The HMAC is SHA-256 keyed by the connection
 * file's key, over the four JSON frames as sent, in lowercase hex.
 *
 * Parsing is separate from the sockets (a list of frames in, a struct out)
 * so that it can be fuzzed: tests/fuzz/fuzz_jupyter_msg.c. */
#ifndef COVE_INTERPRETER_WIRE_H
#define COVE_INTERPRETER_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define WIRE_DELIMITER "<IDS|MSG>"
#define WIRE_KEY_MAX 64   /* bytes of the HMAC key */
#define WIRE_ID_MAX 64    /* a msg_id or session as Cove makes them, or as a kernel sends them */

struct wire_frame {
	const uint8_t *data;
	size_t len;
};

struct wire_key {
	uint8_t key[WIRE_KEY_MAX];
	size_t len; /* 0: messages are neither signed nor checked */
};

/* A received message, its JSON parts parsed; a stream message's content
 * (a kernel's stdout and stderr, which may be many MiB) is kept as it came
 * instead, for lines_stream to copy without decoding it (raw_streams). */
struct wire_msg {
	json_t *header, *parent, *metadata, *content; /* objects, owned; content NULL when raw */
	char *raw_content;     /* malloc'd, NUL-terminated, or NULL */
	size_t raw_len;
	const char *msg_type;  /* in header */
	const char *parent_id; /* the parent header's msg_id, "" for none */
};

/* Parses frames into msg. -EINVAL (err says why) for: no delimiter, fewer
 * than four JSON frames after the signature, a signature that does not
 * match (when key->len), a part that is not a JSON object, a header
 * without a string msg_type. On failure msg holds nothing. */
int wire_parse(const struct wire_frame *frames, size_t n, const struct wire_key *key, bool raw_streams,
	       struct wire_msg *msg, struct cove_err *err);
void wire_msg_clear(struct wire_msg *msg);

/* A message to send: the five frames after any identities (delimiter,
 * signature, header, parent, metadata, content), each malloc'd. */
struct wire_out {
	char *parts[6];
	size_t lens[6];
	char msg_id[WIRE_ID_MAX + 1];
};

/* Builds a message of msg_type for session with content (borrowed; NULL:
 * {}), a new msg_id, and signs it. -ENOMEM. */
int wire_build(const struct wire_key *key, const char *session, const char *msg_type, json_t *content,
	       struct wire_out *out);
void wire_out_clear(struct wire_out *out);

/* HMAC-SHA256 of parts in lowercase hex (65 bytes with the NUL). */
void wire_sign(const struct wire_key *key, const struct wire_frame parts[4], char hex[65]);

/* A random UUID (version 4), 36 characters and the NUL. */
int wire_uuid(char out[37]);

/* The key from a connection file's "key" (its bytes, as Jupyter uses
 * them: the hex text itself is the key). -EINVAL when too long. */
int wire_key_set(struct wire_key *key, const char *text);

#endif
