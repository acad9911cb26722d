/* The build steps, as commands in the build VM's guest through its agent.
 * What would have to work the same in every image (extracting a tar,
 * changing owners, adding a user) is done by Cove's own static busybox,
 * put in the guest at GUEST_BUSYBOX, so a step does not depend on the
 * image's tools: Alpine, distroless and Debian images behave alike. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/internal.h"
#include "common/cleanup.h"

#define GUEST_BUSYBOX "/usr/lib/cove/busybox"
#define GUEST_COPY_DIR "/tmp/cove-copy"

/* Stand-ins for the tools E2B's ready commands use (waitForPort's ss),
 * for templates without them: last on the ready command's PATH. */
static const char ss_shim[] =
	"#!" GUEST_BUSYBOX " sh\n"
	"# Cove's stand-in for iproute2's ss, for what E2B's waitForPort runs\n"
	"# (ss -Htuln sport = :PORT): a line for each listening TCP or bound UDP\n"
	"# socket on PORT. Used only where the template has no ss of its own.\n"
	"port=; for a; do case $a in :*) port=${a#:} ;; esac; done\n"
	"[ -n \"$port\" ] || { echo \"ss (Cove's stand-in): only 'ss -Htuln sport = :PORT' is known\" >&2; exit 1; }\n"
	"hex=$(printf '%04X' \"$port\")\n"
	"for f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do [ -r $f ] && echo $f; done |\n"
	"  " GUEST_BUSYBOX " xargs " GUEST_BUSYBOX " awk -v p=\":$hex\" 'FNR > 1 && substr($2, length($2) - 4) == p &&\n"
	"    (FILENAME ~ /udp/ || $4 == \"0A\") { print FILENAME, $2 }'\n";

/* A command's output: split into lines for the log, its last bytes kept
 * for the error message. */
struct output {
	struct build *b;
	char line[4096];
	size_t len;
	char tail[1024];
	size_t tail_len;
};

static void output_flush(struct output *o)
{
	if (!o->len)
		return;
	o->line[o->len] = '\0';
	build_log(o->b, BUILD_LOG_INFO, "%s", o->line);
	o->len = 0;
}

static int on_output(void *ctx, enum process_stream stream, const uint8_t *data, size_t len)
{
	(void)stream;
	struct output *o = ctx;
	for (size_t i = 0; i < len; i++) {
		char c = (char)data[i];
		if (c == '\n' || o->len == sizeof(o->line) - 1)
			output_flush(o);
		if (c != '\n' && c != '\r')
			o->line[o->len++] = c;
		if (o->tail_len == sizeof(o->tail) - 1) {
			memmove(o->tail, o->tail + 1, o->tail_len - 1);
			o->tail_len--;
		}
		o->tail[o->tail_len++] = c;
	}
	o->tail[o->tail_len] = '\0';
	return 0;
}

/* Runs argv in the guest as user (NULL: root) in cwd (NULL: /, "": the
 * user's home) with the context's environment; a failure (not exit 0) is -EIO naming what with the end of
 * its output. */
