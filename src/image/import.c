/* image_import: fetch (fetch.c), read the image's config from the OCI
 * layout, unpack with umoci, add Cove's programs (tree.c), size the disk,
 * mkfs.ext4 -d, and write template.conf; in a private work directory that
 * goes at the end, whatever happened. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/internal.h"
#include "template/template.h"

unsigned image_disk_mib(uint64_t used_mib, unsigned min_free_mib)
{
	/* As guest/templates/image.sh: a quarter more than the files (ext4's
	 * inodes and journal) and 64 MiB, then the room the image's user asked. */
	uint64_t mib = used_mib * 5 / 4 + 64 + min_free_mib;
	return mib > UINT32_MAX ? UINT32_MAX : (unsigned)mib;
}

void image_info_clear(struct image_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->nenv; i++)
		free(info->env[i]);
	free(info->env);
	memset(info, 0, sizeof(*info));
}

static bool cancelled(const struct import *im)
{
	struct pollfd p = { .fd = im->o->cancel_fd, .events = POLLIN };
	return im->o->cancel_fd >= 0 && poll(&p, 1, 0) == 1;
}

/* A blob or index of the layout, at most max bytes, NUL-terminated. */
static int read_doc(const struct import *im, const char *digest, size_t max, char **ret, size_t *len,
		    struct cove_err *err)
{
	char path[PATH_MAX + 128];
	if (digest)
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", im->layout, digest + strlen("sha256:"));
	else
		snprintf(path, sizeof(path), "%s/index.json", im->layout);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return cove_errno(err, -errno, "image: open %s", path);
	_cleanup_free_ char *buf = malloc(max + 1);
	if (!buf)
		return cove_errf(err, -ENOMEM, "image: out of memory");
	size_t n = fread(buf, 1, max + 1, f);
	if (n > max)
		return cove_errf(err, -EFBIG, "image: %s is over %zu bytes", path, max);
	buf[n] = '\0';
	*len = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int read_config(const struct import *im, struct image_config *cfg, struct cove_err *err)
{
	char manifest[80], config[80];
	uint64_t layers;
	_cleanup_free_ char *index = NULL, *mtext = NULL, *ctext = NULL;
	size_t n;
	int r = read_doc(im, NULL, 1 << 16, &index, &n, err);
	if (r == 0)
		r = image_index_manifest(index, n, IMAGE_TAG, manifest, sizeof(manifest), err);
	if (r == 0)
		r = read_doc(im, manifest, 1 << 20, &mtext, &n, err);
	if (r == 0)
		r = image_manifest_parse(mtext, n, config, sizeof(config), &layers, err);
	if (r == 0)
		r = read_doc(im, config, 1 << 20, &ctext, &n, err);
	if (r == 0)
		r = image_config_parse(ctext, n, cfg, err);
	return r < 0 ? cove_err_prefix(err, "image %s", im->src->ref) : 0;
}

static int unpack(const struct import *im, const char *tree, struct cove_err *err)
{
	char image[PATH_MAX + 16];
	snprintf(image, sizeof(image), "%s:%s", im->layout, IMAGE_TAG);
	import_progress(im, "unpacking");
	/* As root umoci keeps the layers' owners; otherwise it maps them to us. */
	char *argv[8];
	size_t n = 0;
	argv[n++] = "umoci";
	argv[n++] = "raw";
	argv[n++] = "unpack";
	if (geteuid() != 0)
		argv[n++] = "--rootless";
	argv[n++] = "--image";
	argv[n++] = image;
	argv[n++] = (char *)tree;
	argv[n] = NULL;
	return tool_run(im, argv, NULL, err);
}

/* The disk's size for the unpacked tree, or the refusal. */
static int size_disk(const struct import *im, const char *tree, struct image_info *info, struct cove_err *err)
{
	info->bytes = fs_disk_usage(tree, false);
	uint64_t used = (info->bytes + (1 << 20) - 1) >> 20;
	unsigned min_free = im->o->min_free_mib ? im->o->min_free_mib : IMAGE_MIN_FREE_MIB;
	unsigned need = image_disk_mib(used, 0), max = im->o->max_disk_mib;
	if (max && need > max)
		return cove_errf(err, -EFBIG,
				 "image %s: its files take %llu MiB, a disk of %u MiB; at most %u MiB is allowed",
				 im->src->ref, (unsigned long long)used, need, max);
	info->disk_mib = image_disk_mib(used, min_free);
	if (max && info->disk_mib > max)
		info->disk_mib = max;
	import_progress(im, "image %llu MiB, disk %u MiB", (unsigned long long)used, info->disk_mib);
	return 0;
}

static int make_disk(const struct import *im, const char *tree, const char *out_dir, const struct image_info *info,
		     struct cove_err *err)
{
	char disk[PATH_MAX + 16], label[17];
	snprintf(disk, sizeof(disk), "%s/rootfs.ext4", out_dir);
	snprintf(label, sizeof(label), "cove-%.11s", info->digest + strlen("sha256:"));
	/* Sparse first: mkfs then punches the inode tables out rather than
	 * leaving them for the guest to zero (see guest/templates/image.sh). */
	_cleanup_close_ int fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)info->disk_mib << 20) < 0)
		return cove_errno(err, -errno, "image: make %s", disk);
	import_progress(im, "mkfs.ext4 -d (%u MiB)", info->disk_mib);
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", label, "-d", (char *)tree, disk, NULL };
	return tool_run(im, argv, NULL, err);
}

