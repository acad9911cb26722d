/* The Firecracker driver's saves (fc.h). Firecracker writes a state file
 * and a memory file (PUT /snapshot/create, Full) where it may write: its
 * own directory (RUN_DIR/ID/fc, bound into its work directory, on the
 * host's file system), or, for a template snapshot, the memory file Cove
 * bound from config.mem_file. The files it made there are then renamed to
 * the paths Cove asked for (copied, holes kept, where those are on another
 * file system), and handed from the VMM's uid to this process's. How
 * Cove's files map onto its two is fc_save_plan's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "vmm/driver.h"
#include "vmm/fc/fc_internal.h"

#define TMP_STATE FC_DIR_NAME "/vmstate.new"
#define TMP_MEMORY FC_DIR_NAME "/memory.new"

/* Moves from (which the VMM made) to to, Cove's now; durable: fsynced. */
static int move_out(const char *from, const char *to, bool durable, struct cove_err *err)
{
	int r = 0;
	if (rename(from, to) < 0) {
		if (errno != EXDEV)
			return cove_errno(err, -errno, "rename %s to %s", from, to);
		if ((r = vmm_raw_clone(from, to, durable, err)) < 0)
			return r;
		unlink(from);
		durable = false; /* the copy was synced */
	}
	int fd = open(to, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "open %s", to);
	if (fchown(fd, getuid(), getgid()) < 0 || (durable && fsync(fd) < 0))
		r = cove_errno(err, -errno, "sync %s", to);
	close(fd);
	return r;
}

static void host_file(const struct vmm *vm, const char *name, char out[PATH_MAX + 32])
{
	snprintf(out, PATH_MAX + 32, "%s/%s", vm->dir, name);
}

/* The files Firecracker wrote, to where Cove asked for them. */
static int place(struct vmm *vm, const struct vmm_snapshot_files *files, const struct fc_save_plan *p,
		 struct cove_err *err)
{
	char state[PATH_MAX + 32], memory[PATH_MAX + 32], to[PATH_MAX + 32];
	host_file(vm, TMP_STATE, state);
	host_file(vm, TMP_MEMORY, memory);
	if (!p->state_dir) {
		int r = move_out(state, files->state, true, err);
		return r == 0 && p->memory == FC_MEMORY_RAM ? move_out(memory, files->ram, false, err) : r;
	}
	if (mkdir(files->state, 0700) < 0)
		return cove_errno(err, -errno, "create %s", files->state);
	snprintf(to, sizeof(to), "%s/" FC_STATE_FILE, files->state);
	int r = move_out(state, to, true, err);
	snprintf(to, sizeof(to), "%s/" FC_STATE_MEMORY, files->state);
	r = r ?: move_out(memory, to, true, err);
	return r ?: fs_sync_dir(files->state, err);
}

int fc_snapshot(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
		struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	struct fc_save_plan p;
	fc_save_plan(files, c->mem_file && c->mem_shared, &p);
	char state[PATH_MAX + 32], memory[PATH_MAX + 32];
	host_file(vm, TMP_STATE, state);
	host_file(vm, TMP_MEMORY, memory);
	unlink(state); /* left by a save that failed part way */
	unlink(memory);
	json_t *body = fc_snapshot_create(TMP_STATE, p.memory == FC_MEMORY_MEM_FILE ? VMM_MEMORY_NAME : TMP_MEMORY);
	int r = fc_call(vm, "PUT", "/snapshot/create", body, NULL, err);
	json_decref(body);
	r = r ?: place(vm, files, &p, err);
	unlink(state);
	unlink(memory);
	if (r < 0 && p.memory == FC_MEMORY_RAM)
		unlink(files->ram);
	if (r == 0)
		report->ram_in_state = p.ram_in_state;
	return r;
}
