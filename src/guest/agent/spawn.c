#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/spawn.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ENV 4200

/* The built-in defaults; the user's identity is filled in per start. */
struct base_env {
	char home[PATH_MAX + 8], user[80], logname[80], shell[280];
	const char *list[6];
};

static void base_env_fill(struct base_env *b, const struct user_info *u)
{
	snprintf(b->home, sizeof(b->home), "HOME=%s", u ? u->home : "/root");
	snprintf(b->user, sizeof(b->user), "USER=%s", u ? u->name : "root");
	snprintf(b->logname, sizeof(b->logname), "LOGNAME=%s", u ? u->name : "root");
	snprintf(b->shell, sizeof(b->shell), "SHELL=%s", u ? u->shell : "/bin/sh");
	const char *list[6] = { "PATH=" DEFAULT_PATH, b->home, b->user, b->logname, b->shell, NULL };
	memcpy(b->list, list, sizeof(list));
}

static bool same_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");
	return la == lb && strncmp(a, b, la) == 0;
}

static bool overridden_by(const char *var, char *const *envs)
{
	for (size_t j = 0; envs && envs[j]; j++)
		if (same_key(var, envs[j]))
			return true;
	return false;
}

/* Three layers, each replacing what the one below says of the same name:
 * the built-in defaults, /init's envVars, the request's envs. */
static int build_env(const char *const *base_env, char *const *defaults, char *const *envs, const char **out,
		     size_t max)
{
	size_t n = 0;
	for (size_t i = 0; base_env[i]; i++)
		if (!overridden_by(base_env[i], defaults) && !overridden_by(base_env[i], envs))
			out[n++] = base_env[i];
	for (size_t i = 0; defaults && defaults[i]; i++) {
		if (overridden_by(defaults[i], envs))
			continue;
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = defaults[i];
	}
	for (size_t j = 0; envs && envs[j]; j++) {
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = envs[j];
	}
	out[n] = NULL;
	return 0;
}

static const char *envp_lookup(const char *const *env, const char *key)
{
	size_t l = strlen(key);
	for (size_t i = 0; env[i]; i++)
		if (strncmp(env[i], key, l) == 0 && env[i][l] == '=')
			return env[i] + l + 1;
	return NULL;
}

/* PATH lookup done before fork, so the child only has to exec. */
static int resolve(const char *cmd, const char *path, char *out, size_t len)
{
	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	int first_error = -ENOENT;
	for (const char *p = path; p && *p;) {
		size_t dl = strcspn(p, ":");
		snprintf(out, len, "%.*s/%s", (int)dl, dl ? p : ".", cmd);
		struct stat st;
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(out, X_OK) == 0)
				return 0;
			first_error = -EACCES;
		}
		p += dl;
		if (*p == ':')
			p++;
	}
	return first_error;
}

/* The child's steps of its own, after setsid (spawn_start's). */
enum { STEP_TTY = SPAWN_STEP_CALLER, STEP_USER };

struct child_setup {
	int tty; /* the PTY slave to make the controlling terminal; -1: none */
	const struct user_info *user; /* switch to it, if it is not who we are */
};

/* In the child: the terminal, then the user, so that the working directory
 * (spawn_start changes to it next) is checked as that user. */
static int child_setup(void *data, struct spawn_failure *f)
{
	const struct child_setup *c = data;
	const struct user_info *u = c->user;
	if (c->tty >= 0 && ioctl(c->tty, TIOCSCTTY, 0) < 0) {
		f->step = STEP_TTY;
		return -errno;
	}
	bool switch_user = u && (u->uid != getuid() || u->gid != getgid());
	if (switch_user && (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)) {
		f->step = STEP_USER;
		return -errno;
	}
	return 0;
}

enum start_failure { START_COMMAND, START_CWD, START_USER };

static int start_error(const struct spawn_request *req, const char *cwd, enum start_failure which, int e,
		       struct cove_err *err)
{
	if (which == START_CWD)
		return cove_errno(err, -e, "working directory %s", cwd);
	if (which == START_USER)
		return cove_errno(err, -e, "become user %s", req->user ? req->user->name : "?");
	return cove_errno(err, -e, "start %s", req->argv[0]);
}

static int spawn_error(const struct spawn_request *req, const char *cwd, const struct spawn_failure *f,
		       struct cove_err *err)
{
	switch (f->step) {
	case SPAWN_STEP_FORK: return cove_errno(err, -f->err, "start %s: fork", req->argv[0]);
	case SPAWN_STEP_PIPE: return cove_errno(err, -f->err, "start %s: pipe", req->argv[0]);
	case SPAWN_STEP_NULL: return cove_errno(err, -f->err, "start %s: open /dev/null", req->argv[0]);
	case SPAWN_STEP_CHDIR: return start_error(req, cwd, START_CWD, f->err, err);
	case STEP_USER: return start_error(req, cwd, START_USER, f->err, err);
	default: return start_error(req, cwd, START_COMMAND, f->err, err);
	}
}

/* The parent's ends (*parent) and the child's (child[3]) of the process's
 * stdio. */
struct stdio_fds {
	int child[3];
	int in_w, out_r, err_r;
};

static void stdio_close(struct stdio_fds *f)
{
	/* With a PTY the child's three ends are one descriptor: close each once. */
	int *all[] = { &f->child[0], &f->child[1], &f->child[2], &f->in_w, &f->out_r, &f->err_r };
	int closed[6], nclosed = 0;
	for (size_t i = 0; i < 6; i++) {
		int fd = *all[i];
		bool seen = false;
		for (int j = 0; j < nclosed; j++)
			seen |= closed[j] == fd;
		if (fd >= 0 && !seen) {
			close(fd);
			closed[nclosed++] = fd;
		}
		*all[i] = -1;
	}
}

