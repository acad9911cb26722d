/* coved's cluster roles at run time (cluster.h). */
#include "coved/cluster.h"

#include <errno.h>

int coved_cluster_prepare(struct coved_cluster *c, struct manager_config *mc, struct cove_err *err)
{
	(void)mc;
	if (!coved_cluster_on(c))
		return 0;
	return cove_errf(err, -ENOSYS, "cluster: not built yet");
}

int coved_cluster_start(struct coved_cluster *c, struct manager *m, struct api_server_config *ac,
			struct cove_err *err)
{
	(void)c;
	(void)m;
	(void)ac;
	(void)err;
	return 0;
}

void coved_cluster_detach(struct coved_cluster *c)
{
	(void)c;
}

void coved_cluster_stop(struct coved_cluster *c)
{
	(void)c;
}
