/* libFuzzer target: the volume routes' requests (POST /volumes' body, the
 * volume content API's query, PATCH .../path's body). The first byte picks
 * which: 0 the create body, 1 a metadata body, else a query string
 * "name=value&..." (split, not decoded, as MHD hands it over). What is
 * accepted must keep the rules request.h states. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"

#include "query_args.h"

static void check_attrs(const struct volume_attrs *a)
{
	if ((a->has_uid && a->uid == UINT32_MAX) || (a->has_gid && a->gid == UINT32_MAX) ||
	    (a->has_mode && a->mode > 07777))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct cove_err err = { 0 };
	if (data[0] % 3 == 0) {
		char name[VOLUME_NAME_MAX + 1];
		int r = api_volume_body_parse((const char *)data + 1, size - 1, name, &err);
		if (r < 0 && (r != -EINVAL || !err.msg[0]))
			abort();
		if (r == 0 && volume_name_check(name, &err) < 0)
			abort();
		return 0;
	}
	if (data[0] % 3 == 1) {
		struct volume_attrs a;
		int r = api_volume_attrs_parse((const char *)data + 1, size - 1, &a, &err);
		if (r < 0 && (r != -EINVAL || !err.msg[0]))
			abort();
		if (r == 0 && !a.has_uid && !a.has_gid && !a.has_mode)
			abort();
		if (r == 0)
			check_attrs(&a);
		return 0;
	}
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct args a = { 0 };
	split(text, &a);
	struct api_query q = { get, &a };
	struct api_volume_query vq;
	int r = api_volume_query_parse(&q, &vq, &err);
	if (r < 0 && !err.msg[0])
		abort();
	if (r == 0) {
		size_t n = strnlen(vq.path, sizeof(vq.path));
		if (n == sizeof(vq.path) || vq.depth < 1 || vq.depth > VOLUME_LIST_DEPTH_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)vq.path[i] < 0x20 || vq.path[i] == 0x7f)
				abort();
		check_attrs(&vq.attrs);
	}
	free(text);
	return 0;
}
