/* coved's volume server (see volumes.h). Made at the first sandbox that
 * mounts a volume, so a host that never mounts one has neither the
 * server's namespace nor its processes; what a previous coved left running
 * is ended at the start. */
#include "coved/volumes.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net.h"
#include "nfs/nfs.h"
#include "volume/volume.h"

struct coved_volumes {
	struct net_slots *net;
	struct volumes *volumes;
	char run_dir[PATH_MAX];
	pthread_mutex_t lock; /* guards the two below while they are made */
	struct nfs_server *nfs;
	int netns_fd;
	struct sandbox_volume_access access;
};

/* The server, made if this is its first use. */
static int server(struct coved_volumes *v, struct nfs_server **ret, struct cove_err *err)
{
	pthread_mutex_lock(&v->lock);
	int r = 0;
	if (!v->nfs) {
		char address[16];
		v->netns_fd = net_volume_server_open(v->net, address, err);
		struct nfs_config c = { .run_dir = v->run_dir, .netns_fd = v->netns_fd, .address = address };
		r = v->netns_fd < 0 ? v->netns_fd : nfs_server_open(&c, &v->nfs, err);
		if (r < 0 && v->netns_fd >= 0) {
			close(v->netns_fd);
			v->netns_fd = -1;
		}
	}
	*ret = v->nfs;
	pthread_mutex_unlock(&v->lock);
	return r;
}

static int access_allow(void *ctx, const char *id, const char *address, struct cove_err *err)
{
	struct coved_volumes *v = ctx;
	char path[PATH_MAX];
	struct nfs_server *s;
	int r = volume_path(v->volumes, id, path, sizeof(path), err);
	r = r ?: server(v, &s, err);
	return r ?: nfs_allow(s, id, path, address, err);
}

static void access_revoke(void *ctx, const char *id, const char *address)
{
	struct coved_volumes *v = ctx;
	pthread_mutex_lock(&v->lock);
	struct nfs_server *s = v->nfs;
	pthread_mutex_unlock(&v->lock);
	if (s)
		nfs_revoke(s, id, address);
}

int coved_volumes_open(struct net_slots *net, struct volumes *volumes, const char *run_dir,
		       struct coved_volumes **ret, struct cove_err *err)
{
	struct coved_volumes *v = calloc(1, sizeof(*v));
	if (!v)
		return cove_errf(err, -ENOMEM, "volume server: out of memory");
	if (snprintf(v->run_dir, sizeof(v->run_dir), "%s", run_dir) >= (int)sizeof(v->run_dir)) {
		free(v);
		return cove_errf(err, -ENAMETOOLONG, "volume server: %s: path too long", run_dir);
	}
	v->net = net;
	v->volumes = volumes;
	v->netns_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	v->access = (struct sandbox_volume_access){ access_allow, access_revoke, v };
	nfs_end_previous(run_dir);
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
	if (v->netns_fd >= 0) {
		close(v->netns_fd);
		struct cove_err err = { 0 };
		if (net_volume_server_remove(v->net, &err) < 0)
			log_warn("op=volume-server msg=\"%s\"", err.msg);
	}
	pthread_mutex_destroy(&v->lock);
	free(v);
}
