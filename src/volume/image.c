/* A volume's image: a sparse ext4 file system in one file, made without a
 * command per volume. mke2fs runs once per size, making a blank image
 * (STATE_DIR/volumes/.blank-SIZEM.img, without lost+found: E2B's volumes
 * start empty); each volume's image is a sparse copy of the blank (a
 * reflink where the file system has them) given a fresh UUID and directory
 * hash seed through libext2fs. The blank has metadata_csum_seed, so the
 * metadata checksums do not depend on the UUID and none is rewritten.
 * Fresh UUIDs matter: an NFS server tells file systems apart by the fsid
 * derived from them.
 *
 * Every image is written under NAME.tmp, synced, then renamed: a crash
 * leaves a .tmp that open() removes, never half an image under its name. */
#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/spawn.h"
#include "volume/internal.h"

#define MIB (1024ull * 1024)

static pthread_once_t error_table_once = PTHREAD_ONCE_INIT;

static void error_table_init(void)
{
	initialize_ext2_error_table();
}

/* libext2fs's codes are errnos or its own (com_err) table's. */
static int ext2_fail(struct cove_err *err, errcode_t e, const char *what, const char *path)
{
	pthread_once(&error_table_once, error_table_init);
	int code = e > 0 && e < 4096 ? -(int)e : -EIO;
	return cove_errf(err, code, "%s %s: %s", what, path, error_message(e));
}

void volume_blank_name(uint64_t size_mib, char *buf, size_t len)
{
	snprintf(buf, len, ".blank-%" PRIu64 "M.img", size_mib);
}

/* --- the blank --- */

static int run_mke2fs(const char *path, struct cove_err *err)
{
	char mke2fs[PATH_MAX];
	if (fs_find_executable("mke2fs", "/usr/sbin:/sbin", mke2fs, sizeof(mke2fs)) < 0)
		return cove_errf(err, -ENOENT, "volumes: mke2fs not found (Debian's e2fsprogs)");
	/* 4 KiB blocks, nothing reserved for root; inode tables and journal
	 * left unwritten (the file's holes read as zeros, so every group is
	 * marked zeroed and no lazy init runs at mount). */
	char extended[96];
	snprintf(extended, sizeof(extended), "root_owner=%d:%d,lazy_itable_init=1,lazy_journal_init=1",
		 VOLUME_DEFAULT_UID, VOLUME_DEFAULT_GID);
	char *argv[] = { mke2fs, "-t", "ext4", "-q", "-F", "-b", "4096", "-m", "0", "-L", "cove-volume", "-O",
			 "metadata_csum_seed", "-E", extended, (char *)path, NULL };
	char out_buf[1024] = "";
	struct spawn_capture out = { .buf = out_buf, .size = sizeof(out_buf) };
	struct spawn_options o = { .path = mke2fs, .argv = argv,
				   .stdio = { { SPAWN_NULL }, { SPAWN_NULL }, { SPAWN_PIPE } } };
	struct spawn_failure f = { 0 };
	int status = spawn_run(&o, NULL, &out, &f);
	if (status < 0)
		return cove_errno(err, status, "volumes: start %s", mke2fs);
	if (status != 0) {
		out_buf[strcspn(out_buf, "\n")] = '\0';
		return cove_errf(err, -EIO, "volumes: mke2fs %s failed (%s %d): %s", path,
				 WIFEXITED(status) ? "exit status" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out_buf);
	}
	return 0;
}

struct dir_state {
	ext2_ino_t parent;
	bool empty;
};

static int dir_entry(struct ext2_dir_entry *de, int offset, int blocksize, char *buf, void *ctx)
{
	(void)offset, (void)blocksize, (void)buf;
	struct dir_state *s = ctx;
	int len = ext2fs_dirent_name_len(de);
	if (de->inode == 0 || (len == 1 && de->name[0] == '.'))
		return 0;
	if (len == 2 && de->name[0] == '.' && de->name[1] == '.')
		s->parent = de->inode;
	else
		s->empty = false;
	return 0;
}

static int release_block(ext2_filsys fs, blk64_t *block, e2_blkcnt_t n, blk64_t ref, int ref_offset, void *ctx)
{
	(void)n, (void)ref, (void)ref_offset, (void)ctx;
	ext2fs_block_alloc_stats2(fs, *block, -1);
	return 0;
}

/* rmdir lost+found as debugfs does it: out of the root, its blocks and
 * inode freed, the root's link from its ".." dropped. */
static errcode_t drop_lost_found(ext2_filsys fs)
{
	ext2_ino_t ino;
	errcode_t e = ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &ino);
	if (e == EXT2_ET_FILE_NOT_FOUND)
		return 0;
	struct dir_state s = { 0, true };
	struct ext2_inode inode;
	if (e || (e = ext2fs_read_bitmaps(fs)) || (e = ext2fs_dir_iterate(fs, ino, 0, NULL, dir_entry, &s)))
		return e;
	if (!s.empty || s.parent != EXT2_ROOT_INO)
		return EXT2_ET_DIR_CORRUPTED;
	if ((e = ext2fs_read_inode(fs, ino, &inode)))
		return e;
	inode.i_links_count = 0;
	inode.i_dtime = (uint32_t)time(NULL);
	if ((e = ext2fs_write_inode(fs, ino, &inode)) || (e = ext2fs_unlink(fs, EXT2_ROOT_INO, "lost+found", ino, 0)))
		return e;
	if (ext2fs_inode_has_valid_blocks2(fs, &inode) &&
	    (e = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY, NULL, release_block, NULL)))
		return e;
	ext2fs_inode_alloc_stats2(fs, ino, -1, 1);
	if ((e = ext2fs_read_inode(fs, EXT2_ROOT_INO, &inode)))
		return e;
	if (inode.i_links_count > 2)
		inode.i_links_count--;
	return ext2fs_write_inode(fs, EXT2_ROOT_INO, &inode);
}

