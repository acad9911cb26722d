/* Unit tests for src/secrets: secrets kept in a real state directory (a
 * SQLite file and a key file in a scratch directory), sealed with GnuTLS;
 * what a wrong key, a changed row or rows swapped do; the key file's
 * checks; the rules for names, metadata and values; pages; many threads at
 * once; and the API's parsers of the secret routes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/request.h"
#include "common/fs.h"
#include "secrets/secrets.h"
#include "store/store.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-secrets-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fs_remove_tree(dir, NULL);
	return 0;
}

static struct secrets *open_secrets(void)
{
	struct secrets *s = NULL;
	struct cove_err err = { 0 };
	if (secrets_open(dir, &s, &err) < 0)
		fail_msg("secrets_open: %s", err.msg);
	return s;
}

static void create(struct secrets *s, const char *name, const char *value, const char *metadata,
		   struct secret_info *info)
{
	struct secret_write w = { .name = name, .value = value, .value_len = strlen(value), .metadata = metadata };
	struct cove_err err = { 0 };
	if (secrets_create(s, &w, info, &err) < 0)
		fail_msg("secrets_create %s: %s", name, err.msg);
}

static void assert_value(struct secrets *s, const char *name, const char *want)
{
	char *got = NULL;
	size_t len = 0;
	struct cove_err err = { 0 };
	if (secrets_value(s, name, &got, &len, &err) < 0)
		fail_msg("secrets_value %s: %s", name, err.msg);
	assert_int_equal(len, strlen(want));
	assert_string_equal(got, want);
	explicit_bzero(got, len);
	free(got);
}

static int value_rc(struct secrets *s, const char *name, struct cove_err *err)
{
	char *got = NULL;
	size_t len = 0;
	int r = secrets_value(s, name, &got, &len, err);
	assert_true(r < 0 || got);
	free(got);
	return r;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	create(s, "OpenAI-Key", "sk-hunter2", "{\"team\":\"ml\"}", &info);
	assert_string_equal(info.name, "openai-key");
	assert_int_equal(info.version, 1);
	assert_int_equal(strlen(info.id), 36);
	assert_memory_equal(info.id, "sec_", 4);
	assert_string_equal(info.metadata, "{\"team\":\"ml\"}");
	assert_true(info.created_ms > 0 && info.created_ms == info.updated_ms);
	char id[SECRETS_ID_MAX];
	snprintf(id, sizeof(id), "%s", info.id);
	secret_info_clear(&info);

	assert_value(s, "OPENAI-KEY", "sk-hunter2");
	assert_value(s, id, "sk-hunter2");
	assert_true(secrets_exists(s, "openai-key"));
	assert_false(secrets_exists(s, "other"));
	assert_false(secrets_exists(s, "sec_00000000000000000000000000000000"));
	struct cove_err err = { 0 };
	assert_int_equal(secrets_get(s, id, &info, &err), 0);
	assert_string_equal(info.name, "openai-key");
	secret_info_clear(&info);

	/* An update: the next version, the metadata kept when not given. */
	struct secret_write w = { .value = "sk-new", .value_len = 6 };
	assert_int_equal(secrets_update(s, "openai-KEY", &w, &info, &err), 0);
	assert_int_equal(info.version, 2);
	assert_string_equal(info.id, id);
	assert_string_equal(info.metadata, "{\"team\":\"ml\"}");
	secret_info_clear(&info);
	assert_value(s, "openai-key", "sk-new");
	w.metadata = "{}";
	assert_int_equal(secrets_update(s, id, &w, &info, &err), 0);
	assert_int_equal(info.version, 3);
	assert_string_equal(info.metadata, "{}");
	secret_info_clear(&info);

	/* Kept across a close. */
	secrets_close(s);
	s = open_secrets();
	assert_value(s, "openai-key", "sk-new");

	assert_int_equal(secrets_destroy(s, "openai-key", &err), 0);
	assert_false(secrets_exists(s, id));
	assert_int_equal(secrets_destroy(s, id, &err), -ENOENT);
	assert_int_equal(value_rc(s, "openai-key", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "openai-key"));
	assert_int_equal(secrets_update(s, id, &w, &info, &err), -ENOENT);
	secrets_close(s);
}

