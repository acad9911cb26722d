/* The pure half of agent/mounts.h: /init's volumeMounts into plain
 * structs, mount(2)'s arguments, and reading mountinfo. The mounting is in
 * mounts_apply.c. */
#include "agent/mounts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cacert.h"

#define FIELD "volumeMounts[%zu].%s: "

/* The kernel's file systems and the agent's own runtime directory: a mount
 * at or under them hides what the guest runs on. */
static const char *const system_dirs[] = { "/proc", "/sys", "/dev", "/run" };

/* Files the guest's init and agent need now or after a restart; a mount at
 * or above one hides it. /usr/sbin: where /sbin is a link to usr/sbin. */
static const char *const agent_files[] = {
	"/sbin/cove-init",
	"/usr/sbin/cove-init",
	"/usr/bin/cove-agent",
	"/etc/resolv.conf",
	AGENT_CA_FILE,
	AGENT_CA_DEBIAN_BUNDLE,
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/cert.pem",
};

/* Whether path is dir or inside it. */
static bool at_or_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* What is wrong with path as a mount point, or NULL. */
static const char *path_problem(const char *s, size_t len)
{
	if (len > AGENT_MOUNT_PATH_MAX)
		return "longer than 4095 bytes";
	if (strlen(s) != len)
		return "contains a NUL character";
	if (s[0] != '/')
		return "must be absolute";
	if (len == 1)
		return "must not be /";
	if (s[len - 1] == '/')
		return "must not end in /";
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "contains a control character";
	for (const char *c = s; *c;) {
		const char *name = c + 1, *end = strchrnul(name, '/');
		size_t n = (size_t)(end - name);
		if (n == 0)
			return "must not contain //";
		if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
			return "must not contain . or .. components";
		c = end;
	}
	for (size_t i = 0; i < sizeof(system_dirs) / sizeof(*system_dirs); i++)
		if (at_or_under(s, system_dirs[i]))
			return "must not be in /proc, /sys, /dev or /run";
	for (size_t i = 0; i < sizeof(agent_files) / sizeof(*agent_files); i++)
		if (at_or_under(agent_files[i], s))
			return "would hide a file the guest's init or agent needs";
	return NULL;
}

