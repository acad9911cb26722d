/* Running the image tools (skopeo, umoci, mkfs.ext4): found on PATH or in
 * /usr/sbin, their stderr kept so that a failure reads as the tool's own
 * first error, stopped when the import is cancelled. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "common/fs.h"
#include "image/internal.h"

void import_progress(const struct import *im, const char *fmt, ...)
{
	if (!im->o->progress)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	im->o->progress(im->o->ctx, line);
}

/* The first error a tool wrote: skopeo's and umoci's logrus lines carry it
 * as msg="..."; else the first line that says error, else the first line. */
static void first_error(const char *text, char *out, size_t size)
{
	const char *msg = strstr(text, "msg=\"");
	if (msg) {
		msg += 5;
		size_t n = 0;
		for (const char *p = msg; *p && *p != '\n' && !(*p == '"' && p[-1] != '\\'); p++)
			n++;
		snprintf(out, size, "%.*s", (int)n, msg);
		return;
	}
	const char *line = text;
	for (const char *p = text; *p; p = strchrnul(p, '\n'), p += !!*p)
		if (!strncasecmp(p, "error", 5) || strstr(p, "rror:")) {
			line = p;
			break;
		}
	while (*line == '\n' || *line == ' ')
		line++;
	snprintf(out, size, "%.*s", (int)strcspn(line, "\n"), *line ? line : "(it said nothing)");
}

/* The message a person reads for a tool's error: the cases that have a
 * plain name first. */
static const char *plainly(const char *msg)
{
	if (strcasestr(msg, "unauthorized") || strcasestr(msg, "authentication required") ||
	    strcasestr(msg, "invalid username/password"))
		return "the registry refused the credentials: ";
	if (strcasestr(msg, "manifest unknown") || strcasestr(msg, "name unknown") || strcasestr(msg, "not found"))
		return "no such image: ";
	if (strcasestr(msg, "connection refused") || strcasestr(msg, "no such host") ||
	    strcasestr(msg, "i/o timeout") || strcasestr(msg, "network is unreachable"))
		return "the registry cannot be reached: ";
	if (strcasestr(msg, "http response to https client"))
		return "the registry speaks plain HTTP (name it as insecure): ";
	return "";
}

int tool_run(const struct import *im, char *const argv[], struct spawn_capture *out, struct cove_err *err)
{
	char path[PATH_MAX];
	if (fs_find_executable(argv[0], "/usr/sbin:/sbin", path, sizeof(path)) < 0)
		return cove_errf(err, -ENOENT, "image: %s is not installed (scripts/deps.sh installs it)", argv[0]);
	char errbuf[8192];
	struct spawn_capture cap = { .buf = errbuf, .size = sizeof(errbuf) };
	struct spawn_options so = {
		.path = path,
		.argv = argv,
		.stdio = { { SPAWN_NULL }, { out ? SPAWN_PIPE : SPAWN_NULL }, { SPAWN_PIPE } },
		.parent_death_signal = SIGKILL,
	};
	int status = spawn_run_cancellable(&so, out, &cap, im->o->cancel_fd, NULL);
	if (status == -ECANCELED)
		return cove_errf(err, -ECANCELED, "image %s: cancelled (during %s %s)", im->src->ref, argv[0], argv[1]);
	if (status < 0)
		return cove_errno(err, status, "image: run %s", path);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char msg[600];
	first_error(errbuf, msg, sizeof(msg));
	if (WIFSIGNALED(status))
		return cove_errf(err, -EIO, "image %s: %s %s was killed by signal %d", im->src->ref, argv[0], argv[1],
				 WTERMSIG(status));
	/* Only skopeo talks to registries; another tool's "not found" is its own. */
	const char *cause = strcmp(argv[0], "skopeo") == 0 ? plainly(msg) : "";
	return cove_errf(err, -EIO, "image %s: %s%s %s: %s", im->src->ref, cause, argv[0], argv[1], msg);
}
