#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "template/template.h"

int template_name_check(const char *name, struct cove_err *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > TEMPLATE_NAME_MAX)
		return cove_errf(err, -EINVAL, "template name '%s': must be 1 to %d characters", name ? name : "",
				 TEMPLATE_NAME_MAX);
	if (!islower((unsigned char)name[0]) && !isdigit((unsigned char)name[0]))
		return cove_errf(err, -EINVAL, "template name '%s': must start with a lower-case letter or digit",
				 name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!islower((unsigned char)c) && !isdigit((unsigned char)c) && c != '-' && c != '_' && c != '.')
			return cove_errf(err, -EINVAL, "template name '%s': only a-z, 0-9, '.', '_' and '-' allowed",
					 name);
	}
	return 0;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || end == v || *end || !isdigit((unsigned char)v[0]) || x < min || x > max)
		return -EINVAL;
	*out = (unsigned)x;
	return 0;
}

static int set_string(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -ENAMETOOLONG;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* A user name as useradd accepts it. */
static bool user_name_ok(const char *v)
{
	if (!*v || *v == '-')
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return true;
}

static int add_env(struct template *t, const char *v)
{
	size_t n = strlen(v) + 1;
	if (!v[0] || v[0] == '=' || !strchr(v, '='))
		return -EINVAL;
	if (t->nenv >= TEMPLATE_ENV_MAX || t->env_len + n > sizeof(t->env))
		return -ENAMETOOLONG;
	memcpy(t->env + t->env_len, v, n);
	t->env_len += n;
	t->nenv++;
	return 0;
}

static bool env_in(const char *entry, const char *const *list)
{
	size_t key = strcspn(entry, "=");
	for (; list && *list; list++)
		if (!strncmp(*list, entry, key) && (*list)[key] == '=')
			return true;
	return false;
}

long template_envs(const struct template *t, const char *const *extra, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t off = 0; off < t->env_len; off += strlen(t->env + off) + 1) {
		if (env_in(t->env + off, extra))
			continue;
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = t->env + off;
	}
	for (; extra && *extra; extra++) {
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = *extra;
	}
	out[n] = NULL;
	return (long)n;
}

static int set_key(struct template *t, const char *key, const char *v, const char **why)
{
	if (!strcmp(key, "user")) {
		*why = "a user name (letters, digits, '.', '_', '-')";
		return user_name_ok(v) ? set_string(t->user, sizeof(t->user), v) : -EINVAL;
	}
	if (!strcmp(key, "workdir")) {
		*why = "an absolute path";
		return v[0] == '/' ? set_string(t->workdir, sizeof(t->workdir), v) : -EINVAL;
	}
	if (!strcmp(key, "suite")) {
		*why = "a Debian release name";
		return *v ? set_string(t->suite, sizeof(t->suite), v) : -EINVAL;
	}
	if (!strcmp(key, "vmm")) {
		*why = "a VMM driver's name (qemu, cloud-hypervisor, firecracker)";
		return strspn(v, "abcdefghijklmnopqrstuvwxyz-") == strlen(v) && *v ? set_string(t->vmm, sizeof(t->vmm), v)
										     : -EINVAL;
	}
	if (!strcmp(key, "memory_mib")) {
		*why = "a number from 64 to 1048576";
		return parse_uint(v, 64, 1u << 20, &t->memory_mib);
	}
	if (!strcmp(key, "vcpus")) {
		*why = "a number from 1 to 64";
		return parse_uint(v, 1, 64, &t->vcpus);
	}
	if (!strcmp(key, "start_cmd")) {
		*why = "a shell command of at most 1023 bytes";
		return *v ? set_string(t->start_cmd, sizeof(t->start_cmd), v) : -EINVAL;
	}
	if (!strcmp(key, "ready_cmd")) {
		*why = "a shell command of at most 1023 bytes";
		return *v ? set_string(t->ready_cmd, sizeof(t->ready_cmd), v) : -EINVAL;
	}
	if (!strcmp(key, "ready_timeout")) {
		*why = "seconds, from 1 to 3600";
		return parse_uint(v, 1, 3600, &t->ready_timeout_s);
	}
	if (!strcmp(key, "disk_mib")) {
		*why = "a number from 16 to 16777216";
		return parse_uint(v, 16, 1u << 24, &t->disk_mib);
	}
	if (!strcmp(key, "env")) {
		*why = "KEY=VALUE";
		return add_env(t, v);
	}
	if (!strcmp(key, "source")) {
		*why = "where the template came from";
		return *v ? set_string(t->source, sizeof(t->source), v) : -EINVAL;
	}
	*why = NULL;
	return -ENOENT;
}

