/* Unit tests for src/volume: volumes kept in a real state directory (SQLite
 * and images loop-mounted in a scratch directory under /tmp; as root, which
 * loop devices and mounts need); each volume a file system of its own
 * (its device, UUID, owner, flags, emptiness); what open() finishes after a
 * crash, an unmount or a destroy cut short; a volume of the previous layout
 * (a plain directory) moved into its own file system; destroy leaving no
 * mount, image or loop device; a full volume; content paths normalized and
 * kept beneath the volume (a symlink loop, a tree swapped for a symlink);
 * writes whole or not at all, also with two writers at once; a tree deeper
 * than a few hundred levels removed; and the API's parsers of the volume
 * routes. The SDK's view is tests/e2b/coved/volumes.test.mjs. */
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/request.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "store/store.h"
#include "volume/volume.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cove-volume-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Every mount beneath the scratch directory, deepest first, detached:
 * a failed test leaves none behind. */
static void unmount_all(void)
{
	for (int round = 0; round < 16; round++) {
		FILE *f = fopen("/proc/self/mountinfo", "re");
		char line[4096], point[4096], found[4096] = "";
		size_t prefix = strlen(dir);
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strncmp(point, dir, prefix) == 0 &&
			    point[prefix] == '/' && strlen(point) > strlen(found))
				snprintf(found, sizeof(found), "%s", point);
		if (f)
			fclose(f);
		if (!found[0] || umount2(found, MNT_DETACH) < 0)
			return;
	}
}

static int teardown(void **state)
{
	(void)state;
	unmount_all();
	fs_remove_tree(dir, NULL);
	return 0;
}

/* Volumes are loop-mounted images: root and loop devices needed. */
static void need_loop(void)
{
	if (geteuid() != 0 || access("/dev/loop-control", W_OK) != 0)
		skip();
}

static struct volumes *open_sized(uint64_t size_mib)
{
	need_loop();
	struct volumes *v = NULL;
	struct cove_err err = { 0 };
	struct volumes_config c = { .state_dir = dir, .size_mib = size_mib };
	if (volumes_open(&c, &v, &err) < 0)
		fail_msg("volumes_open: %s", err.msg);
	return v;
}

static struct volumes *open_volumes(void)
{
	return open_sized(0);
}

static struct volume_content *content(struct volumes *v, const struct volume_info *info)
{
	struct volume_content *c = NULL;
	struct cove_err err = { 0 };
	if (volume_open_content(v, info->id, info->token, &c, &err) < 0)
		fail_msg("volume_open_content: %s", err.msg);
	return c;
}

static void host_path(const struct volume_info *info, const char *rel, char *buf, size_t len)
{
	snprintf(buf, len, "%s/volumes/%s%s%s", dir, info->id, rel[0] ? "/" : "", rel);
}

static void write_file(struct volume_content *c, const char *path, const char *text)
{
	struct volume_write *w = NULL;
	struct volume_entry e;
	struct cove_err err = { 0 };
	if (volume_write_begin(c, path, NULL, true, &w, &err) < 0 || volume_write_data(w, text, strlen(text), &err) < 0 ||
	    volume_write_commit(w, &e, &err) < 0)
		fail_msg("write %s: %s", path, err.msg);
	volume_entry_clear(&e);
}

static void vol_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/volumes/%s", dir, name);
}

static void image_path(const struct volume_info *info, char *buf, size_t len)
{
	snprintf(buf, len, "%s/volumes/%s.img", dir, info->id);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Whether path is a mount point of a file system other than the state
 * directory's. */
static bool mounted(const char *path)
{
	struct stat st, top;
	return stat(path, &st) == 0 && stat(dir, &top) == 0 && st.st_dev != top.st_dev;
}

/* Whether a loop device is bound to the image (or to what was it, shown
 * as "PATH (deleted)" once unlinked); waits up to 2 s for one to clear. */
static bool loop_bound(const char *image)
{
	for (int tries = 0; tries < 40; tries++) {
		bool found = false;
		for (int i = 0; i < 256 && !found; i++) {
			char p[96], text[4200] = "";
			snprintf(p, sizeof(p), "/sys/block/loop%d/loop/backing_file", i);
			FILE *f = fopen(p, "re");
			if (!f)
				continue;
			found = fgets(text, sizeof(text), f) && strncmp(text, image, strlen(image)) == 0;
			fclose(f);
		}
		if (!found)
			return false;
		usleep(50 * 1000);
	}
	return true;
}

static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count_entry(void *ctx, const struct volume_entry *e)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

static void read_uuid(const char *image, unsigned char uuid[16])
{
	int fd = open(image, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, uuid, 16, 1024 + 0x68), 16); /* s_uuid */
	close(fd);
}

