#include "vmm/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"

enum { H_MEMORY, H_CPU, H_PIDS, H_CPUACCT, H_COUNT };

#define REMOVE_TRIES 50
#define REMOVE_WAIT_US 10000

struct layout {
	bool v2;
	char root[H_COUNT][PATH_MAX]; /* v2: root[0] only */
	char missing[128];
};

struct vmm_cgroup {
	bool v2;
	char dir[H_COUNT][PATH_MAX]; /* "" where unused */
	int procs[H_COUNT];
};

static struct layout layout;
static pthread_once_t layout_once = PTHREAD_ONCE_INIT;

static bool has_controllers(const char *root)
{
	char path[PATH_MAX], text[512] = "";
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	char padded[520];
	snprintf(padded, sizeof(padded), " %s ", text);
	for (char *p = padded; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return strstr(padded, " cpu ") && strstr(padded, " memory ") && strstr(padded, " pids ");
}

static void detect(void)
{
	static const char *const v2_roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	for (size_t i = 0; i < 2; i++)
		if (has_controllers(v2_roots[i])) {
			layout.v2 = true;
			snprintf(layout.root[0], PATH_MAX, "%s", v2_roots[i]);
			return;
		}
	/* v1, as systemd and most distributions mount it. */
	static const struct {
		const char *dirs[2];
		const char *probe;
	} v1[H_COUNT] = {
		[H_MEMORY] = { { "/sys/fs/cgroup/memory", NULL }, "memory.limit_in_bytes" },
		[H_CPU] = { { "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct" }, "cpu.cfs_quota_us" },
		[H_PIDS] = { { "/sys/fs/cgroup/pids", NULL }, "cgroup.procs" }, /* the root has no pids.max */
		[H_CPUACCT] = { { "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct" }, "cpuacct.usage" },
	};
	for (int h = 0; h < H_COUNT; h++) {
		for (int d = 0; d < 2 && v1[h].dirs[d] && !layout.root[h][0]; d++) {
			char probe[PATH_MAX];
			snprintf(probe, sizeof(probe), "%s/%s", v1[h].dirs[d], v1[h].probe);
			if (access(probe, R_OK) == 0)
				snprintf(layout.root[h], PATH_MAX, "%s", v1[h].dirs[d]);
		}
		if (!layout.root[h][0])
			snprintf(layout.missing + strlen(layout.missing), sizeof(layout.missing) - strlen(layout.missing),
				 "%s%s", layout.missing[0] ? ", " : "", v1[h].probe);
	}
}

static int write_file(const char *dir, const char *name, const char *value, struct cove_err *err)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "cgroup: open %s", path);
	int r = fs_write_all(fd, value, strlen(value));
	close(fd);
	return r < 0 ? cove_errno(err, r, "cgroup: write '%s' to %s", value, path) : 0;
}

static int make_dir(const char *path, struct cove_err *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return cove_errno(err, -errno, "cgroup: create %s", path);
	return 0;
}

/* v2: the parent hands cpu, memory and pids down to its children. */
static int v2_parent(struct cove_err *err)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s/%s", layout.root[0], VMM_CGROUP_PARENT);
	int r = write_file(layout.root[0], "cgroup.subtree_control", "+cpu +memory +pids", err);
	if (r == 0)
		r = make_dir(parent, err);
	if (r == 0)
		r = write_file(parent, "cgroup.subtree_control", "+cpu +memory +pids", err);
	return r;
}

static int set_limits_v2(const char *dir, const struct vmm_cgroup_limits *l, struct cove_err *err)
{
	char v[64];
	int r = 0;
	if (l->cpu_percent) {
		snprintf(v, sizeof(v), "%u 100000", l->cpu_percent * 1000);
		r = write_file(dir, "cpu.max", v, err);
	}
	if (r == 0 && l->memory_bytes) {
		snprintf(v, sizeof(v), "%" PRIu64, l->memory_bytes);
		r = write_file(dir, "memory.max", v, err);
	}
	if (r == 0 && l->pids) {
		snprintf(v, sizeof(v), "%u", l->pids);
		r = write_file(dir, "pids.max", v, err);
	}
	return r;
}

