/* Errors as values: every fallible function in Cove returns 0 or a negative
 * errno and, where a person will read it, fills a struct cove_err with one line
 * that names what failed and on which input. Callers add context on the way up
 * with cove_err_prefix(), so the CLI prints a single line that reads as a chain:
 *   "boot sb-1a2b: qemu: connect QMP socket /run/cove/sb-1a2b/qmp.sock: No such file or directory"
 */
#ifndef COVE_COMMON_ERR_H
#define COVE_COMMON_ERR_H

#include <stddef.h>

#define COVE_ERR_MAX 512

struct cove_err {
	int code;               /* negative errno, 0 when no error was recorded */
	char msg[COVE_ERR_MAX];
};

/* Records code (a negative errno; a positive one is negated) and a message
 * formatted from fmt. Returns the negative code so callers can write
 * `return cove_errf(err, -EINVAL, "...")`. err may be NULL. */
int cove_errf(struct cove_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like cove_errf, and appends ": strerror(code)". */
int cove_errno(struct cove_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the recorded message; returns err->code. */
int cove_err_prefix(struct cove_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cove_err_clear(struct cove_err *err);

#endif
