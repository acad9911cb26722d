/* One client connection on the agent's port: a process.Process/Start
 * request in, the process's event stream out (docs/agent-protocol.md). */
#ifndef COVE_AGENT_SESSION_H
#define COVE_AGENT_SESSION_H

/* Serves the connection and closes it. */
void session_serve(int fd);

#endif
