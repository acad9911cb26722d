/* Unit tests for src/build/files.h: the store of COPY uploads (real tar and
 * tar.gz files, made with libarchive's writer and with tar(1), uploaded in
 * pieces as coved's PUT handler will) and the upload tokens. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "build/files.h"
#include "common/cleanup.h"
#include "common/fs.h"

#define HASH_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASH_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static char dir[] = "/tmp/cove-test-build-files.XXXXXX";

struct entry {
	const char *name;
	mode_t type;         /* AE_IFREG (0: a file too), AE_IFDIR, AE_IFLNK, AE_IFIFO, AE_IFCHR */
	const char *data;    /* a file's; a symlink's target */
	const char *hardlink; /* a hard link to this earlier entry */
};

struct bytes {
	char *data;
	size_t len;
};

/* --- helpers --- */

/* A tar (pax, as node-tar writes ustar with PAX headers), gzipped or not,
 * of the entries up to one with no name. */
static struct bytes make_archive(bool gzip, const struct entry *entries)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	size_t cap = 1 << 20, used = 0;
	char *buf = malloc(cap);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	for (const struct entry *e = entries; e->name; e++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e->name);
		mode_t type = e->type ? e->type : AE_IFREG;
		archive_entry_set_filetype(ae, type);
		archive_entry_set_perm(ae, type == AE_IFDIR ? 0755 : 0644);
		size_t size = type == AE_IFREG && e->data && !e->hardlink ? strlen(e->data) : 0;
		archive_entry_set_size(ae, (la_int64_t)size);
		if (type == AE_IFLNK)
			archive_entry_set_symlink(ae, e->data);
		if (e->hardlink)
			archive_entry_set_hardlink(ae, e->hardlink);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (size)
			assert_int_equal(archive_write_data(a, e->data, size), (la_ssize_t)size);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return (struct bytes){ buf, used };
}

/* Uploads b as the PUT handler would, in pieces, saying expected bytes. */
static int upload(const struct files_store *store, const char *hash, struct bytes b, uint64_t expected,
		  struct cove_err *err)
{
	struct files_upload *u;
	int r = files_begin(store, hash, &u, err);
	if (r < 0)
		return r;
	for (size_t off = 0; off < b.len; off += 1000) {
		size_t n = b.len - off < 1000 ? b.len - off : 1000;
		if ((r = files_write(u, b.data + off, n, err)) < 0) {
			files_abort(u);
			return r;
		}
	}
	return files_commit(u, expected, err);
}

/* The archive of entries must be refused with -want and a message naming
 * HASH_A and containing what, leaving nothing behind. */
static void refused(const struct files_store *store, bool gzip, const struct entry *entries, int want,
		    const char *what)
{
	struct bytes b = make_archive(gzip, entries);
	struct cove_err err = { 0 };
	int r = upload(store, HASH_A, b, b.len, &err);
	if (r != want || !strstr(err.msg, what) || !strstr(err.msg, HASH_A))
		fail_msg("got %d '%s', want %d '%s'", r, err.msg, want, what);
	assert_false(files_has(store, HASH_A));
	free(b.data);
}

/* Entries in dir, the store's own and any other. */
static int count_files(void)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static struct bytes read_whole(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct bytes b = { malloc(1 << 20), 0 };
	b.len = fread(b.data, 1, 1 << 20, f);
	fclose(f);
	return b;
}

static void assert_stored(const struct files_store *store, const char *hash, struct bytes want)
{
	char path[PATH_MAX];
	assert_int_equal(files_path(store, hash, path, NULL), 0);
	struct bytes got = read_whole(path);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(got.data);
}

static int setup(void **state)
{
	struct files_store *store = calloc(1, sizeof(*store));
	struct cove_err err = { 0 };
	strcpy(dir, "/tmp/cove-test-build-files.XXXXXX");
	if (!mkdtemp(dir) || files_store_open(dir, store, &err) < 0)
		return -1;
	*state = store;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return fs_remove_tree(dir, NULL);
}

