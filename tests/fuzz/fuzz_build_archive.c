/* libFuzzer target: an uploaded COPY archive (files_archive_check, which
 * reads the bytes with libarchive as tar or tar.gz and checks every entry),
 * with small limits so that the limit paths run too. The seeds are what
 * node-tar 7 (npm e2b's) makes, gzip and plain. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "build/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("fuzz-archive", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	struct files_limits limits = { .max_upload = 1 << 20, .max_content = 1 << 20, .max_entries = 64 };
	struct cove_err err = { 0 };
	int r = files_archive_check(fd, "fuzz", &limits, &err);
	if (r < 0 && ((r != -EINVAL && r != -EFBIG && r != -ENOMEM) || !err.msg[0]))
		abort();
	return 0;
}
