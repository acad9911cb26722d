/* `${e2b.secrets.NAME}` in the header values of a sandbox's network rules
 * (E2B's Secret.fill writes them): found when a policy is set, to check that
 * each secret exists, and by the egress proxy, to fill in the secret's value
 * on the way out so that it never enters the sandbox.
 *
 * Text outside placeholders is literal, and so is `${` not followed by
 * `e2b.` (a value may well hold "${HOME}"). Under `${e2b.` only
 * `${e2b.secrets.NAME}` is known: NAME 1 to PLACEHOLDER_NAME_MAX bytes, none
 * of them '{', '}' or a control byte (E2B's rule for secret names); anything
 * else there (`${e2b.identity.tokens.X}`, a typo, no closing brace) is
 * refused, so that a mistake is an error at create, not text sent upstream. */
#ifndef COVE_PROTO_PLACEHOLDER_H
#define COVE_PROTO_PLACEHOLDER_H

#include <stddef.h>

#include "common/err.h"

#define PLACEHOLDER_NAME_MAX 128
#define PLACEHOLDER_PREFIX "${e2b.secrets."

struct placeholder {
	size_t at, len;   /* where `${...}` is in the text, and its length */
	const char *name; /* NAME, inside the text (not NUL-terminated) */
	size_t name_len;
};

/* The first placeholder in text[from, len): 1 with it in *ret, 0 when there
 * is none, -EINVAL (err says why, quoting at most the placeholder's start)
 * when one under `${e2b.` is malformed or unknown. */
int placeholder_next(const char *text, size_t len, size_t from, struct placeholder *ret, struct cove_err *err);

#endif
