/* E2B volumes in the guest: /init's "volumeMounts" (Cove's addition to
 * envd's /init) names NFSv3 exports of the host's server (nfs-ganesha, at
 * an IPv4 address the host gives), each to be mounted at a path in the
 * guest, and shared host directories (`cove run --share`): virtiofs
 * devices, by their tags. Parsing is pure (agent_mounts_parse, unit tested and fuzzed on
 * the host); agent_mounts_apply mounts them with mount(2) and the kernel's
 * text options (a guest has no mount.nfs), all or none, and leaves alone
 * those an earlier /init made (the /init after a resume or a fork finds
 * them there). */
#ifndef COVE_AGENT_MOUNTS_H
#define COVE_AGENT_MOUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* 16 volumes (SANDBOX_MAX_VOLUMES) and 8 shares (SANDBOX_MAX_SHARES). */
#define AGENT_MOUNTS_MAX 24
/* PATH_MAX less its NUL. */
#define AGENT_MOUNT_PATH_MAX 4095
/* "/vol_" and 24 lowercase hex digits: the host's names for volumes. */
#define AGENT_MOUNT_EXPORT_LEN 29
#define AGENT_NFS_PORT 2049
#define AGENT_NFS_MOUNT_PORT 20048
/* "255.255.255.255:" and an export, with its NUL. */
#define AGENT_MOUNT_SOURCE_MAX (16 + AGENT_MOUNT_EXPORT_LEN + 1)
#define AGENT_MOUNT_OPTIONS_MAX 256
/* virtio-fs's tag: at most 36 bytes (virtio spec 5.11.4). */
#define AGENT_MOUNT_TAG_MAX 36

enum agent_mount_type {
	AGENT_MOUNT_NFS,      /* "type" absent, null or "nfs" */
	AGENT_MOUNT_VIRTIOFS, /* "type": "virtiofs" */
};

struct agent_mount {
	char *path;      /* absolute and normalized; owned */
	enum agent_mount_type type;
	/* AGENT_MOUNT_VIRTIOFS: */
	char tag[AGENT_MOUNT_TAG_MAX + 1];
	bool read_only;
	/* AGENT_MOUNT_NFS: */
	char server[16]; /* dotted IPv4 */
	char export[AGENT_MOUNT_EXPORT_LEN + 1];
	uint16_t port;       /* NFS */
	uint16_t mount_port; /* MOUNT protocol (mountd) */
};

struct agent_mounts {
	size_t count;
	struct agent_mount mount[AGENT_MOUNTS_MAX];
};

/* /init's "volumeMounts": absent, null or [] is none; else an array of at
 * most AGENT_MOUNTS_MAX objects, each an NFS one {"path","type"?: "nfs",
 * "server","export","port"?,"mountPort"?} or a virtiofs one {"path",
 * "type": "virtiofs","tag","readOnly"?} (other keys ignored, as envd
 * ignores unknown fields):
 *   path: absolute, normalized (no "//", "." or ".." component, no
 *     trailing "/"), no control characters, at most AGENT_MOUNT_PATH_MAX
 *     bytes; not "/", not at or under /proc, /sys, /dev or /run, not at or
 *     above a file the guest's init and agent need (their binaries,
 *     resolv.conf, the trust store); no two the same or one inside another;
 *   server: a dotted IPv4 address;
 *   export: /vol_ and 24 lowercase hex digits;
 *   port, mountPort: integers 1-65535, AGENT_NFS_PORT and
 *     AGENT_NFS_MOUNT_PORT when absent or null;
 *   type: "nfs" (also when absent or null) or "virtiofs";
 *   tag: 1-AGENT_MOUNT_TAG_MAX characters of a-z, 0-9, '-' and '_';
 *   readOnly: a boolean, false when absent or null.
 * *ret is written only on success (free with agent_mounts_free); -EINVAL
 * with err naming the field and entry ("volumeMounts[1].path: ..."). */
int agent_mounts_parse(json_t *req, struct agent_mounts *ret, struct cove_err *err);
/* Frees what parsing allocated; count becomes 0. */
void agent_mounts_free(struct agent_mounts *m);

/* "SERVER:EXPORT" (NFS) or the tag (virtiofs): mount(2)'s source, and
 * what mountinfo shows for it. */
void agent_mount_source(const struct agent_mount *m, char buf[AGENT_MOUNT_SOURCE_MAX]);
/* mount(2)'s data: NFSv3 over TCP to the given ports (no portmapper
 * query), no NLM (nolock), hard (a write is never silently dropped),
 * 5 s RPC timeout, 3 retransmissions. */
void agent_mount_options(const struct agent_mount *m, char buf[AGENT_MOUNT_OPTIONS_MAX]);

/* Whether the text of /proc/self/mountinfo shows the topmost mount at path
 * (its last line there) as of type fstype from source. */
bool agent_mountinfo_has(const char *mountinfo, size_t len, const char *path, const char *fstype,
			 const char *source);
/* The same for type nfs. */
bool agent_mountinfo_has_nfs(const char *mountinfo, size_t len, const char *path, const char *source);
/* mount(2)'s file system type for m: "nfs" or "virtiofs". */
const char *agent_mount_fstype(const struct agent_mount *m);

/* Mounts each of m (parents made 0755, root's; nosuid, nodev; a read-only
 * virtiofs one read-only) unless mountinfo shows it there already. An export the server does not yet let the guest mount
 * (the host adds it just before /init) is tried again for up to
 * AGENT_MOUNT_RETRY_MS in all; when one fails, those this call mounted are
 * detached again and err names the entry, its source, path and errno.
 * Root only: the agent calls it in a guest (--mount-volumes). */
#define AGENT_MOUNT_RETRY_MS 10000
int agent_mounts_apply(const struct agent_mounts *m, struct cove_err *err);

#endif
