/* The volume server (src/nfs): its configuration text, and the real thing
 * (rpcbind and NFS-Ganesha) in a network namespace of the test's own:
 * started by the first export, its pids recorded, started again when
 * killed, told of changes, and ended by close with nothing left running. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "common/proc.h"
#include "net/net.h"
#include "nfs/nfs.h"

static void test_path_check(void **state)
{
	(void)state;
	assert_int_equal(nfs_path_check("/var/lib/cove/volumes/vol_0123", NULL), 0);
	assert_int_equal(nfs_path_check("/a-b_c.d/e", NULL), 0);
	const char *bad[] = { "relative", "/with space", "/quote\"d", "/semi;colon", "/a/../b", "/a/..", "/new\nline", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct cove_err err = { 0 };
		assert_int_equal(nfs_path_check(bad[i], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "volume server"));
	}
	assert_int_equal(nfs_path_check(NULL, NULL), -EINVAL);
}

static void test_config_text(void **state)
{
	(void)state;
	char clients[2][16] = { "10.200.0.3", "10.200.0.9" };
	unsigned counts[2] = { 1, 2 };
	struct nfs_export e[2] = {
		{ .id = "vol_aaaaaaaaaaaaaaaaaaaaaaaa", .path = "/s/volumes/vol_aaaaaaaaaaaaaaaaaaaaaaaa", .export_id = 7,
		  .clients = clients, .counts = counts, .nclients = 2, .cap = 2 },
		{ .id = "vol_bbbbbbbbbbbbbbbbbbbbbbbb", .path = "/s/volumes/vol_bbbbbbbbbbbbbbbbbbbbbbbb", .export_id = 8 },
	};
	char *t = nfs_config_text(e, 2, "/run/x");
	assert_non_null(t);
	/* v3 over TCP alone, MOUNT on its fixed port, guests see /ID. */
	assert_non_null(strstr(t, "Protocols = 3;"));
	assert_non_null(strstr(t, "MNT_Port = 20048;"));
	assert_non_null(strstr(t, "Enable_NLM = false;"));
	assert_non_null(strstr(t, "Enable_UDP = false;"));
	assert_non_null(strstr(t, "Mount_Path_Pseudo = true;"));
	assert_non_null(strstr(t, "RecoveryRoot = \"/run/x/v4recov\";"));
	/* Nobody but the listed clients; nothing cached past an operation. */
	assert_non_null(strstr(t, "Access_Type = None;"));
	assert_non_null(strstr(t, "Attr_Expiration_Time = 0;"));
	assert_non_null(strstr(t, "Export_Id = 7;\n\tPath = \"/s/volumes/vol_aaaaaaaaaaaaaaaaaaaaaaaa\";\n"
				  "\tPseudo = \"/vol_aaaaaaaaaaaaaaaaaaaaaaaa\";"));
	assert_non_null(strstr(t, "Clients = 10.200.0.3, 10.200.0.9;\n\t\tAccess_Type = RW;"));
	/* An export without clients is left out. */
	assert_null(strstr(t, "vol_bbbbbbbbbbbbbbbbbbbbbbbb"));
	free(t);
}

/* --- the real server --- */

static int netns_fd = -1;
static char run_dir[64];

static void *make_netns(void *arg)
{
	(void)arg;
	if (unshare(CLONE_NEWNET) < 0)
		return NULL;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (s >= 0)
		close(s);
	netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	return NULL;
}

static bool have_server(void)
{
	char buf[256];
	return geteuid() == 0 && fs_find_executable("ganesha.nfsd", "/usr/bin", buf, sizeof(buf)) == 0 &&
	       fs_find_executable("rpcbind", "/usr/sbin:/sbin", buf, sizeof(buf)) == 0;
}