static int set_limits_v1(struct vmm_cgroup *cg, const struct vmm_cgroup_limits *l, struct cove_err *err)
{
	char v[64];
	int r = 0;
	if (l->cpu_percent) {
		snprintf(v, sizeof(v), "%u", l->cpu_percent * 1000);
		r = write_file(cg->dir[H_CPU], "cpu.cfs_period_us", "100000", err);
		if (r == 0)
			r = write_file(cg->dir[H_CPU], "cpu.cfs_quota_us", v, err);
	}
	if (r == 0 && l->memory_bytes) {
		snprintf(v, sizeof(v), "%" PRIu64, l->memory_bytes);
		r = write_file(cg->dir[H_MEMORY], "memory.limit_in_bytes", v, err);
	}
	if (r == 0 && l->pids) {
		snprintf(v, sizeof(v), "%u", l->pids);
		r = write_file(cg->dir[H_PIDS], "pids.max", v, err);
	}
	return r;
}

static int open_procs(struct vmm_cgroup *cg, int h, struct cove_err *err)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir[h]);
	cg->procs[h] = open(path, O_WRONLY | O_CLOEXEC);
	return cg->procs[h] < 0 ? cove_errno(err, -errno, "cgroup: open %s", path) : 0;
}

/* A handle in this host's layout, no group made or opened yet. */
static int cgroup_new(struct vmm_cgroup **ret, struct cove_err *err)
{
	pthread_once(&layout_once, detect);
	if (!layout.v2 && layout.missing[0])
		return cove_errf(err, -EOPNOTSUPP, "cgroup: no v2 hierarchy with cpu, memory and pids, and no v1 %s",
				 layout.missing);
	struct vmm_cgroup *cg = calloc(1, sizeof(*cg));
	if (!cg)
		return cove_errf(err, -ENOMEM, "cgroup: out of memory");
	cg->v2 = layout.v2;
	for (int h = 0; h < H_COUNT; h++)
		cg->procs[h] = -1;
	*ret = cg;
	return 0;
}

int vmm_cgroup_create(const char *name, const struct vmm_cgroup_limits *l, struct vmm_cgroup **ret,
		      struct cove_err *err)
{
	struct vmm_cgroup *cg;
	int r = cgroup_new(&cg, err);
	if (r < 0)
		return r;
	if (cg->v2) {
		snprintf(cg->dir[0], PATH_MAX, "%s/%s/%s", layout.root[0], VMM_CGROUP_PARENT, name);
		r = v2_parent(err);
		if (r == 0 && mkdir(cg->dir[0], 0755) < 0)
			r = cove_errno(err, -errno, "cgroup: create %s", cg->dir[0]);
		if (r < 0)
			cg->dir[0][0] = '\0';
		if (r == 0)
			r = set_limits_v2(cg->dir[0], l, err);
		if (r == 0)
			r = open_procs(cg, 0, err);
	} else {
		for (int h = 0; h < H_COUNT && r == 0; h++) {
			char parent[PATH_MAX];
			snprintf(parent, sizeof(parent), "%s/%s", layout.root[h], VMM_CGROUP_PARENT);
			snprintf(cg->dir[h], PATH_MAX, "%s/%s", parent, name);
			/* cpu,cpuacct may be one hierarchy: one group serves both. */
			bool shared = h == H_CPUACCT && strcmp(layout.root[h], layout.root[H_CPU]) == 0;
			if (shared) {
				cg->dir[h][0] = '\0';
				continue;
			}
			r = make_dir(parent, err);
			if (r == 0 && mkdir(cg->dir[h], 0755) < 0) {
				r = cove_errno(err, -errno, "cgroup: create %s", cg->dir[h]);
				cg->dir[h][0] = '\0';
			}
			if (r == 0)
				r = open_procs(cg, h, err);
		}
		if (r == 0)
			r = set_limits_v1(cg, l, err);
	}
	if (r < 0) {
		vmm_cgroup_remove(cg);
		return r;
	}
	*ret = cg;
	return 0;
}

