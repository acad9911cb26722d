/* The Firecracker driver's saves (fc.h). Firecracker writes a state file
 * and a memory file (PUT /snapshot/create, Full) where it may write: its
 * own directory (RUN_DIR/ID/fc, bound into its work directory, on the
 * host's file system), or, for a template snapshot, the memory file Cove
 * bound from config.mem_file. The files it made there are then renamed to
 * the paths Cove asked for (copied, holes kept, where those are on another
 * file system), and handed from the VMM's uid to this process's. How
 * Cove's files map onto its two is fc_save_plan's; a Diff goes through
 * the record of dirty pages (memory.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "vmm/driver.h"
#include "vmm/fc/fc_internal.h"

#define TMP_STATE FC_DIR_NAME "/vmstate.new"
#define TMP_MEMORY FC_DIR_NAME "/memory.new"

/* Opens what the VMM made at path: a regular file, never through a
 * symlink (its directory is its own, and a link there could name any file
 * of the host). */
static int open_made(const char *path, struct stat *st, struct cove_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, st) < 0) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return cove_errno(err, e, "firecracker: open %s", path);
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return cove_errf(err, -EINVAL, "firecracker: %s is not a regular file", path);
	}
	return fd;
}

/* Moves from (which the VMM made) to to, Cove's now; durable: fsynced. */
static int move_out(const char *from, const char *to, bool durable, struct cove_err *err)
{
	struct stat st, moved;
	_cleanup_close_ int in = open_made(from, &st, err);
	if (in < 0)
		return in;
	if (rename(from, to) == 0) {
		/* The file opened, not one the VMM put in its place since. */
		if (lstat(to, &moved) < 0 || moved.st_dev != st.st_dev || moved.st_ino != st.st_ino) {
			unlink(to);
			return cove_errf(err, -EINVAL, "firecracker: %s was replaced while it was moved", from);
		}
		if (fchown(in, getuid(), getgid()) < 0 || (durable && fsync(in) < 0))
			return cove_errno(err, -errno, "sync %s", to);
		return 0;
	}
	if (errno != EXDEV)
		return cove_errno(err, -errno, "rename %s to %s", from, to);
	/* Another file system: a copy, holes kept. */
	int64_t t0 = now_us();
	int r = fs_copy_fd_to(in, from, to, durable, err);
	if (r < 0)
		return r;
	log_info("op=save msg=\"copied %s to %s\" ms=%.1f", from, to, (double)(now_us() - t0) / 1000.0);
	unlink(from);
	return 0;
}

/* The files Firecracker wrote, to where Cove asked for them. */
static int place(struct vmm *vm, const struct vmm_snapshot_files *files, const struct fc_save_plan *p,
		 struct cove_err *err)
{
	char state[PATH_MAX + 32], memory[PATH_MAX + 32], to[PATH_MAX + 32];
	fc_run_path(vm, TMP_STATE, state);
	fc_run_path(vm, TMP_MEMORY, memory);
	if (!p->state_dir) {
		int r = move_out(state, files->state, true, err);
		return r == 0 && p->memory == FC_MEMORY_RAM ? move_out(memory, files->ram, false, err) : r;
	}
	if (mkdir(files->state, 0700) < 0)
		return cove_errno(err, -errno, "create %s", files->state);
	snprintf(to, sizeof(to), "%s/" FC_STATE_FILE, files->state);
	int r = move_out(state, to, true, err);
	if (p->diff) {
		/* The record, every page that differs from base_memory, is
		 * what is kept (the Diff was applied onto it). */
		snprintf(to, sizeof(to), "%s/" FC_STATE_DIFF, files->state);
		r = r ?: fc_dirty_copy(vm, to, err);
	} else {
		snprintf(to, sizeof(to), "%s/" FC_STATE_MEMORY, files->state);
		r = r ?: move_out(memory, to, true, err);
	}
	return r ?: fs_sync_dir(files->state, err);
}

int fc_snapshot(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
		struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	struct fc_save_plan p;
	bool tracked = fc_dirty_tracked(vm);
	fc_save_plan(files, c->mem_file && c->mem_shared, tracked, &p);
	char state[PATH_MAX + 32], memory[PATH_MAX + 32];
	fc_run_path(vm, TMP_STATE, state);
	fc_run_path(vm, TMP_MEMORY, memory);
	unlink(state); /* left by a save that failed part way */
	unlink(memory);
	json_t *body = fc_snapshot_create(TMP_STATE, p.memory == FC_MEMORY_MEM_FILE ? VMM_MEMORY_NAME : TMP_MEMORY,
					  p.diff);
	int r = fc_call(vm, "PUT", "/snapshot/create", body, NULL, err);
	json_decref(body);
	/* A Full snapshot may have cleared the dirty bits a later Diff needs:
	 * the record of them is no longer whole. */
	if (r == 0 && tracked && !p.diff)
		fc_dirty_forget(vm);
	if (r == 0 && p.diff) {
		struct stat st;
		int fd = open_made(memory, &st, err);
		r = fd < 0 ? fd : fc_dirty_record(vm, fd, memory, err);
		if (fd < 0)
			fc_dirty_forget(vm);
		else
			close(fd);
	}
	r = r ?: place(vm, files, &p, err);
	unlink(state);
	unlink(memory);
	if (r < 0 && p.memory == FC_MEMORY_RAM)
		unlink(files->ram);
	if (r == 0)
		report->ram_in_state = p.ram_in_state;
	return r;
}
