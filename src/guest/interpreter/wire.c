#include "interpreter/wire.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/secret.h"

void wire_sign(const struct wire_key *key, const struct wire_frame parts[4], char hex[65])
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	hmac_sha256_set_key(&ctx, key->len, key->key);
	for (int i = 0; i < 4; i++)
		hmac_sha256_update(&ctx, parts[i].len, parts[i].data);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

int wire_key_set(struct wire_key *key, const char *text)
{
	size_t n = strlen(text);
	if (n > sizeof(key->key))
		return -EINVAL;
	memcpy(key->key, text, n);
	key->len = n;
	return 0;
}

int wire_uuid(char out[37])
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -errno;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

void wire_msg_clear(struct wire_msg *msg)
{
	json_decref(msg->header);
	json_decref(msg->parent);
	json_decref(msg->metadata);
	json_decref(msg->content);
	free(msg->raw_content);
	memset(msg, 0, sizeof(*msg));
}

static json_t *part_object(const struct wire_frame *f, const char *what, struct cove_err *err)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)f->data, f->len, 0, &jerr);
	if (!json_is_object(j)) {
		cove_errf(err, -EINVAL, "message %s is not a JSON object%s%s", what, j ? "" : ": ", j ? "" : jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

int wire_parse(const struct wire_frame *frames, size_t n, const struct wire_key *key, bool raw_streams,
	       struct wire_msg *msg, struct cove_err *err)
{
	memset(msg, 0, sizeof(*msg));
	size_t d = 0;
	while (d < n && !(frames[d].len == strlen(WIRE_DELIMITER) &&
			  memcmp(frames[d].data, WIRE_DELIMITER, frames[d].len) == 0))
		d++;
	if (d == n)
		return cove_errf(err, -EINVAL, "message of %zu frames has no delimiter", n);
	if (n - d < 6)
		return cove_errf(err, -EINVAL, "message has %zu frames after its delimiter, not at least 6", n - d);
	const struct wire_frame *sig = &frames[d + 1], *parts = &frames[d + 2];
	if (key->len) {
		char want[65], got[65];
		wire_sign(key, parts, want);
		if (sig->len != 64)
			return cove_errf(err, -EINVAL, "message signature of %zu bytes, not 64", sig->len);
		memcpy(got, sig->data, 64);
		got[64] = '\0';
		if (!secret_equal(got, want))
			return cove_errf(err, -EINVAL, "message signature does not match");
	}
	static const char *const names[] = { "header", "parent header", "metadata", "content" };
	json_t *j[4] = { 0 };
	for (int i = 0; i < 3; i++) {
		if (!(j[i] = part_object(&parts[i], names[i], err))) {
			for (int k = 0; k < i; k++)
				json_decref(j[k]);
			return -EINVAL;
		}
	}
	msg->header = j[0];
	msg->parent = j[1];
	msg->metadata = j[2];
	msg->msg_type = json_string_value(json_object_get(msg->header, "msg_type"));
	if (!msg->msg_type) {
		wire_msg_clear(msg);
		return cove_errf(err, -EINVAL, "message header has no msg_type");
	}
	if (raw_streams && strcmp(msg->msg_type, "stream") == 0) {
		if (!(msg->raw_content = malloc(parts[3].len + 1))) {
			wire_msg_clear(msg);
			return cove_errf(err, -ENOMEM, "out of memory");
		}
		memcpy(msg->raw_content, parts[3].data, parts[3].len);
		msg->raw_content[parts[3].len] = '\0';
		msg->raw_len = parts[3].len;
	} else if (!(msg->content = part_object(&parts[3], names[3], err))) {
		wire_msg_clear(msg);
		return -EINVAL;
	}
	msg->parent_id = json_string_value(json_object_get(msg->parent, "msg_id"));
	if (!msg->parent_id)
		msg->parent_id = "";
	return 0;
}

void wire_out_clear(struct wire_out *out)
{
	for (int i = 0; i < 6; i++)
		free(out->parts[i]);
	memset(out, 0, sizeof(*out));
}

int wire_build(const struct wire_key *key, const char *session, const char *msg_type, json_t *content,
	       struct wire_out *out)
{
	memset(out, 0, sizeof(*out));
	int r = wire_uuid(out->msg_id);
	if (r < 0)
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char date[64];
	snprintf(date, sizeof(date), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
	json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", out->msg_id, "session", session,
				   "username", "cove", "date", date, "msg_type", msg_type, "version", "5.3");
	out->parts[0] = strdup(WIRE_DELIMITER);
	out->parts[2] = header ? json_dumps(header, JSON_COMPACT) : NULL;
	out->parts[3] = strdup("{}");
	out->parts[4] = strdup("{}");
	out->parts[5] = content ? json_dumps(content, JSON_COMPACT) : strdup("{}");
	out->parts[1] = malloc(65);
	json_decref(header);
	for (int i = 0; i < 6; i++) {
		if (!out->parts[i]) {
			wire_out_clear(out);
			return -ENOMEM;
		}
		out->lens[i] = strlen(out->parts[i]);
	}
	struct wire_frame f[4];
	for (int i = 0; i < 4; i++)
		f[i] = (struct wire_frame){ (const uint8_t *)out->parts[2 + i], out->lens[2 + i] };
	if (key->len) {
		wire_sign(key, f, out->parts[1]);
		out->lens[1] = 64;
	} else {
		out->parts[1][0] = '\0';
		out->lens[1] = 0;
	}
	return 0;
}
