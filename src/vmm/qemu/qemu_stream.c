/* See qemu_stream.h for the format and why. */
#include "vmm/qemu/qemu_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_MAGIC 0x5145564du /* "QEVM" */
#define STREAM_VERSION 3
#define PAGE_SIZE_4K 4096
#define PAGE_FLAGS_MASK 0xfffu

enum {
	SEC_EOF = 0x00,
	SEC_START = 0x01,
	SEC_PART = 0x02,
	SEC_END = 0x03,
	SEC_FULL = 0x04,
	SEC_SUBSECTION = 0x05,
	SEC_CONFIGURATION = 0x07,
	SEC_COMMAND = 0x08,
	SEC_FOOTER = 0x7e,
};

enum {
	RAM_ZERO = 0x02,
	RAM_MEM_SIZE = 0x04,
	RAM_PAGE = 0x08,
	RAM_EOS = 0x10,
	RAM_CONTINUE = 0x20,
};

static const uint8_t zero_page[PAGE_SIZE_4K];

#define READ_BUF (1u << 20)
#define RUN_MAX (1u << 20)
#define WRITE_BUF (1u << 20)
#define MAX_BLOCKS 1024

struct name {
	uint8_t len;
	char s[256];
};

struct filter {
	int in, out;
	uint8_t *rbuf, *wbuf;
	size_t rstart, rend, wlen;
	const struct name *target;
	const uint8_t *base;
	size_t base_len;
	bool ignore_shared;
	uint32_t ram_id;
	bool have_ram;
	struct name in_last, out_last; /* the block a CONTINUE record means, each side */
	struct qemu_stream_stats *st;
	uint64_t synced; /* bytes_out the disk was last told to write */
	/* ram_fd mode: the block's pages, written in runs of adjacent pages */
	int ram_fd;
	uint64_t ram_len;    /* the block's length, from its block list; 0: not seen */
	uint8_t *written;    /* a bit per page written to ram_fd */
	uint8_t *run;
	uint64_t run_offset;
	size_t run_len;
	struct cove_err *err;
};

static int proto(struct filter *f, const char *what)
{
	return cove_errf(f->err, -EPROTO, "QEMU's migration stream: %s (at byte %llu)", what,
			 (unsigned long long)(f->st->bytes_in - (f->rend - f->rstart)));
}

/* Makes n bytes readable at f->rbuf + f->rstart. */
static int need(struct filter *f, size_t n)
{
	if (f->rend - f->rstart >= n)
		return 0;
	if (f->rstart > 0) {
		memmove(f->rbuf, f->rbuf + f->rstart, f->rend - f->rstart);
		f->rend -= f->rstart;
		f->rstart = 0;
	}
	while (f->rend < n) {
		ssize_t got = read(f->in, f->rbuf + f->rend, READ_BUF - f->rend);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return cove_errno(f->err, -errno, "read QEMU's migration stream");
		if (got == 0)
			return proto(f, "it ends inside a record");
		f->rend += (size_t)got;
		f->st->bytes_in += (uint64_t)got;
	}
	return 0;
}

/* Starts the disk writing what is written so far every few MiB, so that
 * the caller's fsync at the end has little left to wait for (measured: a
 * 75 MiB save spent 135 ms in fsync after the stream). Only a hint: a file
 * that is not a file (a pipe) ignores it. */
#define WRITEBACK_EVERY (8u << 20)

static void start_writeback(struct filter *f)
{
	if (f->st->bytes_out - f->synced < WRITEBACK_EVERY)
		return;
	sync_file_range(f->out, (off64_t)f->synced, (off64_t)(f->st->bytes_out - f->synced), SYNC_FILE_RANGE_WRITE);
	f->synced = f->st->bytes_out;
}

static int write_all(struct filter *f, const uint8_t *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(f->out, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cove_errno(f->err, -errno, "write the saved state");
		done += (size_t)w;
	}
	f->st->bytes_out += n;
	start_writeback(f);
	return 0;
}

static int flush(struct filter *f)
{
	int r = write_all(f, f->wbuf, f->wlen);
	f->wlen = 0;
	return r;
}

static int put(struct filter *f, const void *p, size_t n)
{
	if (f->wlen + n > WRITE_BUF) {
		int r = flush(f);
		if (r < 0)
			return r;
	}
	memcpy(f->wbuf + f->wlen, p, n);
	f->wlen += n;
	return 0;
}

