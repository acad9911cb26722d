#include "interpreter/kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/spawn.h"

/* Where kernelspecs are, as jupyter_client looks (system-wide ones; the
 * user's own first). */
static const char *const spec_dirs[] = { "~/.local/share/jupyter/kernels", "/usr/local/share/jupyter/kernels",
					 "/usr/share/jupyter/kernels" };

/* runCode's names for a language -> the kernelspec's "language". */
static const char *canonical_language(const char *language)
{
	static const struct {
		const char *alias, *name;
	} map[] = { { "python", "python" }, { "python3", "python" }, { "js", "javascript" },
		    { "javascript", "javascript" }, { "ts", "typescript" }, { "typescript", "typescript" },
		    { "r", "r" }, { "bash", "bash" }, { "java", "java" } };
	if (!language || !*language)
		return "python";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(map[i].alias, language) == 0)
			return map[i].name;
	return language;
}

void kernel_spec_clear(struct kernel_spec *spec)
{
	json_decref(spec->argv);
	json_decref(spec->env);
	memset(spec, 0, sizeof(*spec));
}

static void spec_dir(size_t i, char *out, size_t len)
{
	const char *d = spec_dirs[i], *home = getenv("HOME");
	if (d[0] == '~')
		snprintf(out, len, "%s%s", home ? home : "/nonexistent", d + 1);
	else
		snprintf(out, len, "%s", d);
}

/* Loads dir/name/kernel.json. */
static int spec_load(const char *dir, const char *name, struct kernel_spec *spec)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s/kernel.json", dir, name);
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	json_t *argv = json_object_get(j, "argv");
	const char *lang = json_string_value(json_object_get(j, "language"));
	if (!json_is_array(argv) || json_array_size(argv) == 0 || !lang || strlen(name) >= sizeof(spec->name)) {
		json_decref(j);
		return -EINVAL;
	}
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->name, sizeof(spec->name), "%s", name);
	snprintf(spec->dir, sizeof(spec->dir), "%s/%s", dir, name);
	for (size_t i = 0; lang[i] && i + 1 < sizeof(spec->language); i++)
		spec->language[i] = (char)(lang[i] >= 'A' && lang[i] <= 'Z' ? lang[i] + 32 : lang[i]);
	spec->argv = json_incref(argv);
	json_t *env = json_object_get(j, "env");
	spec->env = json_is_object(env) ? json_incref(env) : NULL;
	const char *mode = json_string_value(json_object_get(j, "interrupt_mode"));
	spec->interrupt_message = mode && strcmp(mode, "message") == 0;
	json_decref(j);
	return 0;
}

typedef int (*spec_fn)(void *ctx, struct kernel_spec *spec);

/* Every spec, the user's first; fn returns non-zero to stop (and keep it). */
static int spec_each(spec_fn fn, void *ctx)
{
	for (size_t i = 0; i < sizeof(spec_dirs) / sizeof(spec_dirs[0]); i++) {
		char dir[PATH_MAX];
		spec_dir(i, dir, sizeof(dir));
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			struct kernel_spec spec;
			if (e->d_name[0] == '.' || spec_load(dir, e->d_name, &spec) < 0)
				continue;
			int r = fn(ctx, &spec);
			if (r) {
				closedir(d);
				return r;
			}
			kernel_spec_clear(&spec);
		}
		closedir(d);
	}
	return 0;
}

struct find {
	const char *language;
	struct kernel_spec *out;
};

static int find_one(void *ctx, struct kernel_spec *spec)
{
	struct find *f = ctx;
	if (strcmp(spec->language, f->language) != 0)
		return 0;
	*f->out = *spec;
	return 1;
}

int kernel_spec_find(const char *language, struct kernel_spec *spec, struct cove_err *err)
{
	struct find f = { canonical_language(language), spec };
	if (spec_each(find_one, &f))
		return 0;
	char have[256];
	kernel_languages(have, sizeof(have));
	return cove_errf(err, -ENOENT, "no kernel for language '%s' in this sandbox; available: %s", language,
			 have[0] ? have : "none");
}

#define MAX_LANGUAGES 16

struct list {
	char names[MAX_LANGUAGES][KERNEL_LANGUAGE_MAX];
	size_t n;
};

static int list_one(void *ctx, struct kernel_spec *spec)
{
	struct list *l = ctx;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], spec->language) == 0)
			return 0;
	if (l->n < MAX_LANGUAGES)
		memcpy(l->names[l->n++], spec->language, sizeof(spec->language));
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

void kernel_languages(char *buf, size_t len)
{
	struct list l = { .n = 0 };
	spec_each(list_one, &l);
	qsort(l.names, l.n, sizeof(l.names[0]), by_name);
	buf[0] = '\0';
	for (size_t i = 0; i < l.n; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l.names[i]);
	}
}

