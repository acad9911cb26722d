#include "agent/metadata.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/xattr.h>

#define HEADER_PREFIX "X-Metadata-"

struct collect {
	json_t *md;
	int error;
	char *why;
	size_t len;
};

/* RFC 9110 token characters, as the SDK checks them. */
static bool token_char(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct collect *c = cls;
	size_t plen = strlen(HEADER_PREFIX);
	if (strncasecmp(key, HEADER_PREFIX, plen) != 0)
		return MHD_YES;
	const char *name = key + plen;
	size_t n = strlen(name);
	if (n == 0)
		return MHD_YES; /* "X-Metadata-" alone names nothing (envd drops it) */
	char lower[METADATA_MAX_KEY + 1];
	if (n > METADATA_MAX_KEY) {
		snprintf(c->why, c->len, "metadata key %.40s...: longer than %d characters", name, METADATA_MAX_KEY);
		c->error = -EINVAL;
		return MHD_NO;
	}
	for (size_t i = 0; i < n; i++) {
		if (!token_char((unsigned char)name[i])) {
			snprintf(c->why, c->len, "metadata key '%s': only HTTP token characters allowed", name);
			c->error = -EINVAL;
			return MHD_NO;
		}
		lower[i] = (char)tolower((unsigned char)name[i]);
	}
	lower[n] = '\0';
	if (strlen(value) > METADATA_MAX_VALUE) {
		snprintf(c->why, c->len, "metadata value of '%s': longer than %d bytes", lower, METADATA_MAX_VALUE);
		c->error = -EINVAL;
		return MHD_NO;
	}
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			snprintf(c->why, c->len, "metadata value of '%s': only printable ASCII allowed", lower);
			c->error = -EINVAL;
			return MHD_NO;
		}
	}
	if (json_object_get(c->md, lower))
		return MHD_YES; /* the first of repeated headers wins, as in envd */
	if (json_object_size(c->md) >= METADATA_MAX_KEYS) {
		snprintf(c->why, c->len, "more than %d metadata headers", METADATA_MAX_KEYS);
		c->error = -EINVAL;
		return MHD_NO;
	}
	json_object_set_new(c->md, lower, json_string(value));
	return MHD_YES;
}

int metadata_from_headers(struct MHD_Connection *conn, json_t **out, char *why, size_t len)
{
	struct collect c = { json_object(), 0, why, len };
	*out = NULL;
	if (!c.md)
		return -ENOMEM;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, on_header, &c);
	if (c.error || json_object_size(c.md) == 0) {
		json_decref(c.md);
		return c.error;
	}
	*out = c.md;
	return 0;
}

int metadata_apply(int fd, json_t *md)
{
	const char *key;
	json_t *v;
	json_object_foreach(md, key, v) {
		char name[sizeof(METADATA_XATTR_PREFIX) + METADATA_MAX_KEY];
		snprintf(name, sizeof(name), METADATA_XATTR_PREFIX "%s", key);
		const char *value = json_string_value(v);
		if (fsetxattr(fd, name, value, strlen(value), 0) < 0)
			return -errno;
	}
	return 0;
}

int metadata_replace(int fd, json_t *md)
{
	/* Room for a whole set (64 keys of 128 bytes) and a file's others. */
	char names[16384];
	ssize_t n = flistxattr(fd, names, sizeof(names));
	if (n < 0 && errno != ENOTSUP)
		return -errno;
	size_t plen = strlen(METADATA_XATTR_PREFIX);
	for (const char *name = names; n > 0 && name < names + n; name += strlen(name) + 1)
		if (strncmp(name, METADATA_XATTR_PREFIX, plen) == 0 && fremovexattr(fd, name) < 0 && errno != ENODATA)
			return -errno;
	return md ? metadata_apply(fd, md) : 0;
}

json_t *metadata_read(const char *path)
{
	char names[4096];
	ssize_t n = llistxattr(path, names, sizeof(names));
	if (n <= 0)
		return NULL;
	json_t *md = NULL;
	size_t plen = strlen(METADATA_XATTR_PREFIX);
	for (const char *name = names; name < names + n; name += strlen(name) + 1) {
		if (strncmp(name, METADATA_XATTR_PREFIX, plen) != 0 || !name[plen])
			continue;
		char value[METADATA_MAX_VALUE + 1];
		ssize_t v = lgetxattr(path, name, value, sizeof(value) - 1);
		if (v < 0)
			continue;
		value[v] = '\0';
		if (!md)
			md = json_object();
		json_object_set_new(md, name + plen, json_stringn(value, (size_t)v));
	}
	return md;
}
