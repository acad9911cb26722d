/* For the fuzz targets of query parsers: a query string "name=value&..."
 * split as MHD hands it over (not decoded), and looked up as struct
 * api_query's get does. */
#ifndef COVE_FUZZ_QUERY_ARGS_H
#define COVE_FUZZ_QUERY_ARGS_H

#include <stddef.h>
#include <string.h>

#define MAX_ARGS 16

struct args {
	char *name[MAX_ARGS], *value[MAX_ARGS];
	size_t n;
};

static inline const char *get(void *cls, const char *name)
{
	const struct args *a = cls;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->name[i], name) == 0)
			return a->value[i];
	return NULL;
}

/* Splits text (NUL-terminated, modified) at '&', each at its first '='. */
static inline void split(char *text, struct args *a)
{
	char *save = NULL;
	for (char *p = strtok_r(text, "&", &save); p && a->n < MAX_ARGS; p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');
		a->name[a->n] = p;
		a->value[a->n++] = eq ? (*eq = '\0', eq + 1) : p + strlen(p);
	}
}

#endif
