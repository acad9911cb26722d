/* The cluster tests' catalog records (catalog_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog_fixture.h"

static void put_taken(struct etcd_client *etcd, const char *key, char *text)
{
	struct cove_err err = { 0 };
	if (etcd_put(etcd, key, strlen(key), text, strlen(text), 0, NULL, &err) < 0)
		fail_msg("put %s: %s", key, err.msg);
	free(text);
}

void fixture_put_host(struct etcd_client *etcd, const char *id, enum cluster_host_state state)
{
	static struct cluster_template templates[] = { { .name = "base", .snap = true, .warm = 2 }, { .name = "py" } };
	struct cluster_host h = { .addr = "10.0.0.1:49982",
				  .state = state,
				  .version = "0.1",
				  .accel = "kvm",
				  .cpus = 8,
				  .snap_key = "k",
				  .mem_max_mib = 16384,
				  .mem_committed_mib = 1024,
				  .vcpus_alloc = 3,
				  .cpu_busy_pct = 12,
				  .sandboxes = 3,
				  .max_sandboxes = 40,
				  .boots_inflight = 1,
				  .max_boots = 4,
				  .templates = templates,
				  .ntemplates = 2,
				  .ts_ms = 1700000000123 };
	snprintf(h.id, sizeof(h.id), "%s", id);
	char key[128], *text = NULL;
	assert_int_equal(cluster_host_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(cluster_host_encode(&h, &text, NULL), 0);
	put_taken(etcd, key, text);
}

void fixture_put_sandbox(struct etcd_client *etcd, const char *id, const char *host,
			 enum cluster_sandbox_state state, int64_t end_ms, bool auto_pause)
{
	struct cluster_sandbox sb = { .epoch = 1,
				      .state = state,
				      .template_id = "base",
				      .vcpus = 1,
				      .mem_mib = 256,
				      .started_ms = 1,
				      .end_ms = end_ms,
				      .auto_pause = auto_pause };
	snprintf(sb.id, sizeof(sb.id), "%s", id);
	snprintf(sb.host, sizeof(sb.host), "%s", host);
	char key[128], *text = NULL;
	assert_int_equal(cluster_sandbox_key(id, key, sizeof(key), NULL), 0);
	assert_int_equal(cluster_sandbox_encode(&sb, &text, NULL), 0);
	put_taken(etcd, key, text);
}

bool fixture_exists(struct etcd_client *etcd, const char *prefix, const char *id)
{
	char key[128];
	snprintf(key, sizeof(key), "%s%s", prefix, id);
	struct etcd_result res;
	assert_int_equal(etcd_range(etcd, key, strlen(key), false, &res, NULL), 0);
	bool found = res.nkvs > 0;
	etcd_result_clear(&res);
	return found;
}
