/* Catalog records written straight into a test's etcd member (the cluster
 * tests' fixtures: test_janitor, test_api_cluster): a host record with
 * plausible figures, a sandbox record, any key's presence. Each fails the
 * test (cmocka) when etcd refuses. */
#ifndef COVE_TESTS_CATALOG_FIXTURE_H
#define COVE_TESTS_CATALOG_FIXTURE_H

#include <stdbool.h>

#include "cluster/etcd.h"
#include "cluster/records.h"

/* hosts/<id>, without a lease (delete the key to make the host gone). */
void fixture_put_host(struct etcd_client *etcd, const char *id, enum cluster_host_state state);
/* sb/<id> of host: 1 vCPU, 256 MiB, template "base", epoch 1. */
void fixture_put_sandbox(struct etcd_client *etcd, const char *id, const char *host,
			 enum cluster_sandbox_state state, int64_t end_ms, bool auto_pause);
/* Does prefix + id exist? */
bool fixture_exists(struct etcd_client *etcd, const char *prefix, const char *id);

#endif
