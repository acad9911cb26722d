#include "interpreter/request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void execute_request_clear(struct execute_request *req)
{
	free(req->code);
	json_decref(req->env_vars);
	memset(req, 0, sizeof(*req));
}

static json_t *load_object(const char *body, size_t len, struct cove_err *err)
{
	json_error_t jerr;
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	if (!json_is_object(j)) {
		cove_errf(err, -EINVAL, "the body must be a JSON object%s%s", j ? "" : ": ", j ? "" : jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* An optional string field into out (size n); null counts as absent. */
static int opt_string(json_t *j, const char *name, char *out, size_t n, struct cove_err *err)
{
	json_t *v = json_object_get(j, name);
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return cove_errf(err, -EINVAL, "%s must be a string", name);
	if (json_string_length(v) >= n || strlen(json_string_value(v)) != json_string_length(v))
		return cove_errf(err, -EINVAL, "%s is too long or holds a NUL", name);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int execute_request_parse(const char *body, size_t len, struct execute_request *req, struct cove_err *err)
{
	memset(req, 0, sizeof(*req));
	json_t *j = load_object(body, len, err);
	if (!j)
		return -EINVAL;
	int r = 0;
	json_t *code = json_object_get(j, "code"), *env = json_object_get(j, "env_vars");
	if (!json_is_string(code)) {
		r = cove_errf(err, -EINVAL, "code must be a string");
		goto out;
	}
	if ((r = opt_string(j, "context_id", req->context_id, sizeof(req->context_id), err)) < 0 ||
	    (r = opt_string(j, "language", req->language, sizeof(req->language), err)) < 0)
		goto out;
	if (req->context_id[0] && req->language[0]) {
		r = cove_errf(err, -EINVAL, "context_id and language cannot both be set: a context has its language");
		goto out;
	}
	if (env && !json_is_null(env)) {
		if (!json_is_object(env)) {
			r = cove_errf(err, -EINVAL, "env_vars must be an object of strings");
			goto out;
		}
		const char *k;
		json_t *v;
		json_object_foreach(env, k, v) {
			if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
				r = cove_errf(err, -EINVAL, "env_vars.%s must be a string without NUL", k);
				goto out;
			}
			if (!*k || strchr(k, '=')) {
				r = cove_errf(err, -EINVAL, "env_vars: '%s' is not a variable name", k);
				goto out;
			}
		}
		if (json_object_size(env))
			req->env_vars = json_incref(env);
	}
	if (strlen(json_string_value(code)) != json_string_length(code)) {
		r = cove_errf(err, -EINVAL, "code holds a NUL");
		goto out;
	}
	if (!(req->code = strdup(json_string_value(code))))
		r = cove_errf(err, -ENOMEM, "out of memory");
out:
	json_decref(j);
	if (r < 0)
		execute_request_clear(req);
	return r;
}

int context_request_parse(const char *body, size_t len, struct context_request *req, struct cove_err *err)
{
	memset(req, 0, sizeof(*req));
	json_t *j = load_object(body, len, err);
	if (!j)
		return -EINVAL;
	int r = opt_string(j, "language", req->language, sizeof(req->language), err);
	if (r == 0)
		r = opt_string(j, "cwd", req->cwd, sizeof(req->cwd), err);
	if (r == 0 && req->cwd[0] && req->cwd[0] != '/')
		r = cove_errf(err, -EINVAL, "cwd must be an absolute path, not '%s'", req->cwd);
	json_decref(j);
	return r;
}