/* Each volume is a sparse ext4 file system of its own, mounted nodev,
 * nosuid, noexec, its root the default user's and empty, its UUID (and so
 * the fsid an NFS server tells it by) its own. */
static void test_own_file_system(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a, b;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "a", &a, &err), 0);
	assert_int_equal(volume_create(v, "b", &b, &err), 0);
	char pa[512], pb[512], ia[512], ib[512];
	host_path(&a, "", pa, sizeof(pa));
	host_path(&b, "", pb, sizeof(pb));
	image_path(&a, ia, sizeof(ia));
	image_path(&b, ib, sizeof(ib));
	struct stat st, top, img;
	assert_int_equal(stat(dir, &top), 0);
	assert_int_equal(stat(pa, &st), 0);
	assert_true(st.st_dev != top.st_dev);
	assert_int_equal(st.st_uid, VOLUME_DEFAULT_UID);
	assert_int_equal(st.st_gid, VOLUME_DEFAULT_GID);
	assert_int_equal(st.st_mode & 07777, 0755);
	struct statfs sfa, sfb;
	assert_int_equal(statfs(pa, &sfa), 0);
	assert_int_equal(statfs(pb, &sfb), 0);
	assert_int_equal(sfa.f_type, 0xEF53); /* EXT4_SUPER_MAGIC */
	assert_memory_not_equal(&sfa.f_fsid, &sfb.f_fsid, sizeof(sfa.f_fsid));
	struct statvfs vfs;
	assert_int_equal(statvfs(pa, &vfs), 0);
	assert_true((vfs.f_flag & (ST_NODEV | ST_NOSUID | ST_NOEXEC)) == (ST_NODEV | ST_NOSUID | ST_NOEXEC));
	unsigned char ua[16], ub[16];
	read_uuid(ia, ua);
	read_uuid(ib, ub);
	assert_memory_not_equal(ua, ub, 16);
	/* 16 GiB, holding a few MiB. */
	assert_int_equal(stat(ia, &img), 0);
	assert_int_equal(img.st_size, (off_t)VOLUME_DEFAULT_SIZE_MIB << 20);
	assert_true(img.st_blocks * 512 < (64 << 20));
	/* Empty, as E2B's volumes start: no lost+found. */
	struct volume_content *c = content(v, &a);
	int listed = 0;
	assert_int_equal(volume_list(c, "/", 1, count_entry, &listed, &err), 0);
	assert_int_equal(listed, 0);
	volume_content_close(c);
	char got[512];
	assert_int_equal(volume_path(v, a.id, got, sizeof(got), &err), 0);
	assert_string_equal(got, pa);
	assert_int_equal(volume_path(v, "vol_0123456789abcdef01234567", got, sizeof(got), &err), -ENOENT);
	assert_int_equal(volume_path(v, a.id, got, 8, &err), -ENAMETOOLONG);
	volumes_close(v);
	struct volumes_config bad = { .state_dir = dir, .size_mib = 1 };
	assert_int_equal(volumes_open(&bad, &v, &err), -EINVAL);
}

/* Close and open keep a volume mounted as it was; one someone unmounted
 * (a reboot, an admin) is mounted again, and its file system is clean. */
