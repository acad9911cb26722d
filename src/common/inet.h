/* IPv4 socket addresses as the programs take them on their command lines
 * and in settings: "ADDR:PORT". */
#ifndef COVE_COMMON_INET_H
#define COVE_COMMON_INET_H

#include <netinet/in.h>

/* A dotted IPv4 address, ':', a port from 0 to 65535, into sa. -EINVAL
 * otherwise (the address at most 63 bytes). */
int inet_addr_port_parse(const char *s, struct sockaddr_in *sa);

#endif
