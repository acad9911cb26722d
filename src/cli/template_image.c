/* cove template build --from-image: a container image becomes
 * TEMPLATES/NAME through image_import (src/image), made under a hidden name
 * (.NAME.tmp-XXXXXX, which no listing shows) and renamed into place whole,
 * so a failure or an interrupt leaves nothing; then cove template rm. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/env.h"
#include "common/fs.h"
#include "image/image.h"
#include "template/template.h"

static void say(void *ctx, const char *line)
{
	fprintf(stderr, "cove template: %s: %s\n", (const char *)ctx, line);
}

/* The build's own template.conf lines (start_cmd, ready_cmd), after the
 * image's. */
static int append_conf(const struct cli_image_build *ib, const char *dir, struct cove_err *err)
{
	if (!ib->start_cmd && !ib->ready_cmd)
		return 0;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/template.conf", dir);
	_cleanup_fclose_ FILE *f = fopen(path, "ae");
	if (!f)
		return cove_errno(err, -errno, "open %s", path);
	if (ib->start_cmd)
		fprintf(f, "start_cmd=%s\n", ib->start_cmd);
	if (ib->ready_cmd)
		fprintf(f, "ready_cmd=%s\n", ib->ready_cmd);
	if (fflush(f) != 0)
		return cove_errno(err, -errno, "write %s", path);
	return 0;
}

/* tmp becomes dir/name; a template already there is replaced whole. */
static int put_in_place(const char *tmp, const char *dir, const char *name, struct cove_err *err)
{
	char final[PATH_MAX];
	snprintf(final, sizeof(final), "%s/%s", dir, name);
	if (rename(tmp, final) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return cove_errno(err, -errno, "rename %s to %s", tmp, final);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) < 0)
		return cove_errno(err, -errno, "replace %s", final);
	return fs_remove_tree(tmp, err); /* the old one, now under tmp's name */
}

int cli_template_from_image(const struct cli_image_build *ib)
{
	char tmp[PATH_MAX], cache[PATH_MAX];
	snprintf(cache, sizeof(cache), "%s/image-cache", env_value(ENV_STATE_DIR));
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-XXXXXX", ib->dir, ib->name) >= (int)sizeof(tmp) || !mkdtemp(tmp) ||
	    rmdir(tmp) < 0) {
		fprintf(stderr, "cove template: a temporary name in %s: %s\n", ib->dir, strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	int sfd = cli_signal_fd(false);
	struct image_source src = { .ref = ib->ref, .username = ib->username, .password = ib->password };
	struct image_options o = {
		.guest_bin = ib->bin,
		.cache_dir = cache,
		.insecure = ib->insecure,
		.max_disk_mib = ib->max_disk_mib,
		.cancel_fd = sfd,
		.progress = say,
		.ctx = (void *)ib->name,
	};
	struct image_info info;
	struct cove_err err = { 0 };
	int r = image_import(&src, &o, tmp, &info, &err);
	if (sfd >= 0)
		close(sfd);
	if (r == 0 && (r = append_conf(ib, tmp, &err)) == 0)
		r = put_in_place(tmp, ib->dir, ib->name, &err);
	if (r < 0) {
		fs_remove_tree(tmp, NULL);
		fprintf(stderr, "cove template: %s\n", err.msg);
		return r == -ECANCELED ? 130 : CLI_EXIT_FAILURE;
	}
	fprintf(stderr, "cove template: %s: imported %s%s (user %s, workdir %s, %zu env)\n", ib->name, info.source,
		info.cached ? " from the cache" : "", info.user[0] ? info.user : "root",
		info.workdir[0] ? info.workdir : "-", info.nenv);
	image_info_clear(&info);
	return 0;
}

int cli_template_rm(const char *dir, const char *name)
{
	struct cove_err err = { 0 };
	char path[PATH_MAX], conf[PATH_MAX + 16], gone[PATH_MAX];
	if (template_name_check(name, &err) < 0) {
		fprintf(stderr, "cove template: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(conf, sizeof(conf), "%s/template.conf", path);
	if (access(conf, F_OK) < 0) {
		fprintf(stderr, "cove template: no template %s in %s\n", name, dir);
		return CLI_EXIT_FAILURE;
	}
	/* A built template is a link to its build's directory (.NAME-ID or
	 * .builds/ID beside it), which goes too, after the link. */
	char target[PATH_MAX], built[2 * PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	if (n > 0 && strncmp(target, ".builds/", 8) == 0) {
		fprintf(stderr, "cove template: %s was built through coved's API, which keeps its records; remove it "
				"there (DELETE /templates/%s)\n", name, name);
		return CLI_EXIT_FAILURE;
	}
	if (n > 0 && target[0] == '.' && !strstr(target, "..")) {
		snprintf(built, sizeof(built), "%s/%s", dir, target);
		if (unlink(path) < 0 || fs_remove_tree(built, &err) < 0) {
			fprintf(stderr, "cove template: rm %s: %s\n", path, err.code ? err.msg : strerror(errno));
			return CLI_EXIT_FAILURE;
		}
		fprintf(stderr, "cove template: removed %s\n", path);
		return 0;
	}
	/* Out of sight at once, then removed: never half a template. */
	snprintf(gone, sizeof(gone), "%s/.%s.rm-XXXXXX", dir, name);
	if (!mkdtemp(gone) || rename(path, gone) < 0 || fs_remove_tree(gone, &err) < 0) {
		fprintf(stderr, "cove template: rm %s: %s\n", path, err.code ? err.msg : strerror(errno));
		rmdir(gone);
		return CLI_EXIT_FAILURE;
	}
	fprintf(stderr, "cove template: removed %s\n", path);
	return 0;
}
