/* The kernel objects of one slot, made and removed from a thread of their
 * own so that the caller's thread never changes namespace. Making happens in
 * one thread: it opens a netlink socket in the host's namespace first, then
 * unshares into a new one, so it can configure both ends from there. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "net/internal.h"
#include "net/rtnl.h"

void slot_host_link(const struct slot_layout *l, unsigned index, char buf[16])
{
	snprintf(buf, 16, "%s-%u", l->name, index);
}

void slot_netns_path(const struct slot_layout *l, unsigned index, char *buf, size_t len)
{
	snprintf(buf, len, "%s/slot-%u", l->netns_dir, index);
}

struct thread_call {
	int netns_fd;
	int (*fn)(void *ctx);
	void *ctx;
	int r;
};

static void *thread_main(void *arg)
{
	struct thread_call *c = arg;
	if (c->netns_fd >= 0 ? setns(c->netns_fd, CLONE_NEWNET) < 0 : unshare(CLONE_NEWNET) < 0) {
		c->r = -errno;
		return NULL;
	}
	c->r = c->fn(c->ctx);
	return NULL;
}

int net_run_in_netns(int netns_fd, int (*fn)(void *ctx), void *ctx)
{
	struct thread_call c = { netns_fd, fn, ctx, 0 };
	pthread_t t;
	int r = pthread_create(&t, NULL, thread_main, &c);
	if (r != 0)
		return -r;
	pthread_join(t, NULL);
	return c.r;
}

static int write_sysctl(const char *path, const char *value, struct cove_err *err)
{
	/* /proc/sys/net is the namespace of the thread that opens it. */
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || fs_write_all(fd, value, strlen(value)) < 0)
		return cove_errno(err, -errno, "write %s", path);
	return 0;
}

static int tap_open(const char *name, bool persist, struct cove_err *err)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "open /dev/net/tun%s", errno == ENOENT ? " (no TUN/TAP support)" : "");
	struct ifreq ifr = { 0 };
	/* VNET_HDR lets virtio-net pass checksum and segmentation offloads through. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return cove_errno(err, -errno, "%s TAP %s", persist ? "create" : "attach to", name);
	/* Persistent: the TAP outlives this descriptor, so a pool slot keeps it
	 * until a VMM attaches. */
	if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0)
		return cove_errno(err, -errno, "make TAP %s persistent", name);
	struct ifreq hw = { 0 };
	strncpy(hw.ifr_name, name, IFNAMSIZ - 1);
	hw.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	if (persist && (rtnl_parse_mac(NET_TAP_MAC, (unsigned char *)hw.ifr_hwaddr.sa_data) < 0 ||
			ioctl(fd, SIOCSIFHWADDR, &hw) < 0))
		return cove_errno(err, -errno, "set the MAC of TAP %s", name);
	return TAKE_FD(fd);
}

struct make_job {
	const struct slot_layout *l;
	unsigned index;
	bool server; /* the volume server's namespace, not slot index's */
	char host_link[16], netns_path[PATH_MAX], alias[64];
	uint32_t host_end, ns_end; /* host byte order */
	int host_netns_fd;
	struct rtnl *host; /* opened in the host's namespace */
	struct cove_err err;
};

static int bind_netns(struct make_job *j)
{
	const char *path = j->netns_path;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return cove_errno(&j->err, -errno, "create %s", path);
	if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0) {
		int e = -errno;
		unlink(path);
		return cove_errno(&j->err, e, "bind-mount the namespace on %s", path);
	}
	return 0;
}

static int configure_tap(struct make_job *j, struct rtnl *ns)
{
	unsigned char mac[6];
	struct in_addr tap, guest;
	inet_pton(AF_INET, NET_TAP_ADDR, &tap);
	inet_pton(AF_INET, NET_GUEST_ADDR, &guest);
	rtnl_parse_mac(NET_GUEST_MAC, mac);
	int fd = tap_open(NET_TAP_NAME, true, &j->err);
	if (fd < 0)
		return fd;
	close(fd);
	unsigned idx;
	int r = rtnl_link_index(ns, NET_TAP_NAME, &idx);
	if (r < 0)
		return cove_errno(&j->err, r, "find %s", NET_TAP_NAME);
	if ((r = rtnl_addr_add(ns, idx, tap.s_addr, NET_PREFIX_LEN)) < 0)
		return cove_errno(&j->err, r, "add %s/%d to %s", NET_TAP_ADDR, NET_PREFIX_LEN, NET_TAP_NAME);
	if ((r = rtnl_link_up(ns, idx)) < 0)
		return cove_errno(&j->err, r, "bring %s up", NET_TAP_NAME);
	if ((r = rtnl_neigh_add(ns, idx, guest.s_addr, mac)) < 0)
		return cove_errno(&j->err, r, "add neighbour %s on %s", NET_GUEST_ADDR, NET_TAP_NAME);
	return 0;
}

