/* libFuzzer target: coved's create body (POST /sandboxes), parsed into the
 * request manager_create takes. What it hands out must be whole: every
 * string readable, every list NULL-terminated, the lifecycle one E2B
 * allows, and a refusal must say why (-ENOSYS: a field Cove has nothing
 * behind), and the ingress's mask host is a header value that can end
 * neither line nor head, before and after its "${PORT}" is filled in. The
 * same bytes as a pause, a connect and a network body too. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"

static size_t list_len(const char *const *list)
{
	size_t n = 0, sum = 0;
	for (; list && list[n]; n++)
		sum += strlen(list[n]);
	return n + sum;
}

/* The small bodies: a refusal says why. */
static void small_bodies(const char *data, size_t size)
{
	struct cove_err err = { 0 };
	struct api_pause_body p;
	struct api_connect_body c;
	if (api_pause_body_parse(data, size, &p, &err) < 0 && !err.msg[0])
		abort();
	err.msg[0] = '\0';
	if (api_connect_body_parse(data, size, &c, &err) < 0 && !err.msg[0])
		abort();
	err.msg[0] = '\0';
	struct api_network_body n;
	int r = api_network_body_parse(data, size, &n, &err);
	if (r < 0 && (!err.msg[0] || n.json))
		abort();
	if (r == 0) {
		volatile size_t sum = list_len(n.policy.allow_out) + list_len(n.policy.deny_out);
		(void)sum;
		api_network_body_clear(&n);
	}
}

/* Visible ASCII, NUL-terminated in its buffer. */
static void check_host(const char *host)
{
	size_t n = strnlen(host, MANAGER_MASK_HOST_MAX);
	if (n == MANAGER_MASK_HOST_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (host[i] < 0x21 || host[i] > 0x7e)
			abort();
}

static void check_ingress(const struct manager_ingress *in, size_t size)
{
	check_host(in->mask_host);
	char host[MANAGER_MASK_HOST_MAX];
	api_mask_host(in->mask_host, (unsigned)(size % 65535) + 1, host);
	check_host(host);
	if (strlen(host) > strlen(in->mask_host))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	small_bodies((const char *)data, size);
	struct cove_err err = { 0 };
	struct api_create_body b;
	int r = api_create_body_parse((const char *)data, size, &b, &err);
	if (r < 0) {
		if ((r != -EINVAL && r != -ENOMEM && r != -ENOSYS) || !err.msg[0] || b.json)
			abort();
		return 0;
	}
	volatile size_t sum = list_len(b.req.envs) + list_len(b.req.policy.allow_out) + list_len(b.req.policy.deny_out);
	sum += b.req.template_id ? strlen(b.req.template_id) : 0;
	sum += b.req.metadata ? strlen(b.req.metadata) : 0;
	(void)sum;
	if (b.req.timeout_s < 0 || b.req.timeout_s > API_MAX_SECONDS)
		abort();
	if (b.req.auto_pause_fs_only && (!b.req.auto_pause || b.req.auto_resume))
		abort();
	check_ingress(&b.req.ingress, size);
	for (size_t i = 0; b.req.envs && b.req.envs[i]; i++)
		if (!strchr(b.req.envs[i], '=') || i >= API_MAX_ENV_VARS)
			abort();
	api_create_body_clear(&b);
	return 0;
}
