#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proc.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ENV 4200

static const char *const base_env[] = {
	"PATH=" DEFAULT_PATH, "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh", NULL,
};

static bool same_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");
	return la == lb && strncmp(a, b, la) == 0;
}

/* Defaults first, each replaced by the client's value of the same name. */
static int build_env(char *const *envs, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; base_env[i]; i++) {
		bool overridden = false;
		for (size_t j = 0; envs && envs[j]; j++)
			overridden |= same_key(base_env[i], envs[j]);
		if (!overridden)
			out[n++] = base_env[i];
	}
	for (size_t j = 0; envs && envs[j]; j++) {
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = envs[j];
	}
	out[n] = NULL;
	return 0;
}

static const char *env_value(const char *const *env, const char *key)
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

struct child_setup {
	const char *exe;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int out_w, err_w, null_fd, report;
};

static void __attribute__((noreturn)) child_run(const struct child_setup *c)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	setsid();
	int e = 0, which = 0;
	if (dup2(c->null_fd, 0) < 0 || dup2(c->out_w, 1) < 0 || dup2(c->err_w, 2) < 0) {
		e = errno;
	} else if (c->cwd && chdir(c->cwd) < 0) {
		e = errno;
		which = 1;
	} else {
		execve(c->exe, c->argv, c->envp);
		e = errno;
	}
	int msg[2] = { which, e };
	(void)!write(c->report, msg, sizeof(msg));
	_exit(127);
}

static int start_error(const struct spawn_request *req, const char *cwd, int which, int e, struct cove_err *err)
{
	if (which == 1)
		return cove_errno(err, -e, "working directory %s", cwd);
	return cove_errno(err, -e, "start %s", req->argv[0]);
}

int spawn_command(const struct spawn_request *req, struct spawned *out, struct cove_err *err)
{
	*out = (struct spawned){ .pid = -1, .pidfd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	const char *envp[MAX_ENV];
	if (build_env(req->envs, envp, MAX_ENV) < 0)
		return cove_errf(err, -E2BIG, "too many environment variables");
	const char *cwd = req->cwd && *req->cwd ? req->cwd : env_value(envp, "HOME");
	char exe[4096];
	int r = resolve(req->argv[0], env_value(envp, "PATH"), exe, sizeof(exe));
	if (r < 0)
		return start_error(req, cwd, 0, -r, err);
	struct stat st;
	if (cwd && (stat(cwd, &st) < 0 || !S_ISDIR(st.st_mode)))
		return start_error(req, cwd, 1, errno ? errno : ENOTDIR, err);

	int o[2] = { -1, -1 }, e[2] = { -1, -1 }, rep[2] = { -1, -1 };
	_cleanup_close_ int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		r = cove_errno(err, -errno, "start %s: pipes", req->argv[0]);
		goto fail;
	}
	struct child_setup c = { exe, req->argv, (char *const *)envp, cwd, o[1], e[1], null_fd, rep[1] };
	pid_t pid = fork();
	if (pid < 0) {
		r = cove_errno(err, -errno, "start %s: fork", req->argv[0]);
		goto fail;
	}
	if (pid == 0)
		child_run(&c);
	close(TAKE_FD(o[1]));
	close(TAKE_FD(e[1]));
	close(TAKE_FD(rep[1]));
	int msg[2];
	ssize_t n = read(rep[0], msg, sizeof(msg));
	if (n == (ssize_t)sizeof(msg)) {
		waitpid(pid, NULL, 0);
		r = start_error(req, cwd, msg[0], msg[1], err);
		goto fail;
	}
	out->pid = pid;
	out->pidfd = proc_pidfd_open(pid);
	out->stdout_fd = TAKE_FD(o[0]);
	out->stderr_fd = TAKE_FD(e[0]);
	fcntl(out->stdout_fd, F_SETFL, O_NONBLOCK);
	fcntl(out->stderr_fd, F_SETFL, O_NONBLOCK);
	close(rep[0]);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (o[i] >= 0) close(o[i]);
		if (e[i] >= 0) close(e[i]);
		if (rep[i] >= 0) close(rep[i]);
	}
	return r;
}

void spawned_close(struct spawned *s)
{
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->stdout_fd >= 0)
		close(s->stdout_fd);
	if (s->stderr_fd >= 0)
		close(s->stderr_fd);
	s->pidfd = s->stdout_fd = s->stderr_fd = -1;
}
