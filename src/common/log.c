#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"

/* The one piece of process-wide mutable state: set once at start-up. */
static enum log_level current_level = LOG_WARN;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_level_from_env(void)
{
	const char *v = env_get(ENV_LOG);
	if (!v)
		return;
	for (int i = LOG_ERROR; i <= LOG_DEBUG; i++)
		if (strcmp(v, level_names[i]) == 0)
			current_level = (enum log_level)i;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > current_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so lines from threads do not interleave. */
	fprintf(stderr, "cove: %s %s\n", level_names[level], line);
}
