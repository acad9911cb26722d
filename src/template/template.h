/* Templates: what a sandbox is made from. A template is a directory holding
 * its root file system image (rootfs.ext4) and template.conf, the defaults a
 * sandbox made from it gets (default user and working directory, memory,
 * vCPUs). `make` builds them under build/guest/templates/ from the recipes in
 * guest/templates/; coved will keep them in its state directory. */
#ifndef COVE_TEMPLATE_H
#define COVE_TEMPLATE_H

#include <limits.h>

#include "common/err.h"

#define TEMPLATE_NAME_MAX 63
#define TEMPLATE_ENV_MAX 64       /* env= lines of a template.conf */
#define TEMPLATE_ENV_BYTES 8192   /* all of them, as "KEY=VALUE\0" */
#define TEMPLATE_SOURCE_MAX 1200

struct template {
	char name[TEMPLATE_NAME_MAX + 1];
	char dir[PATH_MAX];
	char rootfs[PATH_MAX];
	char snapshot[PATH_MAX]; /* where its snapshot is, if it has one (cove template snapshot) */
	char user[33];         /* default user of commands and files; "" = the agent's own (root) */
	char workdir[PATH_MAX]; /* default cwd; "" = the user's home */
	char suite[33];        /* the Debian release it was built from, "" if none */
	char vmm[24];          /* the VMM driver its sandboxes run on; "" = the host's */
	unsigned memory_mib;   /* 0: the VMM default */
	unsigned vcpus;        /* 0: the VMM default */
	unsigned disk_mib;     /* 0: the image's own size */
	/* Run before its snapshot is taken (sandbox_config's start_cmd). */
	char start_cmd[1024];  /* "" none */
	char ready_cmd[1024];  /* "" none */
	unsigned ready_timeout_s; /* 0: the default */
	/* env=KEY=VALUE lines: what every process of its sandboxes gets (an
	 * image's Env), as "KEY=VALUE\0" entries one after another. */
	char env[TEMPLATE_ENV_BYTES];
	size_t env_len;
	unsigned nenv;
	char source[TEMPLATE_SOURCE_MAX]; /* where it came from ("docker://...@sha256:..."); "" unknown */
};

/* A template name: 1-63 of [a-z0-9._-], starting with a letter or digit (it
 * becomes a directory name and, in coved, part of URLs). */
int template_name_check(const char *name, struct cove_err *err);

/* Loads template NAME from DIR/NAME: parses template.conf ("key=value" lines,
 * '#' comments; an unknown key or bad value is an error naming file and line)
 * and checks that rootfs.ext4 is readable. */
int template_load(const char *dir, const char *name, struct template *t, struct cove_err *err);

/* The size of t's image in MiB: the disk a sandbox made from it has (0 when
 * it cannot be read). */
unsigned template_image_mib(const struct template *t);

/* The environment of a sandbox of t: t's env, then extra's (NULL or
 * NULL-terminated "KEY=VALUE"), one of extra's replacing t's of the same key.
 * out gets the pointers (into t and extra) and a NULL; returns their number,
 * or -E2BIG if more than max - 1. */
long template_envs(const struct template *t, const char *const *extra, const char **out, size_t max);

/* DIR/NAME becomes a symlink to target (a path relative to dir: a build's
 * own directory), swapped in whole (a new link renamed over the old one),
 * so a reader sees the old template or the new one. */
int template_link(const char *dir, const char *name, const char *target, struct cove_err *err);

typedef int (*template_fn)(void *ctx, const struct template *t);
/* Every usable template in dir, by name (a directory that is not one is
 * skipped). Stops at the first non-zero return of fn and returns it. */
int template_each(const char *dir, template_fn fn, void *ctx, struct cove_err *err);

/* Parses template.conf text (for tests and for template_load). `where` names
 * the source in messages. */
int template_parse_conf(const char *text, const char *where, struct template *t, struct cove_err *err);

/* A template or snapshot as E2B's API names one (its id.ParseName):
 * [namespace/]alias[:tag], trimmed and lower-cased; namespace and alias of
 * [a-z0-9_-], the tag of [a-z0-9_.-] and not a UUID; the tag "default" is
 * no tag. Cove has one tenant and no namespaces: one given is checked and
 * dropped. */
#define TEMPLATE_REF_MAX 128 /* E2B's longest template name */
struct template_ref {
	char alias[TEMPLATE_REF_MAX + 1];
	char tag[TEMPLATE_REF_MAX + 1]; /* "": none (E2B's "default") */
};
/* -EINVAL with the reason ("invalid name 'X': ..."). */
int template_ref_parse(const char *text, struct template_ref *ret, struct cove_err *err);

#endif