/* ---- the kernel process and its sockets ---- */

struct kernel {
	struct spawn_child child;
	/* Reaped only by kernel_stop, after the SIGKILL to its group: until
	 * then its pid, and so the group's id, cannot be another process's. */
	pthread_mutex_t lock; /* exited, how */
	bool exited;
	siginfo_t how; /* how it ended, once exited */
	bool interrupt_message;
	char dir[PATH_MAX]; /* the connection file and the IPC sockets */
	char session[37];
	struct wire_key key;
	void *shell, *iopub, *control;
};

static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static void *zcontext;

static void zinit(void)
{
	zcontext = zmq_ctx_new();
}

static void *zsocket(int type, const char *dir, int port)
{
	pthread_once(&zonce, zinit);
	void *s = zcontext ? zmq_socket(zcontext, type) : NULL;
	if (!s)
		return NULL;
	int linger = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	char ep[PATH_MAX + 16];
	snprintf(ep, sizeof(ep), "ipc://%s/k-%d", dir, port);
	if (zmq_connect(s, ep) < 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

enum { PORT_SHELL = 1, PORT_IOPUB, PORT_STDIN, PORT_CONTROL, PORT_HB };

static int write_connection_file(struct kernel *k, const char *kernel_name, char *path, size_t len,
				 struct cove_err *err)
{
	char ip[PATH_MAX + 8], hex[65];
	int r = random_hex(hex, 32);
	if (r < 0)
		return cove_errno(err, r, "kernel key");
	wire_key_set(&k->key, hex);
	snprintf(ip, sizeof(ip), "%s/k", k->dir);
	json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:s}", "transport", "ipc", "ip", ip,
			      "shell_port", PORT_SHELL, "iopub_port", PORT_IOPUB, "stdin_port", PORT_STDIN,
			      "control_port", PORT_CONTROL, "hb_port", PORT_HB, "key", hex, "signature_scheme",
			      "hmac-sha256", "kernel_name", kernel_name);
	snprintf(path, len, "%s/connection.json", k->dir);
	r = j ? json_dump_file(j, path, JSON_COMPACT) : -1;
	json_decref(j);
	if (r < 0)
		return cove_errf(err, -EIO, "write %s", path);
	chmod(path, 0600);
	return 0;
}

/* The spec's argv with the connection file, and our environment plus its. */
static char **build_argv(const struct kernel_spec *spec, const char *conn)
{
	size_t n = json_array_size(spec->argv);
	char **argv = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; argv && i < n; i++) {
		const char *a = json_string_value(json_array_get(spec->argv, i));
		const char *at = a ? strstr(a, "{connection_file}") : NULL;
		if (!a)
			a = "";
		if (at) {
			size_t pre = (size_t)(at - a);
			if (asprintf(&argv[i], "%.*s%s%s", (int)pre, a, conn, at + strlen("{connection_file}")) < 0)
				argv[i] = NULL;
		} else {
			argv[i] = strdup(a);
		}
	}
	return argv;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char **build_env(const struct kernel_spec *spec)
{
	extern char **environ;
	size_t n = 0, m = json_object_size(spec->env);
	while (environ[n])
		n++;
	char **env = calloc(n + m + 2, sizeof(char *));
	size_t k = 0;
	/* ipykernel's debugger otherwise warns on every start, on stderr. */
	if (env && !getenv("PYDEVD_DISABLE_FILE_VALIDATION") && (env[k] = strdup("PYDEVD_DISABLE_FILE_VALIDATION=1")))
		k++;
	const char *key;
	json_t *v;
	json_object_foreach(spec->env, key, v) {
		if (env && json_is_string(v) && asprintf(&env[k], "%s=%s", key, json_string_value(v)) >= 0)
			k++;
	}
	for (size_t i = 0; env && i < n; i++) {
		size_t kl = strcspn(environ[i], "=");
		if (spec->env && json_object_getn(spec->env, environ[i], kl))
			continue;
		if ((env[k] = strdup(environ[i])))
			k++;
	}
	return env;
}

/* Has the process ended? Looks without reaping it (WNOWAIT). Called with
 * k->lock held. */