static bool export_ok(const char *s)
{
	if (strlen(s) != AGENT_MOUNT_EXPORT_LEN || strncmp(s, "/vol_", 5) != 0)
		return false;
	for (s += 5; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static int parse_port(json_t *entry, size_t i, const char *field, uint16_t fallback, uint16_t *ret,
		      struct cove_err *err)
{
	json_t *v = json_object_get(entry, field);
	if (!v || json_is_null(v)) {
		*ret = fallback;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return cove_errf(err, -EINVAL, FIELD "must be an integer from 1 to 65535", i, field);
	*ret = (uint16_t)json_integer_value(v);
	return 0;
}

static bool tag_ok(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;
	if (n == 0 || n > AGENT_MOUNT_TAG_MAX || strlen(s) != n)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* {"type": "virtiofs", "tag", "readOnly"?}: a shared host directory. */
static int parse_virtiofs(json_t *entry, size_t i, struct agent_mount *m, struct cove_err *err)
{
	json_t *tag = json_object_get(entry, "tag");
	if (!tag_ok(tag))
		return cove_errf(err, -EINVAL, FIELD "must be 1-%d characters of a-z, 0-9, '-' and '_'", i, "tag",
				 AGENT_MOUNT_TAG_MAX);
	json_t *ro = json_object_get(entry, "readOnly");
	if (ro && !json_is_null(ro) && !json_is_boolean(ro))
		return cove_errf(err, -EINVAL, FIELD "must be a boolean", i, "readOnly");
	m->type = AGENT_MOUNT_VIRTIOFS;
	m->read_only = json_is_true(ro);
	snprintf(m->tag, sizeof(m->tag), "%s", json_string_value(tag));
	return 0;
}

static int parse_nfs(json_t *entry, size_t i, struct agent_mount *m, struct cove_err *err)
{
	const char *server = json_string_value(json_object_get(entry, "server"));
	struct in_addr a;
	if (!server || strlen(server) >= sizeof(m->server) || inet_pton(AF_INET, server, &a) != 1)
		return cove_errf(err, -EINVAL, FIELD "must be a dotted IPv4 address", i, "server");
	const char *export = json_string_value(json_object_get(entry, "export"));
	if (!export || !export_ok(export))
		return cove_errf(err, -EINVAL, FIELD "must be /vol_ and 24 lowercase hex digits", i, "export");
	int r = parse_port(entry, i, "port", AGENT_NFS_PORT, &m->port, err);
	if (r == 0)
		r = parse_port(entry, i, "mountPort", AGENT_NFS_MOUNT_PORT, &m->mount_port, err);
	if (r < 0)
		return r;
	/* inet_ntop, not the text: "1.2.3.4" as mountinfo will show it. */
	m->type = AGENT_MOUNT_NFS;
	inet_ntop(AF_INET, &a, m->server, sizeof(m->server));
	snprintf(m->export, sizeof(m->export), "%s", export);
	return 0;
}

static int parse_entry(json_t *entry, size_t i, struct agent_mount *m, struct cove_err *err)
{
	if (!json_is_object(entry))
		return cove_errf(err, -EINVAL, "volumeMounts[%zu]: must be an object", i);
	json_t *path = json_object_get(entry, "path");
	const char *s = json_string_value(path);
	if (!s)
		return cove_errf(err, -EINVAL, FIELD "must be a string", i, "path");
	const char *why = path_problem(s, json_string_length(path));
	if (why)
		return cove_errf(err, -EINVAL, FIELD "%s", i, "path", why);
	json_t *type = json_object_get(entry, "type");
	const char *t = json_string_value(type);
	int r;
	if (!type || json_is_null(type) || (t && strcmp(t, "nfs") == 0 && strlen(t) == json_string_length(type)))
		r = parse_nfs(entry, i, m, err);
	else if (t && strcmp(t, "virtiofs") == 0 && strlen(t) == json_string_length(type))
		r = parse_virtiofs(entry, i, m, err);
	else
		r = cove_errf(err, -EINVAL, FIELD "must be \"nfs\" or \"virtiofs\"", i, "type");
	if (r < 0)
		return r;
	m->path = strdup(s);
	return m->path ? 0 : cove_errf(err, -ENOMEM, "volumeMounts: out of memory");
}

/* No two entries at one path or one inside the other: the order they were
 * mounted in would decide what the guest sees. */
static int check_overlaps(const struct agent_mounts *m, struct cove_err *err)
{
	for (size_t j = 1; j < m->count; j++)
		for (size_t i = 0; i < j; i++) {
			const char *a = m->mount[i].path, *b = m->mount[j].path;
			if (strcmp(a, b) == 0)
				return cove_errf(err, -EINVAL, FIELD "is also volumeMounts[%zu].path", j, "path", i);
			if (at_or_under(a, b) || at_or_under(b, a))
				return cove_errf(err, -EINVAL, FIELD "%s volumeMounts[%zu].path", j, "path",
						 at_or_under(a, b) ? "contains" : "is inside", i);
		}
	return 0;
}

int agent_mounts_parse(json_t *req, struct agent_mounts *ret, struct cove_err *err)
{
	json_t *list = json_object_get(req, "volumeMounts");
	struct agent_mounts m = { 0 };
	if (list && !json_is_null(list) && (!json_is_array(list) || json_array_size(list) > AGENT_MOUNTS_MAX))
		return cove_errf(err, -EINVAL, "volumeMounts must be an array of at most %d mounts", AGENT_MOUNTS_MAX);
	int r = 0;
	for (size_t i = 0; r == 0 && i < json_array_size(list); i++) {
		r = parse_entry(json_array_get(list, i), i, &m.mount[i], err);
		if (r == 0)
			m.count++;
	}
	if (r == 0)
		r = check_overlaps(&m, err);
	if (r < 0) {
		agent_mounts_free(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void agent_mounts_free(struct agent_mounts *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->mount[i].path);
		m->mount[i].path = NULL;
	}
	m->count = 0;
}

void agent_mount_source(const struct agent_mount *m, char buf[AGENT_MOUNT_SOURCE_MAX])
{
	if (m->type == AGENT_MOUNT_VIRTIOFS)
		snprintf(buf, AGENT_MOUNT_SOURCE_MAX, "%s", m->tag);
	else
		snprintf(buf, AGENT_MOUNT_SOURCE_MAX, "%s:%s", m->server, m->export);
}

const char *agent_mount_fstype(const struct agent_mount *m)
{
	return m->type == AGENT_MOUNT_VIRTIOFS ? "virtiofs" : "nfs";
}

/* timeo is in tenths of a second: an RPC unanswered for 5 s is sent again
 * (3 times, each wait 5 s longer), then the client reconnects. A restored
 * or forked guest's old TCP connection goes nowhere (its segments are never
 * answered, not even reset): the default timeo=600 held forks for 54-108 s
 * (measured), this one for seconds. */
void agent_mount_options(const struct agent_mount *m, char buf[AGENT_MOUNT_OPTIONS_MAX])
{
	snprintf(buf, AGENT_MOUNT_OPTIONS_MAX,
		 "vers=3,proto=tcp,nolock,addr=%s,port=%u,mountport=%u,mountproto=tcp,hard,timeo=50,retrans=3",
		 m->server, (unsigned)m->port, (unsigned)m->mount_port);
}

static bool octal(char c)
{
	return c >= '0' && c <= '7';
}

/* Whether a mountinfo field, whose " \t\n\\" the kernel wrote as \ooo
 * octal escapes, is want. */
static bool field_is(const char *f, size_t n, const char *want)
{
	for (size_t i = 0; i < n; want++) {
		if (*want == '\0')
			return false; /* the field is longer (a NUL in it must not end want early) */
		char c = f[i];
		if (c == '\\' && n - i >= 4 && octal(f[i + 1]) && octal(f[i + 2]) && octal(f[i + 3])) {
			c = (char)((f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 + (f[i + 3] - '0'));
			i += 4;
		} else {
			i++;
		}
		if (*want != c)
			return false;
	}
	return *want == '\0';
}

/* The fields of one mountinfo line: 0 id, 1 parent, 2 major:minor, 3 root,
 * 4 mount point, 5 options, optional fields up to "-", then type, source
 * and the super block's options (proc(5)). */
static bool line_matches(const char *line, size_t len, const char *path, const char *fstype, const char *source,
			 bool *at_path)
{
	const char *field[64];
	size_t flen[64], n = 0;
	for (size_t at = 0; at < len && n < 64;) {
		while (at < len && line[at] == ' ')
			at++;
		size_t start = at;
		while (at < len && line[at] != ' ')
			at++;
		if (at > start) {
			field[n] = line + start;
			flen[n++] = at - start;
		}
	}
	*at_path = n > 4 && field_is(field[4], flen[4], path);
	if (!*at_path)
		return false;
	for (size_t i = 6; i + 2 < n; i++)
		if (flen[i] == 1 && field[i][0] == '-')
			return field_is(field[i + 1], flen[i + 1], fstype) &&
			       field_is(field[i + 2], flen[i + 2], source);
	return false;
}

bool agent_mountinfo_has_nfs(const char *mountinfo, size_t len, const char *path, const char *source)
{
	return agent_mountinfo_has(mountinfo, len, path, "nfs", source);
}

bool agent_mountinfo_has(const char *mountinfo, size_t len, const char *path, const char *fstype, const char *source)
{
	bool found = false;
	for (size_t at = 0; at < len;) {
		const char *line = mountinfo + at, *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		at += n + (nl != NULL);
		bool at_path;
		bool match = line_matches(line, n, path, fstype, source, &at_path);
		if (at_path)
			found = match; /* a later line is a mount on top */
	}
	return found;
}
