/* coved's limits (see limits.h). */
#include "coved/limits.h"

#include <stddef.h>
#include <string.h>

struct limit_setting {
	const char *name;
	size_t offset;
};

static const struct limit_setting settings[] = {
	{ "max-connections", offsetof(struct coved_limits, api.max_connections) },
	{ "max-connections-per-client", offsetof(struct coved_limits, api.max_per_client) },
	{ "idle-timeout", offsetof(struct coved_limits, api.idle_timeout_s) },
	{ "auth-failures", offsetof(struct coved_limits, api.auth_failures) },
	{ "auth-lockout", offsetof(struct coved_limits, api.auth_lockout_s) },
	{ "egress-max-connections", offsetof(struct coved_limits, egress_per_sandbox) },
};

void coved_limits_defaults(struct coved_limits *l)
{
	*l = (struct coved_limits){ .api = API_LIMITS_DEFAULT, .egress_per_sandbox = COVED_EGRESS_MAX_CONNECTIONS };
}

static const struct limit_setting *find(const char *name)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (strcmp(name, settings[i].name) == 0)
			return &settings[i];
	return NULL;
}

bool coved_limits_known(const char *name)
{
	return find(name) != NULL;
}

void coved_limits_set(struct coved_limits *l, const char *name, unsigned value)
{
	const struct limit_setting *s = find(name);
	if (s)
		*(unsigned *)((char *)l + s->offset) = value;
}
