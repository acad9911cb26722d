/* Fetching an image with skopeo: the ref as skopeo reads it, the digest it
 * resolves to (skopeo inspect), and the image copied into an OCI layout in
 * the cache under that digest (skopeo copy), unless it is there already.
 * Credentials go in a 0600 file in the import's work directory, never on a
 * command line (anyone may read /proc/PID/cmdline). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "image/internal.h"
#include "proto/base64.h"

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* docker refs: HOST[:PORT] of "HOST[:PORT]/NAME..." when the first part
 * names a host (a '.' or ':' in it, or localhost), else docker.io (skopeo's
 * rule for short names). */
static void registry_of(const char *name, char *out, size_t size)
{
	const char *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : 0;
	if (slash && (memchr(name, '.', n) || memchr(name, ':', n) || (n == 9 && !strncmp(name, "localhost", 9))) &&
	    n < size)
		snprintf(out, size, "%.*s", (int)n, name);
	else
		snprintf(out, size, "docker.io");
}

static int check_oci_dir(const char *ref, struct cove_err *err)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", ref + strlen("oci:"));
	char file[PATH_MAX + 16];
	/* DIR[:TAG]: the tag is what follows the last ':' when DIR is not there. */
	char *colon = strrchr(dir, ':');
	snprintf(file, sizeof(file), "%s/oci-layout", dir);
	if (access(file, F_OK) < 0 && colon) {
		*colon = '\0';
		snprintf(file, sizeof(file), "%s/oci-layout", dir);
	}
	if (access(file, F_OK) < 0)
		return cove_errf(err, -EINVAL, "image %s: %s is not an OCI layout (it has no oci-layout file)", ref,
				 dir);
	return 0;
}

static int set_transport(struct import *im, struct cove_err *err)
{
	const char *ref = im->src->ref;
	static const char *const local[] = { "oci:", "oci-archive:", "docker-archive:" };
	for (size_t i = 0; i < ARRAY_SIZE(local); i++)
		if (has_prefix(ref, local[i])) {
			if (!ref[strlen(local[i])])
				return cove_errf(err, -EINVAL, "image %s: no path", ref);
			snprintf(im->transport, sizeof(im->transport), "%s", ref);
			snprintf(im->pinned, sizeof(im->pinned), "%s", ref);
			return i == 0 ? check_oci_dir(ref, err) : 0;
		}
	const char *name = has_prefix(ref, "docker://") ? ref + strlen("docker://") : ref;
	if (strstr(name, "://") || !*name || *name == '/')
		return cove_errf(err, -EINVAL,
				 "image %s: not a ref Cove reads (docker://, oci:, oci-archive:, "
				 "docker-archive:, or a registry's NAME[:TAG])",
				 ref);
	snprintf(im->transport, sizeof(im->transport), "docker://%s", name);
	registry_of(name, im->registry, sizeof(im->registry));
	for (const char *const *h = im->o->insecure; h && *h; h++)
		im->insecure |= !strcmp(*h, im->registry);
	return 0;
}

