/* See etcd_server.h. */
#include "etcd_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cluster/etcd.h"
#include "cluster/records.h"
#include "common/fs.h"

int etcd_server_free_ports(int *a, int *b)
{
	int fds[2] = { -1, -1 }, ports[2], r = 0;
	for (int i = 0; i < 2 && r == 0; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&sa, &len) < 0)
			r = -errno;
		ports[i] = ntohs(sa.sin_port);
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r == 0) {
		*a = ports[0];
		*b = ports[1];
	}
	return r;
}

long etcd_server_ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int etcd_server_find(struct etcd_server *s)
{
	memset(s, 0, sizeof(*s));
	s->child.pidfd = -1;
	return fs_find_executable("etcd", "/usr/bin:/usr/sbin", s->path, sizeof(s->path));
}

int etcd_server_spawn(struct etcd_server *s)
{
	char client_url[64], peer_url[64], cluster[96], data[PATH_MAX], log[PATH_MAX];
	snprintf(client_url, sizeof(client_url), "http://127.0.0.1:%d", s->client_port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", s->peer_port);
	snprintf(cluster, sizeof(cluster), "test=%s", peer_url);
	snprintf(data, sizeof(data), "%s/data", s->data_dir);
	snprintf(log, sizeof(log), "%s/etcd.log", s->data_dir);
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", client_url);
	char *argv[] = { s->path,    "--name",
			 "test",     "--data-dir",
			 data,       "--listen-client-urls",
			 client_url, "--advertise-client-urls",
			 client_url, "--listen-peer-urls",
			 peer_url,   "--initial-advertise-peer-urls",
			 peer_url,   "--initial-cluster",
			 cluster,    "--logger",
			 "zap",      "--log-level",
			 "error",    NULL };
	int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct spawn_options o = { .path = s->path,
				   .argv = argv,
				   .parent_death_signal = SIGKILL,
				   .stdio = { { SPAWN_NULL }, { SPAWN_FD, log_fd }, { SPAWN_FD, log_fd } } };
	int r = spawn_start(&o, &s->child, NULL);
	if (log_fd >= 0)
		close(log_fd);
	return r;
}

void etcd_server_kill(struct etcd_server *s)
{
	if (s->child.pidfd < 0)
		return;
	syscall(SYS_pidfd_send_signal, s->child.pidfd, SIGKILL, NULL, 0);
	spawn_wait(&s->child, NULL);
	s->child.pidfd = -1;
}

int etcd_server_wait_ready(const struct etcd_server *s)
{
	struct etcd_client *c;
	if (etcd_client_new(s->endpoint, 500, &c, NULL) < 0)
		return -1;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = -1;
	while (r < 0 && etcd_server_ms_since(&t0) < 15000) {
		struct etcd_result res;
		r = etcd_range(c, "/", 1, false, &res, NULL);
		if (r == 0)
			etcd_result_clear(&res);
		else
			usleep(50 * 1000);
	}
	etcd_client_free(c);
	return r;
}

int etcd_server_start(struct etcd_server *s)
{
	snprintf(s->data_dir, sizeof(s->data_dir), "/tmp/cove-etcd-test.XXXXXX");
	if (!mkdtemp(s->data_dir))
		return -errno;
	int r = etcd_server_free_ports(&s->client_port, &s->peer_port);
	if (r == 0)
		r = etcd_server_spawn(s);
	if (r == 0)
		r = etcd_server_wait_ready(s);
	if (r < 0)
		fprintf(stderr, "# etcd did not start; its log is in %s\n", s->data_dir);
	return r;
}

void etcd_server_stop(struct etcd_server *s)
{
	etcd_server_kill(s);
	if (s->data_dir[0])
		fs_remove_tree(s->data_dir, NULL);
}

int etcd_server_open(struct etcd_server *s, struct etcd_client **client)
{
	int r = etcd_server_start(s);
	return r < 0 ? r : etcd_client_new(s->endpoint, 0, client, NULL);
}

void etcd_server_close(struct etcd_server *s, struct etcd_client **client)
{
	*client = etcd_client_free(*client);
	etcd_server_stop(s);
}

int etcd_server_clear_catalog(struct etcd_client *client)
{
	return etcd_delete(client, CLUSTER_KEY_PREFIX, strlen(CLUSTER_KEY_PREFIX), true, NULL, NULL);
}
