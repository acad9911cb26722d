/* Names of templates and snapshots as E2B's API takes them (see
 * template.h): e2b-dev/infra packages/shared/pkg/id ParseName. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "template/template.h"

/* [a-z0-9_-]+, or with dot also '.'. */
static bool word_ok(const char *s, size_t n, bool dot)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!islower(c) && !isdigit(c) && c != '-' && c != '_' && !(dot && c == '.'))
			return false;
	}
	return true;
}

/* 8-4-4-4-12 hex digits (what Go's uuid.Parse takes in its plain form). */
static bool is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

int template_ref_parse(const char *text, struct template_ref *ret, struct cove_err *err)
{
	const char *in = text ? text : "";
	/* Trimmed; the error names the input as given, at most this long. */
	const char *b = in, *e = in + strlen(in);
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	size_t n = (size_t)(e - b);
	if (n == 0)
		return cove_errf(err, -EINVAL, "invalid name '%.*s': it is empty", TEMPLATE_REF_MAX, in);
	if (n > TEMPLATE_REF_MAX)
		return cove_errf(err, -EINVAL, "invalid name '%.*s...': longer than %d characters", 32, in,
				 TEMPLATE_REF_MAX);
	char low[TEMPLATE_REF_MAX + 1];
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)b[i]);
	low[n] = '\0';
	char *colon = strchr(low, ':');
	const char *tag = colon ? colon + 1 : "";
	if (colon)
		*colon = '\0';
	char *slash = strchr(low, '/');
	const char *alias = slash ? slash + 1 : low;
	if (slash && !word_ok(low, (size_t)(slash - low), false))
		return cove_errf(err, -EINVAL, "invalid name '%.*s': the namespace must be of a-z, 0-9, '_' and '-'", (int)n, b);
	if (!word_ok(alias, strlen(alias), false))
		return cove_errf(err, -EINVAL, "invalid name '%.*s': the name must be of a-z, 0-9, '_' and '-'", (int)n, b);
	if (colon && !word_ok(tag, strlen(tag), true))
		return cove_errf(err, -EINVAL, "invalid name '%.*s': the tag must be of a-z, 0-9, '.', '_' and '-'", (int)n, b);
	if (is_uuid(tag, strlen(tag)))
		return cove_errf(err, -EINVAL, "invalid name '%.*s': a tag cannot be a UUID", (int)n, b);
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->alias, alias, strlen(alias) + 1);
	if (strcmp(tag, "default") != 0)
		memcpy(ret->tag, tag, strlen(tag) + 1);
	return 0;
}