static void test_reopen(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "keep", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	write_file(c, "/kept.txt", "kept");
	volume_content_close(c);
	volumes_close(v);
	char p[512], img[512], f[600];
	host_path(&a, "", p, sizeof(p));
	image_path(&a, img, sizeof(img));
	struct stat before, after;
	assert_int_equal(stat(p, &before), 0);
	v = open_volumes();
	assert_int_equal(stat(p, &after), 0);
	assert_true(before.st_dev == after.st_dev); /* the same mount, left */
	volumes_close(v);
	assert_int_equal(umount2(p, 0), 0);
	assert_false(mounted(p));
	char *fsck[] = { "e2fsck", "-fn", img, NULL };
	assert_int_equal(run(fsck), 0);
	v = open_volumes();
	assert_true(mounted(p));
	snprintf(f, sizeof(f), "%s/kept.txt", p);
	assert_true(exists(f));
	volumes_close(v);
}

/* A crash between a row and its image, or during a destroy: open() makes
 * the missing image and removes what no row names. */
static void test_open_finishes(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a, gone;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "a", &a, &err), 0);
	assert_int_equal(volume_create(v, "a", &a, &err), -EEXIST);
	assert_int_equal(volume_create(v, "no/slash", &a, &err), -EINVAL);
	assert_int_equal(volume_create(v, "gone", &gone, &err), 0);
	volumes_close(v);
	/* a: a row without its image or directory (a create cut short). */
	char p[512], img[512], gone_p[512], gone_img[512];
	host_path(&a, "", p, sizeof(p));
	image_path(&a, img, sizeof(img));
	assert_int_equal(umount2(p, 0), 0);
	assert_int_equal(unlink(img), 0);
	assert_int_equal(rmdir(p), 0);
	/* gone: a mounted volume whose row went (a destroy cut short). */
	struct store *s = NULL;
	assert_int_equal(store_open(dir, &s, &err), 0);
	assert_int_equal(store_volume_delete(s, gone.id, &err), 0);
	store_close(s);
	host_path(&gone, "", gone_p, sizeof(gone_p));
	image_path(&gone, gone_img, sizeof(gone_img));
	/* And what else a crash or the previous version left. */
	const char *strays[] = { "vol_0123456789abcdef01234567", ".gone-vol_0123456789abcdef01234568",
				 "vol_0123456789abcdef01234569.img", "vol_0123456789abcdef01234569.img.tmp",
				 ".blank-999M.img", ".migrate-vol_0123456789abcdef0123456a" };
	char sp[512], sub[600];
	for (size_t i = 0; i < ARRAY_SIZE(strays); i++) {
		vol_path(strays[i], sp, sizeof(sp));
		if (strstr(strays[i], ".img"))
			assert_int_equal(close(open(sp, O_CREAT | O_WRONLY, 0600)), 0);
		else {
			assert_int_equal(mkdir(sp, 0755), 0);
			snprintf(sub, sizeof(sub), "%s/sub", sp);
			assert_int_equal(mkdir(sub, 0755), 0);
		}
	}
	v = open_volumes();
	struct stat st;
	assert_true(mounted(p));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, VOLUME_DEFAULT_UID);
	assert_true(exists(img));
	assert_false(exists(gone_p));
	assert_false(exists(gone_img));
	assert_false(loop_bound(gone_img));
	for (size_t i = 0; i < ARRAY_SIZE(strays); i++) {
		vol_path(strays[i], sp, sizeof(sp));
		if (exists(sp))
			fail_msg("%s is left", strays[i]);
	}
	struct volume_info got;
	assert_int_equal(volume_get(v, a.id, &got, &err), 0);
	assert_string_equal(got.token, a.token);
	assert_int_equal(volume_destroy(v, a.id, &err), 0);
	assert_false(exists(p));
	assert_int_equal(volume_destroy(v, a.id, &err), -ENOENT);
	assert_int_equal(volume_get(v, "../etc", &got, &err), -ENOENT);
	volumes_close(v);
}

/* A destroy leaves no mount, image or loop device; one that a content
 * request still holds keeps its detached file system until it closes. */