static int open_pty(const struct spawn_request *req, struct stdio_fds *f, struct cove_err *err)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return cove_errno(err, -errno, "open a pseudo-terminal");
	char name[64];
	if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
		int e = -errno;
		close(master);
		return cove_errno(err, e, "set up pseudo-terminal");
	}
	struct winsize ws = { .ws_row = req->rows ? req->rows : 24, .ws_col = req->cols ? req->cols : 80 };
	ioctl(master, TIOCSWINSZ, &ws);
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		int e = -errno;
		close(master);
		return cove_errno(err, e, "open %s", name);
	}
	f->child[0] = f->child[1] = f->child[2] = slave;
	f->in_w = master;
	/* CLOEXEC as it is made: another thread may fork and exec meanwhile. */
	f->out_r = fcntl(master, F_DUPFD_CLOEXEC, 0);
	if (f->out_r < 0)
		return cove_errno(err, -errno, "dup pseudo-terminal");
	return 0;
}

static int open_pipes(const struct spawn_request *req, struct stdio_fds *f, struct cove_err *err)
{
	int o[2], e[2], i[2];
	if (req->stdin_open) {
		if (pipe2(i, O_CLOEXEC) < 0)
			return cove_errno(err, -errno, "start %s: pipe", req->argv[0]);
		f->child[0] = i[0];
		f->in_w = i[1];
	} else if ((f->child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		return cove_errno(err, -errno, "open /dev/null");
	}
	if (pipe2(o, O_CLOEXEC) < 0)
		return cove_errno(err, -errno, "start %s: pipe", req->argv[0]);
	f->out_r = o[0];
	f->child[1] = o[1];
	if (pipe2(e, O_CLOEXEC) < 0)
		return cove_errno(err, -errno, "start %s: pipe", req->argv[0]);
	f->err_r = e[0];
	f->child[2] = e[1];
	/* Best effort (capped by /proc/sys/fs/pipe-max-size): fewer, larger reads. */
	fcntl(o[0], F_SETPIPE_SZ, 1024 * 1024);
	return 0;
}

int spawn_command(const struct spawn_request *req, struct spawned *out, struct cove_err *err)
{
	*out = (struct spawned){ .pid = -1, .pidfd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	const char *envp[MAX_ENV];
	struct base_env base;
	base_env_fill(&base, req->user);
	if (build_env(base.list, req->default_envs, req->envs, envp, MAX_ENV) < 0)
		return cove_errf(err, -E2BIG, "too many environment variables");
	const char *cwd = req->cwd && *req->cwd ? req->cwd
			  : req->default_cwd && *req->default_cwd ? req->default_cwd : envp_lookup(envp, "HOME");
	char exe[4096];
	int r = resolve(req->argv[0], envp_lookup(envp, "PATH"), exe, sizeof(exe));
	/* E2B's SDKs run every command as /bin/bash -l -c CMD; an image
	 * without bash (Alpine, busybox) runs it with its POSIX shell, as
	 * the command line asks nothing of bash itself. */
	char *const *argv = req->argv;
	char *sh_argv[8];
	size_t argc = 0;
	while (argc < 8 && req->argv[argc])
		argc++;
	if (r == -ENOENT && strcmp(req->argv[0], "/bin/bash") == 0 && argc < 8 && access("/bin/sh", X_OK) == 0) {
		/* argv[0] too: busybox picks its applet by it. */
		snprintf(exe, sizeof(exe), "/bin/sh");
		sh_argv[0] = exe;
		memcpy(sh_argv + 1, req->argv + 1, argc * sizeof(*sh_argv));
		argv = sh_argv;
		r = 0;
	}
	if (r < 0)
		return start_error(req, cwd, START_COMMAND, -r, err);
	struct stat st;
	if (cwd && (stat(cwd, &st) < 0 || !S_ISDIR(st.st_mode)))
		return start_error(req, cwd, START_CWD, errno ? errno : ENOTDIR, err);

	struct stdio_fds f = { { -1, -1, -1 }, -1, -1, -1 };
	r = req->pty ? open_pty(req, &f, err) : open_pipes(req, &f, err);
	if (r < 0)
		goto out;
	struct child_setup cs = { req->pty ? f.child[0] : -1, req->user };
	struct spawn_options o = {
		.path = exe,
		.argv = argv,
		.envp = (char *const *)envp,
		.stdio = { { SPAWN_FD, f.child[0] }, { SPAWN_FD, f.child[1] }, { SPAWN_FD, f.child[2] } },
		.cwd = cwd,
		.setsid = true,
		.setup = child_setup,
		.setup_data = &cs,
	};
	struct spawn_child child;
	struct spawn_failure fail;
	r = spawn_start(&o, &child, &fail);
	if (r < 0) {
		r = spawn_error(req, cwd, &fail, err);
		goto out;
	}
	out->pid = child.pid;
	out->pidfd = child.pidfd;
	out->stdin_fd = TAKE_FD(f.in_w);
	out->stdout_fd = TAKE_FD(f.out_r);
	out->stderr_fd = TAKE_FD(f.err_r);
	fcntl(out->stdout_fd, F_SETFL, O_NONBLOCK);
	if (out->stderr_fd >= 0)
		fcntl(out->stderr_fd, F_SETFL, O_NONBLOCK);
out:
	stdio_close(&f);
	return r;
}

void spawned_close(struct spawned *s)
{
	int *fds[] = { &s->pidfd, &s->stdin_fd, &s->stdout_fd, &s->stderr_fd };
	for (size_t i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