static int write_authfile(struct import *im, struct cove_err *err)
{
	const struct image_source *s = im->src;
	if (!s->username)
		return 0;
	if (!im->registry[0])
		return cove_errf(err, -EINVAL, "image %s: credentials are for registries only", s->ref);
	size_t n = strlen(s->username) + 1 + strlen(s->password ? s->password : "");
	_cleanup_free_ char *plain = malloc(n + 1);
	_cleanup_free_ char *b64 = malloc(base64_encoded_len(n) + 1);
	if (!plain || !b64)
		return cove_errf(err, -ENOMEM, "image: out of memory");
	snprintf(plain, n + 1, "%s:%s", s->username, s->password ? s->password : "");
	base64_encode((const uint8_t *)plain, n, b64);
	explicit_bzero(plain, n);
	_cleanup_json_ json_t *j = json_pack("{s:{s:{s:s}}}", "auths", im->registry, "auth", b64);
	explicit_bzero(b64, strlen(b64));
	_cleanup_free_ char *text = j ? json_dumps(j, 0) : NULL;
	if (!text)
		return cove_errf(err, -ENOMEM, "image: out of memory");
	snprintf(im->authfile, sizeof(im->authfile), "%s/auth.json", im->work);
	_cleanup_close_ int fd = open(im->authfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = fd < 0 ? -errno : fs_write_all(fd, text, strlen(text));
	explicit_bzero(text, strlen(text));
	if (r < 0)
		return cove_errno(err, r, "image: write %s", im->authfile);
	return 0;
}

int fetch_prepare(struct import *im, struct cove_err *err)
{
	int r = set_transport(im, err);
	return r < 0 ? r : write_authfile(im, err);
}

/* argv for skopeo VERB with the source's TLS and credentials options
 * (copy: --src-...). */
static size_t skopeo_args(const struct import *im, bool copy, char **argv)
{
	size_t n = 0;
	argv[n++] = "skopeo";
	argv[n++] = copy ? "copy" : "inspect";
	if (copy)
		argv[n++] = "--quiet";
	if (im->insecure)
		argv[n++] = copy ? "--src-tls-verify=false" : "--tls-verify=false";
	if (im->authfile[0]) {
		argv[n++] = copy ? "--src-authfile" : "--authfile";
		argv[n++] = (char *)im->authfile;
	}
	return n;
}

/* The layers' sizes from the manifest itself, for a skopeo whose inspect
 * does not give them (LayersData came in 1.10); best effort: an index of
 * several images has none. */
static void layer_sizes(struct import *im, char *buf, size_t size)
{
	char *argv[12], config[80];
	size_t n = skopeo_args(im, false, argv);
	argv[n++] = "--raw";
	argv[n++] = "--";
	argv[n++] = im->pinned;
	argv[n] = NULL;
	struct spawn_capture out = { .buf = buf, .size = size };
	if (tool_run(im, argv, &out, NULL) == 0 && !out.truncated)
		image_manifest_parse(out.buf, out.len, config, sizeof(config), &im->layer_bytes, NULL);
}

int fetch_resolve(struct import *im, struct cove_err *err)
{
	char *argv[12];
	size_t n = skopeo_args(im, false, argv);
	argv[n++] = "--";
	argv[n++] = im->transport;
	argv[n] = NULL;
	_cleanup_free_ char *buf = malloc(1 << 20);
	if (!buf)
		return cove_errf(err, -ENOMEM, "image: out of memory");
	struct spawn_capture out = { .buf = buf, .size = 1 << 20 };
	int r = tool_run(im, argv, &out, err);
	if (r < 0)
		return r;
	if (out.truncated)
		return cove_errf(err, -EFBIG, "image %s: skopeo inspect's answer is over 1 MiB", im->src->ref);
	r = image_inspect_parse(out.buf, out.len, im->digest, sizeof(im->digest), &im->layer_bytes, err);
	if (r < 0)
		return cove_err_prefix(err, "image %s", im->src->ref);
	if (im->registry[0]) {
		/* The name without its tag or digest, at the digest just resolved,
		 * so that what is copied is what was inspected. */
		const char *name = im->transport + strlen("docker://");
		size_t len = strcspn(name, "@");
		const char *last = memrchr(name, '/', len);
		const char *colon = memchr(last ? last : name, ':', len - (size_t)((last ? last : name) - name));
		if (colon)
			len = (size_t)(colon - name);
		snprintf(im->pinned, sizeof(im->pinned), "docker://%.*s@%s", (int)len, name, im->digest);
	}
	if (!im->layer_bytes)
		layer_sizes(im, buf, 1 << 20);
	return 0;
}

static bool layout_usable(const char *layout)
{
	char index[PATH_MAX + 16], digest[80];
	snprintf(index, sizeof(index), "%s/index.json", layout);
	_cleanup_fclose_ FILE *f = fopen(index, "re");
	char text[65536];
	size_t n = f ? fread(text, 1, sizeof(text), f) : 0;
	return n > 0 && n < sizeof(text) && image_index_manifest(text, n, IMAGE_TAG, digest, sizeof(digest), NULL) == 0;
}

int fetch_layout(struct import *im, struct cove_err *err)
{
	snprintf(im->layout, sizeof(im->layout), "%s/sha256-%s", im->o->cache_dir, im->digest + strlen("sha256:"));
	if (layout_usable(im->layout)) {
		im->cached = true;
		import_progress(im, "%s is in the cache (%s); nothing to download", im->src->ref, im->digest);
		return 0;
	}
	fs_remove_tree(im->layout, NULL); /* an unusable one, left by a crash */
	import_progress(im, "fetching %s (%.1f MiB compressed)", im->pinned, (double)im->layer_bytes / 1048576.0);
	char dest[PATH_MAX + 32], tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/layout", im->work);
	snprintf(dest, sizeof(dest), "oci:%s:%s", tmp, IMAGE_TAG);
	char *argv[14];
	size_t n = skopeo_args(im, true, argv);
	argv[n++] = "--";
	argv[n++] = im->pinned;
	argv[n++] = dest;
	argv[n] = NULL;
	int r = tool_run(im, argv, NULL, err);
	if (r < 0)
		return r;
	/* Into the cache whole; another import of the same image that got
	 * there first wins, and ours goes with the work directory. */
	if (rename(tmp, im->layout) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		return cove_errno(err, -errno, "image: rename %s to %s", tmp, im->layout);
	return 0;
}
