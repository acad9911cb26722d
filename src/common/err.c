#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int normalise(int code)
{
	return code > 0 ? -code : code;
}

int cove_errf(struct cove_err *err, int code, const char *fmt, ...)
{
	code = normalise(code);
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

int cove_errno(struct cove_err *err, int code, const char *fmt, ...)
{
	code = normalise(code);
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(-code));
	err->code = code;
	return code;
}

int cove_err_prefix(struct cove_err *err, const char *fmt, ...)
{
	if (!err)
		return -EINVAL;
	char prefix[COVE_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	char joined[COVE_ERR_MAX];
	snprintf(joined, sizeof(joined), "%s: %s", prefix, err->msg);
	memcpy(err->msg, joined, sizeof(err->msg));
	return err->code;
}

void cove_err_clear(struct cove_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
