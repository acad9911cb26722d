/* A build from start to end (see runner.h): the cache's keys, the build VM,
 * each step and its saved layer, then the template's image, conf and
 * snapshot.
 *
 * The cache (CACHE_DIR/layers): KEY/ is a saved disk (sandbox_save_disk:
 * the build VM's overlay and the layer under it) and KEY.ctx the context
 * the step left; KEY.ctx is written first, so a KEY/ (renamed into place
 * whole) with its .ctx is a complete entry. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/internal.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"

/* keys[0]: the base phase's (the base, the build VM's size, the first
 * context); keys[i]: after step i. */
static void step_keys(const struct build_plan *p, char (*keys)[BUILD_HASH_HEX + 1])
{
	char first[PATH_MAX + 256];
	/* "base phase 3": what build_prepare_guest puts in the guest (a new
	 * version when that changes). */
	snprintf(first, sizeof(first), "base phase 3 %s; size %u %u; user %s%s; workdir %s", p->base_key, p->vcpus,
		 p->memory_mib, p->user ? p->user : "-", p->user_create ? " (made)" : "", p->workdir ? p->workdir : "-");
	for (size_t i = 0; p->env && p->env[i]; i++) {
		/* Bounded: the environment only needs to change the key. */
		size_t n = strlen(first);
		snprintf(first + n, sizeof(first) - n, "; %s", p->env[i]);
	}
	struct build_step base = { .type = BUILD_ENV, .n_args = 1, .args = (const char *[]){ first } };
	build_layer_key("", &base, keys[0]);
	for (size_t i = 0; i < p->nsteps; i++)
		build_layer_key(keys[i], &p->steps[i], keys[i + 1]);
}

