/* Standard base64 (RFC 4648 section 4, with padding), as proto3 JSON encodes
 * `bytes` fields. The decoder also accepts unpadded input and the URL-safe
 * alphabet, as protobuf's JSON parsers do. */
#ifndef COVE_PROTO_BASE64_H
#define COVE_PROTO_BASE64_H

#include <stddef.h>
#include <stdint.h>

size_t base64_encoded_len(size_t len);
/* out must hold base64_encoded_len(len) + 1 bytes; it is NUL-terminated. */
void base64_encode(const uint8_t *in, size_t len, char *out);
/* out must hold len * 3 / 4 + 3 bytes. Returns the decoded length or -EINVAL. */
long base64_decode(const char *in, size_t len, uint8_t *out);

#endif
