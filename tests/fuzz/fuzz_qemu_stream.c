/* libFuzzer target: the QEMU migration stream filter (src/vmm/qemu/qemu_stream.c),
 * both ways: leaving out pages equal to a base, and moving every page to a
 * RAM file. The input is the stream; the base is 16 pages, page i filled
 * with i. Output goes to memory files. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/qemu/qemu_stream.h"

static uint8_t base[16 * 4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(base); i++)
		base[i] = (uint8_t)(i / 4096);
	for (int mode = 0; mode < 2; mode++) {
		int in = memfd_create("in", MFD_CLOEXEC), out = memfd_create("out", MFD_CLOEXEC);
		int ram = mode ? memfd_create("ram", MFD_CLOEXEC) : -1;
		if (in < 0 || out < 0 || (mode && ram < 0) || write(in, data, size) != (ssize_t)size)
			__builtin_trap();
		lseek(in, 0, SEEK_SET);
		struct qemu_stream_filter opt = { "mem", base, sizeof(base), ram };
		struct qemu_stream_stats st;
		struct cove_err err = { 0 };
		int r = qemu_stream_filter(in, out, &opt, &st, &err);
		if (r < 0 && !err.msg[0])
			__builtin_trap(); /* every failure says why */
		if (r == 0 && st.bytes_in != size)
			__builtin_trap(); /* a whole stream is read to its end */
		close(in);
		close(out);
		if (ram >= 0)
			close(ram);
	}
	return 0;
}