static const struct entry sdk_entries[] = {
	/* copy('sub', ...) and friends: a directory, files, a symlink, a long
	 * name (a PAX header), "./" as copy('.') makes. */
	{ "./", AE_IFDIR, NULL, NULL },
	{ "sub/", AE_IFDIR, NULL, NULL },
	{ "sub/b.txt", AE_IFREG, "bee\n", NULL },
	{ "a.txt", AE_IFREG, "hello\n", NULL },
	{ "link", AE_IFLNK, "a.txt", NULL },
	{ "abs-link", AE_IFLNK, "/etc/hostname", NULL },
	{ "sub/a-very-long-name-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-"
	  "0123456789-0123456789-0123456789.txt", AE_IFREG, "long\n", NULL },
	{ NULL, 0, NULL, NULL },
};

/* --- the store --- */

static void test_valid_gzip(void **state)
{
	struct files_store *store = *state;
	struct bytes b = make_archive(true, sdk_entries);
	assert_int_equal((unsigned char)b.data[0], 0x1f);
	assert_int_equal((unsigned char)b.data[1], 0x8b);
	struct cove_err err = { 0 };
	assert_false(files_has(store, HASH_A));
	if (upload(store, HASH_A, b, b.len, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(files_has(store, HASH_A));
	assert_stored(store, HASH_A, b); /* kept as uploaded: still gzip */
	assert_int_equal(count_files(), 1);
	free(b.data);
}

static void test_valid_plain(void **state)
{
	struct files_store *store = *state;
	struct bytes b = make_archive(false, sdk_entries);
	struct cove_err err = { 0 };
	if (upload(store, HASH_B, b, b.len, &err) != 0)
		fail_msg("%s", err.msg);
	assert_stored(store, HASH_B, b);
	/* A second upload of the hash replaces the first. */
	struct bytes again = make_archive(true, sdk_entries);
	assert_int_equal(upload(store, HASH_B, again, again.len, &err), 0);
	assert_stored(store, HASH_B, again);
	assert_int_equal(count_files(), 1);
	assert_int_equal(files_remove(store, HASH_B, &err), 0);
	assert_false(files_has(store, HASH_B));
	assert_int_equal(files_remove(store, HASH_B, &err), 0); /* missing is fine */
	assert_int_equal(count_files(), 0);
	free(b.data);
	free(again.data);
}

/* tar(1) makes GNU tars (long names as GNU headers): those pass too. */
static void test_tar_command(void **state)
{
	struct files_store *store = *state;
	char src[] = "/tmp/cove-test-build-src.XXXXXX", cmd[PATH_MAX * 2], tgz[PATH_MAX];
	assert_non_null(mkdtemp(src));
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir -p ctx/sub && echo a > ctx/a.txt && ln -s a.txt ctx/link && "
		 "echo b > ctx/sub/%0150d.txt && tar --format=gnu -czf out.tgz -C ctx . && tar -cf out.tar -C ctx sub",
		 src, 0);
	assert_int_equal(system(cmd), 0);
	const char *names[] = { "out.tgz", "out.tar" };
	for (int i = 0; i < 2; i++) {
		snprintf(tgz, sizeof(tgz), "%s/%s", src, names[i]);
		struct bytes b = read_whole(tgz);
		struct cove_err err = { 0 };
		if (upload(store, HASH_A, b, b.len, &err) != 0)
			fail_msg("%s: %s", names[i], err.msg);
		assert_stored(store, HASH_A, b);
		free(b.data);
	}
	assert_int_equal(fs_remove_tree(src, NULL), 0);
}

static void test_truncated(void **state)
{
	struct files_store *store = *state;
	struct cove_err err = { 0 };
	for (int gzip = 0; gzip <= 1; gzip++) {
		struct entry big[] = { { "big", AE_IFREG, NULL, NULL }, { NULL, 0, NULL, NULL } };
		char *data = malloc(20000);
		unsigned seed = 16; /* letters gzip cannot shrink much, so cuts stay inside */
		for (int i = 0; i < 20000; i++)
			data[i] = (char)('a' + rand_r(&seed) % 26);
		data[19999] = '\0';
		big[0].data = data;
		struct bytes b = make_archive(gzip, big);
		assert_true(b.len > 4096);
		/* The body ended early and said so: cut where tar's end marker
		 * (two zero blocks) is, all of it or into its first block; in the
		 * file's data; in the first header. A gzip stream also loses its
		 * trailer. (A plain tar cut after its first zero block is whole.) */
		size_t cuts[] = { b.len - 1024, b.len - 600, b.len / 2, 10, b.len - 4 };
		for (size_t i = 0; i < ARRAY_SIZE(cuts) - !gzip; i++) {
			struct bytes cut = { b.data, cuts[i] };
			int r = upload(store, HASH_A, cut, cut.len, &err);
			if (r != -EINVAL || !strstr(err.msg, HASH_A))
				fail_msg("gzip %d cut to %zu: got %d '%s'", gzip, cuts[i], r, err.msg);
		}
		/* Fewer bytes than the Content-Length: -EIO, named. */
		struct bytes cut = { b.data, b.len - 1 };
		assert_int_equal(upload(store, HASH_A, cut, b.len, &err), -EIO);
		assert_non_null(strstr(err.msg, HASH_A));
		assert_non_null(strstr(err.msg, "the upload said"));
		assert_int_equal(upload(store, HASH_A, b, b.len - 1, &err), -EIO);
		assert_false(files_has(store, HASH_A));
		assert_int_equal(count_files(), 0);
		free(b.data);
		free(data);
	}
}

static void test_not_archives(void **state)
{
	struct files_store *store = *state;
	struct cove_err err = { 0 };
	const char *texts[] = { "", "hello, this is not a tar", "\x1f\x8b garbage" };
	for (size_t i = 0; i < 3; i++) {
		struct bytes b = { (char *)texts[i], strlen(texts[i]) };
		int r = upload(store, HASH_A, b, b.len, &err);
		if (r != -EINVAL || !strstr(err.msg, HASH_A))
			fail_msg("'%s': got %d '%s'", texts[i], r, err.msg);
	}
	assert_int_equal(count_files(), 0);
}

static void test_bad_names(void **state)
{
	struct files_store *store = *state;
	const char *names[] = { "../x", "a/../../x", "sub/..", "/etc/passwd", "/" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct entry e[] = { { "ok.txt", AE_IFREG, "x", NULL }, { names[i], AE_IFREG, "y", NULL },
				     { NULL, 0, NULL, NULL } };
		refused(store, true, e, -EINVAL, "is not a relative name without '..'");
	}
	/* A name with ".." inside a component is a name. */
	struct entry ok[] = { { "a..b/..c", AE_IFREG, "x", NULL }, { NULL, 0, NULL, NULL } };
	struct bytes b = make_archive(true, ok);
	struct cove_err err = { 0 };
	assert_int_equal(upload(store, HASH_A, b, b.len, &err), 0);
	free(b.data);
}

static void test_bad_types(void **state)
{
	struct files_store *store = *state;
	struct entry hard[] = { { "a.txt", AE_IFREG, "x", NULL }, { "b.txt", AE_IFREG, NULL, "a.txt" },
				{ NULL, 0, NULL, NULL } };
	refused(store, true, hard, -EINVAL, "entry 'b.txt' is a hard link");
	struct entry fifo[] = { { "f", AE_IFIFO, NULL, NULL }, { NULL, 0, NULL, NULL } };
	refused(store, false, fifo, -EINVAL, "entry 'f' is a device, fifo or socket");
	struct entry dev[] = { { "null", AE_IFCHR, NULL, NULL }, { NULL, 0, NULL, NULL } };
	refused(store, true, dev, -EINVAL, "entry 'null' is a device");
	/* Something under a symlink of the archive would be written through it. */
	struct entry through[] = { { "link", AE_IFLNK, "/etc", NULL }, { "./link/passwd", AE_IFREG, "x", NULL },
				   { NULL, 0, NULL, NULL } };
	refused(store, true, through, -EINVAL, "entry './link/passwd' is below the archive's symlink 'link'");
	struct entry deep[] = { { "./d/", AE_IFDIR, NULL, NULL }, { "d//l/", AE_IFLNK, "/", NULL },
				{ "d/l/x/y", AE_IFREG, "x", NULL }, { NULL, 0, NULL, NULL } };
	refused(store, true, deep, -EINVAL, "below the archive's symlink 'd/l'");
	struct entry top[] = { { ".", AE_IFLNK, "/", NULL }, { NULL, 0, NULL, NULL } };
	refused(store, true, top, -EINVAL, "is a symlink in place of the archive's top");
}

static void test_limits(void **state)
{
	struct files_store *store = *state;
	store->limits.max_entries = 3;
	struct entry four[] = { { "a", 0, "1", NULL }, { "b", 0, "2", NULL }, { "c", 0, "3", NULL },
				{ "d", 0, "4", NULL }, { NULL, 0, NULL, NULL } };
	refused(store, true, four, -EFBIG, "more than 3 entries");
	four[3].name = NULL;
	struct bytes b = make_archive(true, four);
	struct cove_err err = { 0 };
	assert_int_equal(upload(store, HASH_B, b, b.len, &err), 0);
	free(b.data);
	store->limits.max_entries = FILES_MAX_ENTRIES;
	/* Bytes unpacked: a small gzip of many zeros. */
	store->limits.max_content = 10000;
	char *zeros = calloc(1, 10002);
	memset(zeros, '0', 10001);
	struct entry bomb[] = { { "z", 0, zeros, NULL }, { NULL, 0, NULL, NULL } };
	refused(store, true, bomb, -EFBIG, "more than 10000 bytes of files unpacked");
	free(zeros);
	store->limits.max_content = FILES_MAX_CONTENT;
	/* Bytes uploaded. */
	store->limits.max_upload = 1500;
	b = make_archive(false, sdk_entries);
	assert_true(b.len > 1500);
	assert_int_equal(upload(store, HASH_A, b, b.len, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "the upload is over 1500 bytes"));
	free(b.data);
	store->limits.max_upload = FILES_MAX_UPLOAD;
	assert_int_equal(count_files(), 1);
}

static void test_bad_hash(void **state)
{
	struct files_store *store = *state;
	struct cove_err err = { 0 };
	struct files_upload *u = NULL;
	const char *bad[] = { "", "abc", HASH_A "0", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
			      "../23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" };
	char path[PATH_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(files_begin(store, bad[i], &u, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "invalid files hash"));
		assert_false(files_has(store, bad[i]));
		assert_int_equal(files_path(store, bad[i], path, &err), -EINVAL);
		assert_int_equal(files_remove(store, bad[i], &err), -EINVAL);
	}
	assert_null(u);
	assert_null(files_abort(NULL));
	/* An upload given up on leaves nothing. */
	assert_int_equal(files_begin(store, HASH_A, &u, &err), 0);
	assert_int_equal(files_write(u, "abc", 3, &err), 0);
	assert_int_equal(count_files(), 1);
	assert_null(files_abort(u));
	assert_int_equal(count_files(), 0);
}

static void test_open_sweeps(void **state)
{
	struct files_store *store = *state;
	struct bytes b = make_archive(true, sdk_entries);
	struct cove_err err = { 0 };
	assert_int_equal(upload(store, HASH_A, b, b.len, &err), 0);
	/* What a crash mid-upload leaves. */
	struct files_upload *u;
	assert_int_equal(files_begin(store, HASH_B, &u, &err), 0);
	assert_int_equal(files_write(u, "x", 1, &err), 0);
	assert_int_equal(count_files(), 2);
	struct files_store again;
	assert_int_equal(files_store_open(dir, &again, &err), 0);
	assert_int_equal(count_files(), 1);
	assert_true(files_has(&again, HASH_A));
	files_abort(u); /* its file is gone already */
	free(b.data);
}

/* --- concurrent commits of one hash --- */

struct racer {
	const struct files_store *store;
	struct bytes b;
	pthread_barrier_t *start;
	int r;
	struct cove_err err;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	pthread_barrier_wait(x->start);
	x->r = upload(x->store, HASH_A, x->b, x->b.len, &x->err);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct files_store *store = *state;
	enum { N = 8 };
	struct racer x[N];
	pthread_t t[N];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, N);
	for (int i = 0; i < N; i++) {
		/* Different bytes (plain and gzip) of the same files. */
		x[i] = (struct racer){ store, make_archive(i % 2, sdk_entries), &start, -1, { 0 } };
		assert_int_equal(pthread_create(&t[i], NULL, race, &x[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		if (x[i].r != 0)
			fail_msg("upload %d: %s", i, x[i].err.msg);
	}
	pthread_barrier_destroy(&start);
	/* One of them, whole; no temp file left. */
	assert_int_equal(count_files(), 1);
	char path[PATH_MAX];
	files_path(store, HASH_A, path, NULL);
	struct bytes got = read_whole(path);
	bool one = false;
	for (int i = 0; i < N; i++) {
		one |= got.len == x[i].b.len && memcmp(got.data, x[i].b.data, got.len) == 0;
		free(x[i].b.data);
	}
	assert_true(one);
	free(got.data);
}

/* --- upload tokens --- */

static void test_tokens(void **state)
{
	(void)state;
	const char *secret = "s3cret";
	char tok[FILES_TOKEN_MAX], other[FILES_TOKEN_MAX];
	struct cove_err err = { 0 };
	int64_t now = 1764900000000, exp = now + 3600 * 1000;
	files_upload_token(secret, "tpl1", HASH_A, exp, tok);
	assert_int_equal(strlen(tok), 13 + 1 + 64);
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, tok, now, &err), 0);
	files_upload_token(secret, "tpl1", HASH_A, exp, other);
	assert_string_equal(tok, other);
	/* Another hash, template or secret. */
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_B, tok, now, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not valid for template tpl1 and files " HASH_B));
	assert_int_equal(files_upload_token_check(secret, "tpl2", HASH_A, tok, now, &err), -EACCES);
	assert_int_equal(files_upload_token_check("other", "tpl1", HASH_A, tok, now, &err), -EACCES);
	/* Expired (and at the instant). */
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, tok, exp, &err), -EACCES);
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, tok, exp + 5, &err), -EACCES);
	assert_non_null(strstr(err.msg, "expired 5 ms ago"));
	/* Tampered: a digit of the MAC, the expiry pushed later, cut short. */
	strcpy(other, tok);
	other[20] = other[20] == 'a' ? 'b' : 'a';
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, other, now, &err), -EACCES);
	snprintf(other, sizeof(other), "%lld%s", (long long)exp + 1000, strchr(tok, '-'));
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, other, now, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not valid for"));
	strcpy(other, tok);
	other[strlen(other) - 1] = '\0';
	assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, other, now, &err), -EACCES);
	const char *junk[] = { NULL, "", "abc", "-1-ab", "12", "12-", " 12-ab", "+12-ab", "99999999999999999999999-ab" };
	for (size_t i = 0; i < ARRAY_SIZE(junk); i++) {
		assert_int_equal(files_upload_token_check(secret, "tpl1", HASH_A, junk[i], now, &err), -EACCES);
		assert_non_null(strstr(err.msg, "upload token:"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_valid_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tar_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_sweeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test(test_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