static void test_destroy(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a, b;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "a", &a, &err), 0);
	assert_int_equal(volume_create(v, "b", &b, &err), 0);
	char p[512], img[512];
	host_path(&a, "", p, sizeof(p));
	image_path(&a, img, sizeof(img));
	struct volume_content *c = content(v, &a);
	write_file(c, "/f", "data");
	volume_content_close(c);
	assert_true(loop_bound(img));
	assert_int_equal(volume_destroy(v, a.id, &err), 0);
	assert_false(exists(p));
	assert_false(exists(img));
	assert_false(loop_bound(img));
	/* Held by a reader: it goes on working on what is going. */
	host_path(&b, "", p, sizeof(p));
	image_path(&b, img, sizeof(img));
	c = content(v, &b);
	assert_int_equal(volume_destroy(v, b.id, &err), 0);
	assert_false(exists(p));
	write_file(c, "/late", "still there");
	struct volume_content *again = NULL;
	assert_int_equal(volume_open_content(v, b.id, b.token, &again, &err), -EACCES);
	volume_content_close(c);
	assert_false(loop_bound(img));
	volumes_close(v);
}

/* A full volume is -ENOSPC, naming the volume and its size; a volume keeps
 * its size when the size of new ones changes. */
static void test_full(void **state)
{
	(void)state;
	struct volumes *v = open_sized(32);
	struct volume_info a, b;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "small", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	struct volume_write *w = NULL;
	assert_int_equal(volume_write_begin(c, "/big", NULL, true, &w, &err), 0);
	static char chunk[1 << 20];
	memset(chunk, 'x', sizeof(chunk));
	int r = 0;
	for (int i = 0; r == 0 && i < 64; i++)
		r = volume_write_data(w, chunk, sizeof(chunk), &err);
	struct volume_entry e;
	if (r == 0)
		r = volume_write_commit(w, &e, &err);
	else
		volume_write_abort(w);
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(err.msg, a.id));
	assert_non_null(strstr(err.msg, "32 MiB"));
	/* The aborted write gave its space back. */
	write_file(c, "/small", "fits");
	volume_content_close(c);
	volumes_close(v);
	v = open_volumes();
	assert_int_equal(volume_create(v, "big", &b, &err), 0);
	char img[512], blank[512];
	struct stat st;
	image_path(&a, img, sizeof(img));
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 32 << 20);
	image_path(&b, img, sizeof(img));
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, (off_t)VOLUME_DEFAULT_SIZE_MIB << 20);
	volumes_close(v);
	vol_path(".blank-32M.img", blank, sizeof(blank));
	v = open_volumes();
	assert_false(exists(blank)); /* a blank of a size no longer made */
	volumes_close(v);
}

static void set_mtime(const char *path, time_t t)
{
	struct timespec times[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

static void assert_attrs(const char *path, uint32_t mode, uid_t uid, gid_t gid, time_t mtime)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		fail_msg("%s: missing", path);
	if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid || st.st_mtim.tv_sec != mtime)
		fail_msg("%s: mode %o owner %u:%u mtime %ld", path, st.st_mode & 07777, st.st_uid, st.st_gid,
			 (long)st.st_mtim.tv_sec);
}