static void test_duplicate_name(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	create(s, "token", "a", NULL, &info);
	assert_string_equal(info.metadata, "{}");
	secret_info_clear(&info);
	struct secret_write w = { .name = "TOKEN", .value = "b", .value_len = 1 };
	struct cove_err err = { 0 };
	assert_int_equal(secrets_create(s, &w, &info, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "token"));
	assert_value(s, "token", "a");
	secrets_close(s);
}

/* Whether the bytes of needle are anywhere in the file at path. */
static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	static char buf[1 << 22];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void test_value_not_on_disk(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	const char *value = "correct-horse-battery-staple";
	create(s, "disk", value, NULL, &info);
	secret_info_clear(&info);
	struct secret_write w = { .value = "another-plain-value", .value_len = 19 };
	struct cove_err err = { 0 };
	assert_int_equal(secrets_update(s, "disk", &w, &info, &err), 0);
	secret_info_clear(&info);
	const char *files[] = { STORE_FILE, STORE_FILE "-wal", STORE_FILE "-shm", SECRETS_KEY_FILE };
	char path[128];
	snprintf(path, sizeof(path), "%s/%s-wal", dir, STORE_FILE);
	assert_true(file_has(path, "disk")); /* the name is there: the search works */
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		assert_false(file_has(path, value));
		assert_false(file_has(path, "another-plain-value"));
	}
	secrets_close(s);
}

static void write_key(const unsigned char *bytes, size_t len, mode_t mode)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, SECRETS_KEY_FILE);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, bytes, len), 0);
	fchmod(fd, mode);
	close(fd);
}

static void test_wrong_key(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	create(s, "api", "value-under-key-1", NULL, &info);
	secret_info_clear(&info);
	secrets_close(s);

	unsigned char other[SECRETS_KEY_BYTES];
	memset(other, 0x5a, sizeof(other));
	write_key(other, sizeof(other), 0600);
	s = open_secrets();
	struct cove_err err = { 0 };
	assert_int_equal(value_rc(s, "api", &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "key"));
	assert_null(strstr(err.msg, "value-under-key-1"));
	/* Its metadata is still there to list and destroy. */
	assert_true(secrets_exists(s, "api"));
	secrets_close(s);

	/* A lost key file: a new one is made; the old values stay unreadable. */
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, SECRETS_KEY_FILE);
	assert_int_equal(unlink(path), 0);
	s = open_secrets();
	assert_int_equal(value_rc(s, "api", &err), -EBADMSG);
	secrets_close(s);
}

/* Runs sql on the state database behind the module's back. */
static void sql(const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, STORE_FILE);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	sqlite3_close(db);
}

static void test_tampered(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	create(s, "t1", "tamper-me", NULL, &info);
	secret_info_clear(&info);
	create(s, "t2", "tamper-me-too", NULL, &info);
	secret_info_clear(&info);
	struct cove_err err = { 0 };
	/* One bit of the ciphertext, and of the nonce. */
	sql("UPDATE secrets SET sealed = (CASE WHEN substr(sealed, 1, 1) = x'00' THEN x'01' ELSE x'00' END) || "
	    "substr(sealed, 2) WHERE name = 't1'");
	assert_int_equal(value_rc(s, "t1", &err), -EBADMSG);
	sql("UPDATE secrets SET nonce = zeroblob(12) WHERE name = 't2'");
	assert_int_equal(value_rc(s, "t2", &err), -EBADMSG);
	/* A cut-short value. */
	sql("UPDATE secrets SET sealed = substr(sealed, 1, 3) WHERE name = 't2'");
	assert_int_equal(value_rc(s, "t2", &err), -EBADMSG);
	secrets_close(s);
}

