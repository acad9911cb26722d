/* Upload tokens for COPY uploads (see files.h): the PUT that npm e2b sends
 * carries no API key, so the URL coved gives carries this instead. */
#include "build/files.h"

#include <errno.h>
#include <inttypes.h>
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/internal.h"
#include "common/secret.h"

/* "<length>:<bytes>", so that no two field lists sign alike. */
static void field(struct hmac_sha256_ctx *h, const char *s)
{
	char len[24];
	int n = snprintf(len, sizeof(len), "%zu:", strlen(s));
	hmac_sha256_update(h, (size_t)n, (const uint8_t *)len);
	hmac_sha256_update(h, strlen(s), (const uint8_t *)s);
}

void files_upload_token(const char *secret, const char *template_id, const char *hash, int64_t expiry_ms,
			char out[FILES_TOKEN_MAX])
{
	struct hmac_sha256_ctx h;
	hmac_sha256_set_key(&h, strlen(secret), (const uint8_t *)secret);
	char expiry[24];
	snprintf(expiry, sizeof(expiry), "%" PRId64, expiry_ms);
	field(&h, "cove-upload-v1");
	field(&h, template_id);
	field(&h, hash);
	field(&h, expiry);
	uint8_t mac[SHA256_DIGEST_SIZE];
	hmac_sha256_digest(&h, sizeof(mac), mac);
	int n = snprintf(out, FILES_TOKEN_MAX, "%s-", expiry);
	build_hex(mac, sizeof(mac), out + n);
}

int files_upload_token_check(const char *secret, const char *template_id, const char *hash, const char *token,
			     int64_t now_ms, struct cove_err *err)
{
	/* The expiry is read from the token; the MAC says whether it is ours. */
	const char *dash = token ? strchr(token, '-') : NULL;
	char *end = NULL;
	errno = 0;
	long long expiry = dash && dash != token && token[0] >= '0' && token[0] <= '9' ? strtoll(token, &end, 10) : -1;
	if (expiry < 0 || errno || end != dash)
		return cove_errf(err, -EACCES, "upload token: not one this server gave");
	char want[FILES_TOKEN_MAX];
	files_upload_token(secret, template_id, hash, expiry, want);
	if (!secret_equal(token, want))
		return cove_errf(err, -EACCES, "upload token: not valid for template %.64s and files %.64s", template_id, hash);
	if (expiry <= now_ms)
		return cove_errf(err, -EACCES, "upload token: expired %lld ms ago", (long long)(now_ms - expiry));
	return 0;
}
