/* The QEMU driver's migration stream filter: saving a guest whose RAM is a
 * private mapping of a file (a template snapshot's memory) keeps only the
 * pages that differ from that file.
 *
 * QEMU 7.2 cannot leave private RAM out of a migration (x-ignore-shared
 * skips shared blocks only), so it sends every page that is not zero. This
 * reads that stream as QEMU writes it and drops each page record of the
 * given RAM block whose content equals the file's page at the same offset;
 * everything else passes through. Loading the result into a VMM whose RAM
 * maps the same file privately gives the same memory: QEMU's loader only
 * writes the pages a stream holds, checks neither order nor completeness,
 * and applies a zero record with memset when the page is not zero already.
 *
 * Format (QEMU 7.2, migration/savevm.c and ram.c; big-endian): "QEVM", be32
 * version 3; an optional configuration (0x07: be32 length + machine name,
 * then 0x05 subsections); then sections: START (0x01: be32 id, counted idstr,
 * be32 instance, be32 version), PART (0x02) and END (0x03: be32 id), each
 * followed by a footer (0x7e + be32 id). The "ram" section's data is records
 * of be64 offset|flags: MEM_SIZE (the block list), ZERO (+1 byte), PAGE (+4096
 * bytes), EOS (end of this section's data); a record without CONTINUE names
 * its block (counted idstr), one with it means the block named last. After
 * the first device section (FULL, 0x04) everything is copied unread. */
#ifndef COVE_VMM_QEMU_QEMU_STREAM_H
#define COVE_VMM_QEMU_QEMU_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct qemu_stream_stats {
	uint64_t pages;   /* page and zero records of the block read */
	uint64_t dropped; /* of them, left out: equal to the base, or moved to ram_fd */
	uint64_t bytes_in, bytes_out;
};

struct qemu_stream_filter {
	const char *block;     /* the RAM block ("mem") */
	const uint8_t *base;   /* what the block is a private mapping of; NULL: none */
	size_t base_len;
	/* >= 0: every page of the block goes to this file instead (at its
	 * offset; the file is sized to the block and zero pages stay holes),
	 * none into the stream: the file is then the guest's whole RAM. */
	int ram_fd;
};

/* Copies the stream from in_fd to out_fd until in_fd's end, leaving out
 * the records of f->block that f->base already holds (or, with ram_fd,
 * all of them, written there). -EPROTO when the stream is not one this
 * understands (the caller saves without the filter then), -errno for a
 * failed read or write. */
int qemu_stream_filter(int in_fd, int out_fd, const struct qemu_stream_filter *f, struct qemu_stream_stats *stats,
		       struct cove_err *err);

#endif
