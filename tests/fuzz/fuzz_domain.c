/* libFuzzer target: egress policies' domain entries (src/proto/domain.h),
 * as an API user gives them. The input is "entry\nname". Beyond not
 * crashing: an accepted entry matches the names it says it matches. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1024)
		return 0;
	char entry[1025], name[1025], below[1030];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	memcpy(entry, data, n);
	entry[n] = '\0';
	size_t m = nl ? size - n - 1 : 0;
	memcpy(name, nl ? nl + 1 : data, m);
	name[m] = '\0';
	(void)domain_is_name(entry);
	(void)domain_match(entry, name);
	struct cove_err err = { 0 };
	if (domain_check(entry, &err) != 0)
		return 0;
	if (strlen(entry) > 254 || !domain_is_name(entry) || domain_match(entry, ""))
		abort();
	if (entry[0] == '*' && entry[1] == '.') {
		/* a name one label below the wildcard's, but never the bare one */
		strcpy(below, "x");
		strcat(below, entry + 1);
		if (!domain_match(entry, below) || domain_match(entry, entry + 2))
			abort();
	} else {
		for (size_t i = 0; entry[i]; i++)
			below[i] = entry[i] >= 'a' && entry[i] <= 'z' ? (char)(entry[i] - 'a' + 'A') : entry[i];
		below[strlen(entry)] = '\0';
		if (!domain_match(entry, entry) || !domain_match(entry, below))
			abort();
	}
	return 0;
}
