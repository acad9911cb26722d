/* coved's settings bounding what clients and guests can make it hold
 * (--max-connections, --max-connections-per-client, --idle-timeout,
 * --auth-failures, --auth-lockout, --egress-max-connections), kept apart
 * from main.c's other settings. Each is a number; 0 turns the limit off. */
#ifndef COVE_COVED_LIMITS_H
#define COVE_COVED_LIMITS_H

#include <stdbool.h>

#include "api/server.h"

#define COVED_LIMITS_OPTIONS                                                                        \
	{ "max-connections", required_argument, NULL, 0 },                                          \
		{ "max-connections-per-client", required_argument, NULL, 0 },                       \
		{ "idle-timeout", required_argument, NULL, 0 }, { "auth-failures", required_argument, NULL, 0 }, \
		{ "auth-lockout", required_argument, NULL, 0 },                                     \
		{ "egress-max-connections", required_argument, NULL, 0 }

#define COVED_LIMITS_USAGE                                                                              \
	"  --max-connections N  API connections served at once; a request on one more gets 503\n"     \
	"                       (default 1024)\n"                                                      \
	"  --max-connections-per-client N\n"                                                            \
	"                       the same from one client address (default 512)\n"                     \
	"  --idle-timeout S     close an API connection that waits S seconds for its client\n"        \
	"                       (never while a request is served or a stream waits; default 30)\n"    \
	"  --auth-failures N    after N wrong API keys from one address within --auth-lockout\n"      \
	"  --auth-lockout S     seconds, its requests get 429 for S seconds (defaults 10, 60)\n"      \
	"  --egress-max-connections N\n"                                                                \
	"                       connections one sandbox may hold through the egress proxy at\n"       \
	"                       once; more are reset (default 512)\n"                                  \
	"                       (each limit: 0 turns it off)\n"

#define COVED_EGRESS_MAX_CONNECTIONS 512

struct coved_limits {
	struct api_limits api;
	unsigned egress_per_sandbox;
};

void coved_limits_defaults(struct coved_limits *l);
/* Is name one of these settings? Then coved_limits_set takes its value,
 * parsed as a number by the caller. */
bool coved_limits_known(const char *name);
void coved_limits_set(struct coved_limits *l, const char *name, unsigned value);

#endif
