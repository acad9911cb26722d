/* Ganesha's configuration, written whole from the exports (see nfs.h).
 *
 * NFSv3 over TCP alone: no NLM (guests mount with nolock; locks stay
 * inside each guest), no RQUOTA, no UDP, no NFSv4 (its client state would
 * have to be reclaimed after a restart, and forks of one guest would share
 * one client identity). MOUNT on a fixed port, so guests need no
 * portmapper. Mount_Path_Pseudo: a guest mounts /ID, never learning the
 * host's path. Squash none: a guest's root is root inside the volume's own
 * file system, which the host mounts nodev, nosuid and noexec, so nothing
 * a guest makes there is of use on the host. Nothing is cached past an
 * operation (Attr_Expiration_Time 0, no directory chunks): the content API
 * changes a volume behind Ganesha's back, and a name it removed must not
 * come back to a guest as a stale handle. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "nfs/nfs.h"

int nfs_path_check(const char *s, struct cove_err *err)
{
	if (!s || s[0] != '/' || strlen(s) >= 4096)
		return cove_errf(err, -EINVAL, "volume server: '%s' is not an absolute path", s ? s : "(null)");
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '/' ||
		      *p == '.' || *p == '_' || *p == '-'))
			return cove_errf(err, -EINVAL,
					 "volume server: path '%s' has a character Ganesha's configuration cannot hold "
					 "(letters, digits and / . _ - only)",
					 s);
	if (strstr(s, "/../") || (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0))
		return cove_errf(err, -EINVAL, "volume server: path '%s' has '..'", s);
	return 0;
}

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	if (t->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *p = realloc(t->buf, cap);
		if (!p) {
			t->failed = true;
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
}

char *nfs_config_text(const struct nfs_export *exports, size_t n, const char *dir)
{
	struct text t = { malloc(2048), 0, 2048, false };
	if (!t.buf)
		return NULL;
	t.buf[0] = '\0';
	add(&t, "# Written by coved, whole, at every change (src/nfs/exports.c): do not edit.\n");
	add(&t,
	    "NFS_CORE_PARAM {\n"
	    "\tProtocols = 3;\n\tNFS_Port = %u;\n\tMNT_Port = %u;\n"
	    "\tEnable_NLM = false;\n\tEnable_RQUOTA = false;\n\tEnable_UDP = false;\n"
	    "\tMount_Path_Pseudo = true;\n"
	    "}\n",
	    NET_NFS_PORT, NET_MOUNT_PORT);
	add(&t, "NFSV4 {\n\tGraceless = true;\n\tRecoveryRoot = \"%s/v4recov\";\n}\n", dir);
	add(&t, "NFS_KRB5 {\n\tActive_krb5 = false;\n}\n");
	add(&t, "MDCACHE {\n\tDir_Chunk = 0;\n}\n");
	add(&t,
	    "EXPORT_DEFAULTS {\n"
	    "\tAccess_Type = None;\n\tProtocols = 3;\n\tTransports = TCP;\n\tSecType = sys;\n"
	    "\tSquash = No_Root_Squash;\n\tAttr_Expiration_Time = 0;\n"
	    "}\n");
	for (size_t i = 0; i < n; i++) {
		const struct nfs_export *e = &exports[i];
		if (!e->nclients)
			continue;
		add(&t, "EXPORT {\n\tExport_Id = %u;\n\tPath = \"%s\";\n\tPseudo = \"/%s\";\n\tFSAL {\n\t\tName = VFS;\n\t}\n",
		    e->export_id, e->path, e->id);
		add(&t, "\tCLIENT {\n\t\tClients = ");
		for (size_t c = 0; c < e->nclients; c++)
			add(&t, "%s%s", c ? ", " : "", e->clients[c]);
		add(&t, ";\n\t\tAccess_Type = RW;\n\t\tProtocols = 3;\n\t}\n}\n");
	}
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
