/* Template snapshots: a template's guest booted once and saved, so that a
 * sandbox starts by restoring it instead of booting a kernel.
 *
 * DIR holds:
 *   memory         the guest's RAM (restores map it privately: pages load
 *                  lazily and are shared by every sandbox of the template)
 *   state          the VMM's device state
 *   layer          what the guest wrote to its disk while it booted, over the
 *                  template's image (frozen from then on)
 *   overlay        an empty overlay over the layer; each sandbox's disk is a
 *                  copy of it
 *   snapshot.conf  what it was made from (kernel and image by size and
 *                  modification time, memory, vCPUs): a snapshot that does
 *                  not match is not used
 * The disk files are the VMM's, under its names (vmm_disk_name; the
 * default driver's are layer.qcow2 and overlay.qcow2). It is made in
 * DIR.tmp and renamed, so DIR is whole or absent. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "sandbox/internal.h"

/* Output of a command in the guest, kept (bounded) for an error message. */
struct tail {
	char buf[2048];
	size_t len;
};

static int keep_tail(void *ctx, enum process_stream stream, const uint8_t *data, size_t len)
{
	(void)stream;
	struct tail *t = ctx;
	const size_t cap = sizeof(t->buf) - 1;
	if (len >= cap) {
		memcpy(t->buf, data + len - cap, cap);
		t->len = cap;
	} else {
		if (t->len + len > cap) {
			size_t drop = t->len + len - cap;
			memmove(t->buf, t->buf + drop, t->len - drop);
			t->len -= drop;
		}
		memcpy(t->buf + t->len, data, len);
		t->len += len;
	}
	t->buf[t->len] = '\0';
	return 0;
}

/* timeout_ms: the agent kills the command after that long (0: never). */
static int run_sh(struct sandbox *sb, const struct sandbox_config *c, const char *const argv[], unsigned timeout_ms,
		  struct tail *out, struct agent_exec_result *res, struct cove_err *err)
{
	struct agent_exec_request req = { .argv = argv, .user = c->default_user, .on_output = out ? keep_tail : NULL,
					  .ctx = out, .cwd = c->default_workdir, .timeout_ms = timeout_ms };
	return sandbox_exec(sb, &req, res, err);
}

/* The template's start command, in the background, then its ready command
 * until it exits 0. */
