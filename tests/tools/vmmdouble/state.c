/* The doubles' device-state files (vmmdouble.h): a magic line, a JSON line,
 * then QEMU's migration stream. */
#include "vmmdouble.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"

#define STATE_HEADER_MAX (64 * 1024)

int vmmdouble_state_write(int fd, const char *magic, json_t *header, struct cove_err *err)
{
	char *line = json_dumps(header, JSON_COMPACT);
	int r = line ? fs_write_all(fd, magic, strlen(magic)) : -ENOMEM;
	r = r ?: fs_write_all(fd, line, strlen(line));
	r = r ?: fs_write_all(fd, "\n", 1);
	free(line);
	return r < 0 ? cove_errno(err, r, "write snapshot header") : 0;
}

/* Read a byte at a time so that fd is left where QEMU's stream begins. */
int vmmdouble_state_read(int fd, const char *path, const char *magic, json_t **ret, struct cove_err *err)
{
	_cleanup_free_ char *buf = malloc(STATE_HEADER_MAX);
	size_t len = 0, lines = 0, mlen = strlen(magic);
	while (buf && len + 1 < STATE_HEADER_MAX && lines < 2) {
		ssize_t n = read(fd, buf + len, 1);
		if (n <= 0)
			return cove_errf(err, -EINVAL, "snapshot %s: truncated header", path);
		lines += buf[len++] == '\n';
	}
	if (!buf || lines < 2 || strncmp(buf, magic, mlen) != 0)
		return cove_errf(err, -EINVAL, "snapshot %s: not one this double made", path);
	*ret = json_loadb(buf + mlen, len - mlen, 0, NULL);
	return *ret ? 0 : cove_errf(err, -EINVAL, "snapshot %s: bad header", path);
}
