/* libFuzzer target: the build trigger's body (build_trigger_parse), then
 * each step's layer cache key and the finalize key, as the build runner
 * computes them. Accepted input must keep every per-type rule of spec.h. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/spec.h"

static void check_step(const struct build_step *s)
{
	static const size_t min[] = { 1, 4, 2, 1, 1 }, max[] = { 2, 4, 2 * BUILD_MAX_ENVS, 1, 2 };
	if ((unsigned)s->type > BUILD_USER || s->n_args < min[s->type] || s->n_args > max[s->type])
		abort();
	for (size_t i = 0; i < s->n_args; i++)
		if (!s->args[i] || strlen(s->args[i]) > BUILD_MAX_CMD)
			abort();
	if (s->args[s->n_args])
		abort();
	if (s->type == BUILD_COPY) {
		if (strlen(s->files_hash) != BUILD_HASH_HEX || strspn(s->files_hash, "0123456789abcdef") != BUILD_HASH_HEX ||
		    !s->args[1][0] || s->args[0][0] == '/' || strlen(s->args[3]) > 4)
			abort();
	} else if (s->files_hash[0]) {
		abort();
	}
	if (s->type == BUILD_ENV && s->n_args % 2)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cove_err err = { 0 };
	struct build_trigger t;
	int r = build_trigger_parse((const char *)data, size, &t, &err);
	if (r < 0) {
		if ((r != -EINVAL && r != -ENOMEM) || !err.msg[0] || t.json || t.steps)
			abort();
		return 0;
	}
	if (!t.from || !*t.from || t.n_steps > BUILD_MAX_STEPS || (t.default_base && t.base != BUILD_BASE_TEMPLATE))
		abort();
	if ((t.registry == BUILD_REGISTRY_BASIC) != (t.username && t.password) ||
	    (t.registry != BUILD_REGISTRY_NONE && t.base != BUILD_BASE_IMAGE))
		abort();
	if ((t.start_cmd && strlen(t.start_cmd) > BUILD_MAX_START_CMD) ||
	    (t.ready_cmd && strlen(t.ready_cmd) > BUILD_MAX_START_CMD))
		abort();
	char key[BUILD_HASH_HEX + 1] = "the-base";
	for (size_t i = 0; i < t.n_steps; i++) {
		check_step(&t.steps[i]);
		build_layer_key(key, &t.steps[i], key);
		if (strlen(key) != BUILD_HASH_HEX)
			abort();
	}
	build_finalize_key(key, t.start_cmd, t.ready_cmd, 2, 1024, key);
	build_trigger_clear(&t);
	return 0;
}
