/* The QEMU driver's version: what `qemu-system-x86_64 --version` says
 * ("QEMU emulator version 7.2.19 (Debian ...)": "7.2.19"), asked once per
 * binary and kept while the file is unchanged (vmm_binary_version).
 * Template snapshots and saved sandboxes record it, so that another QEMU
 * refuses them with the reason instead of failing part way through a
 * restore. */
#include <errno.h>
#include <string.h>

#include "vmm/driver.h"
#include "vmm/qemu/qemu.h"

/* "QEMU emulator version X.Y.Z..." -> "X.Y.Z". */
static int parse(const char *out, char *buf, size_t len)
{
	const char *p = strstr(out, "version ");
	if (!p)
		return -EPROTO;
	p += strlen("version ");
	size_t n = strspn(p, "0123456789.");
	if (n == 0 || n >= len)
		return -EPROTO;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int qemu_version(const char *binary, char *buf, size_t len, struct cove_err *err)
{
	char path[4096];
	int r = qemu_find_binary(binary, path, sizeof(path), err);
	return r ?: vmm_binary_version("qemu", path, parse, buf, len, err);
}