/* The template's user: the image's when it names one (numeric or empty:
 * the agent's own, root). */
static void template_user(const char *image_user, char *out, size_t size)
{
	size_t n = strcspn(image_user, ":");
	bool name = n > 0 && n < size && image_user[0] != '-';
	bool digits = true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)image_user[i];
		name &= isalnum(c) || c == '_' || c == '-' || c == '.';
		digits &= isdigit(c) != 0;
	}
	snprintf(out, size, "%.*s", name && !digits ? (int)n : 0, image_user);
}

/* template.conf, checked by the parser that will read it. */
static int write_conf(const char *out_dir, const struct image_info *info, struct cove_err *err)
{
	size_t cap = 4096 + info->nenv * 4200, len = 0;
	_cleanup_free_ char *text = malloc(cap);
	if (!text)
		return cove_errf(err, -ENOMEM, "image: out of memory");
	len += (size_t)snprintf(text + len, cap - len, "# made by cove from an image\nsource=%s\ndisk_mib=%u\n",
				info->source, info->disk_mib);
	if (info->user[0])
		len += (size_t)snprintf(text + len, cap - len, "user=%s\n", info->user);
	if (info->workdir[0])
		len += (size_t)snprintf(text + len, cap - len, "workdir=%s\n", info->workdir);
	for (size_t i = 0; i < info->nenv; i++)
		len += (size_t)snprintf(text + len, cap - len, "env=%s\n", info->env[i]);
	_cleanup_free_ struct template *t = calloc(1, sizeof(*t));
	if (!t)
		return cove_errf(err, -ENOMEM, "image: out of memory");
	int r = template_parse_conf(text, "the image's template.conf", t, err);
	if (r < 0)
		return r;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/template.conf", out_dir);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || fs_write_all(fd, text, len) < 0)
		return cove_errno(err, -errno, "image: write %s", path);
	return 0;
}

static int take_config(struct image_config *cfg, struct image_info *info)
{
	template_user(cfg->user, info->user, sizeof(info->user));
	/* None: / as Docker runs it (the user's home, Cove's default, may
	 * not exist in an image). */
	snprintf(info->workdir, sizeof(info->workdir), "%s", cfg->workdir[0] ? cfg->workdir : "/");
	info->env = TAKE_PTR(cfg->env);
	info->nenv = cfg->nenv;
	cfg->nenv = 0;
	return 0;
}

