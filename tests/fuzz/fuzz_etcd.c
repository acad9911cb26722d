/* libFuzzer target: etcd's JSON gateway answers as coved reads them
 * (src/proto/etcd.c): every response parser on the input, and the input as a
 * watch stream, split into lines in two pieces as it might arrive. Seeds are
 * answers captured from etcd 3.4.23. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/etcd.h"

static void parse_all(const char *data, size_t size)
{
	for (int op = ETCD_OP_RANGE; op <= ETCD_OP_DELETE; op++) {
		struct etcd_result r;
		if (etcd_result_parse((enum etcd_op)op, data, size, &r, NULL) == 0)
			etcd_result_clear(&r);
	}
	struct etcd_txn_result t;
	if (etcd_txn_parse(data, size, &t, NULL) == 0)
		etcd_txn_result_clear(&t);
	struct etcd_lease l;
	if (etcd_lease_parse(data, size, &l, NULL) == 0)
		etcd_lease_clear(&l);
	struct etcd_error e;
	(void)etcd_error_parse(data, size, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_all((const char *)data, size);
	struct etcd_lines lines = { 0 };
	size_t half = size / 2;
	const char *line;
	size_t len;
	for (int piece = 0; piece < 2; piece++) {
		const uint8_t *from = piece ? data + half : data;
		if (etcd_lines_append(&lines, from, piece ? size - half : half) < 0)
			abort();
		while (etcd_lines_next(&lines, piece == 1, &line, &len)) {
			struct etcd_watch_msg m;
			if (etcd_watch_parse(line, len, &m, NULL) == 0)
				etcd_watch_msg_clear(&m);
		}
	}
	etcd_lines_clear(&lines);
	/* A key as a prefix must give an end above every key it covers. */
	if (size > 0 && size < 4096) {
		uint8_t end[4096];
		size_t n = etcd_prefix_end(data, size, end);
		if (n == 0 || n > size)
			abort();
	}
	return 0;
}
