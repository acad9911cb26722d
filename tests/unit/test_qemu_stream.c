/* Unit tests for the migration stream filter (src/vmm/qemu/qemu_stream.c): a
 * stream laid out as QEMU 7.2 writes it, filtered against a base memory
 * file, loads (by a loader written here the way QEMU's ram_load_precopy
 * reads) into the same memory as the whole stream, and is smaller. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/qemu/qemu_stream.h"

#define PG 4096
#define MEM_PAGES 8
#define ROM_PAGES 2

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_be(struct buf *b, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		uint8_t c = (uint8_t)(v >> (8 * i));
		put(b, &c, 1);
	}
}

static void put_name(struct buf *b, const char *s)
{
	put_be(b, strlen(s), 1);
	put(b, s, strlen(s));
}

/* block NULL: CONTINUE. data NULL: a zero page. */
static void page(struct buf *b, const char *block, unsigned index, const uint8_t *data)
{
	put_be(b, (uint64_t)index * PG | (data ? 0x08 : 0x02) | (block ? 0 : 0x20), 8);
	if (block)
		put_name(b, block);
	if (data)
		put(b, data, PG);
	else
		put_be(b, 0, 1);
}

static void section_start(struct buf *b, int type, uint32_t id)
{
	put_be(b, type, 1);
	put_be(b, id, 4);
	if (type == 0x01) {
		put_name(b, "ram");
		put_be(b, 0, 4);
		put_be(b, 4, 4);
	}
}

static void section_end(struct buf *b, uint32_t id)
{
	put_be(b, 0x10, 8); /* EOS */
	put_be(b, 0x7e, 1);
	put_be(b, id, 4);
}

static uint8_t base[MEM_PAGES * PG];
static size_t first_page_record; /* in make_stream's stream */
static uint8_t pages[4][PG];
static const uint8_t device[] = { 0x04, 0, 0, 0, 3, 3, 'd', 'e', 'v', 0, 0, 0, 0, 0, 0, 0, 1, 0xaa, 0xbb,
				  0x7e, 0, 0, 0, 3, 0x00, 0x06, 0, 0, 0, 2, '{', '}' };

/* Base: page i filled with i+1, except pages 2 and 6, zero. */
static void make_base(void)
{
	for (int i = 0; i < MEM_PAGES; i++)
		memset(base + (size_t)i * PG, i == 2 || i == 6 ? 0 : i + 1, PG);
	for (int i = 0; i < 4; i++)
		memset(pages[i], 0xc0 + i, PG);
}

/* The stream a guest gives whose pages 0, 2, 5 and 6 are as in the base,
 * 1 and 7 differ, 3 is zero (not in the base) and 4 is unchanged, with ROM
 * pages between and a section boundary inside. */
static void make_stream(struct buf *b)
{
	put_be(b, 0x5145564d, 4);
	put_be(b, 3, 4);
	put_be(b, 0x07, 1);
	put_be(b, 7, 4);
	put(b, "microvm", 7);
	put_be(b, 0x05, 1);
	put_name(b, "configuration/capabilities");
	put_be(b, 1, 4);
	put_be(b, 1, 4);
	put_name(b, "x-ignore-shared");
	section_start(b, 0x01, 2);
	put_be(b, (uint64_t)(MEM_PAGES + ROM_PAGES) * PG | 0x04, 8);
	put_name(b, "mem");
	put_be(b, MEM_PAGES * PG, 8);
	put_be(b, 0, 8);
	put_name(b, "rom");
	put_be(b, ROM_PAGES * PG, 8);
	put_be(b, 0xffff0000, 8);
	section_end(b, 2);
	section_start(b, 0x02, 2);
	first_page_record = b->len;
	page(b, "mem", 0, base);           /* same: dropped, though it names the block */
	page(b, NULL, 1, pages[0]);        /* differs: kept, must now name "mem" */
	page(b, NULL, 2, NULL);            /* zero in both: dropped */
	page(b, NULL, 3, NULL);            /* zero over a page that is not: kept */
	page(b, "rom", 0, pages[1]);       /* another block: always kept */
	page(b, NULL, 1, NULL);
	page(b, "mem", 4, base + 4 * PG);  /* same: dropped */
	section_end(b, 2);
	section_start(b, 0x03, 2);
	page(b, NULL, 5, base + 5 * PG);   /* continues "mem" across sections: dropped */
	page(b, NULL, 6, NULL);            /* dropped */
	page(b, NULL, 7, pages[2]);        /* kept: the last kept record was ROM's */
	section_end(b, 2);
	put(b, device, sizeof(device));
}