int template_parse_conf(const char *text, const char *where, struct template *t, struct cove_err *err)
{
	unsigned lineno = 0;
	const char *p = text;
	while (*p) {
		lineno++;
		const char *eol = strchrnul(p, '\n');
		char line[PATH_MAX + 64];
		size_t n = (size_t)(eol - p);
		if (n >= sizeof(line))
			return cove_errf(err, -EINVAL, "%s:%u: line too long", where, lineno);
		memcpy(line, p, n);
		line[n] = '\0';
		p = *eol ? eol + 1 : eol;

		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq || eq == s)
			return cove_errf(err, -EINVAL, "%s:%u: expected key=value, got '%s'", where, lineno, s);
		*eq = '\0';
		const char *why = NULL;
		int r = set_key(t, s, eq + 1, &why);
		if (r == -ENOENT)
			return cove_errf(err, -EINVAL, "%s:%u: unknown key '%s'", where, lineno, s);
		if (r == -ENAMETOOLONG && !strcmp(s, "env"))
			return cove_errf(err, -EINVAL, "%s:%u: more env than a template holds (%d entries, %d bytes)",
					 where, lineno, TEMPLATE_ENV_MAX, TEMPLATE_ENV_BYTES);
		if (r == -ENAMETOOLONG)
			return cove_errf(err, -EINVAL, "%s:%u: %s is too long", where, lineno, s);
		if (r < 0)
			return cove_errf(err, -EINVAL, "%s:%u: %s='%s': must be %s", where, lineno, s, eq + 1, why);
	}
	return 0;
}

int template_load(const char *dir, const char *name, struct template *t, struct cove_err *err)
{
	memset(t, 0, sizeof(*t));
	int r = template_name_check(name, err);
	if (r < 0)
		return r;
	snprintf(t->name, sizeof(t->name), "%s", name);
	if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s/%s", dir, name) >= sizeof(t->dir))
		return cove_errf(err, -ENAMETOOLONG, "template %s: directory %s: path too long", name, dir);
	char conf[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/template.conf", t->dir);
	_cleanup_fclose_ FILE *f = fopen(conf, "re");
	if (!f) {
		int e = errno;
		if (e == ENOENT && access(t->dir, F_OK) < 0)
			return cove_errf(err, -ENOENT, "template '%s' not found in %s (build it with 'make')", name, dir);
		return cove_errno(err, -e, "template %s: open %s", name, conf);
	}
	char text[32768];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	if (ferror(f))
		return cove_errno(err, -EIO, "template %s: read %s", name, conf);
	if (n == sizeof(text) - 1)
		return cove_errf(err, -EFBIG, "template %s: %s is larger than %zu bytes", name, conf, sizeof(text) - 1);
	text[n] = '\0';
	r = template_parse_conf(text, conf, t, err);
	if (r < 0)
		return r;
	snprintf(t->rootfs, sizeof(t->rootfs), "%s/rootfs.ext4", t->dir);
	snprintf(t->snapshot, sizeof(t->snapshot), "%s/snapshot", t->dir);
	if (access(t->rootfs, R_OK) < 0)
		return cove_errno(err, -errno, "template %s: image %s", name, t->rootfs);
	return 0;
}

unsigned template_image_mib(const struct template *t)
{
	struct stat st;
	return stat(t->rootfs, &st) == 0 ? (unsigned)((uint64_t)st.st_size >> 20) : 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int template_each(const char *dir, template_fn fn, void *ctx, struct cove_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return cove_errno(err, -errno, "templates: open %s", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' || template_name_check(de->d_name, NULL) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **p = realloc(names, cap * sizeof(*p));
			if (!p) {
				r = cove_errf(err, -ENOMEM, "templates: out of memory");
				break;
			}
			names = p;
		}
		if (!(names[n] = strdup(de->d_name)))
			r = cove_errf(err, -ENOMEM, "templates: out of memory");
		else
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct template t;
		struct cove_err e = { 0 };
		/* A directory that is not a usable template is skipped. */
		if (template_load(dir, names[i], &t, &e) == 0)
			r = fn(ctx, &t);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int template_link(const char *dir, const char *name, const char *target, struct cove_err *err)
{
	char link[PATH_MAX + TEMPLATE_NAME_MAX + 2], tmp[PATH_MAX + TEMPLATE_NAME_MAX + 8];
	if ((size_t)snprintf(link, sizeof(link), "%s/%s", dir, name) >= sizeof(link) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.link", dir, name) >= sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "template %s: directory %s: path too long", name, dir);
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
		int e = errno;
		unlink(tmp);
		return cove_errno(err, -e, "template %s: link %s", name, link);
	}
	return 0;
}