static void test_swapped_rows(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	create(s, "alpha", "value-of-alpha", NULL, &info);
	secret_info_clear(&info);
	create(s, "beta", "value-of-beta", NULL, &info);
	secret_info_clear(&info);
	struct cove_err err = { 0 };
	/* beta's value moved into alpha's row. */
	sql("UPDATE secrets SET (nonce, sealed) = (SELECT nonce, sealed FROM secrets WHERE name = 'beta')"
	    " WHERE name = 'alpha'");
	assert_int_equal(value_rc(s, "alpha", &err), -EBADMSG);
	assert_value(s, "beta", "value-of-beta");
	/* Two names swapped: each row's value is bound to its name too. */
	create(s, "n1", "value-of-n1", NULL, &info);
	secret_info_clear(&info);
	create(s, "n2", "value-of-n2", NULL, &info);
	secret_info_clear(&info);
	sql("UPDATE secrets SET name = 'x' WHERE name = 'n1'; UPDATE secrets SET name = 'n1' WHERE name = 'n2';"
	    "UPDATE secrets SET name = 'n2' WHERE name = 'x'");
	assert_int_equal(value_rc(s, "n1", &err), -EBADMSG);
	assert_int_equal(value_rc(s, "n2", &err), -EBADMSG);
	/* An old version put back: version 1's ciphertext under version 2. */
	create(s, "gamma", "gamma-v1", NULL, &info);
	secret_info_clear(&info);
	sql("CREATE TABLE old AS SELECT nonce, sealed FROM secrets WHERE name = 'gamma'");
	struct secret_write w = { .value = "gamma-v2", .value_len = 8 };
	assert_int_equal(secrets_update(s, "gamma", &w, &info, &err), 0);
	secret_info_clear(&info);
	assert_value(s, "gamma", "gamma-v2");
	sql("UPDATE secrets SET (nonce, sealed) = (SELECT nonce, sealed FROM old) WHERE name = 'gamma'");
	assert_int_equal(value_rc(s, "gamma", &err), -EBADMSG);
	secrets_close(s);
}

static int open_rc(struct cove_err *err)
{
	struct secrets *s = NULL;
	int r = secrets_open(dir, &s, err);
	secrets_close(s);
	return r;
}

