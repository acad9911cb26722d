/* What the etcd client's requests (etcd.c) and its watches (watch.c)
 * share: the client itself and the making of a request's curl handle. */
#ifndef COVE_CLUSTER_INTERNAL_H
#define COVE_CLUSTER_INTERNAL_H

#include <stdatomic.h>

#include "cluster/etcd.h"
#include "common/curl.h"

#define ETCD_MAX_ENDPOINT_LEN 256

struct etcd_client {
	char endpoints[ETCD_MAX_ENDPOINTS][ETCD_MAX_ENDPOINT_LEN]; /* without a trailing '/' */
	size_t n;
	long timeout_ms;
	atomic_size_t current; /* the endpoint that answered last */
};

/* A POST of body (which must outlive the handle) to endpoint i's path,
 * with the client's connect timeout; headers is the caller's to free.
 * NULL when out of memory. */
CURL *etcd_easy_new(struct etcd_client *c, size_t i, const char *path, const char *body, struct curl_slist **headers);

#endif
