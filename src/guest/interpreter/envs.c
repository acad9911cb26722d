#include "interpreter/envs.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/inet.h"
#include "proto/http1.h"

#define ENVS_MAX (1024 * 1024)
#define ENVS_TIMEOUT_MS 5000

static int connect_to(const char *addr, struct cove_err *err)
{
	struct sockaddr_in sa;
	if (inet_addr_port_parse(addr, &sa) < 0)
		return cove_errf(err, -EINVAL, "agent address '%s' is not HOST:PORT", addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cove_errno(err, -errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return cove_errno(err, e, "connect to the agent at %s", addr);
	}
	return fd;
}

int envs_fetch(const char *addr, const char *token, json_t **ret, struct cove_err *err)
{
	_cleanup_close_ int fd = connect_to(addr, err);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *req = NULL;
	/* HTTP/1.0: the agent closes after its reply, which ends our read. */
	if (asprintf(&req, "GET /envs HTTP/1.0\r\nHost: %s\r\n%s%s%s\r\n", addr, token ? "X-Access-Token: " : "",
		     token ? token : "", token ? "\r\n" : "") < 0 || strpbrk(token ? token : "", "\r\n"))
		return cove_errf(err, -EINVAL, "bad access token");
	if (sock_send_all(fd, req, strlen(req)) < 0)
		return cove_errno(err, -errno, "send GET /envs to %s", addr);
	_cleanup_free_ char *buf = malloc(ENVS_MAX + 1);
	size_t len = 0;
	if (!buf)
		return cove_errf(err, -ENOMEM, "out of memory");
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, ENVS_TIMEOUT_MS) != 1)
			return cove_errf(err, -ETIMEDOUT, "GET /envs from %s: no answer within %d s", addr,
					 ENVS_TIMEOUT_MS / 1000);
		ssize_t n = read(fd, buf + len, ENVS_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cove_errno(err, -errno, "read GET /envs from %s", addr);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == ENVS_MAX)
			return cove_errf(err, -EFBIG, "GET /envs from %s: more than %d bytes", addr, ENVS_MAX);
	}
	buf[len] = '\0';
	size_t head = http1_head_end(buf, len);
	struct http1_response resp;
	if (!head || http1_parse_response(buf, head, &resp) < 0)
		return cove_errf(err, -EPROTO, "GET /envs from %s: not an HTTP response", addr);
	if (resp.status == 401 || resp.status == 403)
		return cove_errf(err, -EACCES, "the sandbox's agent refused the access token");
	if (resp.status != 200)
		return cove_errf(err, -EPROTO, "GET /envs from %s: status %u", addr, resp.status);
	json_error_t jerr;
	json_t *j = json_loadb(buf + head, len - head, 0, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return cove_errf(err, -EPROTO, "GET /envs from %s: not a JSON object", addr);
	}
	/* Only strings: what else came is dropped. */
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(j, tmp, k, v) {
		if (!json_is_string(v) || !*k || strchr(k, '='))
			json_object_del(j, k);
	}
	*ret = j;
	return 0;
}

/* A JSON string literal of s: also a valid literal in Python, R and
 * JavaScript for the escapes jansson makes (\" \\ \n \t \uXXXX...). */
static char *quoted(const char *s)
{
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return q;
}

/* Appends to a growing string; returns -1 when out of memory. */
static int add(char **buf, size_t *len, const char *fmt, const char *a, const char *b)
{
	char *more;
	if (asprintf(&more, fmt, a ? a : "", b ? b : "") < 0)
		return -1;
	size_t n = strlen(more);
	char *grown = realloc(*buf, *len + n + 1);
	if (!grown) {
		free(more);
		return -1;
	}
	memcpy(grown + *len, more, n + 1);
	*buf = grown;
	*len += n;
	free(more);
	return 0;
}

/* Single-quoted for a POSIX shell. */
static char *shell_quoted(const char *s)
{
	size_t n = 2;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *q = malloc(n + 1), *o = q;
	if (!q)
		return NULL;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

/* One statement per variable: set (value) or unset (value NULL). */
static int statement(const char *language, char **buf, size_t *len, const char *name, const char *value)
{
	_cleanup_free_ char *qn = quoted(name), *qv = value ? quoted(value) : NULL;
	if (!qn || (value && !qv))
		return -1;
	if (strcmp(language, "python") == 0)
		return value ? add(buf, len, "__import__('os').environ[%s] = %s\n", qn, qv)
			     : add(buf, len, "__import__('os').environ.pop(%s, None)\n", qn, NULL);
	if (strcmp(language, "r") == 0)
		return value ? add(buf, len, "invisible(do.call(Sys.setenv, setNames(list(%2$s), %1$s)))\n", qn, qv)
			     : add(buf, len, "invisible(Sys.unsetenv(%s))\n", qn, NULL);
	if (strcmp(language, "javascript") == 0 || strcmp(language, "typescript") == 0)
		return value ? add(buf, len, "process.env[%s] = %s;\n", qn, qv)
			     : add(buf, len, "delete process.env[%s];\n", qn, NULL);
	if (strcmp(language, "bash") == 0) {
		for (const char *p = name; *p; p++)
			if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (p != name && *p >= '0' && *p <= '9')))
				return 0; /* not a shell name: left out */
		_cleanup_free_ char *sv = value ? shell_quoted(value) : NULL;
		if (value && !sv)
			return -1;
		return value ? add(buf, len, "export %s=%s\n", name, sv) : add(buf, len, "unset %s\n", name, NULL);
	}
	return -2;
}

char *envs_code_set(const char *language, json_t *vars)
{
	char *buf = strdup("");
	size_t len = 0;
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v) {
		if (!buf || statement(language, &buf, &len, k, json_string_value(v)) < 0) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}

char *envs_code_restore(const char *language, json_t *vars, json_t *keep)
{
	char *buf = strdup("");
	size_t len = 0;
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v) {
		(void)v;
		const char *kept = json_string_value(json_object_get(keep, k));
		if (!buf || statement(language, &buf, &len, k, kept) < 0) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}
