/* File metadata, as envd keeps it: user-defined key/value pairs stored on a
 * file as extended attributes "user.e2b.<key>" (keys lower-cased). Uploads
 * set them from X-Metadata-<Key> headers, replacing any the file had; every
 * EntryInfo reports them. */
#ifndef COVE_AGENT_METADATA_H
#define COVE_AGENT_METADATA_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

#define METADATA_XATTR_PREFIX "user.e2b."
#define METADATA_MAX_KEYS 64
#define METADATA_MAX_KEY 128
#define METADATA_MAX_VALUE 1024

/* The request's X-Metadata-* headers as an object of lower-cased keys
 * (NULL in *out when there are none). A key outside HTTP token characters,
 * a value outside printable ASCII, or too many or too long: -EINVAL with
 * why filled. */
int metadata_from_headers(struct MHD_Connection *conn, json_t **out, char *why, size_t len);

/* Sets md's pairs on the open file fd. 0 or a negative errno (-ENOTSUP on a
 * file system without user xattrs, e.g. tmpfs before Linux 6.6). */
int metadata_apply(int fd, json_t *md);

/* Replaces fd's whole user.e2b.* set with md's pairs (md NULL: removes the
 * set), as an upload over an existing file does. */
int metadata_replace(int fd, json_t *md);

/* The user.e2b.* attributes of path (not following a symlink), or NULL when
 * it has none or cannot have any. */
json_t *metadata_read(const char *path);

#endif
