/* libFuzzer target: one read of a conntrack dump (src/net/conntrack.c), as
 * ct_forget_addr hands it over. The first four bytes are the address looked
 * for; the answer is 1, 0 or a negative errno, every entry handed over has
 * its original tuple inside the buffer, and the same bytes give the same
 * answer. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"

struct span {
	const char *buf;
	size_t len;
	unsigned seen;
};

static int seen(void *ctx, const struct ct_entry *e)
{
	struct span *s = ctx;
	const char *p = (const char *)e->orig;
	if (p < s->buf || p + sizeof(struct nlattr) > s->buf + s->len || p + e->orig->nla_len > s->buf + s->len)
		abort();
	s->seen++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t addr;
	memcpy(&addr, data, 4);
	/* Aligned as the socket's buffer is. */
	char *buf = malloc(size - 4 ? size - 4 : 1);
	memcpy(buf, data + 4, size - 4);
	struct span a = { buf, size - 4, 0 }, b = a;
	int r = ct_dump_parse(buf, size - 4, addr, seen, &a);
	if (r > 1 || r < -4095)
		abort();
	if (ct_dump_parse(buf, size - 4, addr, seen, &b) != r || a.seen != b.seen)
		abort();
	free(buf);
	return 0;
}
