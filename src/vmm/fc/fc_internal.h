/* Shared by the Firecracker driver's files only (fc.h): its driver data,
 * its API connection (api.c) and its memory across saves and restores
 * (memory.c). */
#ifndef COVE_VMM_FC_FC_INTERNAL_H
#define COVE_VMM_FC_FC_INTERNAL_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

#include "vmm/driver.h"
#include "vmm/fc/fc.h"
#include "vmm/rest/rest.h"


/* RUN_DIR/ID/name: the VMM's run directory, Cove's side of it. Inline, so
 * that the driver's files share it without calling one another. */
static inline void fc_run_path(const struct vmm *vm, const char *name, char out[PATH_MAX + 32])
{
	snprintf(out, PATH_MAX + 32, "%s/%s", vm->dir, name);
}

/* vm->driver_data. */
struct fc {
	struct rest *api;
	/* The page server of a Uffd restore (memory.c): this process's
	 * child, -1 when there is none or it is not ours to end. */
	pid_t pager_pid;
	int pager_pidfd;
};

/* Connects to the API of vm (driver_data); fc_api_close (the driver's
 * release) undoes it. */
int fc_api_open(struct vmm *vm, struct cove_err *err);
void fc_api_close(struct vmm *vm);
/* METHOD path with body (borrowed; NULL for a request with one means the
 * caller ran out of memory making it). */
int fc_call(struct vmm *vm, const char *method, const char *path, json_t *body, json_t **reply, struct cove_err *err);

/* --- memory.c --- */

/* How a restore gets its memory. */
struct fc_restore_memory {
	/* Loaded with track_dirty_pages over a template's memory (mem_file,
	 * private): later saves are Diffs over it (FC_DIRTY_NAME). */
	bool track;
	enum fc_backend backend;
	/* The state's Diff ("": its memory is whole, or mem_file). */
	char diff[PATH_MAX + 32];
	/* A File backend over a Diff: the two merged (restore_state plus
	 * FC_MERGED_SUFFIX), bound as FC_RESTORE_MEMORY_NAME. */
	char merged[PATH_MAX + 32];
};
/* Before the VMM starts: the dirty page record, the merged file, the
 * jail's /dev/userfaultfd. diff: the state directory's Diff, or NULL;
 * whole_memory: the state has all of the RAM (no mem_file under it). */
int fc_restore_memory_prepare(struct vmm *vm, const char *diff, bool whole_memory, struct fc_restore_memory *m,
			      struct cove_err *err);
/* After it started, before /snapshot/load: a Uffd backend's page server,
 * listening on FC_UFFD_SOCK. */
int fc_pager_start(struct vmm *vm, const struct fc_restore_memory *m, struct cove_err *err);
/* After the load: its socket's path goes (the one connection is made). */
void fc_pager_loaded(struct vmm *vm);
/* The driver's release: a page server whose VMM is gone (reaped) is
 * ended and reaped; one whose VMM lives on (detached) is left to it. */
void fc_pager_release(struct vmm *vm, struct fc *f);
/* Whether saves of vm may be Diffs: it was loaded tracking dirty pages,
 * and its record of them since is whole. */
bool fc_dirty_tracked(const struct vmm *vm);
/* After a Diff snapshot wrote diff (diff_fd, opened as the VMM's files
 * are: no link followed, a regular file) (the pages dirtied since the last
 * one, or the load): applied onto the record, which then holds every page
 * that differs from mem_file. At once, whatever becomes of the save:
 * Firecracker has cleared its dirty bits. After a Full snapshot, or a Diff
 * that could not be applied, the record goes (forget): it is not whole. */
int fc_dirty_record(struct vmm *vm, int diff_fd, const char *diff, struct cove_err *err);
/* The record, copied to to (a save's FC_STATE_DIFF; durable). */
int fc_dirty_copy(const struct vmm *vm, const char *to, struct cove_err *err);
void fc_dirty_forget(const struct vmm *vm);

#endif
