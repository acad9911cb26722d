/* Spec violations, error bodies and Firecracker's id rule (vmmdouble.h). */
#include "vmmdouble.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

void vmmdouble_spec_violation(const char *method, const char *path, const char *reason)
{
	char line[2048];
	int n = snprintf(line, sizeof(line), "SPEC VIOLATION: %s %s: %s\n", method, path, reason);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	line[len - 1] = '\n';
	fputs(line, stderr);
	char file[4096];
	snprintf(file, sizeof(file), "%s/spec-violations", guest_root());
	/* O_APPEND: one write per line, whole, whatever else appends. */
	int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "vmm double: open %s: %m\n", file);
		return;
	}
	if (write(fd, line, len) != (ssize_t)len)
		fprintf(stderr, "vmm double: write %s: %m\n", file);
	close(fd);
}

char *vmmdouble_fault(const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	json_t *o = json_pack("{s:s}", key, msg);
	free(msg);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return body;
}

bool vmmdouble_fc_id_valid(const char *id)
{
	size_t n = strlen(id);
	bool ok = n >= 1 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		     id[i] == '-';
	return ok;
}