static int layer_paths(const struct build_host *h, const char *key, char dir[PATH_MAX], char ctx[PATH_MAX])
{
	if (snprintf(dir, PATH_MAX, "%s/layers/%s", h->cache_dir, key) >= PATH_MAX ||
	    snprintf(ctx, PATH_MAX, "%s/layers/%s.ctx", h->cache_dir, key) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static bool layer_cached(const struct build_host *h, const char *key)
{
	char dir[PATH_MAX], ctx[PATH_MAX];
	return layer_paths(h, key, dir, ctx) == 0 && sandbox_saved_complete(dir) && access(ctx, R_OK) == 0;
}

/* How many steps the cache has done: the last cached step before any
 * forced one. */
static size_t cached_steps(const struct build_plan *p, const struct build_host *h, char (*keys)[BUILD_HASH_HEX + 1])
{
	if (p->force)
		return 0;
	size_t limit = 0;
	while (limit < p->nsteps && !p->steps[limit].force)
		limit++;
	for (size_t i = limit; i > 0; i--)
		if (layer_cached(h, keys[i]))
			return i;
	return 0;
}

/* Saves the build VM's disk as the layer of key, with ctx, and lets the
 * guest go on. */
static int save_layer(struct build *b, const char *key, const struct build_ctx *ctx, bool synced, struct cove_err *err)
{
	char dir[PATH_MAX], ctxp[PATH_MAX];
	if (layer_paths(b->h, key, dir, ctxp) < 0)
		return cove_errf(err, -ENAMETOOLONG, "cache %s: path too long", b->h->cache_dir);
	fs_remove_tree(dir, NULL);
	/* Written out by Cove's busybox (the save's own sync is the image's,
	 * which may have none), in the step's own command where it could be. */
	int r = synced ? 0 : build_guest_sync(b, ctx, err);
	r = r ?: build_ctx_write(ctx, ctxp, err);
	r = r ?: sandbox_save_disk_synced(b->sb, &b->sc, dir, err);
	if (r < 0)
		return cove_err_prefix(err, "save the step's layer");
	return sandbox_resume(b->sb, err);
}

static void describe_step(const struct build_step *s, char *out, size_t len)
{
	int n = snprintf(out, len, "%s", build_step_type_name(s->type));
	for (size_t a = 0; a < s->n_args && n > 0 && (size_t)n < len; a++)
		if (*s->args[a])
			n += snprintf(out + n, len - (size_t)n, " %s", s->args[a]);
	if (n > 200 && len > 204)
		strcpy(out + 200, "...");
}

static int boot_turn(struct build *b, bool begin, struct cove_err *err)
{
	if (!b->h->boot_turn)
		return 0;
	int r = b->h->boot_turn(b->h->ctx, begin);
	return r < 0 && begin ? cove_errno(err, r, "wait for a turn to boot") : 0;
}

/* The build VM, from the base's snapshot (or booted) or from the layer a
 * cached step left. */
static int start_vm(struct build *b, size_t cached, char (*keys)[BUILD_HASH_HEX + 1], struct build_ctx *ctx,
		    struct cove_err *err)
{
	const struct build_plan *p = b->p;
	if (cached == 0) {
		b->sc.snapshot = p->base->snapshot;
		int turn = boot_turn(b, true, err);
		int r = turn ?: sandbox_start(&b->sc, &b->sb, err);
		if (turn == 0)
			boot_turn(b, false, NULL);
		b->sc.snapshot = NULL;
		if (r < 0)
			return cove_err_prefix(err, "start the build VM");
		/* Layers are saved from a disk of its own, which only a start
		 * from a snapshot gives. */
		if (!sandbox_can_save(b->sb))
			return cove_errf(err, -EOPNOTSUPP, "the base template %s has no usable snapshot to build on (make "
							   "one with 'cove template snapshot %s', as root)",
					 p->base->name, p->base->name);
		snprintf(ctx->user, sizeof(ctx->user), "%s", p->user ? p->user : p->base->user);
		snprintf(ctx->workdir, sizeof(ctx->workdir), "%s", p->workdir ? p->workdir : p->base->workdir);
		for (size_t i = 0; p->env && p->env[i]; i++) {
			const char *kv = p->env[i], *eq = strchr(kv, '=');
			char key[256];
			if (!eq || eq - kv >= (ptrdiff_t)sizeof(key))
				return cove_errf(err, -EINVAL, "environment entry '%.64s' is not KEY=VALUE", kv);
			snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
			if ((r = build_ctx_setenv(ctx, key, eq + 1, err)) < 0)
				return r;
		}
		return build_prepare_guest(b, ctx, err);
	}
	char dir[PATH_MAX], ctxp[PATH_MAX];
	layer_paths(b->h, keys[cached], dir, ctxp);
	int r = build_ctx_read(ctx, ctxp, err);
	if (r < 0)
		return r;
	char token[65];
	if ((r = random_hex(token, 32)) < 0)
		return cove_errno(err, r, "random token");
	int turn = boot_turn(b, true, err);
	r = turn ?: sandbox_reboot(&b->sc, dir, token, &b->sb, err);
	if (turn == 0)
		boot_turn(b, false, NULL);
	if (r < 0)
		return cove_err_prefix(err, "boot the build VM from the cached step %zu", cached);
	return 0;
}

/* The disk saved in saved (over the base's image) as a raw image of its
 * own: the template's. */
static int flatten(struct build *b, const char *saved, const char *out_dir, struct cove_err *err)
{
	char layer[PATH_MAX + 32], own[PATH_MAX + 32], out[PATH_MAX + 32];
	snprintf(layer, sizeof(layer), "%s/%s", saved, vmm_disk_name(NULL, VMM_DISK_LAYER));
	snprintf(own, sizeof(own), "%s/%s", saved, vmm_disk_name(NULL, VMM_DISK_OWN));
	snprintf(out, sizeof(out), "%s/rootfs.ext4", out_dir);
	return vmm_disk_flatten(NULL, b->p->base->rootfs, access(layer, F_OK) == 0 ? layer : NULL, own, out, err);
}

static int write_conf(struct build *b, const struct build_ctx *ctx, const char *out_dir, struct cove_err *err)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/template.conf", out_dir);
	int r = build_ctx_write(ctx, path, err);
	if (r < 0)
		return r;
	FILE *f = fopen(path, "ae");
	if (!f)
		return cove_errno(err, -errno, "open %s", path);
	const struct build_plan *p = b->p;
	if (b->sc.vcpus)
		fprintf(f, "vcpus=%u\n", b->sc.vcpus);
	if (b->sc.mem_mib)
		fprintf(f, "memory_mib=%u\n", b->sc.mem_mib);
	if (p->base->disk_mib)
		fprintf(f, "disk_mib=%u\n", p->base->disk_mib);
	if (p->start_cmd)
		fprintf(f, "start_cmd=%s\n", p->start_cmd);
	if (p->ready_cmd)
		fprintf(f, "ready_cmd=%s\n", p->ready_cmd);
	if (p->ready_timeout_s)
		fprintf(f, "ready_timeout=%u\n", p->ready_timeout_s);
	if (p->source)
		fprintf(f, "source=%s\n", p->source);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0)
		r = cove_errno(err, -EIO, "write %s", path);
	fclose(f);
	return r;
}

/* The template's snapshot: booted from its own image, started, ready. */
static int snapshot(struct build *b, const struct build_ctx *ctx, const char *out_dir, struct cove_err *err)
{
	char rootfs[PATH_MAX + 32], dir[PATH_MAX + 32];
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs.ext4", out_dir);
	snprintf(dir, sizeof(dir), "%s/snapshot", out_dir);
	struct sandbox_config c = b->sc;
	c.id = NULL;
	c.rootfs = rootfs;
	c.default_user = ctx->user[0] ? ctx->user : NULL;
	c.default_workdir = ctx->workdir[0] ? ctx->workdir : NULL;
	c.envs = (const char *const *)ctx->env;
	c.start_cmd = b->p->start_cmd;
	c.ready_cmd = b->p->ready_cmd;
	c.ready_timeout_s = b->p->ready_timeout_s;
	/* A snapshot is made whole in one call (boot, ready command, save),
	 * so it holds the turn throughout. */
	int turn = boot_turn(b, true, err);
	int r = turn ?: sandbox_snapshot_make(&c, dir, err);
	if (turn == 0)
		boot_turn(b, false, NULL);
	return r;
}