static int guest_run(struct build *b, const struct build_ctx *ctx, const char *const *argv, const char *user,
		     const char *cwd, const char *what, struct cove_err *err)
{
	struct output o = { .b = b };
	struct agent_exec_request req = {
		.argv = argv,
		.envs = (const char *const *)ctx->env,
		/* Cove's own commands run in / (an image may have no home for
		 * root); a step's in its working directory, else its user's home. */
		.cwd = !cwd ? "/" : *cwd ? cwd : NULL,
		.on_output = on_output,
		.ctx = &o,
		.user = user && *user ? user : "root",
	};
	struct agent_exec_result res;
	int r = sandbox_exec(b->sb, &req, &res, err);
	output_flush(&o);
	if (r < 0)
		return cove_err_prefix(err, "%s", what);
	if (res.exited && res.exit_code == 0)
		return 0;
	/* The last line or two of output say most. */
	char *t = o.tail;
	while (*t == '\n')
		t++;
	size_t n = strlen(t);
	while (n && (t[n - 1] == '\n' || t[n - 1] == ' '))
		t[--n] = '\0';
	if (n > 300)
		t += n - 300;
	for (char *c = t; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = c[1] ? ';' : ' ';
	return cove_errf(err, -EIO, "%s: %s%s%s", what, res.status, *t ? ": " : "", t);
}

/* The script COPY runs as root: $1 the tar, $2 "z" when gzipped, $3 the
 * source inside it, $4 the destination, $5 the owner, $6 the mode, $7 the
 * working directory. A directory's contents go into the destination; a
 * file or link goes to it (into it when it ends in / or is a directory). */
static const char copy_script[] =
	"set -e; B=" GUEST_BUSYBOX "; t=$1.d; $B rm -rf \"$t\"; $B mkdir -p \"$t\"\n"
	"$B tar -x${2}f \"$1\" -C \"$t\"\n"
	"cd \"$7\" 2>/dev/null || cd /\n"
	"src=$t/$3; dest=$4; owner=$5\n"
	"case $owner in *:*) ;; *) owner=$($B id -u \"$owner\"):$($B id -g \"$owner\") ;; esac\n"
	"[ -e \"$src\" ] || [ -L \"$src\" ] || { echo \"$3: not in the uploaded files\" >&2; exit 1; }\n"
	"if [ -d \"$src\" ] && [ ! -L \"$src\" ]; then\n"
	"  $B mkdir -p \"$dest\"; $B cp -a \"$src\"/. \"$dest\"/; $B chown -R \"$owner\" \"$dest\"\n"
	"  [ -z \"$6\" ] || $B chmod -R \"$6\" \"$dest\"\n"
	"else\n"
	"  case $dest in */) $B mkdir -p \"$dest\"; dest=$dest$($B basename \"$src\") ;;\n"
	"  *) $B mkdir -p \"$($B dirname \"$dest\")\"; [ ! -d \"$dest\" ] || dest=$dest/$($B basename \"$src\") ;; esac\n"
	"  $B cp -a \"$src\" \"$dest\"; $B chown -h \"$owner\" \"$dest\"\n"
	"  [ -z \"$6\" ] || [ -L \"$dest\" ] || $B chmod \"$6\" \"$dest\"\n"
	"fi\n"
	"$B rm -rf \"$t\" \"$1\"\n";

/* The part of a COPY source before its first glob character's path
 * component (for "sub/STAR.txt", "sub"; for "STAR", "."), without "./". */
static void copy_source(const char *src, char *out, size_t len)
{
	while (src[0] == '.' && src[1] == '/')
		src += 2;
	size_t glob = strcspn(src, "*?[");
	size_t keep = glob;
	if (src[glob]) {
		while (keep && src[keep - 1] != '/')
			keep--;
		while (keep && src[keep - 1] == '/')
			keep--;
	}
	while (keep && src[keep - 1] == '/')
		keep--;
	snprintf(out, len, "%.*s", (int)(keep ? keep : 1), keep ? src : ".");
}

static bool file_is_gzip(const char *path)
{
	unsigned char magic[2] = { 0 };
	FILE *f = fopen(path, "rbe");
	bool gz = f && fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	if (f)
		fclose(f);
	return gz;
}

static int step_copy(struct build *b, const struct build_step *s, struct build_ctx *ctx, struct cove_err *err)
{
	char host[PATH_MAX], guest[PATH_MAX], src[PATH_MAX];
	if (files_path(b->p->files, s->files_hash, host, err) < 0)
		return cove_err_prefix(err, "COPY %s", s->args[0]);
	if (access(host, R_OK) < 0)
		return cove_errno(err, -errno, "COPY %s: the files (hash %s) were not uploaded", s->args[0],
				  s->files_hash);
	snprintf(guest, sizeof(guest), GUEST_COPY_DIR "/%s.tar", s->files_hash);
	int r = sandbox_upload(b->sb, host, guest, "root", err);
	if (r < 0)
		return r;
	copy_source(s->args[0], src, sizeof(src));
	const char *owner = s->n_args > 2 && *s->args[2] ? s->args[2] : ctx->user[0] ? ctx->user : "root";
	const char *argv[] = { GUEST_BUSYBOX, "sh", "-c", copy_script, "copy", guest, file_is_gzip(host) ? "z" : "",
			       src, s->args[1], owner, s->n_args > 3 ? s->args[3] : "", ctx->workdir, NULL };
	char what[PATH_MAX + 32];
	snprintf(what, sizeof(what), "COPY %s %s", s->args[0], s->args[1]);
	return guest_run(b, ctx, argv, "root", NULL, what, err);
}

/* An ENV value with $ or ` is expanded by the guest's shell in the
 * context's environment (as E2B's builder does); others are taken as
 * they are. */
static int step_env(struct build *b, const struct build_step *s, struct build_ctx *ctx, struct cove_err *err)
{
	for (size_t i = 0; i + 1 < s->n_args; i += 2) {
		const char *v = s->args[i + 1];
		int r;
		if (!strpbrk(v, "$`")) {
			if ((r = build_ctx_setenv(ctx, s->args[i], v, err)) < 0)
				return r;
			continue;
		}
		const char *argv[] = { GUEST_BUSYBOX, "sh", "-c", "eval \"printf '%s' \\\"$1\\\"\"", "env", v, NULL };
		struct output o = { .b = b };
		struct agent_exec_request req = { .argv = argv, .envs = (const char *const *)ctx->env,
						  .on_output = on_output, .ctx = &o, .user = "root", .cwd = "/" };
		struct agent_exec_result res;
		if ((r = sandbox_exec(b->sb, &req, &res, err)) < 0)
			return cove_err_prefix(err, "ENV %s", s->args[i]);
		if (!res.exited || res.exit_code != 0)
			return cove_errf(err, -EIO, "ENV %s=%s: %s: %s", s->args[i], v, res.status, o.tail);
		if ((r = build_ctx_setenv(ctx, s->args[i], o.tail, err)) < 0)
			return r;
	}
	return 0;
}

static int step_workdir(struct build *b, const struct build_step *s, struct build_ctx *ctx, struct cove_err *err)
{
	char path[PATH_MAX];
	const char *dir = s->args[0];
	if (dir[0] != '/' && ctx->workdir[0])
		snprintf(path, sizeof(path), "%s/%s", ctx->workdir, dir);
	else
		snprintf(path, sizeof(path), "%s", dir);
	const char *argv[] = { GUEST_BUSYBOX, "mkdir", "-p", path, NULL };
	char what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "WORKDIR %s", path);
	int r = guest_run(b, ctx, argv, ctx->user, path[0] == '/' ? NULL : "", what, err);
	if (r == 0 && path[0] != '/') {
		/* Relative to a home: made absolute by the guest. */
		const char *pwd[] = { GUEST_BUSYBOX, "sh", "-c", "cd \"$1\" && pwd", "pwd", path, NULL };
		struct output o = { .b = b };
		struct agent_exec_request req = { .argv = pwd, .on_output = on_output, .ctx = &o,
						  .user = ctx->user[0] ? ctx->user : "root" };
		struct agent_exec_result res;
		if ((r = sandbox_exec(b->sb, &req, &res, err)) < 0)
			return r;
		o.tail[strcspn(o.tail, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s", o.tail);
	}
	if (r == 0)
		snprintf(ctx->workdir, sizeof(ctx->workdir), "%s", path);
	return r;
}

/* Adds user when missing (a home under /home, a group of its name), with
 * passwordless sudo when asked; as E2B's builder (adduser) does. */
static int ensure_user(struct build *b, const struct build_ctx *ctx, const char *user, bool sudo,
		       struct cove_err *err)
{
	/* Debian's static busybox has no adduser: the entries are written
	 * as adduser writes them (the first free id from 1000, a group of
	 * the user's name, a locked password). */
	static const char script[] =
		"set -e; B=" GUEST_BUSYBOX "\n"
		"if ! $B id -u \"$1\" >/dev/null 2>&1; then\n"
		"  id=$($B awk -F: 'FNR==1{f++} $3>=1000 && $3<60000 {u[f\" \"$3]=1}\n"
		"    END {for (i = 1000; (\"1 \" i) in u || (\"2 \" i) in u; i++); print i}' /etc/passwd /etc/group)\n"
		"  echo \"$1:x:$id:\" >> /etc/group\n"
		"  echo \"$1:x:$id:$id::/home/$1:/bin/sh\" >> /etc/passwd\n"
		"  [ ! -f /etc/shadow ] || echo \"$1:!:20000:0:99999:7:::\" >> /etc/shadow\n"
		"  $B mkdir -p \"/home/$1\"; $B chown \"$id:$id\" \"/home/$1\"; $B chmod 0750 \"/home/$1\"\n"
		"fi\n"
		"if [ \"$2\" = true ]; then $B mkdir -p /etc/sudoers.d\n"
		"  echo \"$1 ALL=(ALL:ALL) NOPASSWD: ALL\" > /etc/sudoers.d/90-cove-$1; $B chmod 0440 /etc/sudoers.d/90-cove-$1; fi\n";
	const char *argv[] = { GUEST_BUSYBOX, "sh", "-c", script, "user", user, sudo ? "true" : "false", NULL };
	char what[96];
	snprintf(what, sizeof(what), "USER %s", user);
	return guest_run(b, ctx, argv, "root", NULL, what, err);
}

static int install_shims(struct build *b, const struct build_ctx *ctx, struct cove_err *err)
{
	const char *argv[] = { GUEST_BUSYBOX, "sh", "-c",
			       GUEST_BUSYBOX " mkdir -p " SANDBOX_GUEST_TOOLS " && printf '%s' \"$1\" > " SANDBOX_GUEST_TOOLS "/ss && "
			       GUEST_BUSYBOX " chmod 0755 " SANDBOX_GUEST_TOOLS "/ss",
			       "shims", ss_shim, NULL };
	return guest_run(b, ctx, argv, "root", NULL, "install Cove's ss stand-in", err);
}

int build_guest_sync(struct build *b, const struct build_ctx *ctx, struct cove_err *err)
{
	const char *argv[] = { GUEST_BUSYBOX, "sync", NULL };
	return guest_run(b, ctx, argv, "root", NULL, "sync the guest's files", err);
}

int build_prepare_guest(struct build *b, struct build_ctx *ctx, struct cove_err *err)
{
	/* Templates Cove made have busybox (image import, image.sh): the
	 * stand-ins are put in by it at once. For others it is uploaded and
	 * made executable by the image's own shell first. */
	const char *argv[] = { "/bin/sh", "-c", "chmod 0755 " GUEST_BUSYBOX, NULL };
	struct cove_err ignored = { 0 };
	if (install_shims(b, ctx, &ignored) == 0)
		return b->p->user_create && ctx->user[0] ? ensure_user(b, ctx, ctx->user, true, err) : 0;
	build_log(b, BUILD_LOG_DEBUG, "putting Cove's busybox in the guest");
	int r = sandbox_upload(b->sb, b->h->busybox, GUEST_BUSYBOX, "root", err);
	r = r ?: guest_run(b, ctx, argv, "root", NULL, "make Cove's busybox executable in the guest", err);
	r = r ?: install_shims(b, ctx, err);
	if (r == 0 && b->p->user_create && ctx->user[0])
		r = ensure_user(b, ctx, ctx->user, true, err);
	return r;
}

int build_step_run(struct build *b, size_t i, struct build_ctx *ctx, bool *synced, struct cove_err *err)
{
	const struct build_step *s = &b->p->steps[i];
	switch (s->type) {
	case BUILD_RUN: {
		/* The image's /bin/sh runs the command; Cove's busybox then has
		 * the guest write out its files, in the same round trip. */
		const char *argv[] = { GUEST_BUSYBOX, "sh", "-c",
				       "/bin/sh -c \"$1\"; rc=$?; " GUEST_BUSYBOX " sync; exit $rc", "run", s->args[0],
				       NULL };
		*synced = true;
		const char *user = s->n_args > 1 && *s->args[1] ? s->args[1] : ctx->user;
		char what[96];
		snprintf(what, sizeof(what), "RUN (step %zu)", i + 1);
		return guest_run(b, ctx, argv, user, ctx->workdir, what, err);
	}
	case BUILD_COPY:
		return step_copy(b, s, ctx, err);
	case BUILD_ENV:
		return step_env(b, s, ctx, err);
	case BUILD_WORKDIR:
		return step_workdir(b, s, ctx, err);
	case BUILD_USER: {
		int r = ensure_user(b, ctx, s->args[0], s->n_args > 1 && strcmp(s->args[1], "true") == 0, err);
		if (r == 0)
			snprintf(ctx->user, sizeof(ctx->user), "%s", strcmp(s->args[0], "root") ? s->args[0] : "");
		return r;
	}
	}
	return cove_errf(err, -EINVAL, "step %zu: unknown type", i + 1);
}
