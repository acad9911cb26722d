/* libFuzzer target: POST /files bodies, through the agent's real HTTP server
 * (libmicrohttpd, whose post processor parses multipart/form-data) and its
 * upload handler (parts to files, paths, users, metadata), in this process,
 * over loopback. Each input is a multipart body; its first byte picks the
 * request's variant (with or without ?path=, quoted boundary, metadata
 * header). The agent writes wherever an input's filenames say, so the target
 * first chroots into its working directory (tests/fuzz/run.sh makes a fresh
 * one) and needs root for that; without root it fuzzes nothing and says so.
 * A request that gets no HTTP status line back (crash, hang, wedged server)
 * aborts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/fs_service.h"
#include "agent/http.h"

static struct http_server *server;
static uint16_t port;
static unsigned long iterations;

static const struct http_route routes[] = {
	{ "POST", "/files", files_post, 0, files_post_body, files_post_cleanup, .authorize = files_authorize_write },
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* What the upload handler reads: the users (a fuzzed filename may have
 * overwritten them). */
static void restore_etc(void)
{
	mkdir("/etc", 0755);
	mkdir("/root", 0700);
	write_file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
	write_file("/etc/group", "root:x:0:\nnogroup:x:65534:\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* /proc stays visible inside (LeakSanitizer reads it), mounted in a
	 * mount namespace of this process's own so it vanishes with it. */
	mkdir("proc", 0555);
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "proc", "proc", 0, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		fprintf(stderr, "fuzz_upload: needs root to chroot into its working directory (%s); fuzzing nothing\n", strerror(errno));
		return 0;
	}
	restore_etc();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct cove_err err = { 0 };
	if (agent_http_start(&sa, routes, 1, &server, &err) < 0) {
		fprintf(stderr, "fuzz_upload: %s\n", err.msg);
		abort();
	}
	port = (uint16_t)http_server_port(server);
	return 0;
}

static int send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends one request and reads the reply; returns the bytes read. */
static size_t exchange(const char *head, size_t head_len, const uint8_t *data, size_t size, char *reply, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = -1;
	/* A loaded machine can fail a loopback connect now and then (seen once
	 * in CI while other tests ran); the server is blamed only if it keeps
	 * refusing. */
	for (int attempt = 0; fd < 0 && attempt < 5; attempt++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "fuzz_upload: connect: %s (attempt %d)\n", strerror(errno), attempt + 1);
			close(fd);
			fd = -1;
			usleep(100 * 1000);
		}
	}
	if (fd < 0)
		abort();
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* The server may answer (and close) before taking the whole body. */
	if (send_all(fd, head, head_len) == 0)
		send_all(fd, data, size);
	size_t got = 0;
	ssize_t r;
	while (got < cap - 1 && (r = recv(fd, reply + got, cap - 1 - got, 0)) > 0)
		got += (size_t)r;
	reply[got] = '\0';
	close(fd);
	return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!server || size < 1)
		return 0;
	if (++iterations % 256 == 0)
		restore_etc();
	uint8_t variant = data[0];
	data++;
	size--;
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "POST /files%s HTTP/1.1\r\nHost: agent\r\n"
			 "Content-Type: multipart/form-data; boundary=%s\r\n%s"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 variant & 1 ? "?path=/up/fixed.bin" : "", variant & 2 ? "\"cove\"" : "cove",
			 variant & 4 ? "X-Metadata-Kind: fuzz\r\n" : "", size);
	char reply[4096];
	size_t got = exchange(head, (size_t)n, data, size, reply, sizeof(reply));
	if (got == 0) {
		/* Nothing at all: the server may have been at its connection limit
		 * (libmicrohttpd closes new connections then) while earlier ones
		 * wound down. Once more after a pause; a server that still says
		 * nothing has crashed or wedged. */
		fprintf(stderr, "fuzz_upload: no reply; retrying once\n");
		usleep(200 * 1000);
		got = exchange(head, (size_t)n, data, size, reply, sizeof(reply));
	}
	if (strncmp(reply, "HTTP/1.1 ", 9) != 0) {
		fprintf(stderr, "fuzz_upload: no HTTP status line back (got %zu bytes)\n", got);
		abort();
	}
	return 0;
}
