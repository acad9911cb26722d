/* coved's volume server (see volumes.h). */
#include "coved/volumes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/net.h"
#include "nfs/nfs.h"
#include "volume/volume.h"

struct coved_volumes {
	struct nfs_server *nfs;
	struct volumes *volumes;
	int netns_fd;
	struct sandbox_volume_access access;
};

static int access_allow(void *ctx, const char *id, const char *address, struct cove_err *err)
{
	struct coved_volumes *v = ctx;
	char path[PATH_MAX];
	int r = volume_path(v->volumes, id, path, sizeof(path), err);
	return r < 0 ? r : nfs_allow(v->nfs, id, path, address, err);
}

static void access_revoke(void *ctx, const char *id, const char *address)
{
	struct coved_volumes *v = ctx;
	nfs_revoke(v->nfs, id, address);
}

int coved_volumes_open(struct net_slots *net, struct volumes *volumes, const char *run_dir,
		       struct coved_volumes **ret, struct cove_err *err)
{
	struct coved_volumes *v = calloc(1, sizeof(*v));
	if (!v)
		return cove_errf(err, -ENOMEM, "volume server: out of memory");
	v->volumes = volumes;
	v->access = (struct sandbox_volume_access){ access_allow, access_revoke, v };
	char address[16];
	v->netns_fd = net_volume_server_open(net, address, err);
	if (v->netns_fd < 0) {
		int r = v->netns_fd;
		free(v);
		return r;
	}
	struct nfs_config c = { .run_dir = run_dir, .netns_fd = v->netns_fd, .address = address };
	int r = nfs_server_open(&c, &v->nfs, err);
	if (r < 0) {
		close(v->netns_fd);
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

const struct sandbox_volume_access *coved_volumes_access(struct coved_volumes *v)
{
	return v ? &v->access : NULL;
}

void coved_volumes_close(struct coved_volumes *v)
{
	if (!v)
		return;
	nfs_server_close(v->nfs);
	close(v->netns_fd);
	free(v);
}
