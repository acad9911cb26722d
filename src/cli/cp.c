/* cove cp: files to and from a sandbox coved runs (the guest agent's /files
 * through coved), named ID:PATH on the sandbox's side; - is stdin or stdout.
 * A download is written aside and renamed, so the file appears whole. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"

static void cp_usage(FILE *f)
{
	fprintf(f, "usage: cove cp ID:PATH LOCAL    (LOCAL may be a directory, or - for stdout)\n"
		   "       cove cp LOCAL ID:PATH    (LOCAL may be - for stdin; PATH ending in / is a directory)\n"
		   "\n"
		   "Copies a file out of or into a sandbox coved runs; parent directories in the\n"
		   "sandbox are made as needed.\n" CLI_CLIENT_HELP);
}

/* "ID:PATH" with a sandbox id before the colon (not a local path with one). */
static bool split_remote(const char *arg, char *id, size_t idlen, const char **path)
{
	const char *colon = strchr(arg, ':');
	const char *slash = strchr(arg, '/');
	if (!colon || colon == arg || (size_t)(colon - arg) >= idlen || (slash && slash < colon))
		return false;
	for (const char *p = arg; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	snprintf(id, idlen, "%.*s", (int)(colon - arg), arg);
	*path = colon + 1;
	return **path != '\0';
}

static int download(struct client *cl, const struct cli_endpoint *ce, const char *guest, const char *local)
{
	struct cove_err err = { 0 };
	if (strcmp(local, "-") == 0) {
		if (client_download(cl, ce->id, ce->token, guest, STDOUT_FILENO, &err) < 0) {
			fprintf(stderr, "cove cp: %s\n", err.msg);
			return 1;
		}
		return 0;
	}
	char dest[PATH_MAX], tmp[PATH_MAX + 16], name[PATH_MAX];
	struct stat st;
	snprintf(name, sizeof(name), "%s", guest);
	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(dest, sizeof(dest), "%s/%s", local, basename(name));
	else
		snprintf(dest, sizeof(dest), "%s", local);
	snprintf(tmp, sizeof(tmp), "%s.cove-cp.XXXXXX", dest);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cove cp: create %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	int r = client_download(cl, ce->id, ce->token, guest, fd, &err);
	mode_t mask = umask(0);
	umask(mask);
	if (r == 0 && (fchmod(fd, 0666 & ~mask) < 0 || fsync(fd) < 0))
		r = cove_errno(&err, -errno, "write %s", tmp);
	close(fd);
	if (r == 0 && rename(tmp, dest) < 0)
		r = cove_errno(&err, -errno, "rename %s to %s", tmp, dest);
	if (r < 0) {
		unlink(tmp);
		fprintf(stderr, "cove cp: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int upload(struct client *cl, const struct cli_endpoint *ce, const char *local, const char *guest)
{
	char path[PATH_MAX], name[PATH_MAX];
	snprintf(name, sizeof(name), "%s", local);
	size_t n = strlen(guest);
	if (n && guest[n - 1] == '/') {
		if (strcmp(local, "-") == 0) {
			fprintf(stderr, "cove cp: from stdin the sandbox path must name a file, not %s\n", guest);
			return CLI_EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "%s%s", guest, basename(name));
	} else {
		snprintf(path, sizeof(path), "%s", guest);
	}
	int fd = strcmp(local, "-") == 0 ? STDIN_FILENO : open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cove cp: open %s: %s\n", local, strerror(errno));
		return 1;
	}
	struct cove_err err = { 0 };
	int r = client_upload(cl, ce->id, ce->token, fd, path, &err);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r < 0) {
		fprintf(stderr, "cove cp: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int cmd_cp(int argc, char **argv)
{
	static const struct option opts[] = { CLI_CLIENT_LONGOPTS, { "help", no_argument, NULL, 'h' }, { 0 } };
	struct client_config cc = { 0 };
	int c, bad = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cp_usage(stdout);
			return 0;
		}
		bad = cli_client_option(c, &cc);
	}
	char src_id[64], dst_id[64];
	const char *src_path = NULL, *dst_path = NULL;
	bool src_remote = !bad && optind + 2 == argc && split_remote(argv[optind], src_id, sizeof(src_id), &src_path);
	bool dst_remote = !bad && optind + 2 == argc && split_remote(argv[optind + 1], dst_id, sizeof(dst_id), &dst_path);
	if (bad || optind + 2 != argc || src_remote == dst_remote) {
		if (!bad && optind + 2 == argc)
			fprintf(stderr, "cove cp: exactly one side must be ID:PATH\n");
		cp_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	struct client *cl = cli_client("cp", &cc);
	struct cli_endpoint ce;
	if (!cl || cli_sandbox_endpoint(cl, "cp", src_remote ? src_id : dst_id, &ce) < 0) {
		client_close(cl);
		return 1;
	}
	int rc = src_remote ? download(cl, &ce, src_path, argv[optind + 1]) : upload(cl, &ce, argv[optind], dst_path);
	client_close(cl);
	return rc;
}
