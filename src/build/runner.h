/* The template builder: a template made from a base template by build steps
 * (E2B's RUN, COPY, ENV, WORKDIR, USER), run in a build microVM, never on
 * the host.
 *
 * The build VM starts from the base template's snapshot (or boots the disk
 * a cached step left) and runs each step through its agent: RUN as the
 * step's user, in its working directory, with its environment, the output
 * streamed to the build log; COPY from an uploaded tar, extracted in the
 * guest by Cove's static busybox; ENV, WORKDIR and USER change the context
 * later steps run in (WORKDIR makes the directory, USER adds a missing
 * user). After each step the guest's disk is saved (sandbox_save_disk): a
 * layer keyed by its inputs (the parent's key, the step, the files' hash),
 * with the context it left, in the cache, so a rebuild whose steps have not
 * changed boots the last cached layer instead of running them again.
 *
 * At the end the disk is flattened into the new template's own raw image
 * (qemu-img convert, sparse), its template.conf written (the last user,
 * working directory and environment are its defaults; start and ready
 * commands, size), and its snapshot made: booted, the start command run
 * and the ready command polled before the snapshot is taken
 * (sandbox_snapshot_make). The caller publishes the directory. */
#ifndef COVE_BUILD_RUNNER_H
#define COVE_BUILD_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "build/files.h"
#include "build/spec.h"
#include "image/image.h"
#include "net/net.h"
#include "vmm/vmm.h"
#include "template/template.h"

struct build_plan {
	const struct template *base; /* what the build starts from (loaded) */
	const char *base_key;        /* names base's image and snapshot, for the cache */
	/* The user, working directory and environment the first step has;
	 * NULL: the base template's. With user_create, a missing user is
	 * added first (E2B's base phase makes `user`). */
	const char *user, *workdir;
	const char *const *env;      /* "KEY=VALUE", NULL-terminated; may be NULL */
	bool user_create;
	const struct build_step *steps;
	size_t nsteps;
	const struct files_store *files; /* COPY's uploads */
	const char *start_cmd, *ready_cmd; /* NULL: none */
	unsigned ready_timeout_s;    /* 0: the default */
	unsigned vcpus, memory_mib;  /* the template's (and the build VM's); 0: the base's */
	bool force;                  /* nothing from the cache */
	const char *source;          /* template.conf's source= line; may be NULL */
};

struct build_host {
	struct net_slots *net;
	const char *kernel;
	enum vmm_accel accel;
	const char *run_dir, *log_dir, *vmm_binary; /* NULL: defaults */
	const char *busybox;   /* the host's static busybox, put in the guest for COPY and USER */
	const char *cache_dir; /* layers, by key */
	int cancel_fd;         /* readable: stop; -1: none */
	/* A line of the build log; step is "base", "1".."N" or "finalize". */
	void (*log)(void *ctx, enum build_log_level level, const char *step, const char *msg);
	void *ctx;
	/* NULL, or a turn to boot: called with true before the build VM (or
	 * the snapshot's VM) starts, which waits for it (a negative errno
	 * fails the build), and with false once it has. */
	int (*boot_turn)(void *ctx, bool begin);
};

/* Builds into out_dir (made; a template directory: rootfs.ext4,
 * template.conf, snapshot/), which the caller removes on failure. On
 * failure step says which ("base", "1".."N", "finalize") and err why.
 * -ECANCELED when cancel_fd fired. */
int build_run(const struct build_plan *p, const struct build_host *h, const char *out_dir, char step[16],
	      struct cove_err *err);

/* An image as a build's base (base.c): imported (image_import, with
 * opts) into images_dir once per image digest and guest programs, and
 * snapshotted for a build VM of vcpus and mem_mib (0: the image's).
 * base is loaded; key names it for the cache, source is where it came
 * from. */
struct build_image {
	struct image_source src;
	struct image_options opts;
	const char *images_dir;
	unsigned vcpus, mem_mib;
};
#define BUILD_BASE_KEY_MAX 256
#define BUILD_SOURCE_MAX (IMAGE_REF_MAX + 96)
int build_image_base(const struct build_image *req, const struct build_host *h, struct template *base,
		     char key[BUILD_BASE_KEY_MAX], char source[BUILD_SOURCE_MAX], struct cove_err *err);

#endif
