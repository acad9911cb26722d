/* Container images as Cove templates: an OCI or Docker image (from a
 * registry, an OCI layout directory or an archive) becomes a template
 * directory, rootfs.ext4 and template.conf, with Cove's static guest
 * programs added, so any image (glibc, musl, busybox) boots as a sandbox.
 *
 * Fetching and unpacking are done by the tools container runtimes ship for
 * it: skopeo copies the image into an OCI layout (kept in a cache by the
 * manifest's digest, so an image is downloaded once), umoci unpacks its
 * layers with whiteouts and ownership, mkfs.ext4 -d makes the disk. The
 * unpacked tree is untrusted: Cove writes into it only through openat2()
 * with RESOLVE_IN_ROOT. image_import prints nothing and never exits: it
 * reports through a callback and a struct cove_err, and stops when asked
 * (cancel_fd), so coved's build runner calls it as the CLI does. */
#ifndef COVE_IMAGE_H
#define COVE_IMAGE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct image_source {
	/* "docker://HOST[:PORT]/NAME[:TAG|@DIGEST]", a bare "NAME[:TAG]" or
	 * "HOST:PORT/NAME[:TAG]" (a registry, as skopeo reads docker refs),
	 * "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]", "docker-archive:FILE". */
	const char *ref;
	const char *username, *password; /* registry credentials; NULL: none */
};

struct image_options {
	const char *guest_bin;       /* directory with cove-init and cove-agent */
	const char *cache_dir;       /* the machine's image cache (made if missing) */
	const char *const *insecure; /* "HOST:PORT" reached over plain HTTP; NULL-terminated or NULL */
	unsigned max_disk_mib;       /* refuse an image whose disk would be bigger; 0: no limit */
	unsigned min_free_mib;       /* free space the disk gets beyond the image; 0: IMAGE_MIN_FREE_MIB */
	int cancel_fd;               /* readable: stop (-ECANCELED); -1: none */
	void (*progress)(void *ctx, const char *line); /* human lines; may be NULL */
	void *ctx;
};

#define IMAGE_MIN_FREE_MIB 2048u
#define IMAGE_ENV_MAX 128  /* variables of an image's config kept */
#define IMAGE_REF_MAX 1024 /* longest ref accepted */

/* What an image's config says about how its commands run (OCI image spec,
 * config.json: config.Env, config.WorkingDir, config.User). */
struct image_config {
	char user[256];         /* as written: "name", "uid", "name:group", "" */
	char workdir[PATH_MAX]; /* "" none */
	char **env;             /* "KEY=VALUE", each checked */
	size_t nenv;
};

struct image_info {
	char digest[80];                 /* the manifest's "sha256:..." */
	char source[IMAGE_REF_MAX + 96]; /* where it came from, pinned to the digest where it can be */
	char user[33];                   /* the template's user: the image's when it is a name, else "" (root) */
	char workdir[PATH_MAX];
	char **env;
	size_t nenv;
	uint64_t bytes; /* the unpacked tree */
	unsigned disk_mib;
	int cached; /* 1: the image was in the cache, nothing was downloaded */
};

/* Makes out_dir (which must not exist) a template directory (rootfs.ext4 +
 * template.conf) from the image; whole or not at all: on failure nothing of
 * out_dir or the work files is left. info may be NULL; release it with
 * image_info_clear. */
int image_import(const struct image_source *src, const struct image_options *o, const char *out_dir,
		 struct image_info *info, struct cove_err *err);
void image_info_clear(struct image_info *info);

/* The parsers (pure; fuzzed). Each takes the document's text. */
/* An image config blob (application/vnd.oci.image.config.v1+json). */
int image_config_parse(const char *json, size_t len, struct image_config *ret, struct cove_err *err);
void image_config_clear(struct image_config *c);
/* An OCI layout's index.json: the manifest for tag (its digest, "sha256:HEX"). */
int image_index_manifest(const char *json, size_t len, const char *tag, char *digest, size_t size,
			 struct cove_err *err);
/* A manifest: its config's digest and the sum of its layers' sizes. */
int image_manifest_parse(const char *json, size_t len, char *config_digest, size_t size, uint64_t *layer_bytes,
			 struct cove_err *err);
/* `skopeo inspect`'s output: Digest and the sum of LayersData[].Size (0 if
 * absent). */
int image_inspect_parse(const char *json, size_t len, char *digest, size_t size, uint64_t *layer_bytes,
			struct cove_err *err);

#endif
