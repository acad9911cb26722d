/* JSON strings must be UTF-8; Linux file names and error messages built from
 * them need not be. Where such bytes reach JSON, invalid sequences become
 * U+FFFD (as Go's encoder, and so envd, does) instead of failing the reply. */
#ifndef COVE_PROTO_UTF8_H
#define COVE_PROTO_UTF8_H

#include <jansson.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s starts with an
 * invalid one (overlong forms, surrogates and code points past U+10FFFF are
 * invalid, as in RFC 3629). n: bytes available. */
size_t utf8_sequence_len(const unsigned char *s, size_t n);

/* A JSON string of s, with each invalid byte replaced by U+FFFD. NULL only
 * when out of memory (or s is NULL). */
json_t *json_string_lossy(const char *s);

#endif
