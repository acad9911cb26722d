/* cove-agent: the guest agent. Listens on TCP port 49983 (envd's port) and
 * runs commands for the host, one connection per command. Also runs directly
 * on a host, bound to loopback, for tests (--listen 127.0.0.1:PORT). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/session.h"

#define AGENT_PORT 49983
/* Concurrent connections served at once; more wait in the listen backlog. */
#define MAX_SESSIONS 256

static atomic_int sessions;

static void *session_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	session_serve(fd);
	atomic_fetch_sub(&sessions, 1);
	return NULL;
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static int listen_on(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 128) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: cove-agent [--listen ADDR:PORT]   (default 0.0.0.0:%d)\n", AGENT_PORT);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(AGENT_PORT) };
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			if (parse_listen(argv[++i], &sa) < 0) {
				fprintf(stderr, "cove-agent: --listen %s: expected ADDR:PORT\n", argv[i]);
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	int lfd = listen_on(&sa);
	if (lfd < 0) {
		fprintf(stderr, "cove-agent: listen on port %u: %s\n", ntohs(sa.sin_port), strerror(-lfd));
		return 1;
	}
	/* Printed after listen() so a supervisor can wait for this line. */
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	getsockname(lfd, (struct sockaddr *)&bound, &blen);
	printf("cove-agent: listening on port %u\n", ntohs(bound.sin_port));
	fflush(stdout);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000); /* EMFILE and friends: back off, keep serving */
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		if (atomic_fetch_add(&sessions, 1) >= MAX_SESSIONS ||
		    pthread_create(&t, &attr, session_thread, (void *)(intptr_t)fd) != 0) {
			atomic_fetch_sub(&sessions, 1);
			close(fd);
		}
	}
}
