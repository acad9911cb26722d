/* The build log's lines, the context build steps run in, and its text form (template.conf's
 * user=, workdir= and env= lines), kept beside each cached layer. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

void build_ctx_clear(struct build_ctx *c)
{
	for (size_t i = 0; i < c->nenv; i++)
		free(c->env[i]);
	memset(c, 0, sizeof(*c));
}

int build_ctx_setenv(struct build_ctx *c, const char *key, const char *value, struct cove_err *err)
{
	size_t klen = strlen(key);
	if (!klen || strchr(key, '=') || strchr(key, '\n') || strchr(value, '\n'))
		return cove_errf(err, -EINVAL, "ENV %s: a name without '=' and values of one line", key);
	char *kv;
	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return cove_errf(err, -ENOMEM, "ENV %s: out of memory", key);
	for (size_t i = 0; i < c->nenv; i++) {
		if (strncmp(c->env[i], key, klen) == 0 && c->env[i][klen] == '=') {
			free(c->env[i]);
			c->env[i] = kv;
			return 0;
		}
	}
	if (c->nenv == BUILD_ENV_MAX) {
		free(kv);
		return cove_errf(err, -E2BIG, "ENV %s: more than %d variables", key, BUILD_ENV_MAX);
	}
	c->env[c->nenv++] = kv;
	c->env[c->nenv] = NULL;
	return 0;
}

int build_ctx_copy(struct build_ctx *to, const struct build_ctx *from, struct cove_err *err)
{
	memset(to, 0, sizeof(*to));
	memcpy(to->user, from->user, sizeof(to->user));
	memcpy(to->workdir, from->workdir, sizeof(to->workdir));
	for (size_t i = 0; i < from->nenv; i++) {
		if (!(to->env[i] = strdup(from->env[i]))) {
			build_ctx_clear(to);
			return cove_errf(err, -ENOMEM, "out of memory");
		}
		to->nenv++;
	}
	return 0;
}

int build_ctx_write(const struct build_ctx *c, const char *path, struct cove_err *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	if (!f)
		return cove_errno(err, -errno, "create %s", path);
	if (c->user[0])
		fprintf(f, "user=%s\n", c->user);
	if (c->workdir[0])
		fprintf(f, "workdir=%s\n", c->workdir);
	for (size_t i = 0; i < c->nenv; i++)
		fprintf(f, "env=%s\n", c->env[i]);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0)
		return cove_errno(err, -EIO, "write %s", path);
	return 0;
}

int build_ctx_read(struct build_ctx *c, const char *path, struct cove_err *err)
{
	memset(c, 0, sizeof(*c));
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return cove_errno(err, -errno, "open %s", path);
	char line[PATH_MAX + 64];
	int r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "user=", 5) == 0)
			snprintf(c->user, sizeof(c->user), "%s", line + 5);
		else if (strncmp(line, "workdir=", 8) == 0)
			snprintf(c->workdir, sizeof(c->workdir), "%s", line + 8);
		else if (strncmp(line, "env=", 4) == 0 && strchr(line + 4, '=')) {
			char *eq = strchr(line + 4, '=');
			*eq = '\0';
			r = build_ctx_setenv(c, line + 4, eq + 1, err);
		} else if (line[0])
			r = cove_errf(err, -EINVAL, "%s: unexpected line '%s'", path, line);
	}
	if (r < 0)
		build_ctx_clear(c);
	return r;
}

void build_log(struct build *b, enum build_log_level level, const char *fmt, ...)
{
	char msg[4200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->h->log)
		b->h->log(b->h->ctx, level, b->step, msg);
}
