/* Who a request acts as. envd's clients name a user with
 * `Authorization: Basic base64("<user>:")` (or `?username=` on /files);
 * without one, /init's defaultUser, else the agent's own user. Users are
 * read from /etc/passwd and /etc/group directly: the agent is static and
 * glibc's NSS would need shared modules. */
#ifndef COVE_AGENT_USERS_H
#define COVE_AGENT_USERS_H

#include <limits.h>
#include <sys/types.h>

#include "agent/http.h"
#include "common/err.h"

#define USER_MAX_GROUPS 64

struct user_info {
	char name[64];
	uid_t uid;
	gid_t gid;
	gid_t groups[USER_MAX_GROUPS];
	int ngroups;
	char home[PATH_MAX];
	char shell[256];
};

int user_by_name(const char *name, struct user_info *out, struct cove_err *err);
int user_by_uid(uid_t uid, struct user_info *out, struct cove_err *err);
/* Names for ownership reports; the number when there is no entry. */
const char *user_name_of(uid_t uid, char *buf, size_t len);
const char *group_name_of(gid_t gid, char *buf, size_t len);

/* The user a request acts as (see above); an unknown user is -EINVAL. */
int user_for_request(struct http_request *r, struct user_info *out, struct cove_err *err);
/* The same, but a user named by the request's body (named, when not NULL or
 * "") comes first, and an unknown user is -ESRCH (envd's REST routes answer
 * it 401, a malformed Authorization header 400). */
int user_resolve(struct http_request *r, const char *named, struct user_info *out, struct cove_err *err);

#endif