static int configure_veth(struct make_job *j, struct rtnl *ns)
{
	const char *host_link = j->host_link;
	char a[16];
	int r = rtnl_veth_create(ns, NET_SLOT_VETH, host_link, j->host_netns_fd);
	if (r < 0)
		return cove_errno(&j->err, r, "create veth pair %s/%s", host_link, NET_SLOT_VETH);
	unsigned idx;
	if ((r = rtnl_link_index(ns, NET_SLOT_VETH, &idx)) < 0)
		return cove_errno(&j->err, r, "find %s", NET_SLOT_VETH);
	if ((r = rtnl_addr_add(ns, idx, htonl(j->ns_end), 31)) < 0 || (r = rtnl_link_up(ns, idx)) < 0)
		return cove_errno(&j->err, r, "configure %s", NET_SLOT_VETH);
	if ((r = rtnl_route_default(ns, idx, htonl(j->host_end))) < 0)
		return cove_errno(&j->err, r, "add default route via %s", (net_addr_format(j->host_end, a), a));
	/* The alias marks the host link as Cove's for recovery. */
	if ((r = rtnl_link_up_alias(j->host, host_link, j->alias)) < 0)
		return cove_errno(&j->err, r, "bring %s up", host_link);
	if ((r = rtnl_link_index(j->host, host_link, &idx)) < 0)
		return cove_errno(&j->err, r, "find %s", host_link);
	if ((r = rtnl_addr_add(j->host, idx, htonl(j->host_end), 31)) < 0)
		return cove_errno(&j->err, r, "add %s/31 to %s", (net_addr_format(j->host_end, a), a), host_link);
	return 0;
}

