/* cove exec and cove shell: a command in a sandbox coved runs, through its
 * envd routing (the guest agent's process service), with output streamed as
 * it comes and the command's exit status as cove's. shell gives the command
 * a terminal: the local one in raw mode, its keystrokes sent as they are
 * typed, its size followed as the window changes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/fs.h"
#include "client/agent.h"

#define MAX_ENVS 256
#define INPUT_CHUNK 4096

int cli_write_output(void *ctx, enum process_stream stream, const uint8_t *data, size_t len)
{
	(void)ctx;
	int r = fs_write_all(stream == PROCESS_STDERR ? 2 : 1, data, len);
	/* A closed stdout (cove run ... | head) ends the run, like SIGPIPE would. */
	return r == -EPIPE ? -EPIPE : 0;
}

int cli_exit_code(int r, const struct agent_exec_result *res)
{
	if (r == -ENOENT)
		return CLI_EXIT_NOT_FOUND;
	if (r == -EACCES)
		return CLI_EXIT_CANNOT_RUN;
	if (r == -ECANCELED)
		return 130;
	if (r < 0)
		return CLI_EXIT_FAILURE;
	return res->exited ? res->exit_code : 128 + res->signal;
}

int cli_sandbox_endpoint(struct client *cl, const char *verb, const char *id, struct cli_endpoint *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') || p - id > 60) {
			fprintf(stderr, "cove %s: '%s' is not a sandbox id\n", verb, id);
			return -1;
		}
	char path[128];
	snprintf(path, sizeof(path), "/sandboxes/%s", id);
	json_t *info = NULL;
	struct cove_err err = { 0 };
	if (client_call(cl, "GET", path, NULL, NULL, &info, &err) < 0) {
		fprintf(stderr, "cove %s: %s\n", verb, err.msg);
		return -1;
	}
	const char *token = json_string_value(json_object_get(info, "envdAccessToken"));
	const char *state = json_string_value(json_object_get(info, "state"));
	int r = 0;
	if (state && strcmp(state, "paused") == 0) {
		fprintf(stderr, "cove %s: sandbox %s is paused ('cove resume %s' first)\n", verb, id, id);
		r = -1;
	} else if (!token) {
		fprintf(stderr, "cove %s: coved gave no access token for %s\n", verb, id);
		r = -1;
	} else {
		snprintf(ret->id, sizeof(ret->id), "%s", id);
		snprintf(ret->token, sizeof(ret->token), "%s", token);
		ret->ep = (struct agent_endpoint){ .netns_fd = -1, .port = ENVD_PORT, .token = ret->token,
						   .via = client_url(cl), .sandbox = ret->id };
	}
	json_decref(info);
	return r;
}

int cli_signal_fd(bool winch)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (winch)
		sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

int cli_exec_via(const struct agent_endpoint *ep, const struct agent_exec_request *req, int cancel_fd, const char *verb)
{
	struct agent_exec_result res;
	struct cove_err err = { 0 };
	int r = agent_exec(ep, req, &res, cancel_fd, &err);
	/* Ctrl-C stops the command too, not only the stream. */
	struct cove_err kerr = { 0 };
	if (r == -ECANCELED && res.pid > 0 && agent_kill(ep, res.pid, true, &kerr) < 0)
		fprintf(stderr, "cove %s: the command (pid %d) may still run: %s\n", verb, res.pid, kerr.msg);
	if (r < 0 && r != -EPIPE) {
		if (r == -ENOENT)
			fprintf(stderr, "cove %s: %s: command not found in sandbox (%s)\n", verb, req->argv[0], err.msg);
		else if (r != -ECANCELED)
			fprintf(stderr, "cove %s: %s\n", verb, err.msg);
	}
	return cli_exit_code(r, &res);
}

/* The options exec and shell share: -e, -w, --url, --api-key. Returns 0
 * with optind at the sandbox id, 1 after --help, -1 on a usage error. */
struct exec_opts {
	struct client_config cc;
	const char *envs[MAX_ENVS + 2]; /* room for shell's TERM */
	size_t nenvs;
	const char *cwd;
};

