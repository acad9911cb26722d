/* Cloud Hypervisor's saves (ch.h). vm.snapshot writes a directory
 * (config.json, state.json, memory-ranges) where CH can reach it, and CH
 * runs in a mount namespace whose work directory is a tmpfs: a snapshot
 * written there would be in memory (counted against the VMM's cgroup: a
 * whole guest's RAM more) and would then have to be copied out. So the
 * directory the generic code names (files->state) is made on the host and
 * mounted into the VMM's namespace for the while of the snapshot
 * (open_tree, then move_mount from a thread that entered the namespace):
 * CH writes the host's file system directly, and memory-ranges can be
 * renamed where the save wants its RAM.
 *
 * A restore reads a directory too: the VMM's work directory, into which
 * config.json (the saved one with this VMM's paths, TAP and memory), the
 * saved state.json and a memory-ranges are bound; memory-ranges is the
 * saved one or, where a save left it out, the memory file it was. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "vmm/ch/ch.h"
#include "vmm/driver.h"
#include "vmm/rest/rest.h"

/* RestoreConfig's memory_restore_mode (OnDemand: pages through
 * userfaultfd as the guest touches them, as the reference host restores). */
#define CH_RESTORE_ON_DEMAND true

struct ns_mount {
	int pidfd;     /* the VMM: its mount namespace */
	int tree_fd;   /* the host directory (open_tree); -1: unmount */
	const char *target;
	int r;
	int step_errno;
	const char *step;
};

/* In a thread of its own (its file system context unshared, so that the
 * rest of the process stays where it is): enters the VMM's mount
 * namespace, mounts the tree at target or takes it away again. */
