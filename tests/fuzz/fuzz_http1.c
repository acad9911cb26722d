/* libFuzzer target: what coved's envd proxy reads from a guest (which is not
 * trusted): an HTTP/1.1 response head, then a chunked body fed in pieces
 * whose sizes the input chooses; and the same head as a request, as the
 * egress proxy reads a sandbox's, set a header and parsed again. The decoded body must never be longer than
 * what came in. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t end = http1_head_end((const char *)data, size);
	if (end) {
		char *head = malloc(end);
		memcpy(head, data, end);
		struct http1_response r;
		if (http1_parse_response(head, end, &r) == 0) {
			/* Touch what the parser handed out. */
			volatile size_t sum = r.status;
			for (size_t i = 0; i < r.nheaders; i++)
				sum += strlen(r.headers[i].name) + strlen(r.headers[i].value);
			(void)sum;
			(void)http1_header(&r, "content-type");
		}
		/* The same bytes as a request head, composed again with a
		 * header set: what comes out parses, with the header once. */
		memcpy(head, data, end);
		struct http1_request q;
		if (http1_parse_request(head, end, &q) == 0) {
			const struct http1_header set = { "Authorization", "Bearer x" };
			size_t cap = end + q.nheaders + 64; /* ": " where ":" was, and the new header */
			char *out = malloc(cap);
			long n = http1_request_compose(&q, &set, 1, out, cap);
			struct http1_request again;
			if (n < 0 || ((size_t)n <= HTTP1_MAX_HEAD && q.nheaders < HTTP1_MAX_HEADERS && (http1_parse_request(out, (size_t)n, &again) != 0 ||
			    strcmp(http1_request_header(&again, "authorization"), "Bearer x") != 0)))
				abort();
			free(out);
		}
		free(head);
	}
	struct http1_chunked c = { 0 };
	uint8_t *out = malloc(size + 1);
	size_t off = end, total_in = 0, total_out = 0;
	while (off < size && !c.done) {
		size_t n = (size_t)data[off] % 32 + 1;
		off++;
		if (n > size - off)
			n = size - off;
		size_t used, made;
		if (http1_chunked_decode(&c, data + off, n, out + total_out, &used, &made) < 0)
			break;
		if (used > n || made > used)
			abort();
		off += used ? used : n; /* nothing used only at the end of the body */
		total_in += used;
		total_out += made;
		if (total_out > total_in)
			abort();
	}
	free(out);
	return 0;
}
