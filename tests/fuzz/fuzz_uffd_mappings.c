/* libFuzzer target: the page server's handshake (src/vmm/pager/mappings.c),
 * the JSON a VMM sends with its userfaultfd. Whatever is accepted keeps
 * the promises the fault loop relies on: page sizes a power of two from
 * 4 KiB to 1 GiB, every field a whole number of pages, no region running
 * past the end of the address space or into another; and a refusal says
 * why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/pager/pager.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pager_region r[4];
	size_t n = 99;
	struct cove_err err = { 0 };
	if (pager_parse_mappings((const char *)data, size, r, 4, &n, &err) < 0) {
		if (n != 0 || !err.msg[0])
			abort();
		return 0;
	}
	if (n < 1 || n > 4)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint64_t ps = r[i].page_size;
		if (ps < 4096 || ps > (1ull << 30) || (ps & (ps - 1)) || r[i].size == 0 ||
		    ((r[i].base | r[i].size | r[i].offset) & (ps - 1)) || r[i].base + r[i].size < r[i].base ||
		    r[i].offset + r[i].size < r[i].offset)
			abort();
		for (size_t j = 0; j < i; j++)
			if (r[i].base < r[j].base + r[j].size && r[j].base < r[i].base + r[i].size)
				abort();
	}
	return 0;
}