static int start_services(struct sandbox *sb, const struct sandbox_config *c, struct cove_err *err)
{
	struct agent_exec_result res;
	int r;
	if (c->start_cmd) {
		/* sh exits at once; the command goes on (the agent's process
		 * group, reparented to init), its output to the log. */
		const char *argv[] = { "/bin/sh", "-c", "/bin/sh -c \"$0\" >" SANDBOX_START_LOG " 2>&1 </dev/null &",
				       c->start_cmd, NULL };
		if ((r = run_sh(sb, c, argv, 0, NULL, &res, err)) < 0)
			return cove_err_prefix(err, "start command");
		log_info("op=snapshot-template start_cmd=\"%s\"", c->start_cmd);
	}
	if (!c->ready_cmd)
		return 0;
	unsigned limit = c->ready_timeout_s ? c->ready_timeout_s : SANDBOX_DEFAULT_READY_TIMEOUT_S;
	int64_t t0 = now_ms(), deadline = t0 + (int64_t)limit * 1000;
	const char *argv[] = { "/bin/sh", "-c", "PATH=\"$PATH:" SANDBOX_GUEST_TOOLS "\" exec /bin/sh -c \"$0\"",
			       c->ready_cmd, NULL };
	struct tail out = { 0 };
	for (unsigned tries = 1;; tries++) {
		out.len = 0;
		out.buf[0] = '\0';
		/* One that hangs is killed at the deadline. */
		int64_t left = deadline - now_ms();
		if ((r = run_sh(sb, c, argv, left > 1000 ? (unsigned)left : 1000, &out, &res, err)) < 0)
			return cove_err_prefix(err, "ready command");
		if (res.exited && res.exit_code == 0) {
			log_info("op=snapshot-template ready_ms=%lld tries=%u", (long long)(now_ms() - t0), tries);
			return 0;
		}
		/* A command the shell cannot find will not appear by waiting. */
		if (now_ms() >= deadline || (res.exited && res.exit_code == 127))
			break;
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* Why: the ready command's last output and the start command's log. */
	const char *log_argv[] = { "/bin/sh", "-c", "tail -c 1500 " SANDBOX_START_LOG, NULL };
	struct tail log = { 0 };
	struct cove_err ignored = { 0 };
	struct agent_exec_result tail_res;
	run_sh(sb, c, log_argv, 10000, &log, &tail_res, &ignored);
	for (size_t i = 0; i < log.len; i++)
		if (log.buf[i] == '\n')
			log.buf[i] = ' ';
	for (size_t i = 0; i < out.len; i++)
		if (out.buf[i] == '\n')
			out.buf[i] = ' ';
	return cove_errf(err, -ETIMEDOUT, "ready command '%s' did not succeed within %u s (last: %s; output: %.300s); start command's log: %.1000s",
			 c->ready_cmd, limit, res.status, out.buf, log.buf);
}

static int make_in(const struct sandbox_config *c, const char *tmp, struct cove_err *err)
{
	char conf[2 * PATH_MAX + 128], path[PATH_MAX + 32];
	int r = sandbox_describe(c, true, conf, sizeof(conf), err);
	if (r < 0)
		return r;
	if (mkdir(tmp, 0755) < 0)
		return cove_errno(err, -errno, "create %s", tmp);
	struct stat st;
	if (stat(c->rootfs, &st) < 0)
		return cove_errno(err, -errno, "snapshot: image %s", c->rootfs);
	snprintf(path, sizeof(path), "%s/%s", tmp, vmm_disk_name(c->vmm_driver, VMM_DISK_LAYER));
	if ((r = vmm_disk_create(c->vmm_driver, path, VMM_DISK_LAYER, (uint64_t)st.st_size, err)) < 0)
		return r;
	struct sandbox *sb = NULL;
	int64_t t0 = now_us();
	r = sandbox_start_as(c, SANDBOX_BOOT_SNAPSHOT_SOURCE, tmp, NULL, &sb, err);
	if (r < 0)
		return r;
	if ((r = start_services(sb, c, err)) < 0) {
		sandbox_free(sb); /* its VMM's log stays, for the why */
		return r;
	}
	int64_t t1 = now_us();
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_STATE, tmp);
	r = vmm_snapshot(sandbox_vmm(sb), path, err);
	int64_t t2 = now_us();
	/* Its disk layer is complete once the VMM has let go of it. */
	vmm_remove_logs(sandbox_vmm(sb));
	sandbox_free(sb);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", tmp, vmm_disk_name(c->vmm_driver, VMM_DISK_OVERLAY));
	if ((r = vmm_disk_create(c->vmm_driver, path, VMM_DISK_OVERLAY, (uint64_t)st.st_size, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_MEMORY, tmp);
	_cleanup_close_ int mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0 || fsync(mem) < 0)
		return cove_errno(err, -errno, "write %s", path);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_CONF, tmp);
	if ((r = sandbox_write_text(path, conf, err)) < 0)
		return r;
	log_info("op=snapshot-template dir=%s boot_ms=%.1f save_ms=%.1f", tmp, (double)(t1 - t0) / 1000.0,
		 (double)(t2 - t1) / 1000.0);
	return 0;
}

int sandbox_snapshot_make(const struct sandbox_config *c, const char *dir, struct cove_err *err)
{
	char tmp[PATH_MAX], old[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dir) >= (int)sizeof(tmp) ||
	    snprintf(old, sizeof(old), "%s.old", dir) >= (int)sizeof(old))
		return cove_errf(err, -ENAMETOOLONG, "snapshot %s: path too long", dir);
	fs_remove_tree(tmp, NULL); /* a make that was cut short */
	int r = make_in(c, tmp, err);
	if (r == 0) {
		/* The old one, if any, goes only once the new one is whole. */
		fs_remove_tree(old, NULL);
		if (rename(dir, old) < 0 && errno != ENOENT)
			r = cove_errno(err, -errno, "snapshot: move %s aside", dir);
		else if (rename(tmp, dir) < 0)
			r = cove_errno(err, -errno, "snapshot: rename %s", tmp);
		fs_remove_tree(old, NULL);
	}
	if (r < 0) {
		fs_remove_tree(tmp, NULL);
		return cove_err_prefix(err, "snapshot %s", dir);
	}
	return 0;
}
