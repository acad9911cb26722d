/* libFuzzer target: the cluster catalog's records (src/cluster/records.c), as
 * a gateway or host reads them from etcd, where any writer's bug or a
 * hostile member can put anything. The first byte picks the record: host or
 * sandbox. A record that decodes must pass its own check, encode, and decode
 * again to an equal record whose encoding is the same bytes (the encoding is
 * canonical). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/records.h"

static void host(const char *text, size_t len)
{
	struct cluster_host a, b;
	char *enc = NULL, *again = NULL;
	if (cluster_host_decode("h1", text, len, &a, NULL) < 0)
		return;
	if (cluster_host_check(&a, NULL) < 0 || a.ntemplates > CLUSTER_MAX_TEMPLATES ||
	    cluster_host_encode(&a, &enc, NULL) < 0 || cluster_host_decode("h1", enc, strlen(enc), &b, NULL) < 0)
		abort();
	if (!cluster_host_equal(&a, &b) || cluster_host_encode(&b, &again, NULL) < 0 || strcmp(enc, again) != 0)
		abort();
	free(enc);
	free(again);
	cluster_host_clear(&a);
	cluster_host_clear(&b);
}

static void sandbox(const char *text, size_t len)
{
	struct cluster_sandbox a, b;
	char *enc = NULL, *again = NULL;
	if (cluster_sandbox_decode("sb1", text, len, &a, NULL) < 0)
		return;
	if (cluster_sandbox_check(&a, NULL) < 0 || cluster_sandbox_encode(&a, &enc, NULL) < 0 ||
	    cluster_sandbox_decode("sb1", enc, strlen(enc), &b, NULL) < 0)
		abort();
	if (!cluster_sandbox_equal(&a, &b) || cluster_sandbox_encode(&b, &again, NULL) < 0 || strcmp(enc, again) != 0)
		abort();
	free(enc);
	free(again);
	cluster_sandbox_clear(&a);
	cluster_sandbox_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	if (data[0] % 2)
		sandbox(text, size - 1);
	else
		host(text, size - 1);
	return 0;
}
