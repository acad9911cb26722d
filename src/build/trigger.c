/* The build trigger's body (see spec.h): a template's base and steps, as
 * npm e2b's Template serializes them. */
#include "build/spec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build/internal.h"
#include "common/json.h"


static const char *const step_names[] = { "RUN", "COPY", "ENV", "WORKDIR", "USER" };

const char *build_step_type_name(enum build_step_type type)
{
	return (size_t)type < ARRAY_SIZE(step_names) ? step_names[type] : "?";
}

/* --- one step's arguments; n is the step's 1-based number --- */

static int args_count(const struct build_step *s, size_t n, size_t min, size_t max, const char *what,
		      struct cove_err *err)
{
	if (s->n_args >= min && s->n_args <= max)
		return 0;
	return cove_errf(err, -EINVAL, "step %zu (%s): args must be %s, not %zu strings", n,
			 build_step_type_name(s->type), what, s->n_args);
}

static bool blank(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return !*s;
}

/* "" (the current user) or a user name. */
static int user_arg(const struct build_step *s, size_t n, size_t i, struct cove_err *err)
{
	const char *u = s->args[i];
	if (!*u || build_user_ok(u))
		return 0;
	return cove_errf(err, -EINVAL, "step %zu (%s): '%.64s' is not a user name ([a-z_][a-z0-9_-]*, at most %d)", n,
			 build_step_type_name(s->type), u, BUILD_USER_MAX);
}

static bool digits_only(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return len > 0;
}

/* COPY's owner: "", or user[:group], each a name or a number. */
static bool owner_ok(const char *s)
{
	if (!*s)
		return true;
	const char *colon = strchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	char user[BUILD_USER_MAX + 2];
	if (len == 0 || len >= sizeof(user))
		return false;
	memcpy(user, s, len);
	user[len] = '\0';
	if (!build_user_ok(user) && !digits_only(user, len))
		return false;
	return !colon || (strchr(colon + 1, ':') == NULL && owner_ok(colon + 1));
}

static int run_check(const struct build_step *s, size_t n, struct cove_err *err)
{
	int r = args_count(s, n, 1, 2, "1 or 2 (the command and a user)", err);
	if (r < 0)
		return r;
	if (blank(s->args[0]))
		return cove_errf(err, -EINVAL, "step %zu (RUN): the command is empty", n);
	return s->n_args == 2 ? user_arg(s, n, 1, err) : 0;
}

static int copy_check(const struct build_step *s, size_t n, struct cove_err *err)
{
	int r = args_count(s, n, 4, 4, "4 (source, destination, owner, mode)", err);
	if (r < 0)
		return r;
	const char *src = s->args[0], *dest = s->args[1], *owner = s->args[2], *mode = s->args[3];
	if (!*src || !build_relative_ok(src))
		return cove_errf(err, -EINVAL, "step %zu (COPY): the source '%.64s' must be a relative path without '..'",
				 n, src);
	if (!*dest)
		return cove_errf(err, -EINVAL, "step %zu (COPY): the destination is empty", n);
	if (!owner_ok(owner))
		return cove_errf(err, -EINVAL, "step %zu (COPY): the owner '%.64s' is not user[:group]", n, owner);
	size_t m = strlen(mode);
	if (m > 4 || strspn(mode, "01234567") != m)
		return cove_errf(err, -EINVAL, "step %zu (COPY): the mode '%.16s' is not 1 to 4 octal digits", n, mode);
	if (!s->files_hash[0])
		return cove_errf(err, -EINVAL, "step %zu (COPY): filesHash is required", n);
	return 0;
}

