/* A QMP (QEMU Machine Protocol) client: newline-delimited JSON over a unix
 * socket (docs/interop/qmp-spec.rst). Commands carry an "id" and the reply
 * with the same id is theirs; events that arrive in between are logged at
 * debug level, never mistaken for replies. */
#ifndef COVE_VMM_QEMU_QMP_H
#define COVE_VMM_QEMU_QMP_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

/* Longest QMP message accepted; query replies are a few KiB. */
#define QMP_MAX_MESSAGE (1024 * 1024)

enum qmp_kind { QMP_MSG_GREETING, QMP_MSG_RETURN, QMP_MSG_ERROR, QMP_MSG_EVENT };

struct qmp_msg {
	enum qmp_kind kind;
	json_t *root;            /* owns everything below */
	const char *id;          /* return/error: the command's id, NULL if absent */
	const char *event;       /* event: its name */
	const char *error_class; /* error: e.g. "GenericError" */
	const char *error_desc;  /* error: QEMU's description */
	json_t *ret;             /* return: the value */
};

/* Parses one message (without its newline). */
int qmp_parse(const char *text, size_t len, struct qmp_msg *msg, struct cove_err *err);
void qmp_msg_clear(struct qmp_msg *msg);

struct qmp;

/* Makes the unix socket at path (replacing a stale one) and listens on it:
 * the VMM is handed *fd and accepts QMP clients on it, so it needs no access
 * to path; the caller closes its copy once the VMM has one. */
int qmp_listen(const char *path, int *fd, struct cove_err *err);
/* Connects to the socket at path, retrying while the VMM starts; gives up at
 * once with -ECHILD when pidfd shows the VMM has exited. Negotiates
 * capabilities. */
int qmp_open(const char *path, int pidfd, int timeout_ms, struct qmp **ret, struct cove_err *err);
/* Runs a command; args may be NULL (borrowed). *ret (may be NULL) gets the
 * "return" value, a new reference. QMP errors become -EIO with QEMU's text. */
int qmp_execute(struct qmp *q, const char *command, json_t *args, json_t **ret, int timeout_ms,
		struct cove_err *err);
/* The same, passing fd along (SCM_RIGHTS), as getfd and add-fd take one;
 * fd stays the caller's. */
int qmp_execute_fd(struct qmp *q, const char *command, json_t *args, int fd, json_t **ret, int timeout_ms,
		   struct cove_err *err);
struct qmp *qmp_close(struct qmp *q);

#endif
