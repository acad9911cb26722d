#include "interpreter/lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MIME types E2B's results name; the rest go to extra. */
static const struct {
	const char *mime, *field;
} mime_fields[] = {
	{ "text/plain", "text" },	   { "text/html", "html" },	    { "text/markdown", "markdown" },
	{ "image/svg+xml", "svg" },	   { "image/png", "png" },	    { "image/jpeg", "jpeg" },
	{ "application/pdf", "pdf" },	   { "text/latex", "latex" },	    { "application/json", "json" },
	{ "application/javascript", "javascript" }, { "e2b/data", "data" }, { "e2b/chart", "chart" },
};

json_t *lines_result(json_t *bundle, bool is_main)
{
	json_t *res = json_pack("{s:s, s:b}", "type", "result", "is_main_result", is_main), *extra = NULL;
	const char *mime;
	json_t *v;
	json_object_foreach(bundle, mime, v) {
		const char *field = NULL;
		for (size_t i = 0; i < sizeof(mime_fields) / sizeof(mime_fields[0]); i++)
			if (strcmp(mime_fields[i].mime, mime) == 0)
				field = mime_fields[i].field;
		/* A kernel may send text as a list of lines (nbformat's way). */
		json_t *value = v;
		if (json_is_array(v) && json_array_size(v) && json_is_string(json_array_get(v, 0))) {
			size_t i;
			json_t *part;
			char *joined = strdup("");
			json_array_foreach(v, i, part) {
				char *more;
				if (!joined || asprintf(&more, "%s%s", joined, json_string_value(part) ? json_string_value(part) : "") < 0) {
					free(joined);
					joined = NULL;
					break;
				}
				free(joined);
				joined = more;
			}
			value = joined ? json_string(joined) : NULL;
			free(joined);
		} else {
			json_incref(value);
		}
		if (!value)
			continue;
		if (field) {
			json_object_set_new(res, field, value);
		} else {
			if (!extra)
				extra = json_object();
			json_object_set_new(extra, mime, value);
		}
	}
	if (extra)
		json_object_set_new(res, "extra", extra);
	return res;
}

char *lines_traceback(json_t *tb)
{
	size_t i, n = 0;
	json_t *line;
	json_array_foreach(tb, i, line)
		n += json_string_length(line) + 1;
	char *s = malloc(n + 1), *o = s;
	if (!s)
		return NULL;
	json_array_foreach(tb, i, line) {
		if (i)
			*o++ = '\n';
		size_t k = json_string_length(line);
		memcpy(o, json_string_value(line) ? json_string_value(line) : "", k);
		o += k;
	}
	*o = '\0';
	return s;
}

