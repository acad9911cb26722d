/* libFuzzer target: the JSON documents of a container image Cove reads
 * (src/image/config.c): a config blob, an OCI layout's index, a manifest and
 * skopeo inspect's output, all the image author's. The first byte picks the
 * parser. What a parser accepts must hold its promises: env entries KEY=VALUE
 * without control characters, digests of sha256:HEX. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static void check_config(const char *text, size_t len)
{
	struct image_config c;
	if (image_config_parse(text, len, &c, NULL) < 0)
		return;
	if (c.nenv > IMAGE_ENV_MAX)
		abort();
	for (size_t i = 0; i < c.nenv; i++) {
		const char *e = c.env[i];
		if (e[0] == '=' || !strchr(e, '='))
			abort();
		for (const char *p = e; *p; p++)
			if ((unsigned char)*p < 0x20)
				abort();
	}
	if (c.workdir[0] && c.workdir[0] != '/')
		abort();
	image_config_clear(&c);
}

static void check_digest(const char *d)
{
	if (strlen(d) != 71 || strncmp(d, "sha256:", 7) != 0 || strspn(d + 7, "0123456789abcdef") != 64)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	char digest[80];
	uint64_t bytes;
	switch (data[0] % 4) {
	case 0: check_config(text, len); break;
	case 1:
		if (image_index_manifest(text, len, "image", digest, sizeof(digest), NULL) == 0)
			check_digest(digest);
		break;
	case 2:
		if (image_manifest_parse(text, len, digest, sizeof(digest), &bytes, NULL) == 0)
			check_digest(digest);
		break;
	case 3:
		if (image_inspect_parse(text, len, digest, sizeof(digest), &bytes, NULL) == 0)
			check_digest(digest);
		break;
	}
	return 0;
}