/* The names in STATE_DIR/volumes, sorted, space-separated. */
static void names(char *buf, size_t len)
{
	char p[512];
	vol_path("", p, sizeof(p));
	struct dirent **list;
	int n = scandir(p, &list, NULL, alphasort);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.' || strcmp(list[i]->d_name, ".blank-16384M.img") == 0)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? " " : "", list[i]->d_name);
		else if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0)
			snprintf(buf + strlen(buf), len - strlen(buf), "%sSTRAY:%s", buf[0] ? " " : "",
				 list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

/* A volume of the previous layout, a plain directory, moves into a file
 * system of its own at open: files (holes kept), directories and symlinks
 * with their owners, modes and times. The old directory a crash after the
 * copy leaves under the mount point goes too. */
static void test_migration(void **state)
{
	(void)state;
	need_loop();
	struct volume_info a = { .id = "vol_0000000000000000000abcde", .name = "old", .token = "vt_old-token" };
	struct store_volume row = { .created_ms = 1 };
	snprintf(row.id, sizeof(row.id), "%s", a.id);
	snprintf(row.name, sizeof(row.name), "%s", a.name);
	snprintf(row.token, sizeof(row.token), "%s", a.token);
	struct store *s = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(store_open(dir, &s, &err), 0);
	assert_int_equal(store_volume_insert(s, &row, &err), 0);
	store_close(s);
	char p[512], f[600], sub[600], sparse[700], link[600], fifo[600];
	vol_path("", p, sizeof(p));
	assert_int_equal(mkdir(p, 0700), 0);
	host_path(&a, "", p, sizeof(p));
	assert_int_equal(mkdir(p, 0750), 0);
	assert_int_equal(chown(p, 1000, 1000), 0);
	host_path(&a, "a.txt", f, sizeof(f));
	int fd = open(f, O_CREAT | O_WRONLY, 0600);
	assert_int_equal(write(fd, "hello", 5), 5);
	assert_int_equal(fchown(fd, 1234, 5678), 0);
	assert_int_equal(fchmod(fd, 0640), 0);
	close(fd);
	set_mtime(f, 1000000000);
	host_path(&a, "sub", sub, sizeof(sub));
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sparse, sizeof(sparse), "%s/sparse.bin", sub);
	fd = open(sparse, O_CREAT | O_WRONLY, 0644);
	assert_int_equal(pwrite(fd, "end", 3, 8 << 20), 3);
	close(fd);
	set_mtime(sub, 1100000000);
	host_path(&a, "link", link, sizeof(link));
	assert_int_equal(symlink("sub/sparse.bin", link), 0);
	assert_int_equal(lchown(link, 42, 43), 0);
	set_mtime(link, 1300000000);
	host_path(&a, "pipe", fifo, sizeof(fifo));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	set_mtime(p, 1200000000);

	struct volumes *v = open_volumes();
	assert_true(mounted(p));
	assert_attrs(p, 0750, 1000, 1000, 1200000000);
	assert_attrs(f, 0640, 1234, 5678, 1000000000);
	assert_attrs(sub, 0700, 0, 0, 1100000000);
	assert_attrs(link, 0777, 42, 43, 1300000000);
	char target[64] = "";
	assert_int_equal(readlink(link, target, sizeof(target) - 1), 14);
	assert_string_equal(target, "sub/sparse.bin");
	struct stat st;
	assert_int_equal(stat(sparse, &st), 0);
	assert_int_equal(st.st_size, (8 << 20) + 3);
	assert_true(st.st_blocks * 512 < (1 << 20));
	assert_false(exists(fifo));
	char listing[1024], want[256];
	names(listing, sizeof(listing));
	snprintf(want, sizeof(want), ".blank-16384M.img %s %s.img", a.id, a.id);
	assert_string_equal(listing, want);
	struct volume_content *c = content(v, &a);
	struct volume_entry e;
	assert_int_equal(volume_stat(c, "/a.txt", &e, &err), 0);
	assert_int_equal(e.size, 5);
	volume_entry_clear(&e);
	volume_content_close(c);
	volumes_close(v);

	/* Unmounted with the old directory still beneath (a crash after the
	 * image took the volume's name): mounted, and the old copy removed. */
	assert_int_equal(umount2(p, 0), 0);
	char stale[600];
	host_path(&a, "stale", stale, sizeof(stale));
	assert_int_equal(close(open(stale, O_CREAT | O_WRONLY, 0600)), 0);
	v = open_volumes();
	assert_true(mounted(p));
	assert_true(exists(f));
	assert_false(exists(stale));
	names(listing, sizeof(listing));
	assert_string_equal(listing, want);
	volumes_close(v);
}

/* Paths as given are normalized; ".." may move inside, not out; a symlink
 * loop and a final ".." are errors, not hangs. */