static bool ended_locked(struct kernel *k)
{
	if (k->exited)
		return true;
	siginfo_t si = { 0 };
	if (waitid(P_PID, (id_t)k->child.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == k->child.pid) {
		k->exited = true;
		k->how = si;
	}
	return k->exited;
}

bool kernel_alive(struct kernel *k)
{
	pthread_mutex_lock(&k->lock);
	bool gone = ended_locked(k);
	pthread_mutex_unlock(&k->lock);
	return !gone;
}

void kernel_status(struct kernel *k, char *buf, size_t len)
{
	pthread_mutex_lock(&k->lock);
	if (!ended_locked(k))
		snprintf(buf, len, "running");
	else if (k->how.si_code == CLD_EXITED)
		snprintf(buf, len, "exit status %d", k->how.si_status);
	else
		snprintf(buf, len, "killed by signal %d (%s)", k->how.si_status, strsignal(k->how.si_status));
	pthread_mutex_unlock(&k->lock);
}

int kernel_pid(const struct kernel *k)
{
	return k->child.pid;
}

int kernel_send(struct kernel *k, enum kernel_channel ch, const char *msg_type, json_t *content,
		char msg_id[WIRE_ID_MAX + 1], struct cove_err *err)
{
	void *s = ch == KERNEL_CONTROL ? k->control : k->shell;
	struct wire_out out;
	int r = wire_build(&k->key, k->session, msg_type, content, &out);
	if (r < 0)
		return cove_errno(err, r, "build %s", msg_type);
	for (int i = 0; i < 6; i++) {
		if (zmq_send(s, out.parts[i], out.lens[i], i < 5 ? ZMQ_SNDMORE : 0) < 0) {
			r = cove_errf(err, -errno, "send %s to the kernel: %s", msg_type, zmq_strerror(errno));
			break;
		}
	}
	if (r == 0 && msg_id)
		memcpy(msg_id, out.msg_id, sizeof(out.msg_id));
	wire_out_clear(&out);
	return r;
}

#define MAX_FRAMES 64

/* One multipart message from s (the frames past MAX_FRAMES are dropped). */
static int recv_parse(struct kernel *k, void *s, struct wire_msg *msg)
{
	zmq_msg_t parts[MAX_FRAMES];
	struct wire_frame frames[MAX_FRAMES];
	size_t n = 0;
	int more = 1, r = 0;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) < 0) {
			r = -errno;
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < MAX_FRAMES) {
			parts[n] = m;
			frames[n] = (struct wire_frame){ zmq_msg_data(&parts[n]), zmq_msg_size(&parts[n]) };
			n++;
		} else {
			zmq_msg_close(&m);
		}
	}
	struct cove_err err = { 0 };
	if (r == 0 && wire_parse(frames, n, &k->key, true, msg, &err) < 0) {
		log_warn("kernel %d: message skipped: %s", k->child.pid, err.msg);
		r = -EAGAIN;
	}
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&parts[i]);
	return r;
}

int kernel_recv(struct kernel *k, int timeout_ms, enum kernel_channel *ch, struct wire_msg *msg)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		zmq_pollitem_t items[3] = {
			{ .socket = k->iopub, .events = ZMQ_POLLIN },
			{ .socket = k->shell, .events = ZMQ_POLLIN },
			{ .fd = k->child.pidfd, .events = ZMQ_POLLIN },
		};
		long left = deadline < 0 ? -1 : (long)(deadline - now_ms());
		if (deadline >= 0 && left < 0)
			left = 0;
		int n = zmq_poll(items, 3, left);
		if (n < 0 && errno != EINTR)
			return -errno;
		/* Output first: what the kernel published before a reply or
		 * before it died still reaches the client. */
		for (int i = 0; i < 2 && n > 0; i++) {
			if (!(items[i].revents & ZMQ_POLLIN))
				continue;
			int r = recv_parse(k, items[i].socket, msg);
			if (r == -EAGAIN)
				continue;
			if (r < 0)
				return r;
			*ch = i == 0 ? KERNEL_IOPUB : KERNEL_SHELL;
			return 1;
		}
		if (n > 0 && (items[2].revents & ZMQ_POLLIN) && !kernel_alive(k))
			return -ESRCH;
		if (deadline >= 0 && now_ms() >= deadline)
			return 0;
	}
}

int kernel_interrupt(struct kernel *k)
{
	if (k->interrupt_message)
		return kernel_send(k, KERNEL_CONTROL, "interrupt_request", NULL, NULL, NULL);
	pthread_mutex_lock(&k->lock);
	int r = ended_locked(k) ? -ESRCH : proc_pidfd_send_signal(k->child.pidfd, SIGINT);
	pthread_mutex_unlock(&k->lock);
	return r;
}

void kernel_kill(struct kernel *k)
{
	/* Not reaped yet (kernel_stop does), so the group is still its own. */
	kill(-k->child.pid, SIGKILL);
}

/* Until it has answered kernel_info on shell and published on IOPub (a
 * SUB socket misses what was sent before it joined, so ask again until
 * both came). */
