#include "vmm/qemu/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "vmm/driver.h"

struct qmp {
	int fd;
	char path[108];
	char *buf;
	size_t len, cap;
	unsigned next_id;
};

void qmp_msg_clear(struct qmp_msg *msg)
{
	json_decref(msg->root);
	memset(msg, 0, sizeof(*msg));
}

static int parse_error_member(json_t *e, struct qmp_msg *msg, struct cove_err *err)
{
	if (!json_is_object(e))
		return cove_errf(err, -EPROTO, "qmp: \"error\" is not an object");
	msg->kind = QMP_MSG_ERROR;
	msg->error_class = json_string_value(json_object_get(e, "class"));
	msg->error_desc = json_string_value(json_object_get(e, "desc"));
	if (!msg->error_class)
		msg->error_class = "unknown";
	if (!msg->error_desc)
		msg->error_desc = "(no description)";
	return 0;
}

int qmp_parse(const char *text, size_t len, struct qmp_msg *msg, struct cove_err *err)
{
	memset(msg, 0, sizeof(*msg));
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cove_errf(err, -EPROTO, "qmp: bad JSON at column %d: %s", jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return cove_errf(err, -EPROTO, "qmp: message is not a JSON object");
	}
	msg->root = root;
	msg->id = json_string_value(json_object_get(root, "id"));
	json_t *v;
	int r = 0;
	if ((v = json_object_get(root, "return"))) {
		msg->kind = QMP_MSG_RETURN;
		msg->ret = v;
	} else if ((v = json_object_get(root, "error"))) {
		r = parse_error_member(v, msg, err);
	} else if ((v = json_object_get(root, "event"))) {
		msg->kind = QMP_MSG_EVENT;
		msg->event = json_string_value(v);
		if (!msg->event)
			r = cove_errf(err, -EPROTO, "qmp: \"event\" is not a string");
	} else if (json_object_get(root, "QMP")) {
		msg->kind = QMP_MSG_GREETING;
	} else {
		r = cove_errf(err, -EPROTO, "qmp: message has none of return, error, event, QMP");
	}
	if (r < 0)
		qmp_msg_clear(msg);
	return r;
}

/* Reads one line into a new message. msg is always initialised, so a caller
 * may clear it on any path. */
static int read_message(struct qmp *q, struct qmp_msg *msg, int64_t deadline, struct cove_err *err)
{
	memset(msg, 0, sizeof(*msg));
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		if (nl) {
			size_t line = (size_t)(nl - q->buf);
			int r = qmp_parse(q->buf, line, msg, err);
			memmove(q->buf, nl + 1, q->len - line - 1);
			q->len -= line + 1;
			return r;
		}
		if (q->len == q->cap) {
			if (q->cap >= QMP_MAX_MESSAGE)
				return cove_errf(err, -EMSGSIZE, "qmp %s: message longer than %d bytes", q->path, QMP_MAX_MESSAGE);
			size_t cap = q->cap ? q->cap * 2 : 4096;
			char *nb = realloc(q->buf, cap);
			if (!nb)
				return cove_errf(err, -ENOMEM, "qmp %s: out of memory", q->path);
			q->buf = nb;
			q->cap = cap;
		}
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int left = (int)(deadline - now_ms());
		int pr = poll(&p, 1, left < 0 ? 0 : left);
		if (pr == 0)
			return cove_errf(err, -ETIMEDOUT, "qmp %s: no reply in time", q->path);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return cove_errno(err, -errno, "qmp %s: poll", q->path);
		}
		ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (n == 0)
			return cove_errf(err, -ECONNRESET, "qmp %s: VMM closed the connection", q->path);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return cove_errno(err, -errno, "qmp %s: read", q->path);
		}
		q->len += (size_t)n;
	}
}

/* The first byte goes with fd attached (SCM_RIGHTS), the rest after it. */
static int send_with_fd(int sock, const char *text, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { (void *)text, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	return sock_send_all(sock, text + 1, len - 1);
}

static int send_command(struct qmp *q, const char *command, json_t *args, int fd, char *id, size_t idlen,
			struct cove_err *err)
{
	snprintf(id, idlen, "cove-%u", ++q->next_id);
	json_t *req = json_pack("{s:s, s:s}", "execute", command, "id", id);
	if (!req)
		return cove_errf(err, -ENOMEM, "qmp: build request %s", command);
	if (args)
		json_object_set(req, "arguments", args);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return cove_errf(err, -ENOMEM, "qmp: encode request %s", command);
	size_t n = strlen(text);
	text[n] = '\n'; /* replaces the terminator: we send n + 1 bytes */
	int r = fd >= 0 ? send_with_fd(q->fd, text, n + 1, fd) : sock_send_all(q->fd, text, n + 1);
	free(text);
	if (r < 0)
		return cove_errno(err, r, "qmp %s: send %s", q->path, command);
	return 0;
}

int qmp_execute(struct qmp *q, const char *command, json_t *args, json_t **ret, int timeout_ms,
		struct cove_err *err)
{
	return qmp_execute_fd(q, command, args, -1, ret, timeout_ms, err);
}

int qmp_execute_fd(struct qmp *q, const char *command, json_t *args, int fd, json_t **ret, int timeout_ms,
		   struct cove_err *err)
{
	char id[32];
	int r = send_command(q, command, args, fd, id, sizeof(id), err);
	if (r < 0)
		return r;
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		struct qmp_msg msg;
		r = read_message(q, &msg, deadline, err);
		if (r < 0)
			return cove_err_prefix(err, "%s", command);
		if (msg.kind == QMP_MSG_EVENT) {
			log_debug("qmp=%s event=%s", q->path, msg.event);
		} else if (msg.id && strcmp(msg.id, id) == 0) {
			if (msg.kind == QMP_MSG_ERROR) {
				r = cove_errf(err, -EIO, "qmp %s: %s: %s", command, msg.error_class, msg.error_desc);
			} else if (ret) {
				*ret = json_incref(msg.ret);
			}
			qmp_msg_clear(&msg);
			return r;
		}
		qmp_msg_clear(&msg);
	}
}

int qmp_listen(const char *path, int *ret, struct cove_err *err)
{
	int r = vmm_unix_listen(path, ret, err);
	return r < 0 ? cove_err_prefix(err, "qmp") : 0;
}

int qmp_open(const char *path, int pidfd, int timeout_ms, struct qmp **ret, struct cove_err *err)
{
	if (strlen(path) >= sizeof(((struct qmp *)0)->path))
		return cove_errf(err, -ENAMETOOLONG, "qmp: socket path %s too long", path);
	int fd = vmm_unix_connect(path, pidfd, timeout_ms, err);
	if (fd < 0)
		return cove_err_prefix(err, "qmp");
	struct qmp *q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return cove_errf(err, -ENOMEM, "qmp: out of memory");
	}
	q->fd = fd;
	snprintf(q->path, sizeof(q->path), "%s", path);
	struct qmp_msg greeting;
	int r = read_message(q, &greeting, now_ms() + timeout_ms, err);
	if (r == 0 && greeting.kind != QMP_MSG_GREETING)
		r = cove_errf(err, -EPROTO, "qmp %s: first message is not the greeting", path);
	qmp_msg_clear(&greeting);
	if (r == 0)
		r = qmp_execute(q, "qmp_capabilities", NULL, NULL, timeout_ms, err);
	if (r < 0) {
		qmp_close(q);
		return r;
	}
	*ret = q;
	return 0;
}

struct qmp *qmp_close(struct qmp *q)
{
	if (!q)
		return NULL;
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
	return NULL;
}
