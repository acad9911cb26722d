/* Connect protocol stream envelopes (connectrpc.com/docs/protocol, "Streaming
 * RPCs"): 1 flag byte, a 4-byte big-endian length, then the message. Flag
 * 0x02 marks the end-of-stream message; 0x01 (compressed) is refused, as E2B's
 * SDK never sends it. Used as-is by E2B's envd for process and watch streams,
 * and by Cove's agent transport (docs/agent-protocol.md).
 *
 * The decoder is incremental: feed it bytes as they arrive, take complete
 * envelopes out. It never trusts a length beyond its limit. */
#ifndef COVE_PROTO_ENVELOPE_H
#define COVE_PROTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_FLAG_COMPRESSED 0x01
#define ENVELOPE_FLAG_END 0x02
#define ENVELOPE_HEADER_SIZE 5
/* Largest message either side accepts: a 4 MiB data chunk in base64 JSON
 * stays far below it. */
#define ENVELOPE_MAX_MESSAGE (16u * 1024 * 1024)

void envelope_header_encode(uint8_t flags, uint32_t len, uint8_t out[ENVELOPE_HEADER_SIZE]);
/* -EMSGSIZE over max, -EPROTO for compressed or unknown flags. */
int envelope_header_decode(const uint8_t in[ENVELOPE_HEADER_SIZE], size_t max, uint8_t *flags, uint32_t *len);

/* Feed at most this much between calls to envelope_decoder_next. */
#define ENVELOPE_FEED_MAX (64u * 1024)

struct envelope_decoder {
	size_t max; /* largest message accepted */
	uint8_t *buf;
	size_t off, len, cap; /* consumed, buffered, allocated */
};

struct envelope {
	uint8_t flags;
	const uint8_t *data; /* valid until the next decoder call */
	uint32_t len;
};

void envelope_decoder_init(struct envelope_decoder *d, size_t max);
void envelope_decoder_free(struct envelope_decoder *d);
int envelope_decoder_feed(struct envelope_decoder *d, const void *data, size_t len);
/* 1 with *out filled when a whole envelope is buffered, 0 when more bytes are
 * needed, negative errno on a malformed header. */
int envelope_decoder_next(struct envelope_decoder *d, struct envelope *out);

/* Writes one envelope to a socket (MSG_NOSIGNAL: a gone peer is -EPIPE). */
int envelope_send(int fd, uint8_t flags, const void *data, size_t len);

#endif