/* Opens path's file system read-write, gives it to fn, writes it back. */
static int edit_fs(const char *path, errcode_t (*fn)(ext2_filsys fs), const char *what, struct cove_err *err)
{
	ext2_filsys fs = NULL;
	errcode_t e = ext2fs_open(path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
	if (e)
		return ext2_fail(err, e, "volumes: open the file system of", path);
	if ((e = fn(fs))) {
		ext2fs_free(fs);
		return ext2_fail(err, e, what, path);
	}
	if ((e = ext2fs_close_free(&fs)))
		return ext2_fail(err, e, "volumes: write the file system of", path);
	return 0;
}

static errcode_t blank_finish(ext2_filsys fs)
{
	/* Without the seed, a new UUID would mean rewriting every checksum. */
	if (!ext2fs_has_feature_csum_seed(fs->super))
		return EXT2_ET_UNSUPP_FEATURE;
	return drop_lost_found(fs);
}

/* The blank of v's size, made when missing (callers hold image_lock). */
static int blank_ensure(struct volumes *v, char *name, size_t len, struct cove_err *err)
{
	volume_blank_name(v->size_mib, name, len);
	if (faccessat(v->dir_fd, name, R_OK, 0) == 0)
		return 0;
	char tmp[64], path[PATH_MAX + 64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	snprintf(path, sizeof(path), "%s/%s", v->dir, tmp);
	unlinkat(v->dir_fd, tmp, 0);
	_cleanup_close_ int fd = openat(v->dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cove_errno(err, -errno, "volumes: create %s", path);
	int r = 0;
	if (ftruncate(fd, (off_t)(v->size_mib * MIB)) < 0)
		r = cove_errno(err, -errno, "volumes: size %s to %" PRIu64 " MiB", path, v->size_mib);
	if (r == 0)
		r = run_mke2fs(path, err);
	if (r == 0)
		r = edit_fs(path, blank_finish, "volumes: remove lost+found (needs metadata_csum_seed) of", err);
	if (r == 0 && fsync(fd) < 0)
		r = cove_errno(err, -errno, "volumes: sync %s", path);
	if (r == 0 && renameat(v->dir_fd, tmp, v->dir_fd, name) < 0)
		r = cove_errno(err, -errno, "volumes: rename %s", path);
	if (r < 0) {
		unlinkat(v->dir_fd, tmp, 0);
		return r;
	}
	log_info("op=volume-blank size_mib=%" PRIu64 " image=%s/%s", v->size_mib, v->dir, name);
	return 0;
}

/* --- a volume's copy --- */

static errcode_t fresh_identity(ext2_filsys fs)
{
	uint8_t rnd[32];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return (errcode_t)errno;
	/* Random (version 4) UUIDs, as mke2fs makes both. */
	for (int i = 0; i < 32; i += 16) {
		rnd[i + 6] = (uint8_t)((rnd[i + 6] & 0x0f) | 0x40);
		rnd[i + 8] = (uint8_t)((rnd[i + 8] & 0x3f) | 0x80);
	}
	memcpy(fs->super->s_uuid, rnd, 16);
	memcpy(fs->super->s_hash_seed, rnd + 16, 16);
	ext2fs_mark_super_dirty(fs);
	return 0;
}

static int image_copy(struct volumes *v, const char *blank, const char *name, struct cove_err *err)
{
	char tmp[VOLUME_ID_MAX + 32], path[PATH_MAX + 64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	snprintf(path, sizeof(path), "%s/%s", v->dir, tmp);
	unlinkat(v->dir_fd, tmp, 0);
	_cleanup_close_ int in = openat(v->dir_fd, blank, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cove_errno(err, -errno, "volumes: open %s/%s", v->dir, blank);
	_cleanup_close_ int out = openat(v->dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return cove_errno(err, -errno, "volumes: create %s", path);
	int r = fs_copy_fd(in, out, NULL);
	if (r < 0)
		cove_errno(err, r, "volumes: copy %s/%s to %s", v->dir, blank, path);
	if (r == 0)
		r = edit_fs(path, fresh_identity, "volumes: give a fresh UUID to", err);
	if (r == 0 && fsync(out) < 0)
		r = cove_errno(err, -errno, "volumes: sync %s", path);
	if (r == 0 && renameat(v->dir_fd, tmp, v->dir_fd, name) < 0)
		r = cove_errno(err, -errno, "volumes: rename %s", path);
	if (r == 0 && fsync(v->dir_fd) < 0)
		r = cove_errno(err, -errno, "volumes: sync %s", v->dir);
	if (r < 0)
		unlinkat(v->dir_fd, tmp, 0);
	return r;
}

int volume_image_make(struct volumes *v, const char *name, struct cove_err *err)
{
	char blank[64];
	/* One at a time: the blank is made once, and libext2fs keeps a
	 * process-wide error table. */
	pthread_mutex_lock(&v->image_lock);
	int r = blank_ensure(v, blank, sizeof(blank), err);
	if (r == 0)
		r = image_copy(v, blank, name, err);
	pthread_mutex_unlock(&v->image_lock);
	return r;
}
