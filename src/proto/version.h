/* What Cove's agent and host agree on about envd, E2B's guest daemon: the
 * protocol version the agent implements and the port it listens on.
 *
 * The E2B SDK gates features on the version (see docs/agent-protocol.md),
 * so it is raised only with the features it stands for; the agent sends it
 * as X-Envd-Version and coved reports it as every sandbox's envdVersion.
 * The port is envd's, inside the guest: the agent binds it, the host
 * connects to it, and coved's routing picks it when a request names none. */
#ifndef COVE_PROTO_VERSION_H
#define COVE_PROTO_VERSION_H

#define ENVD_VERSION "0.6.4"
#define ENVD_PORT 49983

#endif
