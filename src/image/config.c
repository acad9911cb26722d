/* The JSON documents of an image, parsed into plain values before anything
 * uses them: an OCI layout's index.json, a manifest, a config blob, and
 * skopeo inspect's output. Everything in them is the image author's, so
 * every string is bounded and checked (no control characters: the values
 * end up as lines of template.conf). */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "image/image.h"

#define ENV_ENTRY_MAX 4096

static bool digest_ok(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return false;
	return true;
}

/* A string of at most max - 1 bytes without control characters (nor NUL). */
static bool text_ok(const json_t *v, size_t max)
{
	if (!json_is_string(v))
		return false;
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int load(const char *text, size_t len, const char *what, json_t **ret, struct cove_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return cove_errf(err, -EINVAL, "%s: not JSON: %s (line %d)", what, je.text, je.line);
	if (!json_is_object(j)) {
		json_decref(j);
		return cove_errf(err, -EINVAL, "%s: not a JSON object", what);
	}
	*ret = j;
	return 0;
}

static int copy_digest(const json_t *v, const char *what, char *out, size_t size, struct cove_err *err)
{
	if (!json_is_string(v) || !digest_ok(json_string_value(v)) || size < 7 + 64 + 1)
		return cove_errf(err, -EINVAL, "%s: no sha256 digest", what);
	memcpy(out, json_string_value(v), 7 + 64 + 1);
	return 0;
}

void image_config_clear(struct image_config *c)
{
	for (size_t i = 0; i < c->nenv; i++)
		free(c->env[i]);
	free(c->env);
	memset(c, 0, sizeof(*c));
}

static int env_parse(const json_t *env, struct image_config *c, struct cove_err *err)
{
	if (!env || json_is_null(env))
		return 0;
	if (!json_is_array(env))
		return cove_errf(err, -EINVAL, "image config: Env is not a list");
	if (json_array_size(env) > IMAGE_ENV_MAX)
		return cove_errf(err, -E2BIG, "image config: %zu Env entries, more than %d", json_array_size(env),
				 IMAGE_ENV_MAX);
	if (!(c->env = calloc(json_array_size(env) + 1, sizeof(*c->env))))
		return cove_errf(err, -ENOMEM, "image config: out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(env, i, v) {
		const char *s = json_string_value(v);
		if (!text_ok(v, ENV_ENTRY_MAX) || !s[0] || s[0] == '=' || !strchr(s, '='))
			return cove_errf(err, -EINVAL,
					 "image config: Env entry %zu is not KEY=VALUE of at most %d bytes", i,
					 ENV_ENTRY_MAX - 1);
		if (!(c->env[c->nenv] = strdup(s)))
			return cove_errf(err, -ENOMEM, "image config: out of memory");
		c->nenv++;
	}
	return 0;
}

static int config_fields(const json_t *cfg, struct image_config *c, struct cove_err *err)
{
	if (!cfg || json_is_null(cfg))
		return 0;
	if (!json_is_object(cfg))
		return cove_errf(err, -EINVAL, "image config: config is not an object");
	const json_t *user = json_object_get(cfg, "User");
	if (user && !text_ok(user, sizeof(c->user)))
		return cove_errf(err, -EINVAL, "image config: User is not a string of at most %zu bytes",
				 sizeof(c->user) - 1);
	if (user)
		strcpy(c->user, json_string_value(user));
	const json_t *wd = json_object_get(cfg, "WorkingDir");
	if (wd && !text_ok(wd, sizeof(c->workdir) - 1))
		return cove_errf(err, -EINVAL, "image config: WorkingDir is not a path of at most %zu bytes",
				 sizeof(c->workdir) - 2);
	/* A relative WorkingDir is taken from / (as Docker does). */
	if (wd && json_string_length(wd))
		snprintf(c->workdir, sizeof(c->workdir), "%s%s", json_string_value(wd)[0] == '/' ? "" : "/",
			 json_string_value(wd));
	return env_parse(json_object_get(cfg, "Env"), c, err);
}

int image_config_parse(const char *json, size_t len, struct image_config *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	_cleanup_json_ json_t *j = NULL;
	int r = load(json, len, "image config", &j, err);
	if (r < 0)
		return r;
	r = config_fields(json_object_get(j, "config"), ret, err);
	if (r < 0)
		image_config_clear(ret);
	return r;
}

int image_index_manifest(const char *json, size_t len, const char *tag, char *digest, size_t size, struct cove_err *err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = load(json, len, "OCI index", &j, err);
	if (r < 0)
		return r;
	const json_t *ms = json_object_get(j, "manifests");
	if (!json_is_array(ms))
		return cove_errf(err, -EINVAL, "OCI index: no manifests list");
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m) {
		const json_t *ann = json_object_get(m, "annotations");
		const char *name = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		if (name && !strcmp(name, tag))
			return copy_digest(json_object_get(m, "digest"), "OCI index", digest, size, err);
	}
	return cove_errf(err, -ENOENT, "OCI index: no manifest tagged '%s'", tag);
}

/* The sum of the "size"/"Size" fields of a list's objects, bounded. */
static int sum_sizes(const json_t *list, const char *key, uint64_t *ret)
{
	uint64_t sum = 0;
	size_t i;
	json_t *l;
	json_array_foreach(list, i, l) {
		json_int_t n = json_integer_value(json_object_get(l, key));
		if (!json_is_integer(json_object_get(l, key)) || n < 0 || (uint64_t)n > (UINT64_MAX >> 2) - sum)
			return -EINVAL;
		sum += (uint64_t)n;
	}
	*ret = sum;
	return 0;
}

int image_manifest_parse(const char *json, size_t len, char *config_digest, size_t size, uint64_t *layer_bytes,
			 struct cove_err *err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = load(json, len, "image manifest", &j, err);
	if (r < 0)
		return r;
	const json_t *layers = json_object_get(j, "layers");
	if (!json_is_array(layers))
		return cove_errf(err, -EINVAL, "image manifest: no layers list (an index of several images?)");
	if (sum_sizes(layers, "size", layer_bytes) < 0)
		return cove_errf(err, -EINVAL, "image manifest: a layer without a valid size");
	return copy_digest(json_object_get(json_object_get(j, "config"), "digest"), "image manifest", config_digest,
			   size, err);
}

int image_inspect_parse(const char *json, size_t len, char *digest, size_t size, uint64_t *layer_bytes,
			struct cove_err *err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = load(json, len, "skopeo inspect", &j, err);
	if (r < 0)
		return r;
	*layer_bytes = 0;
	const json_t *layers = json_object_get(j, "LayersData");
	if (json_is_array(layers) && sum_sizes(layers, "Size", layer_bytes) < 0)
		return cove_errf(err, -EINVAL, "skopeo inspect: a layer without a valid size");
	return copy_digest(json_object_get(j, "Digest"), "skopeo inspect", digest, size, err);
}