/* Runs in the new namespace. */
static int make_inside(void *ctx)
{
	struct make_job *j = ctx;
	int r = bind_netns(j);
	if (r < 0)
		return r;
	/* The namespace routes between the TAP and the veth; it has no IPv6,
	 * so nothing of the guest's bypasses the IPv4 rules. */
	if ((r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", &j->err)) < 0 ||
	    (r = write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1", &j->err)) < 0 ||
	    (r = write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", &j->err)) < 0)
		return r;
	/* A connection orphaned while its guest is killed gives up within a
	 * few seconds instead of minutes: it keeps the namespace alive. */
	if ((r = write_sysctl("/proc/sys/net/ipv4/tcp_orphan_retries", "2", &j->err)) < 0 ||
	    (r = write_sysctl("/proc/sys/net/ipv4/tcp_fin_timeout", "5", &j->err)) < 0)
		return r;
	struct rtnl *ns = NULL;
	r = rtnl_open(&ns, &j->err);
	if (r < 0)
		return r;
	if ((r = rtnl_link_up(ns, 1)) < 0) /* lo is ifindex 1 in every new namespace */
		cove_errno(&j->err, r, "bring lo up");
	else if ((r = j->server ? 0 : configure_tap(j, ns)) == 0 && (r = configure_veth(j, ns)) == 0)
		r = j->server ? fw_server_namespace_setup(&j->err) : fw_namespace_setup(j->ns_end, &j->err);
	rtnl_close(ns);
	return r;
}

static int make(struct make_job *j, struct cove_err *err);

int slot_make(const struct slot_layout *l, unsigned index, struct cove_err *err)
{
	struct make_job j = { .l = l, .index = index, .host_netns_fd = -1 };
	if (net_slot_addrs(&l->range, index, &j.host_end, &j.ns_end) < 0)
		return cove_errf(err, -ERANGE, "slot %u: outside the address range", index);
	slot_host_link(l, index, j.host_link);
	slot_netns_path(l, index, j.netns_path, sizeof(j.netns_path));
	snprintf(j.alias, sizeof(j.alias), "cove %s slot %u", l->name, index);
	int r = make(&j, err);
	if (r < 0) {
		cove_err_prefix(err, "slot %u", index);
		slot_unmake(l, index, NULL);
	}
	return r;
}

void server_host_link(const struct slot_layout *l, char buf[16])
{
	snprintf(buf, 16, "%s-" NET_VOLUME_LINK, l->name);
}

void server_netns_path(const struct slot_layout *l, char *buf, size_t len)
{
	snprintf(buf, len, "%s/volumes", l->netns_dir);
}

int server_make(const struct slot_layout *l, struct cove_err *err)
{
	struct make_job j = { .l = l, .server = true, .host_netns_fd = -1 };
	if (net_volume_server_addrs(&l->range, &j.host_end, &j.ns_end) < 0)
		return cove_errf(err, -ERANGE, "volume server: the address range has no room");
	server_host_link(l, j.host_link);
	server_netns_path(l, j.netns_path, sizeof(j.netns_path));
	snprintf(j.alias, sizeof(j.alias), "cove %s volume server", l->name);
	int r = make(&j, err);
	if (r < 0) {
		cove_err_prefix(err, "volume server");
		server_unmake(l, NULL);
	}
	return r;
}

/* Makes the namespace, its links, addresses and rules; on failure the
 * caller removes what was made. */
static int make(struct make_job *j, struct cove_err *err)
{
	j->host_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (j->host_netns_fd < 0)
		return cove_errno(err, -errno, "open /proc/thread-self/ns/net");
	int r = rtnl_open(&j->host, &j->err);
	if (r == 0) {
		r = net_run_in_netns(-1, make_inside, j);
		if (r < 0 && !j->err.code)
			cove_errno(&j->err, r, "create network namespace%s", r == -EPERM ? " (needs root)" : "");
	}
	rtnl_close(j->host);
	close(j->host_netns_fd);
	if (r < 0 && err)
		*err = j->err;
	return r;
}

static int release_netns(const char *path, struct cove_err *err)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return cove_errno(err, -errno, "unmount %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return cove_errno(err, -errno, "remove %s", path);
	return 0;
}

int slot_release_netns(const struct slot_layout *l, unsigned index, struct cove_err *err)
{
	char path[PATH_MAX];
	slot_netns_path(l, index, path, sizeof(path));
	int r = release_netns(path, err);
	if (r < 0)
		cove_err_prefix(err, "slot %u", index);
	return r;
}

bool slot_host_link_exists(const struct slot_layout *l, unsigned index)
{
	char host_link[16];
	slot_host_link(l, index, host_link);
	return if_nametoindex(host_link) != 0;
}

static int delete_link(const char *host_link, struct cove_err *err)
{
	struct rtnl *host = NULL;
	int r = rtnl_open(&host, err);
	if (r < 0)
		return r;
	r = rtnl_link_delete(host, host_link);
	rtnl_close(host);
	if (r < 0 && r != -ENODEV)
		return cove_errno(err, r, "delete %s", host_link);
	return 0;
}

int slot_delete_host_link(const struct slot_layout *l, unsigned index, struct cove_err *err)
{
	char host_link[16];
	slot_host_link(l, index, host_link);
	int r = delete_link(host_link, err);
	if (r < 0)
		cove_err_prefix(err, "slot %u", index);
	return r;
}

int server_unmake(const struct slot_layout *l, struct cove_err *err)
{
	char host_link[16], path[PATH_MAX];
	server_host_link(l, host_link);
	server_netns_path(l, path, sizeof(path));
	int r = delete_link(host_link, err);
	r = r ?: release_netns(path, err);
	if (r < 0)
		cove_err_prefix(err, "volume server");
	return r;
}

int slot_unmake(const struct slot_layout *l, unsigned index, struct cove_err *err)
{
	/* The link first: deleting one end deletes the pair now, rather than
	 * whenever the kernel gets to the namespace's clean-up. */
	int r = slot_delete_host_link(l, index, err);
	return r < 0 ? r : slot_release_netns(l, index, err);
}

bool slot_intact(const struct slot_layout *l, unsigned index)
{
	char path[PATH_MAX], host_link[16];
	slot_netns_path(l, index, path, sizeof(path));
	slot_host_link(l, index, host_link);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* A mounted namespace answers the namespace ioctl; a plain file does not. */
	int type = ioctl(fd, NS_GET_NSTYPE);
	close(fd);
	return type == CLONE_NEWNET && if_nametoindex(host_link) != 0;
}

static int open_netns(const char *path, struct cove_err *err);

int slot_open_netns(const struct slot_layout *l, unsigned index, struct cove_err *err)
{
	char path[PATH_MAX];
	slot_netns_path(l, index, path, sizeof(path));
	return open_netns(path, err);
}

int server_open_netns(const struct slot_layout *l, struct cove_err *err)
{
	char path[PATH_MAX], host_link[16];
	server_netns_path(l, path, sizeof(path));
	server_host_link(l, host_link);
	if (if_nametoindex(host_link) == 0)
		return cove_errf(err, -ENOENT, "volume server: no link %s", host_link);
	return open_netns(path, err);
}

static int open_netns(const char *path, struct cove_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "open network namespace %s", path);
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return cove_errf(err, -ENOENT, "%s is not a mounted network namespace", path);
	}
	return fd;
}

struct tap_job {
	bool entered;
	int fd;
	struct cove_err *err;
};

/* Another thread's fork (a VMM being launched) holds a copy of every
 * descriptor this process has open until its child execs, the TUN ones made
 * or opened meanwhile included; a TAP attached through such a copy refuses a
 * second attach (EBUSY) for those few milliseconds. */
#define TAP_BUSY_TRIES 300
#define TAP_BUSY_WAIT_US 10000

static int open_tap_inside(void *ctx)
{
	struct tap_job *j = ctx;
	j->entered = true;
	for (int i = 0;; i++) {
		j->fd = tap_open(NET_TAP_NAME, false, j->err);
		if (j->fd != -EBUSY || i == TAP_BUSY_TRIES)
			break;
		usleep(TAP_BUSY_WAIT_US);
	}
	return j->fd < 0 ? j->fd : 0;
}

int slot_open_tap(int netns_fd, struct cove_err *err)
{
	struct tap_job j = { false, -1, err };
	int r = net_run_in_netns(netns_fd, open_tap_inside, &j);
	if (r < 0 && !j.entered)
		return cove_errno(err, r, "enter the slot's namespace");
	return r < 0 ? r : j.fd;
}
