/* libFuzzer target: one read of the nftables notifications (src/net/nfevent.c),
 * as the rules' guard hands it over. The first byte picks the table name
 * looked for; the answer is always -EINVAL, 0 or 1, and the same bytes give
 * the same answer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "cove", "", "c", "cove-test-long-name" };
	if (size < 1)
		return 0;
	const char *name = names[data[0] % 4];
	/* Aligned as the guard's buffer is. */
	void *buf = malloc(size - 1 ? size - 1 : 1);
	memcpy(buf, data + 1, size - 1);
	int r = nft_event_deletes_table(buf, size - 1, name);
	if (r != 0 && r != 1 && r != -EINVAL)
		abort();
	if (nft_event_deletes_table(buf, size - 1, name) != r)
		abort();
	free(buf);
	return 0;
}
