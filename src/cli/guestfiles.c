#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_default_guest_file(const char *env, const char *name, char *out, size_t len)
{
	const char *v = getenv(env);
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(out, len, "%s/../guest/%s", dirname(exe), name);
		if (access(out, R_OK) == 0)
			return 0;
	}
	snprintf(out, len, "/usr/local/share/cove/%s", name);
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}
