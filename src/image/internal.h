/* What the image module's files share (not part of its interface). */
#ifndef COVE_IMAGE_INTERNAL_H
#define COVE_IMAGE_INTERNAL_H

#include <stdbool.h>

#include "common/spawn.h"
#include "image/image.h"

/* One import: its options and its private work directory (0700). */
struct import {
	const struct image_source *src;
	const struct image_options *o;
	char work[PATH_MAX];                /* cache_dir/work-XXXXXX */
	char authfile[PATH_MAX];            /* "" none */
	char transport[IMAGE_REF_MAX + 16]; /* the ref as skopeo reads it */
	char pinned[IMAGE_REF_MAX + 96];    /* the same, at the digest where it can be */
	char registry[256];                 /* docker refs: HOST[:PORT]; else "" */
	bool insecure;
	char digest[80];
	uint64_t layer_bytes;  /* compressed, from the registry; 0 unknown */
	char layout[PATH_MAX]; /* the cached OCI layout */
	bool cached;
};

void import_progress(const struct import *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the tool (found on PATH) with argv (argv[0] its name); its stdout
 * into out (may be NULL). A failure's message names the tool and its first
 * error line. */
int tool_run(const struct import *im, char *const argv[], struct spawn_capture *out, struct cove_err *err);

/* fetch.c: the ref as skopeo reads it, the credentials file, the digest and
 * layer sizes (skopeo inspect), the OCI layout in the cache (skopeo copy). */
int fetch_prepare(struct import *im, struct cove_err *err);
int fetch_resolve(struct import *im, struct cove_err *err);
int fetch_layout(struct import *im, struct cove_err *err);

/* tree.c: writes into the unpacked (untrusted) tree, all through openat2()
 * with RESOLVE_IN_ROOT. */
int tree_add_cove(int root, const char *guest_bin, struct cove_err *err);

/* The disk needed by a tree of used_mib MiB with min_free MiB to spare. */
unsigned image_disk_mib(uint64_t used_mib, unsigned min_free_mib);

#define IMAGE_TAG "image" /* the tag of the one image in a cached layout */

#endif