static uint64_t get(const struct buf *b, size_t *i, int n)
{
	uint64_t v = 0;
	for (int k = 0; k < n; k++)
		v = v << 8 | b->p[(*i)++];
	return v;
}

/* Applies a stream as QEMU's loader does: mem starts as the base, rom as
 * zeros. Returns the offset of the first device section. */
static size_t load(const struct buf *b, uint8_t *mem, uint8_t *rom)
{
	size_t i = 8;
	char last[256] = "";
	assert_int_equal(b->p[i++], 0x07);
	i += get(b, &i, 4); /* the machine's name */
	while (b->p[i] == 0x05) { /* the one capabilities subsection */
		i++;
		i += 1 + b->p[i];
		i += 4;
		uint64_t n = get(b, &i, 4);
		while (n--)
			i += 1 + b->p[i];
	}
	for (;;) {
		int type = b->p[i++];
		if (type == 0x04)
			return i - 1;
		get(b, &i, 4);
		if (type == 0x01) {
			i += 1 + b->p[i];
			i += 8;
		}
		for (;;) {
			uint64_t h = get(b, &i, 8);
			unsigned flags = h & 0xfff;
			uint64_t off = h & ~0xfffull;
			if (flags == 0x10)
				break;
			if (flags == 0x04) {
				for (uint64_t sum = 0; sum < off;) {
					i += 1 + b->p[i];
					sum += get(b, &i, 8);
					i += 8;
				}
				continue;
			}
			if (!(flags & 0x20)) {
				int n = b->p[i++];
				memcpy(last, b->p + i, n);
				last[n] = '\0';
				i += n;
			}
			assert_true(last[0] != '\0'); /* QEMU: "Ack, bad migration stream!" */
			uint8_t *block = strcmp(last, "mem") == 0 ? mem : rom;
			assert_true(off < (block == mem ? MEM_PAGES : ROM_PAGES) * (uint64_t)PG);
			if ((flags & ~0x20u) == 0x08) {
				memcpy(block + off, b->p + i, PG);
				i += PG;
			} else {
				assert_int_equal(flags & ~0x20u, 0x02);
				memset(block + off, b->p[i++], PG);
			}
		}
		assert_int_equal(b->p[i++], 0x7e);
		get(b, &i, 4);
	}
}

static int ram_fd = -1; /* the next filter's, if set */

static int filter(const struct buf *in, struct buf *out, int out_fd, struct qemu_stream_stats *st,
		  struct cove_err *err)
{
	int ifd = memfd_create("in", MFD_CLOEXEC), ofd = out_fd >= 0 ? out_fd : memfd_create("out", MFD_CLOEXEC);
	assert_true(ifd >= 0 && ofd >= 0);
	assert_int_equal(write(ifd, in->p, in->len), (ssize_t)in->len);
	lseek(ifd, 0, SEEK_SET);
	struct qemu_stream_filter opt = { "mem", base, sizeof(base), ram_fd };
	int r = qemu_stream_filter(ifd, ofd, &opt, st, err);
	if (out) {
		off_t n = lseek(ofd, 0, SEEK_END);
		out->len = out->cap = (size_t)n;
		out->p = malloc((size_t)n + 1);
		assert_int_equal(pread(ofd, out->p, (size_t)n, 0), n);
	}
	close(ifd);
	if (out_fd < 0)
		close(ofd);
	return r;
}

