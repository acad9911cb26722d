/* Layer cache keys (see spec.h): SHA-256 over length-prefixed fields. */
#include "build/spec.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

#include "build/internal.h"

/* "<length>:<bytes>", so that no two field lists hash alike. */
static void field(struct sha256_ctx *h, const char *s)
{
	char len[24];
	int n = snprintf(len, sizeof(len), "%zu:", strlen(s));
	sha256_update(h, (size_t)n, (const uint8_t *)len);
	sha256_update(h, strlen(s), (const uint8_t *)s);
}

void build_hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static void hex_digest(struct sha256_ctx *h, char out[BUILD_HASH_HEX + 1])
{
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256_digest(h, sizeof(d), d);
	build_hex(d, sizeof(d), out);
}

void build_layer_key(const char *parent_key, const struct build_step *step, char out[BUILD_HASH_HEX + 1])
{
	struct sha256_ctx h;
	sha256_init(&h);
	field(&h, "cove-build-layer-v1"); /* a new meaning of the key gets a new version */
	field(&h, parent_key);
	field(&h, build_step_type_name(step->type));
	char n[24];
	snprintf(n, sizeof(n), "%zu", step->n_args);
	field(&h, n);
	for (size_t i = 0; i < step->n_args; i++)
		field(&h, step->args[i]);
	field(&h, step->files_hash);
	hex_digest(&h, out);
}

void build_finalize_key(const char *last_key, const char *start_cmd, const char *ready_cmd, unsigned cpu_count,
			unsigned memory_mib, char out[BUILD_HASH_HEX + 1])
{
	struct sha256_ctx h;
	sha256_init(&h);
	field(&h, "cove-build-finalize-v1");
	field(&h, last_key);
	/* NULL (none) and "" are the same: no command. */
	field(&h, start_cmd ? start_cmd : "");
	field(&h, ready_cmd ? ready_cmd : "");
	char size[48];
	snprintf(size, sizeof(size), "%u %u", cpu_count, memory_mib);
	field(&h, size);
	hex_digest(&h, out);
}