static void test_paths(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "paths", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	struct volume_entry e;
	assert_int_equal(volume_mkdir(c, "//x/./y/", NULL, true, &e, &err), 0);
	assert_string_equal(e.path, "/x/y");
	assert_string_equal(e.name, "y");
	volume_entry_clear(&e);
	write_file(c, "x/y/../f.txt", "inside");
	assert_int_equal(volume_stat(c, "/x/f.txt", &e, &err), 0);
	assert_int_equal(e.size, 6);
	volume_entry_clear(&e);
	assert_int_equal(volume_stat(c, "/x/..", &e, &err), -EINVAL);
	assert_int_equal(volume_stat(c, "/../x", &e, &err), -EXDEV);
	char p[512];
	host_path(&a, "loop", p, sizeof(p));
	assert_int_equal(symlink("loop", p), 0);
	int fd;
	uint64_t size;
	assert_int_equal(volume_open_file(c, "/loop", &fd, &size, &err), -ELOOP);
	assert_int_equal(volume_stat(c, "/loop", &e, &err), 0);
	assert_int_equal(e.type, VOLUME_ENTRY_SYMLINK);
	assert_string_equal(e.target, "loop");
	volume_entry_clear(&e);
	/* A directory swapped for a symlink out: later calls never follow it. */
	host_path(&a, "x", p, sizeof(p));
	char aside[520];
	snprintf(aside, sizeof(aside), "%s.old", p);
	assert_int_equal(rename(p, aside), 0);
	assert_int_equal(symlink(dir, p), 0);
	assert_int_equal(volume_open_file(c, "/x/volumes", &fd, &size, &err), -EXDEV);
	assert_int_equal(volume_remove(c, "/x/volumes", &err), -EXDEV);
	assert_int_equal(volume_remove(c, "/x", &err), 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(volume_remove(c, "/", &err), -EINVAL);
	volume_content_close(c);
	volumes_close(v);
}

/* An aborted write leaves nothing; !replace keeps what is there. */
static void test_write_whole(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "writes", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	write_file(c, "/f", "first");
	struct volume_write *w = NULL;
	assert_int_equal(volume_write_begin(c, "/f", NULL, true, &w, &err), 0);
	assert_int_equal(volume_write_data(w, "half", 4, &err), 0);
	volume_write_abort(w);
	assert_int_equal(volume_write_begin(c, "/f", NULL, false, &w, &err), -EEXIST);
	assert_int_equal(volume_write_begin(c, "/", NULL, true, &w, &err), -EISDIR);
	int fd;
	uint64_t size;
	assert_int_equal(volume_open_file(c, "/f", &fd, &size, &err), 0);
	char buf[16] = { 0 };
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	close(fd);
	assert_string_equal(buf, "first");
	struct volume_entry e;
	assert_int_equal(volume_stat(c, "/", &e, &err), 0);
	assert_string_equal(e.path, "/");
	assert_int_equal(e.type, VOLUME_ENTRY_DIRECTORY);
	volume_entry_clear(&e);
	volume_content_close(c);
	volumes_close(v);
}

struct writer {
	struct volume_content *c;
	char fill;
	int rc;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	char chunk[4096];
	memset(chunk, wr->fill, sizeof(chunk));
	for (int round = 0; round < 20 && wr->rc == 0; round++) {
		struct volume_write *w = NULL;
		struct volume_entry e;
		struct cove_err err = { 0 };
		wr->rc = volume_write_begin(wr->c, "/shared/file", NULL, true, &w, &err);
		for (int i = 0; wr->rc == 0 && i < 64; i++)
			wr->rc = volume_write_data(w, chunk, sizeof(chunk), &err);
		if (wr->rc == 0)
			wr->rc = volume_write_commit(w, &e, &err);
		else
			volume_write_abort(w);
		if (wr->rc == 0)
			volume_entry_clear(&e);
	}
	return NULL;
}

/* Two writers of one path: a reader always finds one of them whole. */
static void test_two_writers(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "race", &a, &err), 0);
	struct volume_content *c = content(v, &a);
	struct writer w1 = { c, 'a', 0 }, w2 = { c, 'b', 0 };
	pthread_t t1, t2;
	assert_int_equal(pthread_create(&t1, NULL, writer_main, &w1), 0);
	assert_int_equal(pthread_create(&t2, NULL, writer_main, &w2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(w1.rc, 0);
	assert_int_equal(w2.rc, 0);
	int fd;
	uint64_t size;
	assert_int_equal(volume_open_file(c, "/shared/file", &fd, &size, &err), 0);
	assert_int_equal(size, 64 * 4096);
	char *buf = malloc(size);
	assert_int_equal(read(fd, buf, size), (ssize_t)size);
	close(fd);
	for (size_t i = 1; i < size; i++)
		if (buf[i] != buf[0])
			fail_msg("mixed content at byte %zu", i);
	free(buf);
	/* No write's scratch file is left. */
	int listed = 0;
	struct cove_err lerr = { 0 };
	assert_int_equal(volume_list(c, "/shared", 1, count_entry, &listed, &lerr), 0);
	assert_int_equal(listed, 1);
	volume_content_close(c);
	volumes_close(v);
}

/* A tree 300 levels deep goes whole. */
static void test_deep_remove(void **state)
{
	(void)state;
	struct volumes *v = open_volumes();
	struct volume_info a;
	struct cove_err err = { 0 };
	assert_int_equal(volume_create(v, "deep", &a, &err), 0);
	char p[512];
	host_path(&a, "", p, sizeof(p));
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
		assert_true(fd >= 0);
	}
	close(fd);
	struct volume_content *c = content(v, &a);
	assert_int_equal(volume_remove(c, "/d", &err), 0);
	struct volume_entry e;
	assert_int_equal(volume_stat(c, "/d", &e, &err), -ENOENT);
	volume_content_close(c);
	volumes_close(v);
}

