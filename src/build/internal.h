/* What the files of src/build/ share and nobody else uses. */
#ifndef COVE_BUILD_INTERNAL_H
#define COVE_BUILD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* s is BUILD_HASH_HEX lower-case hex digits (E2B's ^[0-9a-f]{64}$). */
bool build_hash_ok(const char *s);

/* A user name as useradd takes it by default: [a-z_][a-z0-9_-]*, at most
 * BUILD_USER_MAX, optionally ending in '$'. */
bool build_user_ok(const char *s);

/* p does not start with '/' and has no ".." component. */
bool build_relative_ok(const char *p);

/* n bytes as 2n lower-case hex digits and a NUL. */
void build_hex(const uint8_t *d, size_t n, char *out);

#endif