static void test_key_file(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, SECRETS_KEY_FILE);
	struct cove_err err = { 0 };
	assert_int_equal(open_rc(&err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SECRETS_KEY_BYTES);
	snprintf(path, sizeof(path), "%s/%s.%d.new", dir, SECRETS_KEY_FILE, (int)getpid());
	assert_int_equal(access(path, F_OK), -1); /* nothing left aside */
	snprintf(path, sizeof(path), "%s/%s", dir, SECRETS_KEY_FILE);

	const mode_t bad[] = { 0640, 0604, 0644, 0660, 0602 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		cove_err_clear(&err);
		assert_int_equal(open_rc(&err), -EPERM);
		assert_non_null(strstr(err.msg, path));
		assert_non_null(strstr(err.msg, "mode"));
	}
	assert_int_equal(chmod(path, 0400), 0); /* read-only for its owner is fine */
	assert_int_equal(open_rc(&err), 0);

	unsigned char bytes[SECRETS_KEY_BYTES + 1] = { 1 };
	write_key(bytes, SECRETS_KEY_BYTES - 1, 0600);
	assert_int_equal(open_rc(&err), -EINVAL);
	assert_non_null(strstr(err.msg, "31 bytes"));
	write_key(bytes, SECRETS_KEY_BYTES + 1, 0600);
	assert_int_equal(open_rc(&err), -EINVAL);
	write_key(bytes, 0, 0600);
	assert_int_equal(open_rc(&err), -EINVAL);

	/* A symbolic link in its place is not followed. */
	unlink(path);
	assert_int_equal(symlink("/etc/hostname", path), 0);
	assert_true(open_rc(&err) < 0);
	/* A .new left by a crashed process of the same pid is replaced. */
	unlink(path);
	char aside[160];
	snprintf(aside, sizeof(aside), "%s.%d.new", path, (int)getpid());
	int fd = open(aside, O_WRONLY | O_CREAT, 0600);
	close(fd);
	assert_int_equal(open_rc(&err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, SECRETS_KEY_BYTES);
}

static void name_bad(const char *name)
{
	char out[SECRETS_NAME_MAX + 1];
	struct cove_err err = { 0 };
	if (secrets_name_canon(name, out, &err) != -EINVAL)
		fail_msg("name '%s' was taken", name);
	assert_non_null(strstr(err.msg, "name"));
}

static void name_good(const char *name, const char *want)
{
	char out[SECRETS_NAME_MAX + 1];
	struct cove_err err = { 0 };
	if (secrets_name_canon(name, out, &err) < 0)
		fail_msg("name '%s': %s", name, err.msg);
	assert_string_equal(out, want);
}

static void test_names(void **state)
{
	(void)state;
	name_bad("");
	name_bad("a{b");
	name_bad("a}b");
	name_bad("${e2b.secrets.x}");
	name_bad("a/b");
	name_bad("tab\there");
	name_bad("nl\n");
	name_bad("del\x7f");
	name_bad("c1\xc2\x85");   /* U+0085, NEL */
	name_bad("bad\xff");      /* not UTF-8 */
	name_bad("over\xc0\xaf"); /* an overlong '/' */
	name_bad("sec_abc");
	name_bad("SEC_abc");
	name_bad(".");
	name_bad("..");
	char long_name[SECRETS_NAME_MAX + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	name_bad(long_name);
	long_name[SECRETS_NAME_MAX] = '\0';
	name_good(long_name, long_name);
	name_good("OpenAI_Key-1.prod", "openai_key-1.prod");
	name_good("With Space", "with space");
	name_good("\xc3\x84rger", "\xc3\x84rger"); /* non-ASCII letters are kept */
	name_good("sec", "sec");
	name_good("my_sec_key", "my_sec_key");
	name_good("...", "...");
	assert_true(secrets_ref_is_id("sec_0123"));
	assert_false(secrets_ref_is_id("secret"));
}

static void metadata_bad(const char *metadata, const char *says)
{
	struct cove_err err = { 0 };
	if (secrets_metadata_check(metadata, &err) != -EINVAL)
		fail_msg("metadata %.80s was taken", metadata);
	assert_non_null(strstr(err.msg, says));
}

/* {"k0": "vvv...", ...}: n entries, each value len bytes. */
static char *metadata_of(size_t n, size_t key_len, size_t len)
{
	size_t cap = n * (key_len + len + 16) + 8;
	char *text = malloc(cap), *p = text;
	p += sprintf(p, "{");
	for (size_t i = 0; i < n; i++) {
		p += sprintf(p, "%s\"%0*zu\":\"", i ? "," : "", (int)key_len, i);
		memset(p, 'v', len);
		p += len;
		p += sprintf(p, "\"");
	}
	sprintf(p, "}");
	return text;
}

static void test_metadata(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	assert_int_equal(secrets_metadata_check(NULL, &err), 0);
	assert_int_equal(secrets_metadata_check("{}", &err), 0);
	assert_int_equal(secrets_metadata_check("{\"a\":\"\"}", &err), 0);
	metadata_bad("[]", "object");
	metadata_bad("{\"a\":1}", "metadata.a must be a string");
	metadata_bad("{\"a\":\"x\",\"a\":\"y\"}", "object");
	metadata_bad("{\"\":\"x\"}", "key");
	char *m = metadata_of(32, 2, 10);
	assert_int_equal(secrets_metadata_check(m, &err), 0);
	free(m);
	m = metadata_of(33, 2, 10);
	metadata_bad(m, "more than 32 entries");
	free(m);
	m = metadata_of(1, 128, 1024);
	assert_int_equal(secrets_metadata_check(m, &err), 0);
	free(m);
	m = metadata_of(1, 129, 1);
	metadata_bad(m, "key");
	free(m);
	m = metadata_of(1, 2, 1025);
	metadata_bad(m, "1024");
	free(m);
	m = metadata_of(8, 2, 1000); /* 8016 bytes */
	assert_int_equal(secrets_metadata_check(m, &err), 0);
	free(m);
	m = metadata_of(9, 2, 1000); /* 9018 bytes */
	metadata_bad(m, "8192");
	free(m);
}

static void test_values(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	char *big = malloc(SECRETS_VALUE_MAX + 1);
	memset(big, 'x', SECRETS_VALUE_MAX + 1);
	assert_int_equal(secrets_value_check(big, SECRETS_VALUE_MAX, &err), 0);
	assert_int_equal(secrets_value_check(big, SECRETS_VALUE_MAX + 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "value"));
	assert_int_equal(secrets_value_check("", 0, &err), -EINVAL);
	assert_int_equal(secrets_value_check("a\0b", 3, &err), -EINVAL);
	/* A whole 64 KiB value round trips. */
	struct secrets *s = open_secrets();
	big[SECRETS_VALUE_MAX] = '\0';
	struct secret_info info;
	create(s, "big", big, NULL, &info);
	secret_info_clear(&info);
	assert_value(s, "big", big);
	struct secret_write w = { .name = "bad", .value = "a\0b", .value_len = 3 };
	assert_int_equal(secrets_create(s, &w, &info, &err), -EINVAL);
	w.value_len = 1;
	w.metadata = "{\"k\":2}";
	assert_int_equal(secrets_create(s, &w, &info, &err), -EINVAL);
	assert_false(secrets_exists(s, "bad"));
	secrets_close(s);
	free(big);
}

struct page {
	char names[8][16];
	size_t n;
	int64_t last;
};

static int page_add(void *ctx, const struct secret_info *info)
{
	struct page *p = ctx;
	assert_true(p->n < 8);
	snprintf(p->names[p->n++], 16, "%s", info->name);
	assert_string_equal(info->metadata, "{}");
	p->last = info->seq;
	return 0;
}

static void test_pages(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	char name[16];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "page-%d", i);
		create(s, name, "v", NULL, &info);
		secret_info_clear(&info);
	}
	struct cove_err err = { 0 };
	bool more = false;
	struct page p = { 0 };
	assert_int_equal(secrets_list(s, 0, 2, page_add, &p, &more, &err), 0);
	assert_int_equal(p.n, 2);
	assert_true(more);
	assert_string_equal(p.names[0], "page-4"); /* newest first */
	assert_string_equal(p.names[1], "page-3");
	assert_int_equal(secrets_list(s, p.last, 2, page_add, &p, &more, &err), 0);
	assert_int_equal(p.n, 4);
	assert_true(more);
	assert_int_equal(secrets_list(s, p.last, 2, page_add, &p, &more, &err), 0);
	assert_int_equal(p.n, 5);
	assert_false(more);
	assert_string_equal(p.names[4], "page-0");
	struct page all = { 0 };
	assert_int_equal(secrets_list(s, 0, 5, page_add, &all, &more, &err), 0);
	assert_int_equal(all.n, 5);
	assert_false(more);
	assert_int_equal(secrets_list(s, 0, 0, page_add, &all, &more, &err), -EINVAL);
	assert_int_equal(secrets_list(s, 0, SECRETS_LIST_MAX + 1, page_add, &all, &more, &err), -EINVAL);
	secrets_close(s);
}

