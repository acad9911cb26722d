/* Domain entries of egress policies: their check and their matching (what
 * E2B does and where Cove is stricter: domain.h). */
#include "proto/domain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define LABEL_MAX 63
#define QUOTE_MAX 80 /* of the text quoted in an error */

bool domain_is_name(const char *text)
{
	if (!text || !*text)
		return true; /* domain_check says what is wrong with it */
	const char *ipv4 = "0123456789./";
	if (text[strspn(text, ipv4)] == '\0')
		return false;
	return !strchr(text, ':') || text[strspn(text, "0123456789abcdefABCDEF:./")] != '\0';
}

/* The length of s without one trailing dot. */
static size_t trimmed_len(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* What is wrong with the label s[0..n), or NULL. */
static const char *label_problem(const char *s, size_t n)
{
	if (n == 0)
		return "has an empty label";
	if (n > LABEL_MAX)
		return "has a label longer than 63 characters";
	if (memchr(s, '*', n))
		return "has '*' other than as the whole first label (*.example.com)";
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return "has a character outside [A-Za-z0-9-] in a label";
	if (s[0] == '-' || s[n - 1] == '-')
		return "has a label starting or ending with '-'";
	return NULL;
}

/* What is wrong with the host name s[0..n) (no wildcard), or NULL. */
static const char *name_problem(const char *s, size_t n)
{
	size_t start = 0, last = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		const char *bad = label_problem(s + start, i - start);
		if (bad)
			return bad;
		last = start;
		start = i + 1;
	}
	if (strspn(s + last, "0123456789") >= n - last)
		return "has an all-digit last label (an IP address is not a domain)";
	char copy[DOMAIN_MAX + 1];
	struct in_addr a;
	memcpy(copy, s, n);
	copy[n] = '\0';
	if (inet_aton(copy, &a))
		return "is an IP address in another notation, not a domain";
	return NULL;
}

int domain_check(const char *text, struct cove_err *err)
{
	const char *bad = NULL;
	size_t n = text ? trimmed_len(text) : 0;
	if (!text || !*text)
		bad = "is empty";
	else if (!domain_is_name(text))
		bad = "is an IP address or CIDR, not a domain";
	else if (n > DOMAIN_MAX)
		bad = "is longer than 253 characters";
	else if (strcmp(text, "*") == 0)
		return 0; /* every name */
	else if (text[0] == '*' && text[1] == '.')
		bad = n <= 2 ? "is a wildcard of nothing" : name_problem(text + 2, n - 2);
	else
		bad = name_problem(text, n);
	if (!bad)
		return 0;
	if (text && strlen(text) > QUOTE_MAX)
		return cove_errf(err, -EINVAL, "domain '%.*s...' %s", QUOTE_MAX, text, bad);
	return cove_errf(err, -EINVAL, "domain '%s' %s", text ? text : "", bad);
}

bool domain_match(const char *entry, const char *name)
{
	size_t e = trimmed_len(entry), n = trimmed_len(name);
	if (e == 0 || n == 0)
		return false;
	if (e == 1 && entry[0] == '*')
		return true;
	if (e >= 2 && entry[0] == '*' && entry[1] == '.') {
		/* ".x.y" ends the name, after at least one byte of a label */
		size_t suffix = e - 1;
		return n > suffix && strncasecmp(name + n - suffix, entry + 1, suffix) == 0;
	}
	return e == n && strncasecmp(entry, name, n) == 0;
}