/* The next n bytes (valid until the next call), consumed; copied out too
 * when copy is set. */
static int take(struct filter *f, size_t n, bool copy, const uint8_t **p)
{
	*p = f->rbuf;
	int r = need(f, n);
	if (r < 0)
		return r;
	*p = f->rbuf + f->rstart;
	f->rstart += n;
	return copy ? put(f, *p, n) : 0;
}

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int take_be(struct filter *f, size_t n, bool copy, uint64_t *v)
{
	const uint8_t *p;
	int r = take(f, n, copy, &p);
	*v = r == 0 ? be(p, n) : 0;
	return r;
}

/* A counted string: one length byte, then the bytes. */
static int take_name(struct filter *f, bool copy, struct name *out)
{
	uint64_t len;
	const uint8_t *p;
	int r = take_be(f, 1, copy, &len);
	r = r ?: take(f, (size_t)len, copy, &p);
	if (r == 0) {
		out->len = (uint8_t)len;
		memcpy(out->s, p, (size_t)len);
		out->s[len] = '\0';
	}
	return r;
}

static bool name_eq(const struct name *a, const struct name *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static int peek(struct filter *f, int *byte)
{
	int r = need(f, 1);
	*byte = r == 0 ? f->rbuf[f->rstart] : -1;
	return r;
}

/* The configuration's subsections (savevm.c's vmstate_configuration). */
static int configuration(struct filter *f)
{
	uint64_t len, v;
	const uint8_t *p;
	int r = take_be(f, 4, true, &len);
	if (r == 0 && len > 255)
		return proto(f, "a machine name longer than 255 bytes");
	r = r ?: take(f, (size_t)len, true, &p);
	int next;
	while (r == 0 && (r = peek(f, &next)) == 0 && next == SEC_SUBSECTION) {
		struct name sub, cap;
		r = take_be(f, 1, true, &v) ?: take_name(f, true, &sub) ?: take_be(f, 4, true, &v);
		if (r < 0)
			break;
		if (strcmp(sub.s, "configuration/capabilities") == 0) {
			uint64_t n;
			r = take_be(f, 4, true, &n);
			for (uint64_t i = 0; r == 0 && i < n && i < 256; i++)
				if ((r = take_name(f, true, &cap)) == 0 && strcmp(cap.s, "x-ignore-shared") == 0)
					f->ignore_shared = true;
		} else if (strcmp(sub.s, "configuration/target-page-bits") == 0) {
			if ((r = take_be(f, 4, true, &v)) == 0 && v != 12)
				r = proto(f, "target pages are not 4 KiB");
		} else if (strcmp(sub.s, "configuration/uuid") == 0) {
			r = take(f, 16, true, &p);
		} else {
			r = proto(f, "an unknown configuration subsection");
		}
	}
	return r;
}

/* ram_fd mode: the file sized to the block, all holes. */
static int ram_size(struct filter *f, uint64_t len)
{
	if (f->ram_fd < 0 || f->ram_len == len)
		return 0;
	if (f->ram_len || len == 0 || len % PAGE_SIZE_4K || len > (1ull << 40))
		return proto(f, "the RAM block's length changes or is not whole pages");
	f->ram_len = len;
	f->written = calloc(len / PAGE_SIZE_4K / 8 + 1, 1);
	if (!f->written)
		return cove_errf(f->err, -ENOMEM, "out of memory");
	if (ftruncate(f->ram_fd, 0) < 0 || ftruncate(f->ram_fd, (off_t)len) < 0)
		return cove_errno(f->err, -errno, "size the RAM file");
	return 0;
}

static int ram_flush(struct filter *f)
{
	size_t done = 0;
	while (done < f->run_len) {
		ssize_t w = pwrite(f->ram_fd, f->run + done, f->run_len - done, (off_t)(f->run_offset + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cove_errno(f->err, -errno, "write the RAM file");
		done += (size_t)w;
	}
	f->run_len = 0;
	return 0;
}

/* A page of the block into the RAM file; a zero page only where a page was
 * written before (the rest are holes). */
static int ram_page(struct filter *f, uint64_t offset, bool zero, const uint8_t *data)
{
	if (!f->ram_len || offset > f->ram_len - PAGE_SIZE_4K)
		return proto(f, "a page outside its RAM block");
	uint64_t page = offset / PAGE_SIZE_4K;
	bool was = f->written[page / 8] & (1u << (page % 8));
	if (zero && !was)
		return 0;
	f->written[page / 8] |= (uint8_t)(1u << (page % 8));
	int r = 0;
	if (f->run_len && (f->run_offset + f->run_len != offset || f->run_len == RUN_MAX))
		r = ram_flush(f);
	if (r == 0 && f->run_len == 0)
		f->run_offset = offset;
	if (r == 0) {
		memcpy(f->run + f->run_len, zero ? zero_page : data, PAGE_SIZE_4K);
		f->run_len += PAGE_SIZE_4K;
	}
	return r;
}

/* RAM_MEM_SIZE: the block list, until the lengths add up to the total. */
static int block_list(struct filter *f, uint64_t total)
{
	uint64_t sum = 0, len = 0, addr;
	struct name n;
	for (int i = 0; sum < total; i++) {
		if (i == MAX_BLOCKS)
			return proto(f, "more RAM blocks than it can hold");
		int r = take_name(f, true, &n) ?: take_be(f, 8, true, &len);
		if (r == 0 && f->ignore_shared)
			r = take_be(f, 8, true, &addr);
		if (r == 0 && name_eq(&n, f->target))
			r = ram_size(f, len);
		if (r < 0)
			return r;
		sum += len;
	}
	return sum == total ? 0 : proto(f, "RAM block lengths do not add up to the total");
}

static bool base_holds(const struct filter *f, uint64_t offset, bool zero, const uint8_t *page)
{
	if (!f->base || !name_eq(&f->in_last, f->target) || offset > f->base_len || f->base_len - offset < PAGE_SIZE_4K)
		return false;
	return memcmp(f->base + offset, zero ? zero_page : page, PAGE_SIZE_4K) == 0;
}

/* A ZERO or PAGE record: kept, re-encoded so that CONTINUE still means the
 * block named last in what is written, or left out. */
static int page_record(struct filter *f, uint64_t header)
{
	unsigned flags = (unsigned)(header & PAGE_FLAGS_MASK);
	uint64_t offset = header & ~(uint64_t)PAGE_FLAGS_MASK;
	int r = 0;
	if (!(flags & RAM_CONTINUE))
		r = take_name(f, false, &f->in_last);
	else if (f->in_last.len == 0)
		return proto(f, "a page record continues no block");
	bool zero = (flags & ~RAM_CONTINUE) == RAM_ZERO;
	const uint8_t *data = NULL;
	r = r ?: take(f, zero ? 1 : PAGE_SIZE_4K, false, &data);
	if (r < 0)
		return r;
	if (zero && data[0] != 0)
		return proto(f, "a zero-page record with a fill byte other than 0");
	bool ours = name_eq(&f->in_last, f->target);
	f->st->pages += ours;
	if (ours && f->ram_fd >= 0) {
		f->st->dropped++;
		return ram_page(f, offset, zero, data);
	}
	if (ours && base_holds(f, offset, zero, data)) {
		f->st->dropped++;
		return 0;
	}
	uint8_t out[8 + 1 + 255];
	size_t n = 8;
	bool cont = name_eq(&f->in_last, &f->out_last);
	header = offset | (flags & ~RAM_CONTINUE) | (cont ? RAM_CONTINUE : 0);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(header >> (56 - 8 * i));
	if (!cont) {
		out[n++] = f->in_last.len;
		memcpy(out + n, f->in_last.s, f->in_last.len);
		n += f->in_last.len;
		f->out_last = f->in_last;
	}
	return put(f, out, n) ?: put(f, data, zero ? 1 : PAGE_SIZE_4K);
}

/* The data of one "ram" section, up to and with its EOS record. */
static int ram_data(struct filter *f)
{
	for (;;) {
		uint64_t header;
		const uint8_t *p;
		int r = need(f, 8);
		if (r < 0)
			return r;
		header = be(f->rbuf + f->rstart, 8);
		unsigned flags = (unsigned)(header & PAGE_FLAGS_MASK);
		unsigned kind = flags & ~RAM_CONTINUE;
		if (kind == RAM_ZERO || kind == RAM_PAGE) {
			f->rstart += 8;
			r = page_record(f, header);
		} else if (flags == RAM_MEM_SIZE) {
			r = take(f, 8, true, &p) ?: block_list(f, header & ~(uint64_t)PAGE_FLAGS_MASK);
		} else if (flags == RAM_EOS) {
			return take(f, 8, true, &p);
		} else {
			char what[64];
			snprintf(what, sizeof(what), "a RAM record with flags 0x%x", flags);
			r = proto(f, what);
		}
		if (r < 0)
			return r;
	}
}

static int footer(struct filter *f, uint32_t id)
{
	int next, r = peek(f, &next);
	uint64_t v;
	if (r < 0 || next != SEC_FOOTER)
		return r;
	r = take_be(f, 1, true, &v) ?: take_be(f, 4, true, &v);
	return r < 0 || v == id ? r : proto(f, "a section footer names another section");
}

static int section(struct filter *f, int type)
{
	uint64_t id, v;
	struct name idstr;
	int r = take_be(f, 4, true, &id);
	if (r == 0 && type == SEC_START) {
		r = take_name(f, true, &idstr) ?: take_be(f, 4, true, &v) ?: take_be(f, 4, true, &v);
		if (r == 0 && strcmp(idstr.s, "ram") != 0)
			return proto(f, "an iterable section other than RAM");
		f->ram_id = (uint32_t)id;
		f->have_ram = true;
	} else if (r == 0 && (!f->have_ram || id != f->ram_id)) {
		return proto(f, "a section continues one that did not start");
	}
	return r ?: ram_data(f) ?: footer(f, (uint32_t)id);
}

/* Device state and what follows: copied as it comes. */
static int pass_rest(struct filter *f)
{
	const uint8_t *p;
	int r = take(f, f->rend - f->rstart, true, &p) ?: flush(f);
	while (r == 0) {
		ssize_t got = read(f->in, f->rbuf, READ_BUF);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return cove_errno(f->err, -errno, "read QEMU's migration stream");
		if (got == 0)
			break;
		f->st->bytes_in += (uint64_t)got;
		r = write_all(f, f->rbuf, (size_t)got);
	}
	return r;
}

static int run(struct filter *f)
{
	uint64_t magic, version;
	int r = take_be(f, 4, true, &magic) ?: take_be(f, 4, true, &version);
	if (r == 0 && (magic != STREAM_MAGIC || version != STREAM_VERSION))
		return proto(f, "not a version 3 QEMU migration stream");
	while (r == 0) {
		uint64_t type = 0, v = 0;
		const uint8_t *p;
		if ((r = take_be(f, 1, true, &type)) < 0)
			break;
		switch (type) {
		case SEC_CONFIGURATION:
			r = configuration(f);
			break;
		case SEC_START:
		case SEC_PART:
		case SEC_END:
			r = section(f, (int)type);
			break;
		case SEC_COMMAND:
			r = take_be(f, 2, true, &v) ?: take_be(f, 2, true, &v) ?: take(f, (size_t)v, true, &p);
			break;
		case SEC_FULL:
		case SEC_EOF:
			return pass_rest(f);
		default:
			return proto(f, "an unknown section type");
		}
	}
	return r;
}

int qemu_stream_filter(int in_fd, int out_fd, const struct qemu_stream_filter *opt, struct qemu_stream_stats *stats,
		       struct cove_err *err)
{
	struct name target = { 0 };
	if (strlen(opt->block) > 255)
		return cove_errf(err, -EINVAL, "RAM block name '%s' is too long", opt->block);
	target.len = (uint8_t)strlen(opt->block);
	memcpy(target.s, opt->block, target.len);
	*stats = (struct qemu_stream_stats){ 0 };
	struct filter f = { .in = in_fd, .out = out_fd, .target = &target, .base = opt->base,
			    .base_len = opt->base_len, .ram_fd = opt->ram_fd, .st = stats, .err = err };
	f.rbuf = malloc(READ_BUF);
	f.wbuf = malloc(WRITE_BUF);
	f.run = opt->ram_fd >= 0 ? malloc(RUN_MAX) : NULL;
	int r = f.rbuf && f.wbuf && (f.run || opt->ram_fd < 0) ? run(&f) : cove_errf(err, -ENOMEM, "out of memory");
	r = r ?: flush(&f);
	if (r == 0 && f.ram_fd >= 0)
		r = f.ram_len ? ram_flush(&f) : proto(&f, "no block list names the RAM block");
	free(f.rbuf);
	free(f.wbuf);
	free(f.run);
	free(f.written);
	return r;
}
