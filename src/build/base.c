/* A container image as a build's base (runner.h's build_image_base): the
 * image imported once (image/image.h) into IMAGES/img-DIGEST-PROGRAMS, a
 * template directory named by the image's manifest digest and by the
 * guest programs it was given (another Cove's are another base, and their
 * layers others), with the snapshot a build VM starts from. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/runner.h"
#include "common/fs.h"
#include "sandbox/sandbox.h"

/* What identifies the guest programs an image is given (their sizes and
 * times), as hex. */
static void programs_stamp(const char *guest_bin, const char *busybox, char out[BUILD_HASH_HEX + 1])
{
	char text[1024] = "";
	const char *names[] = { "cove-init", "cove-agent" };
	size_t n = 0;
	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX + 16];
		struct stat st = { 0 };
		snprintf(path, sizeof(path), "%s/%s", guest_bin ? guest_bin : "", names[i]);
		stat(path, &st);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s %lld %lld.%09ld;", names[i], (long long)st.st_size,
				      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	}
	struct stat st = { 0 };
	stat(busybox ? busybox : "", &st);
	snprintf(text + n, sizeof(text) - n, "busybox %lld %lld", (long long)st.st_size, (long long)st.st_mtime);
	struct build_step s = { .type = BUILD_ENV, .n_args = 1, .args = (const char *[]){ text } };
	build_layer_key("guest programs", &s, out);
}

/* Its snapshot for a build VM of vcpus and mem_mib, unless it has one. */
static int snapshot(const struct build_host *h, const struct template *t, unsigned vcpus, unsigned mem_mib,
		    struct cove_err *err)
{
	const char *envs[TEMPLATE_ENV_MAX + 1];
	if (template_envs(t, NULL, envs, TEMPLATE_ENV_MAX + 1) < 0)
		return cove_errf(err, -E2BIG, "image %s: too many env entries", t->name);
	struct sandbox_config sc = {
		.net = h->net, .policy = { .internet = true }, .kernel = h->kernel, .rootfs = t->rootfs,
		.vcpus = vcpus ? vcpus : t->vcpus, .mem_mib = mem_mib ? mem_mib : t->memory_mib, .accel = h->accel,
		.run_dir = h->run_dir, .log_dir = h->log_dir, .vmm_binary = h->vmm_binary, .cancel_fd = h->cancel_fd,
		.envs = envs,
	};
	struct cove_err why = { 0 };
	if (sandbox_snapshot_check(&sc, t->snapshot, &why) == 0)
		return 0;
	if (h->log)
		h->log(h->ctx, BUILD_LOG_INFO, "base", "booting the image once to snapshot it");
	int r = h->boot_turn ? h->boot_turn(h->ctx, true) : 0;
	if (r < 0)
		return cove_errno(err, r, "wait for a turn to boot");
	r = sandbox_snapshot_make(&sc, t->snapshot, err);
	if (h->boot_turn)
		h->boot_turn(h->ctx, false);
	return r;
}

int build_image_base(const struct build_image *req, const struct build_host *h, struct template *base,
		     char key[BUILD_BASE_KEY_MAX], char source[BUILD_SOURCE_MAX], struct cove_err *err)
{
	char tmp[PATH_MAX + 64], final[PATH_MAX + 80], name[64], programs[BUILD_HASH_HEX + 1], id[17];
	int r = fs_mkdir_p(req->images_dir, 0700, err);
	if (r < 0)
		return r;
	random_hex(id, 8);
	snprintf(tmp, sizeof(tmp), "%s/.import-%s", req->images_dir, id);
	struct image_info info;
	if ((r = image_import(&req->src, &req->opts, tmp, &info, err)) < 0)
		return r;
	const char *hex = strchr(info.digest, ':') ? strchr(info.digest, ':') + 1 : info.digest;
	programs_stamp(req->opts.guest_bin, h->busybox, programs);
	snprintf(name, sizeof(name), "img-%.32s-%.16s", hex, programs);
	snprintf(final, sizeof(final), "%s/%s", req->images_dir, name);
	snprintf(key, BUILD_BASE_KEY_MAX, "image %s programs %s", info.digest, programs);
	snprintf(source, BUILD_SOURCE_MAX, "%s", info.source);
	image_info_clear(&info);
	/* The same image imported before: that one, with its snapshot. */
	if (access(final, F_OK) == 0)
		fs_remove_tree(tmp, NULL);
	else if (rename(tmp, final) < 0)
		r = cove_errno(err, -errno, "image %s: rename %s", req->src.ref, tmp);
	if (r < 0) {
		fs_remove_tree(tmp, NULL);
		return r;
	}
	r = template_load(req->images_dir, name, base, err);
	return r ?: snapshot(h, base, req->vcpus, req->mem_mib, err);
}