int vmm_cgroup_open(const char *name, struct vmm_cgroup **ret, struct cove_err *err)
{
	struct vmm_cgroup *cg;
	int r = cgroup_new(&cg, err);
	if (r < 0)
		return r;
	for (int h = 0; h < H_COUNT; h++) {
		if (cg->v2 ? h > 0 : h == H_CPUACCT && strcmp(layout.root[h], layout.root[H_CPU]) == 0)
			continue;
		snprintf(cg->dir[h], PATH_MAX, "%s/%s/%s", layout.root[h], VMM_CGROUP_PARENT, name);
		struct stat st;
		int e = stat(cg->dir[h], &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
		if (e < 0) {
			cove_errno(err, e, "cgroup: open %s", cg->dir[h]);
			free(cg);
			return e;
		}
	}
	*ret = cg;
	return 0;
}

size_t vmm_cgroup_procs_fds(const struct vmm_cgroup *cg, int fds[VMM_CGROUP_MAX_FDS])
{
	size_t n = 0;
	for (int h = 0; h < H_COUNT && n < VMM_CGROUP_MAX_FDS; h++)
		if (cg->procs[h] >= 0)
			fds[n++] = cg->procs[h];
	return n;
}

struct vmm_cgroup *vmm_cgroup_close(struct vmm_cgroup *cg)
{
	if (!cg)
		return NULL;
	for (int h = 0; h < H_COUNT; h++)
		if (cg->procs[h] >= 0)
			close(cg->procs[h]);
	free(cg);
	return NULL;
}

struct vmm_cgroup *vmm_cgroup_remove(struct vmm_cgroup *cg)
{
	if (!cg)
		return NULL;
	/* Empty once its processes have exited; one the kernel is still
	 * winding down (a VMM that was not our child, killed just now) holds it
	 * for a moment (EBUSY), so it is tried again for a while; after that
	 * the sweep gets it. */
	for (int h = 0; h < H_COUNT; h++) {
		for (int i = 0; cg->dir[h][0] && rmdir(cg->dir[h]) < 0 && errno == EBUSY && i < REMOVE_TRIES; i++)
			usleep(REMOVE_WAIT_US);
	}
	return vmm_cgroup_close(cg);
}

static int read_u64(const char *dir, const char *name, const char *key, uint64_t *ret)
{
	char path[PATH_MAX + 64], text[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	text[n] = '\0';
	const char *p = text;
	if (key) {
		/* "key value" lines (cpu.stat) */
		size_t klen = strlen(key);
		p = NULL;
		for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
			if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
				p = line + klen + 1;
				break;
			}
		if (!p)
			return -ENOENT;
	}
	char *end;
	*ret = strtoull(p, &end, 10);
	return end == p ? -EIO : 0;
}

int vmm_cgroup_usage(const struct vmm_cgroup *cg, uint64_t *cpu_usec, uint64_t *mem_bytes)
{
	if (cg->v2) {
		int r = read_u64(cg->dir[0], "cpu.stat", "usage_usec", cpu_usec);
		return r < 0 ? r : read_u64(cg->dir[0], "memory.current", NULL, mem_bytes);
	}
	uint64_t ns;
	const char *acct = cg->dir[H_CPUACCT][0] ? cg->dir[H_CPUACCT] : cg->dir[H_CPU];
	int r = read_u64(acct, "cpuacct.usage", NULL, &ns);
	if (r < 0)
		return r;
	*cpu_usec = ns / 1000;
	return read_u64(cg->dir[H_MEMORY], "memory.usage_in_bytes", NULL, mem_bytes);
}

int vmm_cgroup_kill(const struct vmm_cgroup *cg)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/cgroup.procs", vmm_cgroup_path(cg));
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	int n = 0, pid;
	while (fscanf(f, "%d", &pid) == 1)
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			n++;
	fclose(f);
	return n;
}

const char *vmm_cgroup_path(const struct vmm_cgroup *cg)
{
	return cg->dir[cg->v2 ? 0 : H_MEMORY];
}

int vmm_cgroup_sweep(void)
{
	pthread_once(&layout_once, detect);
	int removed = 0;
	for (int h = 0; h < (layout.v2 ? 1 : H_COUNT); h++) {
		if (!layout.root[h][0])
			continue;
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s/%s", layout.root[h], VMM_CGROUP_PARENT);
		_cleanup_closedir_ DIR *d = opendir(parent);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' || de->d_type != DT_DIR)
				continue;
			char path[PATH_MAX + 256];
			snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
			/* A group made in the last minute may be one another process
			 * is launching a VMM into (empty until its child enters). */
			struct stat st;
			if (stat(path, &st) < 0 || time(NULL) - st.st_mtime < 60)
				continue;
			if (rmdir(path) == 0) /* EBUSY: processes in it, it stays */
				removed++;
		}
	}
	return removed;
}