static int parse_exec_opts(int argc, char **argv, struct exec_opts *o, void (*usage)(FILE *f))
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' }, { "cwd", required_argument, NULL, 'w' }, CLI_CLIENT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },	 { 0 },
	};
	memset(o, 0, sizeof(*o));
	int c, bad = 0;
	optind = 1;
	/* '+': the command's own options stay its own. */
	while (!bad && (c = getopt_long(argc, argv, "+e:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return 1;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=' || o->nenvs >= MAX_ENVS)
				bad = 1;
			else
				o->envs[o->nenvs++] = optarg;
			break;
		case 'w': o->cwd = optarg; break;
		default: bad = cli_client_option(c, &o->cc);
		}
	}
	if (bad || optind >= argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* --- exec --- */

static void exec_usage(FILE *f)
{
	fprintf(f, "usage: cove exec [-e K=V]... [-w DIR] ID [--] CMD [ARG...]\n"
		   "\n"
		   "Runs CMD in a sandbox coved runs, streaming its stdout and stderr; exits\n"
		   "with its status (128+N if killed by signal N, 127 not found, 126 cannot run,\n"
		   "125 if cove failed).\n"
		   "  -e, --env K=V     environment for CMD (repeatable)\n"
		   "  -w, --cwd DIR     its working directory\n" CLI_CLIENT_HELP);
}

int cmd_exec(int argc, char **argv)
{
	struct exec_opts o;
	int r = parse_exec_opts(argc, argv, &o, exec_usage);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (optind < argc - 1 && strcmp(argv[optind + 1], "--") == 0) {
		argv[optind + 1] = argv[optind];
		optind++;
	}
	if (optind + 1 >= argc) {
		exec_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *id = argv[optind];
	struct client *cl = cli_client("exec", &o.cc);
	struct cli_endpoint ce;
	if (!cl || cli_sandbox_endpoint(cl, "exec", id, &ce) < 0) {
		client_close(cl);
		return CLI_EXIT_FAILURE;
	}
	int sfd = cli_signal_fd(false);
	struct agent_exec_request req = { .argv = (const char *const *)argv + optind + 1, .envs = o.envs, .cwd = o.cwd,
				    .on_output = cli_write_output };
	int code = cli_exec_via(&ce.ep, &req, sfd, "exec");
	if (sfd >= 0)
		close(sfd);
	client_close(cl);
	return code;
}

/* --- shell --- */

struct shell {
	const struct agent_endpoint *ep;
	int sfd;          /* SIGWINCH (and the others: ignored, the terminal is raw) */
	int stop[2];      /* written when the command has ended */
	pthread_mutex_t lock;
	pthread_cond_t started;
	int pid;          /* 0 until the start event */
	bool tty;
};

static void on_start(void *ctx, int pid)
{
	struct shell *s = ctx;
	pthread_mutex_lock(&s->lock);
	s->pid = pid;
	pthread_cond_broadcast(&s->started);
	pthread_mutex_unlock(&s->lock);
}

static void window_size(unsigned short *cols, unsigned short *rows)
{
	struct winsize ws = { 0 };
	*cols = 80;
	*rows = 24;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* Keystrokes (or piped input) to the guest's terminal, and window changes. */
static void *input_main(void *arg)
{
	struct shell *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->pid) {
		struct pollfd p = { s->stop[0], POLLIN, 0 };
		if (poll(&p, 1, 0) > 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->started, &s->lock, &ts);
	}
	int pid = s->pid;
	pthread_mutex_unlock(&s->lock);
	bool in_open = true;
	while (pid) {
		struct pollfd p[3] = { { s->stop[0], POLLIN, 0 }, { s->sfd, POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
		if (poll(p, in_open ? 3 : 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		struct cove_err err = { 0 };
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
				if (si.ssi_signo == SIGWINCH) {
					unsigned short cols, rows;
					window_size(&cols, &rows);
					agent_resize(s->ep, pid, cols, rows, &err);
				}
		}
		if (in_open && (p[2].revents & (POLLIN | POLLHUP))) {
			uint8_t buf[INPUT_CHUNK];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n > 0) {
				if (agent_send_input(s->ep, pid, buf, (size_t)n, &err) < 0)
					break; /* the command has gone */
			} else if (n == 0 || errno != EINTR) {
				/* Piped input ran out: end of file for the guest's terminal. */
				in_open = false;
				agent_send_input(s->ep, pid, (const uint8_t *)"\x04", 1, &err);
			}
		}
	}
	return NULL;
}

static void shell_usage(FILE *f)
{
	fprintf(f, "usage: cove shell [-e K=V]... [-w DIR] ID [-- CMD [ARG...]]\n"
		   "\n"
		   "An interactive shell (bash if the sandbox has it, else sh; or CMD) in a\n"
		   "sandbox coved runs, on a terminal that follows this one's size. Exits with\n"
		   "the shell's status.\n"
		   "  -e, --env K=V     environment for it (repeatable; TERM is this terminal's)\n"
		   "  -w, --cwd DIR     its working directory\n" CLI_CLIENT_HELP);
}

int cmd_shell(int argc, char **argv)
{
	struct exec_opts o;
	int r = parse_exec_opts(argc, argv, &o, shell_usage);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if ((optind + 1 < argc && strcmp(argv[optind + 1], "--") != 0) || optind + 2 == argc) {
		shell_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *id = argv[optind];
	static const char *const default_cmd[] = {
		"/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi", NULL
	};
	const char *const *cmd = optind + 2 < argc ? (const char *const *)argv + optind + 2 : default_cmd;
	char term[128];
	snprintf(term, sizeof(term), "TERM=%s", getenv("TERM") && *getenv("TERM") ? getenv("TERM") : "xterm-256color");
	o.envs[o.nenvs++] = term;

	struct client *cl = cli_client("shell", &o.cc);
	struct cli_endpoint ce;
	if (!cl || cli_sandbox_endpoint(cl, "shell", id, &ce) < 0) {
		client_close(cl);
		return CLI_EXIT_FAILURE;
	}
	struct shell s = { .ep = &ce.ep, .sfd = cli_signal_fd(true), .stop = { -1, -1 }, .tty = isatty(STDIN_FILENO) };
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.started, NULL);
	struct termios saved;
	bool raw = s.tty && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	pthread_t input;
	int code = CLI_EXIT_FAILURE;
	if (pipe2(s.stop, O_CLOEXEC) == 0 && s.sfd >= 0 && pthread_create(&input, NULL, input_main, &s) == 0) {
		struct agent_exec_request req = { .argv = cmd, .envs = o.envs, .cwd = o.cwd, .on_output = cli_write_output,
					    .ctx = &s, .pty = true, .on_start = on_start };
		window_size(&req.cols, &req.rows);
		/* No cancel descriptor: Ctrl-C is the guest's (raw mode). */
		code = cli_exec_via(&ce.ep, &req, -1, "shell");
		if (write(s.stop[1], "x", 1) < 0)
			pthread_cancel(input);
		pthread_join(input, NULL);
	} else {
		fprintf(stderr, "cove shell: cannot start: %s\n", strerror(errno));
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	for (int i = 0; i < 2; i++)
		if (s.stop[i] >= 0)
			close(s.stop[i]);
	if (s.sfd >= 0)
		close(s.sfd);
	pthread_cond_destroy(&s.started);
	pthread_mutex_destroy(&s.lock);
	client_close(cl);
	return code;
}