static void *ns_mount_main(void *arg)
{
	struct ns_mount *m = arg;
	m->step = "unshare the file system context";
	if (unshare(CLONE_FS) < 0)
		goto fail;
	m->step = "enter the mount namespace";
	if (setns(m->pidfd, CLONE_NEWNS) < 0)
		goto fail;
	if (m->tree_fd < 0) {
		m->step = "unmount";
		if (umount2(m->target, MNT_DETACH) < 0)
			goto fail;
		rmdir(m->target);
		return NULL;
	}
	m->step = "make the mount point";
	if (mkdir(m->target, 0700) < 0 && errno != EEXIST)
		goto fail;
	m->step = "mount";
	if (move_mount(m->tree_fd, "", AT_FDCWD, m->target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto fail;
	return NULL;
fail:
	m->r = -errno;
	return NULL;
}

/* Mounts host_dir (NULL: unmounts) at target in vm's mount namespace. */
static int ns_mount(struct vmm *vm, const char *host_dir, const char *target, struct cove_err *err)
{
	struct ns_mount m = { .pidfd = vm->pidfd, .tree_fd = -1, .target = target };
	if (host_dir && (m.tree_fd = open_tree(AT_FDCWD, host_dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) < 0)
		return cove_errno(err, -errno, "cloud-hypervisor: clone the mount of %s", host_dir);
	pthread_t t;
	int r = -pthread_create(&t, NULL, ns_mount_main, &m);
	if (r == 0) {
		pthread_join(t, NULL);
		r = m.r;
	}
	if (m.tree_fd >= 0)
		close(m.tree_fd);
	if (r < 0)
		return cove_errno(err, r, "cloud-hypervisor: %s %s in the VMM of %s", m.step ? m.step : "start a thread",
				  target, vm->cfg.c.id);
	return 0;
}

static int path_in(char *buf, const char *dir, const char *name)
{
	return snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Has CH write its snapshot into dir (made here, the VMM's to write). */
static int write_snapshot(struct vmm *vm, const char *dir, struct cove_err *err)
{
	char target[PATH_MAX];
	if (vmm_root_path(vm, CH_SNAPSHOT_MOUNT, target) < 0)
		return cove_errf(err, -ENAMETOOLONG, "cloud-hypervisor: snapshot path in %s too long", vm->work_dir);
	if (mkdir(dir, 0700) < 0)
		return cove_errno(err, -errno, "create %s", dir);
	if (vm->confined && chown(dir, vm->uid, vm->uid) < 0)
		return cove_errno(err, -errno, "give %s to uid %u", dir, (unsigned)vm->uid);
	int r = ns_mount(vm, dir, target, err);
	if (r < 0)
		return r;
	json_t *body = ch_snapshot_body(target);
	struct ch *ch = vm->driver_data;
	r = !body ? cove_errf(err, -ENOMEM, "cloud-hypervisor: out of memory")
	    : !ch || !ch->api ? cove_errf(err, -ENOTCONN, "cloud-hypervisor: no API connection to %s", vm->cfg.c.id)
			      : rest_call(ch->api, "PUT", "/api/v1/vm.snapshot", body, NULL, CH_SNAPSHOT_TIMEOUT_MS, err);
	json_decref(body);
	struct cove_err uerr = { 0 };
	int u = ns_mount(vm, NULL, target, &uerr);
	if (u < 0)
		log_warn("vmm=%s op=snapshot msg=\"%s\"", vm->cfg.c.id, uerr.msg);
	return r;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* memory-ranges where the save wants the RAM (ch_ranges_fate). */
static int place_ranges(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
			struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char ranges[PATH_MAX];
	if (path_in(ranges, files->state, CH_SNAPSHOT_RANGES) < 0)
		return cove_errf(err, -ENAMETOOLONG, "path in %s too long", files->state);
	off_t size = file_size(ranges);
	off_t mem = c->mem_file ? file_size(c->mem_file) : 0;
	if (size < 0) {
		/* CH left out the shared file's pages itself: the same outcome. */
		if (c->mem_file && c->mem_shared && !files->ram)
			return 0;
		return cove_errf(err, -EPROTO, "cloud-hypervisor: snapshot of %s has no %s", c->id, CH_SNAPSHOT_RANGES);
	}
	switch (ch_ranges_fate(c, files, size, mem > 0 ? mem : 0)) {
	case CH_RANGES_DROP:
		return unlink(ranges) < 0 ? cove_errno(err, -errno, "remove %s", ranges) : 0;
	case CH_RANGES_TO_RAM:
		if (rename(ranges, files->ram) == 0)
			return 0;
		if (errno != EXDEV)
			return cove_errno(err, -errno, "move %s to %s", ranges, files->ram);
		report->ram_in_state = true; /* another file system: it stays */
		return 0;
	case CH_RANGES_KEEP:
		report->ram_in_state = files->base_memory != NULL;
		return 0;
	}
	return 0;
}

/* What CH wrote becomes this process's (root's), made durable. */
static int settle(const char *dir, struct cove_err *err)
{
	static const char *const names[] = { CH_SNAPSHOT_CONFIG, CH_SNAPSHOT_STATE, CH_SNAPSHOT_RANGES };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[PATH_MAX];
		if (path_in(path, dir, names[i]) < 0)
			return cove_errf(err, -ENAMETOOLONG, "path in %s too long", dir);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT && i == 2)
			continue;
		if (fd < 0)
			return cove_errno(err, -errno, "cloud-hypervisor: snapshot file %s", path);
		int r = fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0 ? -errno : 0;
		close(fd);
		if (r < 0)
			return cove_errno(err, r, "cloud-hypervisor: settle %s", path);
	}
	if (chown(dir, 0, 0) < 0)
		return cove_errno(err, -errno, "cloud-hypervisor: take back %s", dir);
	return fs_sync_dir(dir, err);
}

int ch_snapshot(struct vmm *vm, const struct vmm_snapshot_files *files, struct vmm_snapshot_report *report,
		struct cove_err *err)
{
	int r = write_snapshot(vm, files->state, err);
	r = r ?: place_ranges(vm, files, report, err);
	r = r ?: settle(files->state, err);
	if (r < 0 && files->ram && !report->ram_in_state)
		unlink(files->ram);
	return r;
}

/* dir/name, owned by the config copy; NULL when out of room. */
static const char *keep_path(struct vmm *vm, const char *dir, const char *name)
{
	if (vm->cfg.nstrings >= sizeof(vm->cfg.strings) / sizeof(vm->cfg.strings[0]))
		return NULL;
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	vm->cfg.strings[vm->cfg.nstrings++] = path;
	return path;
}

int ch_restore_prepare(struct vmm *vm, json_t *fresh, struct vmm_bind *binds, size_t *nbinds, char *config_path,
		       struct cove_err *err)
{
	const struct vmm_config *c = &vm->cfg.c;
	char saved_config[PATH_MAX], ranges[PATH_MAX];
	if (path_in(saved_config, c->restore_state, CH_SNAPSHOT_CONFIG) < 0 ||
	    path_in(ranges, c->restore_state, CH_SNAPSHOT_RANGES) < 0 ||
	    path_in(config_path, vm->dir, CH_SNAPSHOT_CONFIG) < 0)
		return cove_errf(err, -ENAMETOOLONG, "cloud-hypervisor: path in %s too long", c->restore_state);
	json_error_t jerr;
	_cleanup_json_ json_t *saved = json_load_file(saved_config, 0, &jerr);
	if (!saved)
		return cove_errf(err, -EINVAL, "cloud-hypervisor: restore %s: %s: %s", c->id, saved_config, jerr.text);
	_cleanup_json_ json_t *config = ch_restore_config(saved, fresh);
	if (!config || json_dump_file(config, config_path, JSON_COMPACT) < 0)
		return cove_errf(err, -EIO, "cloud-hypervisor: restore %s: write %s", c->id, config_path);
	const char *memory = ch_restore_ranges(c, ranges, access(ranges, F_OK) == 0);
	if (!memory)
		return cove_errf(err, -ENOENT, "cloud-hypervisor: restore %s: no %s in %s and no memory file", c->id,
				 CH_SNAPSHOT_RANGES, c->restore_state);
	/* The paths bound live as long as the config copy (vm->cfg): the
	 * state, and the saved ranges when there are some. */
	const char *state = keep_path(vm, c->restore_state, CH_SNAPSHOT_STATE);
	if (state && memory == ranges)
		memory = keep_path(vm, c->restore_state, CH_SNAPSHOT_RANGES);
	if (!state || !memory)
		return cove_errf(err, -ENOMEM, "cloud-hypervisor: restore %s: out of memory or room for paths", c->id);
	binds[(*nbinds)++] = (struct vmm_bind){ config_path, CH_SNAPSHOT_CONFIG, VMM_BIND_READ };
	binds[(*nbinds)++] = (struct vmm_bind){ state, CH_SNAPSHOT_STATE, VMM_BIND_READ };
	binds[(*nbinds)++] = (struct vmm_bind){ memory, CH_SNAPSHOT_RANGES, VMM_BIND_READ };
	return 0;
}

int ch_restore(struct vmm *vm, struct cove_err *err)
{
	struct ch *ch = vm->driver_data;
	char dir[PATH_MAX];
	if (vmm_root_path(vm, "", dir) < 0)
		return cove_errf(err, -ENAMETOOLONG, "cloud-hypervisor: path of %s too long", vm->work_dir);
	json_t *body = ch_restore_body(dir, CH_RESTORE_ON_DEMAND);
	int r = body ? rest_call(ch->api, "PUT", "/api/v1/vm.restore", body, NULL, CH_SNAPSHOT_TIMEOUT_MS, err)
		     : cove_errf(err, -ENOMEM, "cloud-hypervisor: out of memory");
	json_decref(body);
	r = r ?: rest_call(ch->api, "PUT", "/api/v1/vm.resume", NULL, NULL, CH_API_TIMEOUT_MS, err);
	if (r < 0)
		cove_err_prefix(err, "restore %s from %s", vm->cfg.c.id, vm->cfg.c.restore_state);
	return r;
}