static int read_pids(pid_t *rpcbind, pid_t *ganesha)
{
	char path[128], name[16];
	snprintf(path, sizeof(path), "%s/volume-server/pids", run_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	unsigned long start;
	int a = 0, b = 0;
	int n = fscanf(f, "%15s %d %lu\n", name, &a, &start);
	n += fscanf(f, "%15s %d %lu\n", name, &b, &start);
	fclose(f);
	*rpcbind = a;
	*ganesha = b;
	return n == 6 ? 0 : -EINVAL;
}

static void test_server(void **state)
{
	(void)state;
	if (!have_server())
		skip(); /* needs root and the Debian packages nfs-ganesha, nfs-ganesha-vfs and rpcbind */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, make_netns, NULL), 0);
	pthread_join(t, NULL);
	assert_true(netns_fd >= 0);
	snprintf(run_dir, sizeof(run_dir), "/tmp/cove-nfs-test.XXXXXX");
	assert_non_null(mkdtemp(run_dir));
	char vol[128];
	snprintf(vol, sizeof(vol), "%s/vol_0123456789abcdef01234567", run_dir);
	assert_int_equal(mkdir(vol, 0755), 0);

	struct nfs_config c = { .run_dir = run_dir, .netns_fd = netns_fd, .address = "127.0.0.1" };
	struct nfs_server *s = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(nfs_server_open(&c, &s, &err), 0);
	/* Nothing runs before the first export. */
	pid_t rpcb, gan;
	assert_int_equal(read_pids(&rpcb, &gan), -ENOENT);
	if (nfs_allow(s, "vol_0123456789abcdef01234567", vol, "10.1.2.3", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(nfs_allow(s, "vol_0123456789abcdef01234567", vol, "10.1.2.3", &err), 0);
	assert_int_equal(nfs_clients(s, "vol_0123456789abcdef01234567"), 1);
	assert_int_equal(read_pids(&rpcb, &gan), 0);
	struct proc_identity g;
	assert_int_equal(proc_identity_read(gan, &g, NULL), 0);
	/* Refused: not an address, not a path Ganesha's file can hold. */
	assert_int_equal(nfs_allow(s, "vol_0123456789abcdef01234567", vol, "10.1.2", &err), -EINVAL);
	assert_int_equal(nfs_allow(s, "vol_x", "/with space", "10.1.2.4", &err), -EINVAL);

	char conf[160], *text = NULL;
	snprintf(conf, sizeof(conf), "%s/volume-server/ganesha.conf", run_dir);
	FILE *f = fopen(conf, "re");
	assert_non_null(f);
	size_t n = 0;
	assert_true(getdelim(&text, &n, '\0', f) > 0);
	fclose(f);
	assert_non_null(strstr(text, "Clients = 10.1.2.3;"));
	free(text);

	/* Killed, it is started again (and its rpcbind with it). */
	kill(gan, SIGKILL);
	pid_t rpcb2 = rpcb, gan2 = gan;
	for (int i = 0; i < 200 && (gan2 == gan || read_pids(&rpcb2, &gan2) < 0); i++) {
		usleep(100 * 1000);
		read_pids(&rpcb2, &gan2);
	}
	assert_int_not_equal(gan2, gan);
	assert_false(proc_identity_matches(&g));

	/* Counted: the first revoke keeps the export, the second ends it. */
	nfs_revoke(s, "vol_0123456789abcdef01234567", "10.1.2.3");
	assert_int_equal(nfs_clients(s, "vol_0123456789abcdef01234567"), 1);
	nfs_revoke(s, "vol_0123456789abcdef01234567", "10.1.2.3");
	assert_int_equal(nfs_clients(s, "vol_0123456789abcdef01234567"), 0);
	nfs_revoke(s, "vol_0123456789abcdef01234567", "10.1.2.3"); /* once too often: nothing */

	struct proc_identity r2, g2;
	assert_int_equal(proc_identity_read(rpcb2, &r2, NULL), 0);
	assert_int_equal(proc_identity_read(gan2, &g2, NULL), 0);
	nfs_server_close(s);
	assert_false(proc_identity_matches(&r2));
	assert_false(proc_identity_matches(&g2));

	/* A server a previous process left running is ended by the next. */
	assert_int_equal(nfs_server_open(&c, &s, &err), 0);
	assert_int_equal(nfs_allow(s, "vol_0123456789abcdef01234567", vol, "10.1.2.3", &err), 0);
	assert_int_equal(read_pids(&rpcb, &gan), 0);
	assert_int_equal(proc_identity_read(gan, &g, NULL), 0);
	struct nfs_server *next = NULL;
	assert_int_equal(nfs_server_open(&c, &next, &err), 0);
	assert_false(proc_identity_matches(&g));
	nfs_server_close(next);
	nfs_server_close(s);

	close(netns_fd);
	fs_remove_tree(run_dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_check),
		cmocka_unit_test(test_config_text),
		cmocka_unit_test(test_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