static int wait_ready(struct kernel *k, int timeout_ms, struct cove_err *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	bool replied = false, published = false;
	while (!(replied && published)) {
		if (now_ms() >= deadline)
			return cove_errf(err, -ETIMEDOUT, "the kernel did not answer within %d s", timeout_ms / 1000);
		char id[WIRE_ID_MAX + 1];
		int r = kernel_send(k, KERNEL_SHELL, "kernel_info_request", NULL, id, err);
		if (r < 0)
			return r;
		int64_t until = now_ms() + 500;
		while (!(replied && published) && now_ms() < until) {
			enum kernel_channel ch;
			struct wire_msg m;
			r = kernel_recv(k, (int)(until - now_ms()), &ch, &m);
			if (r == -ESRCH) {
				char st[96];
				kernel_status(k, st, sizeof(st));
				return cove_errf(err, -ESRCH, "the kernel ended while starting (%s)", st);
			}
			if (r < 0)
				return cove_errno(err, r, "wait for the kernel");
			if (r == 0)
				break;
			if (ch == KERNEL_SHELL && strcmp(m.msg_type, "kernel_info_reply") == 0)
				replied = true;
			if (ch == KERNEL_IOPUB)
				published = true;
			wire_msg_clear(&m);
		}
	}
	/* What is still queued belongs to the extra kernel_info requests. */
	for (;;) {
		enum kernel_channel ch;
		struct wire_msg m;
		if (kernel_recv(k, 50, &ch, &m) != 1)
			break;
		wire_msg_clear(&m);
	}
	return 0;
}

int kernel_start(const struct kernel_spec *spec, const char *cwd, int timeout_ms, struct kernel **ret,
		 struct cove_err *err)
{
	struct kernel *k = calloc(1, sizeof(*k));
	if (!k)
		return cove_errf(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&k->lock, NULL);
	k->child.pid = -1;
	k->child.pidfd = -1;
	k->interrupt_message = spec->interrupt_message;
	const char *tmp = getenv("TMPDIR");
	snprintf(k->dir, sizeof(k->dir), "%s/cove-kernel-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int r;
	if (!mkdtemp(k->dir)) {
		r = cove_errno(err, -errno, "create %s", k->dir);
		k->dir[0] = '\0';
		goto fail;
	}
	char conn[PATH_MAX];
	if ((r = wire_uuid(k->session)) < 0 || (r = write_connection_file(k, spec->name, conn, sizeof(conn), err)) < 0)
		goto fail;
	char **argv = build_argv(spec, conn), **env = build_env(spec);
	const char *path = argv && argv[0] ? argv[0] : "";
	char exe[PATH_MAX];
	if (argv && argv[0] && fs_find_executable(argv[0], NULL, exe, sizeof(exe)) == 0)
		path = exe;
	struct spawn_options o = { .path = path, .argv = argv, .envp = env, .cwd = cwd, .setsid = true,
				   .stdio = { { SPAWN_NULL } } };
	struct spawn_failure f = { 0 };
	r = argv && env ? spawn_start(&o, &k->child, &f) : -ENOMEM;
	free_strv(argv);
	free_strv(env);
	if (r < 0) {
		cove_errno(err, r, "start kernel %s (%s, in %s)", spec->name, path, cwd ? cwd : ".");
		goto fail;
	}
	k->shell = zsocket(ZMQ_DEALER, k->dir, PORT_SHELL);
	k->iopub = zsocket(ZMQ_SUB, k->dir, PORT_IOPUB);
	k->control = zsocket(ZMQ_DEALER, k->dir, PORT_CONTROL);
	if (!k->shell || !k->iopub || !k->control) {
		r = cove_errf(err, -errno ? -errno : -ENOMEM, "kernel sockets: %s", zmq_strerror(errno));
		goto fail;
	}
	if ((r = wait_ready(k, timeout_ms, err)) < 0) {
		cove_err_prefix(err, "kernel %s", spec->name);
		goto fail;
	}
	log_info("kernel %s started: pid %d in %s", spec->name, k->child.pid, cwd ? cwd : ".");
	*ret = k;
	return 0;
fail:
	kernel_stop(k);
	return r;
}

void kernel_stop(struct kernel *k)
{
	if (!k)
		return;
	if (k->child.pid > 0 && kernel_alive(k)) {
		json_t *c = json_pack("{s:b}", "restart", 0);
		if (k->control)
			kernel_send(k, KERNEL_CONTROL, "shutdown_request", c, NULL, NULL);
		json_decref(c);
		if (proc_pidfd_wait(k->child.pidfd, 1000) != 1) {
			/* Its whole group: what the code it ran started, too. */
			kill(-k->child.pid, SIGKILL);
			proc_pidfd_wait(k->child.pidfd, 5000);
		}
	}
	if (k->child.pid > 0) {
		/* What the code started is in its group; then it is reaped, the
		 * only place it is. */
		kill(-k->child.pid, SIGKILL);
		waitpid(k->child.pid, NULL, 0);
	}
	spawn_child_close(&k->child);
	if (k->shell)
		zmq_close(k->shell);
	if (k->iopub)
		zmq_close(k->iopub);
	if (k->control)
		zmq_close(k->control);
	if (k->dir[0])
		fs_remove_tree(k->dir, NULL);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
