/* envd's filesystem.Filesystem service (unary calls: Stat, MakeDir, Move,
 * ListDir, Remove) and the plain-HTTP /files endpoints (download, and
 * upload as application/octet-stream, optionally gzip-encoded, streamed to
 * disk as it arrives). Relative paths resolve against the user's home. */
#ifndef COVE_AGENT_FS_SERVICE_H
#define COVE_AGENT_FS_SERVICE_H

#include <jansson.h>
#include <sys/types.h>

#include "agent/http.h"

/* Resolves a client's path: absolute as given, relative (or ~/...) under
 * home (the requesting user's). */
int fs_resolve(const char *in, const char *home, char *out, size_t len);

/* EntryInfo of a path (lstat), or NULL when it does not exist. */
json_t *fs_entry_json(const char *path);

/* Makes each missing directory of dir (an absolute path), from the top, with
 * mode 0755 and owned by uid:gid, as envd's EnsureDirs; an existing one that
 * is not a directory (nor a symlink to one) is -ENOTDIR. */
int fs_ensure_dirs(const char *dir, uid_t uid, gid_t gid, struct cove_err *err);

enum MHD_Result fs_stat(struct http_request *r);
enum MHD_Result fs_make_dir(struct http_request *r);
enum MHD_Result fs_move(struct http_request *r);
enum MHD_Result fs_list_dir(struct http_request *r);
enum MHD_Result fs_remove(struct http_request *r);

/* /files accepts X-Access-Token or a signed URL (route authorize hooks). */
int files_authorize_read(struct http_request *r, char *why, size_t len);
int files_authorize_write(struct http_request *r, char *why, size_t len);
enum MHD_Result files_get(struct http_request *r);
enum MHD_Result files_post(struct http_request *r);
/* POST /files/compose (compose.c). */
enum MHD_Result files_compose(struct http_request *r);
int files_post_body(struct http_request *r, const char *data, size_t len);
void files_post_cleanup(struct http_request *r);

#endif
