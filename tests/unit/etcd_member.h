/* A real etcd member for unit tests (test_etcd_client, test_catalog): one
 * member on loopback ports of its own, its data in a temporary directory,
 * killed with the test (parent-death signal) or by etcd_member_stop(). */
#ifndef COVE_TESTS_ETCD_MEMBER_H
#define COVE_TESTS_ETCD_MEMBER_H

#include <limits.h>
#include <time.h>

#include "common/spawn.h"

struct etcd_member {
	char path[PATH_MAX]; /* the etcd program */
	char data_dir[64];
	char endpoint[64]; /* http://127.0.0.1:PORT */
	int client_port, peer_port;
	struct spawn_child child;
};

/* Finds the etcd program: -ENOENT when it is not installed (a skip). */
int etcd_member_find(struct etcd_member *m);
/* Makes the directory, picks ports, starts the member and waits until it
 * answers (about a second). On failure the log is in m->data_dir. */
int etcd_member_start(struct etcd_member *m);
/* Starts it again after a kill: same ports, same data. */
int etcd_member_spawn(struct etcd_member *m);
/* Waits (15 s at most) for it to answer a range. */
int etcd_member_wait_ready(const struct etcd_member *m);
void etcd_member_kill(struct etcd_member *m);
/* Kills it and removes its data. */
void etcd_member_stop(struct etcd_member *m);

/* Two free loopback ports (bound together, so they differ, then released). */
int etcd_member_free_ports(int *a, int *b);
long etcd_member_ms_since(const struct timespec *t0);

#endif
