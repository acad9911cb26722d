/* A single-member etcd for the unit tests that need a real one (the etcd
 * client's, the host role's): started on free loopback ports with its data
 * in a temporary directory, killed with the test (and by the kernel if the
 * test dies first). */
#ifndef COVE_TESTS_ETCD_SERVER_H
#define COVE_TESTS_ETCD_SERVER_H

#include <limits.h>
#include <time.h>

#include "common/spawn.h"

struct etcd_server {
	char path[PATH_MAX]; /* the etcd program */
	char data_dir[64];   /* its data and etcd.log */
	char endpoint[64];   /* http://127.0.0.1:PORT */
	int client_port, peer_port;
	struct spawn_child child;
};

/* Two free loopback ports: bound together (so they differ), then released. */
int etcd_server_free_ports(int *a, int *b);
/* Milliseconds of the monotonic clock since t0. */
long etcd_server_ms_since(const struct timespec *t0);

/* Finds the program: -ENOENT when Debian's etcd-server is not installed
 * (the caller skips, saying so). */
int etcd_server_find(struct etcd_server *s);
/* Makes the data directory, picks the ports, starts the member and waits
 * until it answers. On failure the log stays in s->data_dir. */
int etcd_server_start(struct etcd_server *s);
/* Starts the member again after etcd_server_kill (same ports and data). */
int etcd_server_spawn(struct etcd_server *s);
/* Waits (15 s at most) for the member to answer a range. */
int etcd_server_wait_ready(const struct etcd_server *s);
/* SIGKILL, then reaps it; safe when it is not running. */
void etcd_server_kill(struct etcd_server *s);
/* Kills it and removes its data. */
void etcd_server_stop(struct etcd_server *s);

/* The cluster tests' member and their client of it: etcd_server_start,
 * then a client with the default time-out; and both gone again. */
struct etcd_client;
int etcd_server_open(struct etcd_server *s, struct etcd_client **client);
void etcd_server_close(struct etcd_server *s, struct etcd_client **client);
/* Deletes everything under the catalog's prefix (/cove/v1/): each test
 * from an empty catalog. */
int etcd_server_clear_catalog(struct etcd_client *client);

#endif