#define THREADS 4
#define ROUNDS 40

static void *reader_writer(void *arg)
{
	struct secrets *s = arg;
	for (int i = 0; i < ROUNDS; i++) {
		char *got = NULL;
		size_t len;
		struct cove_err err = { 0 };
		if (secrets_value(s, "shared", &got, &len, &err) < 0 || strncmp(got, "shared-", 7) != 0)
			return (void *)1;
		free(got);
		char value[32];
		snprintf(value, sizeof(value), "shared-%d", i);
		struct secret_write w = { .value = value, .value_len = strlen(value) };
		struct secret_info info;
		if (secrets_update(s, "shared", &w, &info, &err) < 0)
			return (void *)2;
		secret_info_clear(&info);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct secrets *s = open_secrets();
	struct secret_info info;
	create(s, "shared", "shared-start", NULL, &info);
	secret_info_clear(&info);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_writer, s), 0);
	for (int i = 0; i < THREADS; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
	struct cove_err err = { 0 };
	assert_int_equal(secrets_get(s, "shared", &info, &err), 0);
	assert_int_equal(info.version, 1 + THREADS * ROUNDS); /* no update lost */
	secret_info_clear(&info);
	secrets_close(s);
}

static int body_rc(const char *body, bool create, struct cove_err *err)
{
	struct api_secret_body b;
	cove_err_clear(err);
	int r = api_secret_body_parse(body, strlen(body), create, &b, err);
	if (r == 0)
		api_secret_body_clear(&b);
	return r;
}

