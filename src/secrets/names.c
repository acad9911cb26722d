/* The rules for a secret's name, metadata and value, and its id (see
 * secrets.h). Pure functions of their input, so the API's parsers and
 * their fuzz target use them as they are. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proto/utf8.h"
#include "secrets/internal.h"

/* C0 and C1 controls and DEL (Unicode's Cc, what E2B's SDK refuses). */
static bool is_control(const unsigned char *p, size_t seq)
{
	if (seq == 1)
		return *p < 0x20 || *p == 0x7f;
	return seq == 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
}

int secrets_name_canon(const char *name, char out[SECRETS_NAME_MAX + 1], struct cove_err *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > SECRETS_NAME_MAX)
		return cove_errf(err, -EINVAL, "name must be 1 to %d bytes", SECRETS_NAME_MAX);
	const unsigned char *p = (const unsigned char *)name;
	for (size_t i = 0; i < n;) {
		size_t seq = utf8_sequence_len(p + i, n - i);
		if (!seq)
			return cove_errf(err, -EINVAL, "name: byte %zu is not UTF-8", i);
		if (is_control(p + i, seq) || p[i] == '{' || p[i] == '}' || p[i] == '/')
			return cove_errf(err, -EINVAL,
					 "name: character %zu is '{', '}', '/' or a control character: a name goes into "
					 "${e2b.secrets.NAME} and a URL path",
					 i);
		for (size_t j = 0; j < seq; j++)
			out[i + j] = (char)(p[i + j] >= 'A' && p[i + j] <= 'Z' ? p[i + j] - 'A' + 'a' : p[i + j]);
		i += seq;
	}
	out[n] = '\0';
	if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		return cove_errf(err, -EINVAL, "name cannot be '.' or '..': a URL path could not name it");
	if (strncmp(out, SECRETS_ID_PREFIX, strlen(SECRETS_ID_PREFIX)) == 0)
		return cove_errf(err, -EINVAL, "name cannot start with '%s': that prefix is for secret ids",
				 SECRETS_ID_PREFIX);
	return 0;
}

static int metadata_entries(json_t *obj, struct cove_err *err)
{
	if (json_object_size(obj) > SECRETS_METADATA_ENTRIES)
		return cove_errf(err, -EINVAL, "metadata: more than %d entries", SECRETS_METADATA_ENTRIES);
	size_t total = 0;
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			return cove_errf(err, -EINVAL, "metadata.%.128s must be a string", k);
		size_t klen = strlen(k), vlen = json_string_length(v);
		if (klen == 0 || klen > SECRETS_METADATA_KEY_MAX)
			return cove_errf(err, -EINVAL, "metadata: a key must be 1 to %d bytes",
					 SECRETS_METADATA_KEY_MAX);
		if (vlen > SECRETS_METADATA_VALUE_MAX)
			return cove_errf(err, -EINVAL, "metadata.%s: a value must be at most %d bytes", k,
					 SECRETS_METADATA_VALUE_MAX);
		total += klen + vlen;
	}
	if (total > SECRETS_METADATA_TOTAL_MAX)
		return cove_errf(err, -EINVAL, "metadata: more than %d bytes of keys and values",
				 SECRETS_METADATA_TOTAL_MAX);
	return 0;
}

int secrets_metadata_check(const char *metadata, struct cove_err *err)
{
	if (!metadata)
		return 0;
	/* Bounded before it is parsed: a JSON text of at most that much. */
	if (strlen(metadata) > 2 * SECRETS_METADATA_TOTAL_MAX + 64 * SECRETS_METADATA_ENTRIES)
		return cove_errf(err, -EINVAL, "metadata: more than %d bytes of keys and values",
				 SECRETS_METADATA_TOTAL_MAX);
	json_t *obj = json_loads(metadata, JSON_REJECT_DUPLICATES, NULL);
	int r = json_is_object(obj) ? metadata_entries(obj, err)
				    : cove_errf(err, -EINVAL, "metadata must be an object of strings");
	json_decref(obj);
	return r;
}

int secrets_value_check(const char *value, size_t len, struct cove_err *err)
{
	if (!value || len == 0 || len > SECRETS_VALUE_MAX)
		return cove_errf(err, -EINVAL, "value must be 1 to %d bytes", SECRETS_VALUE_MAX);
	if (memchr(value, '\0', len))
		return cove_errf(err, -EINVAL, "value cannot contain a NUL character");
	return 0;
}

bool secrets_ref_is_id(const char *ref)
{
	return ref && strncmp(ref, SECRETS_ID_PREFIX, strlen(SECRETS_ID_PREFIX)) == 0;
}
