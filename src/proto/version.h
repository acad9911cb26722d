/* The envd protocol version Cove's agent implements. The E2B SDK gates
 * features on it (see docs/agent-protocol.md), so it is raised only with the
 * features it stands for; the agent sends it as X-Envd-Version and coved
 * reports it as every sandbox's envdVersion. */
#ifndef COVE_PROTO_VERSION_H
#define COVE_PROTO_VERSION_H

#define ENVD_VERSION "0.6.4"

#endif
