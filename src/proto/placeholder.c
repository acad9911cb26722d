/* Placeholders in rule header values (see placeholder.h). */
#include <errno.h>
#include <string.h>

#include "proto/placeholder.h"

#define E2B_OPEN "${e2b."

static const char *find(const char *text, size_t len, size_t from, const char *what)
{
	size_t n = strlen(what);
	for (size_t i = from; i + n <= len; i++)
		if (memcmp(text + i, what, n) == 0)
			return text + i;
	return NULL;
}

int placeholder_next(const char *text, size_t len, size_t from, struct placeholder *ret, struct cove_err *err)
{
	const char *open = find(text, len, from, E2B_OPEN);
	if (!open)
		return 0;
	size_t at = (size_t)(open - text), left = len - at;
	size_t plen = strlen(PLACEHOLDER_PREFIX);
	if (left < plen || memcmp(open, PLACEHOLDER_PREFIX, plen) != 0)
		return cove_errf(err, -EINVAL, "unknown placeholder '%.24s...': only ${e2b.secrets.NAME} is known",
				 open);
	const char *name = open + plen;
	size_t n = 0;
	while (plen + n < left && name[n] != '}') {
		unsigned char ch = (unsigned char)name[n];
		if (ch == '{' || ch < 0x20 || ch == 0x7f)
			return cove_errf(err, -EINVAL, "placeholder ${e2b.secrets.NAME}: a name cannot hold '{' or a "
						       "control byte");
		n++;
	}
	if (plen + n >= left)
		return cove_errf(err, -EINVAL, "placeholder ${e2b.secrets.NAME} without its closing '}'");
	if (n == 0 || n > PLACEHOLDER_NAME_MAX)
		return cove_errf(err, -EINVAL, "placeholder ${e2b.secrets.NAME}: a name of 1 to %d bytes",
				 PLACEHOLDER_NAME_MAX);
	*ret = (struct placeholder){ .at = at, .len = plen + n + 1, .name = name, .name_len = n };
	return 1;
}
