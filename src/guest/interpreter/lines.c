#include "interpreter/lines.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"

/* MIME types E2B's results name; the rest go to extra. */
static const struct {
	const char *mime, *field;
} mime_fields[] = {
	{ "text/plain", "text" },	   { "text/html", "html" },	    { "text/markdown", "markdown" },
	{ "image/svg+xml", "svg" },	   { "image/png", "png" },	    { "image/jpeg", "jpeg" },
	{ "application/pdf", "pdf" },	   { "text/latex", "latex" },	    { "application/json", "json" },
	{ "application/javascript", "javascript" }, { "e2b/data", "data" }, { "e2b/chart", "chart" },
};

/* The strings of array joined by sep (what is not a string counts as
 * empty); malloc'd, NULL when out of memory. */
static char *join(json_t *array, const char *sep)
{
	size_t i, n = 0, seplen = strlen(sep);
	json_t *part;
	json_array_foreach(array, i, part)
		n += json_string_length(part) + seplen;
	char *s = malloc(n + 1), *o = s;
	if (!s)
		return NULL;
	json_array_foreach(array, i, part) {
		if (i) {
			memcpy(o, sep, seplen);
			o += seplen;
		}
		size_t k = json_string_length(part);
		memcpy(o, json_string_value(part) ? json_string_value(part) : "", k);
		o += k;
	}
	*o = '\0';
	return s;
}

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
			char *joined = join(v, "");
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
	return join(tb, "\n");
}

/* Does the 8-byte word hold a byte that ends a plain run in a JSON
 * string: '"', '\\', a control byte (< 0x20) or a non-ASCII one (>= 0x80)?
 * (The classic SWAR tests: a zero byte of x ^ c is a byte equal to c.) */
static inline bool special_in(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\');
	uint64_t zero_quote = (quote - ones) & ~quote, zero_slash = (slash - ones) & ~slash;
	uint64_t control = (x - ones * 0x20) & ~x; /* high bit set where a byte < 0x20 (or >= 0x80) */
	return ((zero_quote | zero_slash | control) & highs) || (x & highs);
}

/* The length of the JSON string token at s (s[0] == '"'), quotes
 * included, when it is valid JSON of valid UTF-8; else 0. A kernel's
 * stdout is mostly plain ASCII: it is skipped 8 bytes at a time. */
static size_t string_token(const char *s, size_t n)
{
	if (!n || s[0] != '"')
		return 0;
	size_t i = 1;
	while (i < n) {
		while (i + 8 <= n) {
			uint64_t x;
			memcpy(&x, s + i, 8);
			if (special_in(x))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return i + 1;
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (i + 1 >= n)
				return 0;
			char e = s[i + 1];
			if (e == 'u') {
				if (i + 6 > n)
					return 0;
				for (size_t k = i + 2; k < i + 6; k++)
					if (!isxdigit((unsigned char)s[k]))
						return 0;
				i += 6;
			} else if (e && strchr("\"\\/bfnrt", e)) {
				i += 2;
			} else {
				return 0;
			}
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t l = utf8_sequence_len((const unsigned char *)s + i, n - i);
		if (!l)
			return 0;
		i += l;
	}
	return 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Past one JSON value at s[i] (checked loosely: only strings must be
 * tokens; the value is dropped), or 0. */
static size_t skip_value(const char *s, size_t n, size_t i, int depth)
{
	if (i >= n || depth > 64)
		return 0;
	if (s[i] == '"') {
		size_t l = string_token(s + i, n - i);
		return l ? i + l : 0;
	}
	if (s[i] == '{' || s[i] == '[') {
		char close = s[i] == '{' ? '}' : ']';
		i = skip_ws(s, n, i + 1);
		if (i < n && s[i] == close)
			return i + 1;
		for (;;) {
			if (close == '}') {
				size_t l = string_token(s + i, n - i);
				if (!l)
					return 0;
				i = skip_ws(s, n, i + l);
				if (i >= n || s[i] != ':')
					return 0;
				i = skip_ws(s, n, i + 1);
			}
			if (!(i = skip_value(s, n, i, depth + 1)))
				return 0;
			i = skip_ws(s, n, i);
			if (i < n && s[i] == close)
				return i + 1;
			if (i >= n || s[i] != ',')
				return 0;
			i = skip_ws(s, n, i + 1);
		}
	}
	size_t start = i;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.'))
		i++;
	return i > start ? i : 0;
}

int lines_stream(const char *s, size_t n, bool *is_stderr, const char **text, size_t *text_len)
{
	bool have_name = false, have_text = false;
	size_t i = skip_ws(s, n, 0);
	if (i >= n || s[i] != '{')
		return -EINVAL;
	i = skip_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		return -EINVAL;
	for (;;) {
		size_t kl = string_token(s + i, n - i);
		if (!kl)
			return -EINVAL;
		const char *key = s + i;
		i = skip_ws(s, n, i + kl);
		if (i >= n || s[i] != ':')
			return -EINVAL;
		i = skip_ws(s, n, i + 1);
		size_t vl = i < n && s[i] == '"' ? string_token(s + i, n - i) : 0;
		if (kl == 6 && memcmp(key, "\"name\"", 6) == 0) {
			if (vl == 8 && memcmp(s + i, "\"stdout\"", 8) == 0)
				*is_stderr = false;
			else if (vl == 8 && memcmp(s + i, "\"stderr\"", 8) == 0)
				*is_stderr = true;
			else
				return -EINVAL;
			have_name = true;
			i += vl;
		} else if (kl == 6 && memcmp(key, "\"text\"", 6) == 0) {
			if (!vl)
				return -EINVAL;
			*text = s + i;
			*text_len = vl;
			have_text = true;
			i += vl;
		} else if (!(i = skip_value(s, n, i, 0))) {
			return -EINVAL;
		}
		i = skip_ws(s, n, i);
		if (i < n && s[i] == '}')
			break;
		if (i >= n || s[i] != ',')
			return -EINVAL;
		i = skip_ws(s, n, i + 1);
	}
	return have_name && have_text && skip_ws(s, n, i + 1) == n ? 0 : -EINVAL;
}

/* How many bytes at the end of p[0..n) are backslashes. */
static size_t backslashes_before(const char *p, size_t n)
{
	size_t b = 0;
	while (b < n && p[n - b - 1] == '\\')
		b++;
	return b;
}

size_t lines_string_cut(const char *p, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	/* Not inside a UTF-8 sequence: the next piece must not start with a
	 * continuation byte. */
	while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
		n--;
	/* Not between an escape's backslash and what it escapes. */
	if (backslashes_before(p, n) % 2 == 1)
		n--;
	/* Not inside a \uXXXX: a 'u' up to four bytes back after an escaping
	 * backslash. */
	for (size_t k = 1; k <= 4 && k + 1 <= n; k++) {
		size_t j = n - k - 1; /* where its backslash would be */
		if (p[n - k] == 'u' && p[j] == '\\' && backslashes_before(p, j + 1) % 2 == 1) {
			n = j;
			break;
		}
	}
	return n;
}