static void test_filtered_loads_the_same(void **state)
{
	(void)state;
	struct buf in = { 0 }, out = { 0 };
	make_base();
	make_stream(&in);
	struct qemu_stream_stats st;
	struct cove_err err = { 0 };
	assert_int_equal(filter(&in, &out, -1, &st, &err), 0);
	assert_int_equal(st.pages, 8);
	assert_int_equal(st.dropped, 5);
	assert_int_equal(st.bytes_in, in.len);
	assert_int_equal(st.bytes_out, out.len);
	assert_true(out.len < in.len - 3 * PG);

	static uint8_t mem_a[MEM_PAGES * PG], mem_b[MEM_PAGES * PG], rom_a[ROM_PAGES * PG], rom_b[ROM_PAGES * PG];
	memcpy(mem_a, base, sizeof(base));
	memcpy(mem_b, base, sizeof(base));
	size_t dev_a = load(&in, mem_a, rom_a), dev_b = load(&out, mem_b, rom_b);
	assert_memory_equal(mem_a, mem_b, sizeof(mem_a));
	assert_memory_equal(rom_a, rom_b, sizeof(rom_a));
	assert_int_equal(mem_b[3 * PG], 0); /* the zero record still clears page 3 */
	assert_int_equal(mem_b[1 * PG], 0xc0);
	/* Device state onwards passes unchanged. */
	assert_int_equal(in.len - dev_a, out.len - dev_b);
	assert_memory_equal(in.p + dev_a, out.p + dev_b, in.len - dev_a);
	free(in.p);
	free(out.p);
}

/* With a RAM file: it gets the guest's whole RAM, the stream none of it,
 * and loading the stream over the file gives the guest's memory. */
static void test_ram_file_gets_all_of_it(void **state)
{
	(void)state;
	struct buf in = { 0 }, out = { 0 };
	make_base();
	make_stream(&in);
	ram_fd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(ram_fd >= 0);
	struct qemu_stream_stats st;
	struct cove_err err = { 0 };
	int r = filter(&in, &out, -1, &st, &err);
	assert_int_equal(r, 0);
	assert_int_equal(st.pages, 8);
	assert_int_equal(st.dropped, 8);

	static uint8_t want[MEM_PAGES * PG], got[MEM_PAGES * PG], rom_a[ROM_PAGES * PG], rom_b[ROM_PAGES * PG];
	memset(want, 0, sizeof(want)); /* QEMU sends every page: the stream alone makes the memory */
	load(&in, want, rom_a);
	assert_int_equal(lseek(ram_fd, 0, SEEK_END), (off_t)sizeof(got));
	assert_int_equal(pread(ram_fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	assert_memory_equal(want, got, sizeof(want));
	load(&out, got, rom_b); /* no page of "mem" left in it: got stays as the file */
	assert_memory_equal(want, got, sizeof(want));
	assert_memory_equal(rom_a, rom_b, sizeof(rom_a));
	close(ram_fd);
	ram_fd = -1;
	free(in.p);
	free(out.p);
}

static void expect_proto(struct buf *in, const char *words)
{
	struct qemu_stream_stats st;
	struct cove_err err = { 0 };
	int r = filter(in, NULL, -1, &st, &err);
	if (r != -EPROTO || !strstr(err.msg, words))
		fail_msg("got %d '%s', want -EPROTO with '%s'", r, err.msg, words);
}

static void test_streams_it_does_not_know(void **state)
{
	(void)state;
	struct buf in = { 0 };
	make_base();
	make_stream(&in);
	size_t whole = in.len;

	in.len = whole / 2; /* cut inside a page */
	expect_proto(&in, "ends inside a record");

	/* An XBZRLE record (a capability Cove never turns on). */
	in.len = whole;
	in.p[first_page_record + 7] = 0x40;
	expect_proto(&in, "flags 0x40");

	in.p[0] = 'X';
	expect_proto(&in, "not a version 3");
	free(in.p);
}

static void test_write_failure_is_reported(void **state)
{
	(void)state;
	struct buf in = { 0 };
	make_base();
	make_stream(&in);
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (full < 0)
		skip();
	struct qemu_stream_stats st;
	struct cove_err err = { 0 };
	int r = filter(&in, NULL, full, &st, &err);
	close(full);
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(err.msg, "write the saved state"));
	free(in.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filtered_loads_the_same),
		cmocka_unit_test(test_ram_file_gets_all_of_it),
		cmocka_unit_test(test_streams_it_does_not_know),
		cmocka_unit_test(test_write_failure_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
