/* The store of template builds' COPY sources. npm e2b uploads each COPY
 * step's files as one tar (gzip by default, plain with {gzip: false}) by a
 * PUT with an exact Content-Length to a URL coved gives; the build runner
 * later extracts it. The store keeps each as <dir>/<hash>.tar, named by the
 * step's filesHash (the SDK's SHA-256 of the files, opaque here), bytes as
 * uploaded. An upload streams into a temp file (0600) in the same directory;
 * its commit checks the length, reads the whole archive with libarchive
 * without extracting it (every entry a regular file, directory or symlink,
 * named relative with no "..", nothing below a symlink of the archive,
 * within the limits), fsyncs and renames it into place, so a reader sees a
 * whole checked archive or none, and two uploads of one hash at once leave
 * one of them. The PUT carries no API key, so the URL carries a token:
 * files_upload_token, an HMAC of (template, hash, expiry) under coved's
 * secret. Errors name the hash and what was wrong. */
#ifndef COVE_BUILD_FILES_H
#define COVE_BUILD_FILES_H

#include <limits.h>
#include <stdint.h>

#include "build/spec.h"
#include "common/err.h"

/* Defaults of struct files_limits. */
#define FILES_MAX_UPLOAD ((uint64_t)4 << 30)   /* bytes of one upload, as sent */
#define FILES_MAX_ENTRIES 100000               /* entries of one archive */
#define FILES_MAX_CONTENT ((uint64_t)16 << 30) /* bytes of its files, unpacked */

struct files_limits {
	uint64_t max_upload, max_content;
	uint64_t max_entries;
};

struct files_store {
	char dir[PATH_MAX];
	struct files_limits limits;
};

/* Opens the store in dir (made 0700 if missing) with the default limits,
 * removing the temp files of uploads a crash cut short. */
int files_store_open(const char *dir, struct files_store *ret, struct cove_err *err);

/* One upload in progress: files_begin makes it, and exactly one of
 * files_commit and files_abort ends it (both free it). Any number may run
 * at once, in any threads, one of each in one thread at a time; the store
 * outlives its uploads. */
struct files_upload;
/* -EINVAL for a hash that is not 64 of [0-9a-f]. */
int files_begin(const struct files_store *store, const char *hash, struct files_upload **ret, struct cove_err *err);
/* -EFBIG past the store's max_upload; the upload stays to be aborted. */
int files_write(struct files_upload *u, const void *buf, size_t len, struct cove_err *err);
/* Checks that expected_len bytes came (-EIO otherwise: the body was cut
 * short or ran long) and the archive (-EINVAL, -EFBIG past a limit), then
 * puts it in place of any earlier one of its hash. Frees u, on an error
 * too (the temp file is removed). */
int files_commit(struct files_upload *u, uint64_t expected_len, struct cove_err *err);
/* Removes the temp file and frees u; NULL is fine. Returns NULL. */
struct files_upload *files_abort(struct files_upload *u);

/* Whether the archive of hash is in the store (false for a bad hash). */
bool files_has(const struct files_store *store, const char *hash);
/* Its path, in buf (PATH_MAX); -EINVAL for a bad hash. */
int files_path(const struct files_store *store, const char *hash, char buf[PATH_MAX], struct cove_err *err);
/* Removes it; missing is fine. */
int files_remove(const struct files_store *store, const char *hash, struct cove_err *err);

/* Reads the tar (plain or gzip) open at fd from its start to its end, as
 * files_commit does; what names it in messages. */
int files_archive_check(int fd, const char *what, const struct files_limits *limits, struct cove_err *err);

/* Upload tokens: "<expiry ms>-<HMAC-SHA256 hex>" over (template id, hash,
 * expiry) under secret (coved's, non-empty). */
#define FILES_TOKEN_MAX (20 + 1 + BUILD_HASH_HEX + 1)
void files_upload_token(const char *secret, const char *template_id, const char *hash, int64_t expiry_ms,
			char out[FILES_TOKEN_MAX]);
/* 0 when token is secret's for this template and hash and not expired at
 * now_ms; -EACCES with the reason otherwise. The comparison takes the same
 * time wherever the token differs. */
int files_upload_token_check(const char *secret, const char *template_id, const char *hash, const char *token,
			     int64_t now_ms, struct cove_err *err);

#endif
