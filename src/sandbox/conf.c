/* What template snapshots and saved sandboxes were made from, and whether
 * one fits a sandbox's config: the text of their conf files
 * (snapshot.conf, saved.conf), written last so that a directory with one
 * is whole, and compared before a restore. The lowest file of the module:
 * snapshot.c, saved.c and sandbox.c use it, and it uses none of them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/internal.h"

int sandbox_describe(const struct sandbox_config *c, bool with_kernel, char *buf, size_t len, struct cove_err *err)
{
	/* Files by their canonical paths: the same file named two ways (a
	 * relative path, a symlink, "bin/../guest") is the same file. */
	struct stat k, r;
	char kernel[PATH_MAX], rootfs[PATH_MAX];
	if (with_kernel && (!realpath(c->kernel, kernel) || stat(kernel, &k) < 0))
		return cove_errno(err, -errno, "snapshot: kernel %s", c->kernel);
	if (!realpath(c->rootfs, rootfs) || stat(rootfs, &r) < 0)
		return cove_errno(err, -errno, "snapshot: image %s", c->rootfs);
	/* The VMM and its version: another one's device state may not load. */
	char vmm[96];
	if (vmm_describe(c->vmm_driver, c->vmm_binary, vmm, sizeof(vmm), err) < 0)
		return cove_err_prefix(err, "snapshot");
	int n = snprintf(buf, len, "vcpus=%u\nmem_mib=%u\nvmm=%s\n", c->vcpus ? c->vcpus : VMM_DEFAULT_VCPUS,
			 c->mem_mib ? c->mem_mib : VMM_DEFAULT_MEM_MIB, vmm);
	if (with_kernel && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "kernel=%s %" PRIu64 " %" PRId64 "\n", kernel,
			      (uint64_t)k.st_size, (int64_t)k.st_mtime);
	if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "rootfs=%s %" PRIu64 " %" PRId64 "\n", rootfs,
			      (uint64_t)r.st_size, (int64_t)r.st_mtime);
	if (n < 0 || (size_t)n >= len)
		return cove_errf(err, -ENAMETOOLONG, "snapshot: paths too long");
	return 0;
}

/* The value of key in a conf's text ("" when it has none), into buf. */
static void conf_value(const char *text, const char *key, char *buf, size_t len)
{
	size_t k = strlen(key);
	buf[0] = '\0';
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, k) == 0 && line[k] == '=') {
			size_t n = strcspn(line + k + 1, "\n");
			snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), line + k + 1);
			return;
		}
}

/* text without its key= line, into buf. */
static void drop_key(const char *text, const char *key, char *buf, size_t len)
{
	size_t k = strlen(key), used = 0;
	buf[0] = '\0';
	for (const char *line = text; *line;) {
		size_t n = strcspn(line, "\n");
		size_t with_nl = n + (line[n] == '\n');
		if (!(strncmp(line, key, k) == 0 && line[k] == '=') && used + with_nl < len) {
			memcpy(buf + used, line, with_nl);
			used += with_nl;
			buf[used] = '\0';
		}
		line += with_nl;
	}
}

int sandbox_conf_check(const char *path, const char *want, bool vmm, struct cove_err *why)
{
	char have[2 * PATH_MAX + 256], want_here[2 * PATH_MAX + 256], v[128];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(why, -errno, "%s", path);
	ssize_t n = read(fd, have, sizeof(have) - 1);
	have[n > 0 ? n : 0] = '\0';
	/* The VMM is compared when it matters (a restore of memory and device
	 * state) and the record has one: Cove recorded none before. */
	conf_value(have, "vmm", v, sizeof(v));
	if (!vmm || !v[0]) {
		char tmp[sizeof(have)];
		drop_key(have, "vmm", tmp, sizeof(tmp));
		memcpy(have, tmp, sizeof(have));
		drop_key(want, "vmm", want_here, sizeof(want_here));
		want = want_here;
	}
	if (strcmp(have, want) == 0)
		return 0;
	/* Name what differs: the first key whose value does. */
	static const char *const keys[] = { "vmm", "kernel", "rootfs", "mem_mib", "vcpus" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char a[PATH_MAX + 64], b[PATH_MAX + 64];
		conf_value(have, keys[i], a, sizeof(a));
		conf_value(want, keys[i], b, sizeof(b));
		if (strcmp(a, b) != 0)
			return cove_errf(why, -ESTALE, "%s was made with %s=%s, this host has %s=%s", path, keys[i],
					 a[0] ? a : "(none)", keys[i], b[0] ? b : "(none)");
	}
	return cove_errf(why, -ESTALE, "%s was made for another kernel, image, VMM, memory size or vCPU count", path);
}

int sandbox_snapshot_check(const struct sandbox_config *c, const char *dir, struct cove_err *why)
{
	char want[2 * PATH_MAX + 128], path[PATH_MAX + 32];
	int r = sandbox_describe(c, true, want, sizeof(want), why);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_CONF, dir);
	if ((r = sandbox_conf_check(path, want, true, why)) < 0)
		return r;
	const char *parts[] = { SNAPSHOT_MEMORY, SNAPSHOT_STATE, vmm_disk_name(c->vmm_driver, VMM_DISK_LAYER),
				vmm_disk_name(c->vmm_driver, VMM_DISK_OVERLAY) };
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, parts[i]);
		if (access(path, R_OK) < 0)
			return cove_errno(why, -errno, "%s", path);
	}
	return 0;
}

int sandbox_write_text(const char *path, const char *text, struct cove_err *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cove_errno(err, -errno, "create %s", path);
	int r = fs_write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	return r < 0 ? cove_errno(err, r, "write %s", path) : 0;
}