static void test_api_bodies(void **state)
{
	(void)state;
	struct cove_err err = { 0 };
	struct api_secret_body b;
	const char *body = "{\"name\":\"My-Key\",\"value\":\"s3cr3t\",\"metadata\":{\"b\":\"2\",\"a\":\"1\"}}";
	assert_int_equal(api_secret_body_parse(body, strlen(body), true, &b, &err), 0);
	assert_string_equal(b.w.name, "my-key");
	assert_int_equal(b.w.value_len, 6);
	assert_memory_equal(b.w.value, "s3cr3t", 6);
	assert_string_equal(b.w.metadata, "{\"a\":\"1\",\"b\":\"2\"}");
	api_secret_body_clear(&b);
	assert_null(b.json);

	assert_int_equal(body_rc("{\"value\":\"v\"}", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "name"));
	assert_int_equal(body_rc("{\"name\":\"sec_x\",\"value\":\"v\"}", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "name"));
	assert_int_equal(body_rc("{\"name\":\"a{b}\",\"value\":\"v\"}", true, &err), -EINVAL);
	assert_int_equal(body_rc("{\"name\":\"a\"}", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "value"));
	assert_int_equal(body_rc("{\"name\":\"a\",\"value\":\"\"}", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "value"));
	assert_int_equal(body_rc("{\"name\":\"a\",\"value\":\"a\\u0000b\"}", true, &err), -EINVAL);
	assert_int_equal(body_rc("{\"name\":\"a\",\"value\":\"v\",\"metadata\":[]}", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "metadata"));
	assert_int_equal(body_rc("{\"name\":\"a\",\"value\":\"v\",\"metadata\":null}", true, &err), 0);
	/* An update reads no name. */
	assert_int_equal(body_rc("{\"value\":\"v\"}", false, &err), 0);
	assert_int_equal(body_rc("", true, &err), -EINVAL);
	/* A syntax error never quotes the body (it holds the value). */
	assert_int_equal(body_rc("{\"name\":\"a\",\"value\":\"TOPSECRET\x01\"}", true, &err), -EINVAL);
	assert_null(strstr(err.msg, "TOPSECRET"));
	assert_int_equal(body_rc("{\"name\":\"a\",\"value\":\"TOPSECRET", true, &err), -EINVAL);
	assert_null(strstr(err.msg, "TOPSECRET"));
	assert_non_null(strstr(err.msg, "not a JSON object"));
}

static const char *query_get(void *cls, const char *name)
{
	const char *const *kv = cls;
	for (; kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static int query_rc(const char *limit, const char *next, struct api_secret_query *q)
{
	const char *kv[] = { "limit", limit, "nextToken", next, NULL, NULL };
	if (!limit) /* skip the absent ones */
		kv[0] = "-";
	if (!next)
		kv[2] = "-";
	struct api_query in = { query_get, kv };
	struct cove_err err = { 0 };
	return api_secret_query_parse(&in, q, &err);
}

static void test_api_query(void **state)
{
	(void)state;
	struct api_secret_query q;
	assert_int_equal(query_rc(NULL, NULL, &q), 0);
	assert_int_equal(q.limit, API_LIST_DEFAULT_LIMIT);
	assert_int_equal(q.before_seq, 0);
	assert_int_equal(query_rc("2", "12345", &q), 0);
	assert_int_equal(q.limit, 2);
	assert_int_equal(q.before_seq, 12345);
	assert_int_equal(query_rc("0", NULL, &q), -EINVAL);
	assert_int_equal(query_rc("101", NULL, &q), -EINVAL);
	assert_int_equal(query_rc("x", NULL, &q), -EINVAL);
	assert_int_equal(query_rc(NULL, "abc", &q), -EINVAL);
	assert_int_equal(query_rc(NULL, "-5", &q), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_not_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test(test_api_bodies),
		cmocka_unit_test(test_api_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
