/* A VMM binary's version, as its own --version says it (driver.h). */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "common/spawn.h"
#include "vmm/driver.h"

int vmm_binary_version(const char *name, const char *path, int (*parse)(const char *out, char *buf, size_t len),
		       char *buf, size_t len, struct cove_err *err)
{
	char *argv[] = { (char *)path, "--version", NULL };
	struct spawn_options o = { .path = path, .argv = argv, .stdio = { { SPAWN_NULL }, { SPAWN_PIPE }, { SPAWN_NULL } } };
	char out[512] = "";
	struct spawn_capture capture = { out, sizeof(out) };
	int status = spawn_run(&o, &capture, NULL, NULL);
	if (status < 0)
		return cove_errno(err, status, "%s: run %s --version", name, path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || parse(out, buf, len) < 0) {
		out[strcspn(out, "\n")] = '\0';
		return cove_errf(err, -EPROTO, "%s: %s --version: no version in '%.80s'", name, path, out);
	}
	return 0;
}
