#include "agent/state.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define TOKEN_MAX 1024
#define ENV_MAX 1024
/* A guest clock further off than this is stepped to the host's. */
#define CLOCK_SLACK_MS 50

static struct {
	pthread_rwlock_t lock;
	bool set_clock;
	char *token;
	char **envs;
	size_t nenvs;
	char *workdir;
	char *user;
} st = { .lock = PTHREAD_RWLOCK_INITIALIZER };

void agent_state_setup(bool set_clock)
{
	st.set_clock = set_clock;
}

bool agent_token_ok(const char *presented)
{
	pthread_rwlock_rdlock(&st.lock);
	bool ok = true;
	if (st.token) {
		size_t a = strlen(st.token), b = presented ? strlen(presented) : 0;
		unsigned char diff = a != b;
		for (size_t i = 0; i < a; i++)
			diff |= (unsigned char)st.token[i] ^ (unsigned char)(i < b ? presented[i] : 0);
		ok = diff == 0;
	}
	pthread_rwlock_unlock(&st.lock);
	return ok;
}

static int set_string(json_t *req, const char *field, char **slot, size_t max, struct cove_err *err)
{
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	if (!s || strlen(s) > max)
		return cove_errf(err, -EINVAL, "%s must be a string of at most %zu characters", field, max);
	char *copy = strdup(s);
	if (!copy)
		return cove_errf(err, -ENOMEM, "out of memory");
	if (!*s) { /* an empty string unsets */
		free(copy);
		copy = NULL;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

static int set_envs(json_t *req, struct cove_err *err)
{
	json_t *v = json_object_get(req, "envVars");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v) || json_object_size(v) > ENV_MAX)
		return cove_errf(err, -EINVAL, "envVars must be an object of at most %d strings", ENV_MAX);
	char **envs = calloc(json_object_size(v) + 1, sizeof(char *));
	size_t n = 0;
	const char *key;
	json_t *val;
	int r = envs ? 0 : cove_errf(err, -ENOMEM, "out of memory");
	json_object_foreach(v, key, val) {
		if (r < 0)
			break;
		if (!json_is_string(val) || !*key || strchr(key, '='))
			r = cove_errf(err, -EINVAL, "envVars.%s is not a valid variable", key);
		else if (asprintf(&envs[n], "%s=%s", key, json_string_value(val)) < 0)
			r = cove_errf(err, -ENOMEM, "out of memory");
		else
			n++;
	}
	if (r < 0) {
		for (size_t i = 0; envs && i < n; i++)
			free(envs[i]);
		free(envs);
		return r;
	}
	for (size_t i = 0; i < st.nenvs; i++)
		free(st.envs[i]);
	free(st.envs);
	st.envs = envs;
	st.nenvs = n;
	return 0;
}

/* The host's clock, so the guest's is right after a restore or boot. */
static int set_clock(json_t *req, struct cove_err *err)
{
	const char *ts = json_string_value(json_object_get(req, "timestamp"));
	if (!ts)
		return 0;
	struct tm tm = { 0 };
	const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return cove_errf(err, -EINVAL, "timestamp '%s' is not RFC 3339", ts);
	long nsec = 0;
	if (*rest == '.') {
		long scale = 100000000;
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
			nsec += (*rest - '0') * scale;
	}
	struct timespec host = { .tv_sec = timegm(&tm), .tv_nsec = nsec };
	if (!st.set_clock)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long off_ms = ((long long)host.tv_sec - now.tv_sec) * 1000 + (host.tv_nsec - now.tv_nsec) / 1000000;
	if ((off_ms > CLOCK_SLACK_MS || off_ms < -CLOCK_SLACK_MS) && clock_settime(CLOCK_REALTIME, &host) < 0)
		return cove_errno(err, -errno, "set the clock");
	return 0;
}

int agent_init_apply(json_t *req, struct cove_err *err)
{
	pthread_rwlock_wrlock(&st.lock);
	int r = set_string(req, "accessToken", &st.token, TOKEN_MAX, err);
	if (r == 0)
		r = set_envs(req, err);
	if (r == 0)
		r = set_string(req, "defaultWorkdir", &st.workdir, 4096, err);
	if (r == 0)
		r = set_string(req, "defaultUser", &st.user, 63, err);
	if (r == 0)
		r = set_clock(req, err);
	pthread_rwlock_unlock(&st.lock);
	return r;
}

void agent_default_user(char *buf, size_t len)
{
	pthread_rwlock_rdlock(&st.lock);
	snprintf(buf, len, "%s", st.user ? st.user : "");
	pthread_rwlock_unlock(&st.lock);
}

void agent_defaults_get(struct agent_defaults *out)
{
	pthread_rwlock_rdlock(&st.lock);
	out->envs = calloc(st.nenvs + 1, sizeof(char *));
	for (size_t i = 0; out->envs && i < st.nenvs; i++)
		out->envs[i] = strdup(st.envs[i]);
	out->workdir = st.workdir ? strdup(st.workdir) : NULL;
	pthread_rwlock_unlock(&st.lock);
}

void agent_defaults_free(struct agent_defaults *d)
{
	for (size_t i = 0; d->envs && d->envs[i]; i++)
		free(d->envs[i]);
	free(d->envs);
	free(d->workdir);
	d->envs = NULL;
	d->workdir = NULL;
}