static int finalize(struct build *b, const char *saved, const struct build_ctx *ctx, const char *out_dir,
		    struct cove_err *err)
{
	b->step = "finalize";
	int64_t t0 = now_ms();
	int r = flatten(b, saved, out_dir, err);
	r = r ?: write_conf(b, ctx, out_dir, err);
	if (r < 0)
		return r;
	build_log(b, BUILD_LOG_INFO, "image made in %.1f s; booting it to run the start and ready commands and snapshot it",
		  (double)(now_ms() - t0) / 1000.0);
	if ((r = snapshot(b, ctx, out_dir, err)) < 0)
		return r;
	build_log(b, BUILD_LOG_INFO, "template is ready (%.1f s)", (double)(now_ms() - t0) / 1000.0);
	return 0;
}

static int run_steps(struct build *b, char (*keys)[BUILD_HASH_HEX + 1], const char *out_dir, char step[16],
		     struct cove_err *err)
{
	const struct build_plan *p = b->p;
	size_t cached = cached_steps(p, b->h, keys);
	struct build_ctx ctx = { 0 };
	b->step = "base";
	snprintf(step, 16, "base");
	int r = start_vm(b, cached, keys, &ctx, err);
	char what[256];
	for (size_t i = 0; i < p->nsteps && r == 0; i++) {
		char label[16];
		snprintf(label, sizeof(label), "%zu", i + 1);
		snprintf(step, 16, "%s", label);
		b->step = label;
		describe_step(&p->steps[i], what, sizeof(what));
		if (i < cached) {
			build_log(b, BUILD_LOG_INFO, "CACHED [%zu/%zu] %s", i + 1, p->nsteps, what);
			continue;
		}
		build_log(b, BUILD_LOG_INFO, "[%zu/%zu] %s", i + 1, p->nsteps, what);
		int64_t t0 = now_ms();
		bool synced = false;
		r = build_step_run(b, i, &ctx, &synced, err);
		r = r ?: save_layer(b, keys[i + 1], &ctx, synced, err);
		if (r == 0)
			build_log(b, BUILD_LOG_DEBUG, "step %zu done in %.1f s", i + 1, (double)(now_ms() - t0) / 1000.0);
		b->step = "base";
	}
	char saved[PATH_MAX], ctxp[PATH_MAX];
	if (r == 0 && p->nsteps) {
		layer_paths(b->h, keys[p->nsteps], saved, ctxp);
	} else if (r == 0) {
		/* No steps: the base phase's disk, saved for the image. */
		snprintf(saved, sizeof(saved), "%s/base", out_dir);
		r = build_guest_sync(b, &ctx, err);
		r = r ?: sandbox_save_disk_synced(b->sb, &b->sc, saved, err);
	}
	b->sb = sandbox_free(b->sb);
	if (r == 0) {
		snprintf(step, 16, "finalize");
		r = finalize(b, saved, &ctx, out_dir, err);
		if (!p->nsteps)
			fs_remove_tree(saved, NULL);
	}
	build_ctx_clear(&ctx);
	return r;
}

int build_run(const struct build_plan *p, const struct build_host *h, const char *out_dir, char step[16],
	      struct cove_err *err)
{
	struct build b = { .p = p, .h = h, .step = "base" };
	char id[24], layers[PATH_MAX];
	random_hex(id + 6, 4);
	memcpy(id, "build-", 6);
	b.sc = (struct sandbox_config){
		.id = id,
		.net = h->net,
		.policy = { .internet = true },
		.kernel = h->kernel,
		.rootfs = p->base->rootfs,
		.vcpus = p->vcpus ? p->vcpus : p->base->vcpus,
		.mem_mib = p->memory_mib ? p->memory_mib : p->base->memory_mib,
		.accel = h->accel,
		.run_dir = h->run_dir,
		.log_dir = h->log_dir,
		.vmm_binary = h->vmm_binary,
		.cancel_fd = h->cancel_fd,
	};
	snprintf(step, 16, "base");
	if (snprintf(layers, sizeof(layers), "%s/layers", h->cache_dir) >= (int)sizeof(layers))
		return cove_errf(err, -ENAMETOOLONG, "cache %s: path too long", h->cache_dir);
	int r = fs_mkdir_p(layers, 0700, err);
	if (r < 0 || (r = fs_mkdir_p(out_dir, 0755, err)) < 0)
		return r;
	char(*keys)[BUILD_HASH_HEX + 1] = calloc(p->nsteps + 1, sizeof(*keys));
	if (!keys)
		return cove_errf(err, -ENOMEM, "out of memory");
	step_keys(p, keys);
	r = run_steps(&b, keys, out_dir, step, err);
	free(keys);
	b.step = step;
	if (r < 0)
		build_log(&b, BUILD_LOG_ERROR, "%s", err->msg);
	return r;
}
