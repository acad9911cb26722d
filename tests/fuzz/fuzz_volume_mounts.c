/* libFuzzer target: /init's volumeMounts and the mountinfo reader
 * (src/guest/agent/mounts.c). The first byte picks what the rest is: the
 * volumeMounts value, a whole /init body, or mountinfo text. Whatever is
 * accepted keeps the parser's promises (absolute normalized paths, none
 * inside another; NFS: ports set, source and options not cut short;
 * virtiofs: a tag of the allowed characters, the source) and is accepted
 * again, the same, when written back as JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/mounts.h"

static json_t *to_json(const struct agent_mounts *m)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < m->count; i++) {
		const struct agent_mount *e = &m->mount[i];
		if (e->type == AGENT_MOUNT_VIRTIOFS)
			json_array_append_new(list, json_pack("{ss ss ss sb}", "path", e->path, "type", "virtiofs", "tag",
							      e->tag, "readOnly", e->read_only));
		else
			json_array_append_new(list, json_pack("{ss ss ss si si}", "path", e->path, "server", e->server,
							      "export", e->export, "port", (int)e->port, "mountPort",
							      (int)e->mount_port));
	}
	return json_pack("{so}", "volumeMounts", list);
}

/* a is b or inside it. */
static int inside(const char *a, const char *b)
{
	size_t n = strlen(b);
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static void check_virtiofs(const struct agent_mount *e)
{
	size_t n = strlen(e->tag);
	char source[AGENT_MOUNT_SOURCE_MAX];
	agent_mount_source(e, source);
	if (n < 1 || n > AGENT_MOUNT_TAG_MAX || strspn(e->tag, "abcdefghijklmnopqrstuvwxyz0123456789-_") != n ||
	    strcmp(source, e->tag) != 0 || strcmp(agent_mount_fstype(e), "virtiofs") != 0)
		abort();
}

static void check(const struct agent_mounts *m)
{
	if (m->count > AGENT_MOUNTS_MAX)
		abort();
	for (size_t i = 0; i < m->count; i++) {
		const struct agent_mount *e = &m->mount[i];
		size_t n = strlen(e->path);
		if (n < 2 || n > AGENT_MOUNT_PATH_MAX || e->path[0] != '/' || e->path[n - 1] == '/' ||
		    strstr(e->path, "//") || strstr(e->path, "/./") || strstr(e->path, "/../"))
			abort();
		for (size_t j = 0; j < i; j++)
			if (inside(e->path, m->mount[j].path) || inside(m->mount[j].path, e->path))
				abort();
		if (e->type == AGENT_MOUNT_VIRTIOFS) {
			check_virtiofs(e);
			continue;
		}
		if (e->type != AGENT_MOUNT_NFS || !e->port || !e->mount_port ||
		    strlen(e->export) != AGENT_MOUNT_EXPORT_LEN)
			abort();
		char source[AGENT_MOUNT_SOURCE_MAX], options[AGENT_MOUNT_OPTIONS_MAX];
		agent_mount_source(e, source);
		agent_mount_options(e, options);
		size_t ls = strlen(e->server), lo = strlen(options), tail = strlen(",hard,timeo=50,retrans=3");
		if (strncmp(source, e->server, ls) != 0 || source[ls] != ':' ||
		    strcmp(source + ls + 1, e->export) != 0 || lo < tail ||
		    strcmp(options + lo - tail, ",hard,timeo=50,retrans=3") != 0)
			abort();
	}
	json_t *again = to_json(m);
	struct agent_mounts m2;
	if (!again || agent_mounts_parse(again, &m2, NULL) < 0 || m2.count != m->count)
		abort();
	for (size_t i = 0; i < m->count; i++)
		if (strcmp(m2.mount[i].path, m->mount[i].path) || m2.mount[i].type != m->mount[i].type ||
		    strcmp(m2.mount[i].tag, m->mount[i].tag) || m2.mount[i].read_only != m->mount[i].read_only ||
		    strcmp(m2.mount[i].server, m->mount[i].server) ||
		    strcmp(m2.mount[i].export, m->mount[i].export) || m2.mount[i].port != m->mount[i].port ||
		    m2.mount[i].mount_port != m->mount[i].mount_port)
			abort();
	agent_mounts_free(&m2);
	json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *rest = (const char *)data + 1;
	if (data[0] % 3 == 2) {
		agent_mountinfo_has_nfs(rest, size - 1, "/mnt/data", "10.0.0.1:/vol_0123456789abcdef01234567");
		agent_mountinfo_has(rest, size - 1, "/mnt/host", "virtiofs", "cove-share-0");
		return 0;
	}
	json_t *req = NULL;
	if (data[0] % 3 == 1) {
		req = json_loadb(rest, size - 1, JSON_ALLOW_NUL, NULL);
	} else {
		json_t *v = json_loadb(rest, size - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		req = v ? json_pack("{so}", "volumeMounts", v) : NULL;
	}
	struct agent_mounts m;
	if (req && agent_mounts_parse(req, &m, NULL) == 0) {
		check(&m);
		agent_mounts_free(&m);
	}
	json_decref(req);
	return 0;
}