/* A variable name: [A-Za-z_][A-Za-z0-9_]*. */
static bool env_name_ok(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int env_check(const struct build_step *s, size_t n, struct cove_err *err)
{
	if (s->n_args < 2 || s->n_args % 2)
		return cove_errf(err, -EINVAL, "step %zu (ENV): args must be name, value pairs, not %zu strings", n,
				 s->n_args);
	if (s->n_args > 2 * BUILD_MAX_ENVS)
		return cove_errf(err, -EINVAL, "step %zu (ENV): more than %d variables", n, BUILD_MAX_ENVS);
	for (size_t i = 0; i < s->n_args; i += 2)
		if (!env_name_ok(s->args[i]))
			return cove_errf(err, -EINVAL, "step %zu (ENV): '%.64s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
					 n, s->args[i]);
	return 0;
}

static int workdir_check(const struct build_step *s, size_t n, struct cove_err *err)
{
	int r = args_count(s, n, 1, 1, "1 (the directory)", err);
	if (r == 0 && !*s->args[0])
		r = cove_errf(err, -EINVAL, "step %zu (WORKDIR): the directory is empty", n);
	return r;
}

static int user_check(const struct build_step *s, size_t n, struct cove_err *err)
{
	int r = args_count(s, n, 1, 2, "1 or 2 (the user, and \"true\" for sudo)", err);
	if (r < 0)
		return r;
	if (!*s->args[0])
		return cove_errf(err, -EINVAL, "step %zu (USER): the user is empty", n);
	if ((r = user_arg(s, n, 0, err)) < 0)
		return r;
	if (s->n_args == 2 && strcmp(s->args[1], "true") != 0 && strcmp(s->args[1], "false") != 0)
		return cove_errf(err, -EINVAL, "step %zu (USER): args[1] must be \"true\" or \"false\", not '%.16s'", n,
				 s->args[1]);
	return 0;
}

/* --- one step --- */

static int step_type(json_t *type, size_t n, enum build_step_type *ret, struct cove_err *err)
{
	const char *t = json_string_value(type);
	if (!t)
		return cove_errf(err, -EINVAL, "step %zu: type must be a string", n);
	for (size_t i = 0; i < ARRAY_SIZE(step_names); i++)
		if (strcmp(t, step_names[i]) == 0) {
			*ret = (enum build_step_type)i;
			return 0;
		}
	return cove_errf(err, -EINVAL, "step %zu: unknown type '%.32s' (RUN, COPY, ENV, WORKDIR or USER)", n, t);
}

static int step_args(json_t *args, size_t n, struct build_step *s, struct cove_err *err)
{
	if (!json_is_array(args))
		return cove_errf(err, -EINVAL, "step %zu (%s): args must be a list of strings", n,
				 build_step_type_name(s->type));
	if (json_array_size(args) > 2 * BUILD_MAX_ENVS)
		return cove_errf(err, -EINVAL, "step %zu (%s): more than %d args", n, build_step_type_name(s->type),
				 2 * BUILD_MAX_ENVS);
	if (!(s->args = calloc(json_array_size(args) + 1, sizeof(*s->args))))
		return cove_errf(err, -ENOMEM, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(args, i, v) {
		if (!json_is_string(v))
			return cove_errf(err, -EINVAL, "step %zu (%s): args[%zu] must be a string", n,
					 build_step_type_name(s->type), i);
		size_t max = s->type == BUILD_RUN && i == 0 ? BUILD_MAX_CMD : BUILD_MAX_ARG;
		if (json_string_length(v) > max)
			return cove_errf(err, -EINVAL, "step %zu (%s): args[%zu] is longer than %zu bytes", n,
					 build_step_type_name(s->type), i, max);
		s->args[s->n_args++] = json_string_value(v);
	}
	return 0;
}

static int step_flags(json_t *j, size_t n, struct build_step *s, struct cove_err *err)
{
	json_t *force = json_object_get(j, "force"), *hash = json_object_get(j, "filesHash");
	if (force && !json_is_null(force) && !json_is_boolean(force))
		return cove_errf(err, -EINVAL, "step %zu: force must be true or false", n);
	s->force = json_is_true(force);
	/* Only a COPY has files; the SDK sends none with any other. */
	if (s->type != BUILD_COPY || !hash || json_is_null(hash))
		return 0;
	if (!json_is_string(hash) || !build_hash_ok(json_string_value(hash)))
		return cove_errf(err, -EINVAL, "step %zu (COPY): invalid filesHash: it must be 64 of 0-9, a-f", n);
	memcpy(s->files_hash, json_string_value(hash), BUILD_HASH_HEX + 1);
	return 0;
}

static int step_parse(json_t *j, size_t n, struct build_step *s, struct cove_err *err)
{
	typedef int (*check_fn)(const struct build_step *, size_t, struct cove_err *);
	static const check_fn checks[] = { run_check, copy_check, env_check, workdir_check, user_check };
	if (!json_is_object(j))
		return cove_errf(err, -EINVAL, "step %zu must be an object", n);
	int r = step_type(json_object_get(j, "type"), n, &s->type, err);
	if (r == 0)
		r = step_args(json_object_get(j, "args"), n, s, err);
	if (r == 0)
		r = step_flags(j, n, s, err);
	return r < 0 ? r : checks[s->type](s, n, err);
}

static int steps_parse(json_t *steps, struct build_trigger *t, struct cove_err *err)
{
	if (!steps || json_is_null(steps))
		return 0;
	if (!json_is_array(steps))
		return cove_errf(err, -EINVAL, "steps must be a list");
	if (json_array_size(steps) > BUILD_MAX_STEPS)
		return cove_errf(err, -EINVAL, "steps: more than %d steps", BUILD_MAX_STEPS);
	if (!(t->steps = calloc(json_array_size(steps) + 1, sizeof(*t->steps))))
		return cove_errf(err, -ENOMEM, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(steps, i, v) {
		t->n_steps = i + 1; /* cleared with the rest on an error */
		int r = step_parse(v, i + 1, &t->steps[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- the base --- */

/* An optional string field: NULL when absent, null or "". */
static int string_field(json_t *body, const char *name, size_t max, const char **ret, struct cove_err *err)
{
	json_t *v = json_object_get(body, name);
	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return cove_errf(err, -EINVAL, "%s must be a string", name);
	if (json_string_length(v) > max)
		return cove_errf(err, -EINVAL, "%s is longer than %zu bytes", name, max);
	*ret = json_string_length(v) ? json_string_value(v) : NULL;
	return 0;
}

static int registry_parse(json_t *reg, struct build_trigger *t, struct cove_err *err)
{
	if (!reg || json_is_null(reg) || t->base != BUILD_BASE_IMAGE)
		return 0;
	if (!json_is_object(reg))
		return cove_errf(err, -EINVAL, "fromImageRegistry must be an object");
	const char *type = json_string_value(json_object_get(reg, "type"));
	if (!type || (strcmp(type, "registry") != 0 && strcmp(type, "aws") != 0 && strcmp(type, "gcp") != 0))
		return cove_errf(err, -EINVAL, "fromImageRegistry.type must be registry, aws or gcp");
	t->registry_type = type;
	if (strcmp(type, "aws") == 0 || strcmp(type, "gcp") == 0) {
		t->registry = strcmp(type, "aws") == 0 ? BUILD_REGISTRY_AWS : BUILD_REGISTRY_GCP;
		return 0;
	}
	t->registry = BUILD_REGISTRY_BASIC;
	int r = string_field(reg, "username", BUILD_MAX_ARG, &t->username, err);
	if (r == 0)
		r = string_field(reg, "password", BUILD_MAX_ARG, &t->password, err);
	if (r == 0 && (!t->username || !t->password))
		r = cove_errf(err, -EINVAL, "a registry login needs username and password");
	return r < 0 ? cove_err_prefix(err, "fromImageRegistry") : 0;
}

/* No spaces or control characters: an image reference is one word. */
static bool word_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int base_parse(json_t *body, struct build_trigger *t, struct cove_err *err)
{
	const char *image, *tpl;
	int r = string_field(body, "fromImage", IMAGE_REF_MAX, &image, err);
	if (r == 0)
		r = string_field(body, "fromTemplate", TEMPLATE_REF_MAX, &tpl, err);
	if (r < 0)
		return r;
	if (image && tpl)
		return cove_errf(err, -EINVAL, "give fromImage or fromTemplate, not both");
	if (image && !word_ok(image))
		return cove_errf(err, -EINVAL, "fromImage '%.64s' is not an image reference", image);
	t->base = image ? BUILD_BASE_IMAGE : BUILD_BASE_TEMPLATE;
	t->default_base = !image && !tpl;
	t->from = image ? image : tpl ? tpl : BUILD_DEFAULT_TEMPLATE;
	if (t->base == BUILD_BASE_TEMPLATE && template_ref_parse(t->from, &t->template, err) < 0)
		return cove_err_prefix(err, "fromTemplate");
	return registry_parse(json_object_get(body, "fromImageRegistry"), t, err);
}

static int trigger_parse(json_t *body, struct build_trigger *t, struct cove_err *err)
{
	int r = base_parse(body, t, err);
	if (r == 0)
		r = steps_parse(json_object_get(body, "steps"), t, err);
	if (r == 0)
		r = string_field(body, "startCmd", BUILD_MAX_START_CMD, &t->start_cmd, err);
	if (r == 0)
		r = string_field(body, "readyCmd", BUILD_MAX_START_CMD, &t->ready_cmd, err);
	if (r < 0)
		return r;
	json_t *force = json_object_get(body, "force");
	if (force && !json_is_null(force) && !json_is_boolean(force))
		return cove_errf(err, -EINVAL, "force must be true or false");
	t->force = json_is_true(force);
	return 0;
}

int build_trigger_parse(const char *body, size_t len, struct build_trigger *ret, struct cove_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!(ret->json = json_object_body(body, len, err)))
		return -EINVAL;
	int r = trigger_parse(ret->json, ret, err);
	if (r < 0)
		build_trigger_clear(ret);
	return r;
}

void build_trigger_clear(struct build_trigger *t)
{
	for (size_t i = 0; i < t->n_steps; i++)
		free(t->steps[i].args);
	free(t->steps);
	json_decref(t->json);
	memset(t, 0, sizeof(*t));
}