static const char *query_get(void *cls, const char *name)
{
	const char *const *kv = cls;
	for (; kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static int parse_query(const char *const *kv, struct api_volume_query *q)
{
	struct api_query in = { query_get, (void *)kv };
	struct cove_err err = { 0 };
	return api_volume_query_parse(&in, q, &err);
}

/* A literal and its length. */
#define S(text) text, strlen(text)

static void test_parsers(void **state)
{
	(void)state;
	struct api_volume_query q;
	const char *good[] = { "path", "/a", "depth", "3", "uid", "0", "gid", "4294967294", "mode", "493", "force", "false", NULL };
	assert_int_equal(parse_query(good, &q), 0);
	assert_int_equal(q.depth, 3);
	assert_true(q.attrs.has_uid && q.attrs.uid == 0 && q.attrs.gid == 4294967294u && q.attrs.mode == 0755);
	assert_true(q.has_force && !q.force);
	const char *bad[][4] = { { "depth", "0" },   { "depth", "33" }, { "uid", "-1" },	 { "uid", "4294967295" },
				 { "mode", "4096" }, { "mode", "0x1" }, { "force", "yes" }, { "path", "a\nb" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *kv[] = { "path", "/p", bad[i][0], bad[i][1], NULL };
		if (strcmp(bad[i][0], "path") == 0)
			kv[1] = bad[i][1];
		assert_int_equal(parse_query(kv, &q), -EINVAL);
	}
	const char *none[] = { "depth", "1", NULL };
	assert_int_equal(parse_query(none, &q), -EINVAL);
	struct volume_attrs at;
	struct cove_err err = { 0 };
	assert_int_equal(api_volume_attrs_parse(S("{}"), &at, &err), -EINVAL);
	assert_int_equal(api_volume_attrs_parse(S("{\"mode\": 511, \"uid\": null}"), &at, &err), 0);
	assert_true(at.has_mode && !at.has_uid && at.mode == 0777);
	assert_int_equal(api_volume_attrs_parse(S("{\"gid\": -2}"), &at, &err), -EINVAL);
	char name[VOLUME_NAME_MAX + 1];
	assert_int_equal(api_volume_body_parse(S("{\"name\": \"my-vol-1\"}"), name, &err), 0);
	assert_string_equal(name, "my-vol-1");
	assert_int_equal(api_volume_body_parse(S("{\"name\": \"a_b\"}"), name, &err), -EINVAL);
	assert_int_equal(api_volume_body_parse(S("{\"name\": \"a\\u0000b\"}"), name, &err), -EINVAL);
	assert_int_equal(api_volume_body_parse(S("[]"), name, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_own_file_system, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_finishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_remove, setup, teardown),
		cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
