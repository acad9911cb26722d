/* The rules' guard: a thread that listens to the kernel's nftables change
 * notifications (NFNLGRP_NFTABLES) and, when Cove's table is deleted while
 * this process runs (`nft flush ruleset`, a firewall reload, someone's
 * `nft delete table`), makes it again and puts back every kept slot's
 * rules from its record, as a start does (recover.c). Without it a flushed
 * ruleset would leave guests' egress unjudged until the next start.
 *
 * A second pass follows a repair after GUARD_SETTLE_MS, for slots made or
 * released while the first ran; a lost notification (ENOBUFS) and every
 * GUARD_CHECK_MS without one are answered by looking for the table. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "net/internal.h"

#define GUARD_CHECK_MS 60000
#define GUARD_SETTLE_MS 2000
/* A flush sends a notification per object; this many bytes of them are
 * queued before the kernel drops some (and says so: ENOBUFS). */
#define GUARD_RCVBUF (1 << 20)

static int guard_socket(struct mnl_socket **ret, struct cove_err *err)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!nl)
		return cove_errno(err, -errno, "net guard: open a netfilter netlink socket");
	int group = NFNLGRP_NFTABLES, size = GUARD_RCVBUF;
	int r = mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ? cove_errno(err, -errno, "net guard: bind") : 0;
	if (r == 0 && mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		r = cove_errno(err, -errno, "net guard: join the nftables notifications");
	if (r < 0) {
		mnl_socket_close(nl);
		return r;
	}
	/* Past rmem_max needs SO_RCVBUFFORCE (root); the default is the floor. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*ret = nl;
	return 0;
}

/* The table made again if it is gone; then, if it was or after a deletion
 * (another process of the instance may have made it first, without this
 * one's proxy redirect), the redirect set again and every kept slot's
 * rules put back and strays removed. */
static void repair(struct net_slots *ns, bool deleted)
{
	struct cove_err err = { 0 };
	bool made = false;
	struct net_recovery rec = { 0 };
	int r = fw_ensure_table(ns->fw, false, &made, &err);
	if (r == 0 && (made || deleted))
		r = fw_proxy_again(ns->fw, &err);
	if (r == 0 && (made || deleted))
		r = net_slots_recover(ns, false, &rec, &err);
	if (r < 0)
		log_warn("op=net-guard table=\"inet %s\" error=\"%s\"", ns->name, err.msg);
	else if (made)
		log_warn("op=net-guard table=\"inet %s\" msg=\"deleted while this process ran; made again\" restored=%u "
			 "removed=%u strays=%u",
			 ns->name, rec.restored, rec.removed, rec.strays);
	else if (rec.restored || rec.removed || rec.strays)
		log_info("op=net-guard table=\"inet %s\" restored=%u removed=%u strays=%u", ns->name, rec.restored,
			 rec.removed, rec.strays);
}

/* Reads what is queued: true when it (or what was lost) calls for a look. */
static bool drain(struct mnl_socket *nl, const char *name)
{
	_Alignas(struct nlmsghdr) char buf[65536];
	bool look = false;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return look || errno == ENOBUFS;
		/* Not understood: look rather than miss a deletion. */
		if (nft_event_deletes_table(buf, (size_t)n, name) != 0)
			look = true;
	}
}

static void *guard_main(void *arg)
{
	struct net_slots *ns = arg;
	int64_t settle_at = 0, check_at = now_ms() + GUARD_CHECK_MS;
	for (;;) {
		int64_t now = now_ms(), next = settle_at && settle_at < check_at ? settle_at : check_at;
		struct pollfd p[2] = { { mnl_socket_get_fd(ns->guard_nl), POLLIN, 0 }, { ns->guard_wake, POLLIN, 0 } };
		int n = poll(p, 2, next > now ? (int)(next - now) : 0);
		if (n < 0 && errno != EINTR) {
			log_warn("op=net-guard error=\"poll: %s\" msg=\"the guard stops\"", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		now = now_ms();
		if (n > 0 && (p[0].revents & POLLIN) && drain(ns->guard_nl, ns->name)) {
			repair(ns, true);
			settle_at = now_ms() + GUARD_SETTLE_MS;
		} else if (settle_at && now >= settle_at) {
			repair(ns, true);
			settle_at = 0;
		} else if (now >= check_at) {
			repair(ns, false);
			check_at = now + GUARD_CHECK_MS;
		}
	}
	return NULL;
}

int guard_start(struct net_slots *ns, struct cove_err *err)
{
	ns->guard_wake = eventfd(0, EFD_CLOEXEC);
	if (ns->guard_wake < 0)
		return cove_errno(err, -errno, "net guard: eventfd");
	int r = guard_socket(&ns->guard_nl, err);
	if (r == 0 && (r = -pthread_create(&ns->guard, NULL, guard_main, ns)) < 0)
		cove_errno(err, r, "net guard: start its thread");
	if (r < 0) {
		guard_stop(ns);
		return r;
	}
	ns->guard_running = true;
	return 0;
}

void guard_stop(struct net_slots *ns)
{
	if (ns->guard_running) {
		uint64_t one = 1;
		if (write(ns->guard_wake, &one, sizeof(one)) < 0)
			log_warn("op=net-guard error=\"wake: %s\"", strerror(errno));
		pthread_join(ns->guard, NULL);
		ns->guard_running = false;
	}
	if (ns->guard_nl)
		mnl_socket_close(ns->guard_nl);
	ns->guard_nl = NULL;
	if (ns->guard_wake >= 0)
		close(ns->guard_wake);
	ns->guard_wake = -1;
}
