/* Whether Firecracker starts under its own jailer (fc.h: fc_jailer_find).
 *
 * The jailer is Firecracker's documented way to confine it
 * (docs/jailer.md): a copy of the binary in a chroot of its own, the
 * device nodes made there and owned by the VMM's ids, pivot_root, then the
 * ids dropped. Where it is installed Cove uses it for those steps, in the
 * namespaces, cgroup and work directory of Cove's launch (launch.c,
 * jail.c). Each jailer is meant for the Firecracker of its version, so
 * their two --version outputs are compared. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "vmm/driver.h"
#include "vmm/fc/fc.h"

#define JAILER_NAME "jailer"
#define JAILER_SEARCH_DIRS "/usr/local/bin:/usr/bin"

enum fc_jailer_mode fc_jailer_mode(const char *setting)
{
	if (!setting || !*setting || strcmp(setting, "auto") == 0)
		return FC_JAILER_AUTO;
	return strcmp(setting, "off") == 0 ? FC_JAILER_OFF : FC_JAILER_NAMED;
}

int fc_jailer_find(const char *setting, const char *fc_binary, char *out, size_t len, struct cove_err *err)
{
	enum fc_jailer_mode mode = fc_jailer_mode(setting);
	bool automatic = mode == FC_JAILER_AUTO;
	if (mode == FC_JAILER_OFF)
		return 0;
	if (automatic) {
		/* Beside the binary: a release ships the two together. */
		const char *slash = strrchr(fc_binary, '/');
		int dir = slash ? (int)(slash - fc_binary) : 0;
		if (!slash || snprintf(out, len, "%.*s/" JAILER_NAME, dir, fc_binary) >= (int)len ||
		    access(out, X_OK) < 0)
			return 0;
	} else {
		int r = fs_find_executable(setting, JAILER_SEARCH_DIRS, out, len);
		if (r < 0)
			return cove_errno(err, r, "COVE_FIRECRACKER_JAILER=%s: not found on PATH or in %s", setting,
					  JAILER_SEARCH_DIRS);
	}
	char jv[32], fv[32];
	struct cove_err e = { 0 };
	int r = vmm_binary_version("firecracker jailer", out, fc_parse_jailer_version, jv, sizeof(jv), &e);
	r = r ?: vmm_binary_version("firecracker", fc_binary, fc_parse_version, fv, sizeof(fv), &e);
	if (r == 0 && strcmp(jv, fv) != 0)
		r = cove_errf(&e, -EPROTO, "firecracker: jailer %s is version %s, firecracker %s is %s: a jailer is "
					   "meant for the Firecracker of its version", out, jv, fc_binary, fv);
	if (r < 0 && automatic) {
		static bool said;
		if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
			log_warn("op=boot msg=\"firecracker runs without its jailer: %s\"", e.msg);
		return 0;
	}
	if (r < 0) {
		if (err)
			*err = e;
		return r;
	}
	return 1;
}
