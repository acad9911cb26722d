#include "agent/resolv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"

/* A lost answer is asked again after 2 s, twice per server, not after
 * glibc's 5 s: a sandbox's resolver is one hop away on the host's side. */
#define RESOLV_OPTIONS "options timeout:2 attempts:2\n"

int agent_nameservers_parse(json_t *req, struct agent_nameservers *ret, struct cove_err *err)
{
	struct agent_nameservers ns = { 0 };
	json_t *list = json_object_get(req, "nameservers");
	if (!list || json_is_null(list)) {
		*ret = ns;
		return 0;
	}
	if (!json_is_array(list) || json_array_size(list) > AGENT_NAMESERVERS_MAX)
		return cove_errf(err, -EINVAL, "nameservers must be an array of at most %d IPv4 addresses",
				 AGENT_NAMESERVERS_MAX);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		struct in_addr a;
		if (!s || strlen(s) >= sizeof(ns.addr[0]) || inet_pton(AF_INET, s, &a) != 1)
			return cove_errf(err, -EINVAL, "nameservers[%zu] is not an IPv4 address", i);
		snprintf(ns.addr[ns.count++], sizeof(ns.addr[0]), "%s", s);
	}
	*ret = ns;
	return 0;
}

static int write_text(int fd, const struct agent_nameservers *ns)
{
	char text[64 + AGENT_NAMESERVERS_MAX * 32 + sizeof(RESOLV_OPTIONS)];
	int n = snprintf(text, sizeof(text), "# Written by cove-agent at the sandbox's start (coved --dns).\n");
	for (unsigned i = 0; i < ns->count; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "nameserver %s\n", ns->addr[i]);
	n += snprintf(text + n, sizeof(text) - (size_t)n, "%s", RESOLV_OPTIONS);
	int r = fs_write_all(fd, text, (size_t)n);
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = -errno;
	return r;
}

int agent_resolv_conf_write(const char *path, const struct agent_nameservers *ns, struct cove_err *err)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0;
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.cove-XXXXXX", dir_len, path, slash ? slash + 1 : path) >=
	    (int)sizeof(tmp))
		return cove_errf(err, -ENAMETOOLONG, "%s: path too long", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "create a file beside %s", path);
	int r = write_text(fd, ns);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return cove_errno(err, r, "write %s", path);
	}
	return 0;
}