static int check_size_early(const struct import *im, struct cove_err *err)
{
	/* Compressed layers unpack to more: if even they would not fit, say
	 * so before downloading them. */
	unsigned need = image_disk_mib(im->layer_bytes >> 20, 0);
	if (im->o->max_disk_mib && im->layer_bytes && need > im->o->max_disk_mib)
		return cove_errf(err, -EFBIG,
				 "image %s: its layers alone are %llu MiB, a disk of at least %u MiB; at "
				 "most %u MiB is allowed",
				 im->src->ref, (unsigned long long)(im->layer_bytes >> 20), need, im->o->max_disk_mib);
	return 0;
}

static int steps(struct import *im, const char *out_dir, struct image_info *info, struct cove_err *err)
{
	char tree[PATH_MAX + 16];
	struct image_config cfg = { 0 };
	int r = fetch_prepare(im, err);
	if (r == 0)
		r = fetch_resolve(im, err);
	if (r == 0)
		r = check_size_early(im, err);
	if (r == 0)
		r = fetch_layout(im, err);
	if (r == 0)
		r = read_config(im, &cfg, err);
	if (r < 0)
		return r;
	take_config(&cfg, info);
	snprintf(info->digest, sizeof(info->digest), "%s", im->digest);
	snprintf(info->source, sizeof(info->source), "%s%s%s", im->pinned, im->registry[0] ? "" : "@",
		 im->registry[0] ? "" : im->digest);
	info->cached = im->cached;
	snprintf(tree, sizeof(tree), "%s/rootfs", im->work);
	r = cancelled(im) ? cove_errf(err, -ECANCELED, "image %s: cancelled", im->src->ref) : unpack(im, tree, err);
	if (r == 0)
		r = size_disk(im, tree, info, err);
	if (r < 0)
		return r;
	_cleanup_close_ int root = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return cove_errno(err, -errno, "image: open %s", tree);
	r = tree_add_cove(root, im->o->guest_bin, err);
	if (r == 0)
		r = make_disk(im, tree, out_dir, info, err);
	return r == 0 ? write_conf(out_dir, info, err) : r;
}

static int check_args(const struct image_source *src, const struct image_options *o, struct cove_err *err)
{
	if (!src || !src->ref || !o || !o->guest_bin || !o->cache_dir)
		return cove_errf(err, -EINVAL, "image: no ref, guest programs or cache directory given");
	size_t n = strlen(src->ref);
	if (n == 0 || n >= IMAGE_REF_MAX || src->ref[0] == '-')
		return cove_errf(err, -EINVAL, "image ref '%.64s': must be 1 to %d bytes, not starting with '-'",
				 src->ref, IMAGE_REF_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)src->ref[i] <= ' ' || src->ref[i] == 0x7f)
			return cove_errf(err, -EINVAL, "image ref '%.64s': no spaces or control characters allowed",
					 src->ref);
	if (src->username && (!*src->username || strchr(src->username, ':')))
		return cove_errf(err, -EINVAL, "image %s: a user name must be non-empty and without ':'", src->ref);
	return 0;
}

int image_import(const struct image_source *src, const struct image_options *o, const char *out_dir,
		 struct image_info *info, struct cove_err *err)
{
	struct image_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	int r = check_args(src, o, err);
	if (r < 0)
		return r;
	struct import im = { .src = src, .o = o };
	if ((r = fs_mkdir_p(o->cache_dir, 0700, err)) < 0)
		return r;
	if (snprintf(im.work, sizeof(im.work), "%s/work-XXXXXX", o->cache_dir) >= (int)sizeof(im.work) ||
	    !mkdtemp(im.work))
		return cove_errno(err, -errno, "image: make a work directory in %s", o->cache_dir);
	if (mkdir(out_dir, 0755) < 0) {
		r = cove_errno(err, -errno, "image: make %s", out_dir);
		fs_remove_tree(im.work, NULL);
		return r;
	}
	r = steps(&im, out_dir, info, err);
	fs_remove_tree(im.work, NULL);
	if (r < 0) {
		fs_remove_tree(out_dir, NULL);
		image_info_clear(info);
	}
	if (info == &local)
		image_info_clear(info);
	return r;
}
