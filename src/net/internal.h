/* Inside the net module: address arithmetic, the firewall (nftables), the
 * kernel objects of one slot, and the allocator's state shared by slots.c
 * and recover.c. */
#ifndef COVE_NET_INTERNAL_H
#define COVE_NET_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

#define NET_NAME_MAX 8
/* Inside every slot's namespace. */
#define NET_SLOT_VETH "eth0"

/* An IPv4 prefix, host byte order. */
struct net_cidr {
	uint32_t addr;
	unsigned prefix;
};

/* "a.b.c.d" or "a.b.c.d/n" with no bits set past the prefix. */
int net_cidr_parse(const char *s, struct net_cidr *ret);
void net_addr_format(uint32_t addr, char buf[16]);
bool net_cidr_contains(const struct net_cidr *c, uint32_t addr);
/* Never reachable from a slot; reachable only through allow_out. Each
 * table ends with a zero prefix. */
extern const struct net_cidr net_blocked[], net_private[];
int net_name_check(const char *name);

/* Addresses of slot index in range: the host's end and the namespace's end
 * of its /31. -ERANGE when the range has no room for index. */
int net_slot_addrs(const struct net_cidr *range, unsigned index, uint32_t *host_end, uint32_t *ns_end);
/* How many /31s the range holds. */
unsigned net_range_slots(const struct net_cidr *range);
/* The volume server's /31: the range's last, which no slot is given. */
int net_volume_server_addrs(const struct net_cidr *range, uint32_t *host_end, uint32_t *ns_end);
/* Parses "NAME-N" (a host link) or "slot-N" (a namespace file); -EINVAL otherwise. */
int slot_parse_index(const char *prefix, const char *s, unsigned *ret);

/* --- firewall.c: Cove's nftables table `inet NAME` --- */
struct firewall;

/* dns: the sandboxes' nameservers (a.b.c.d; others are skipped), kept for
 * the rules of policies that name domains. */
int fw_open(const char *name, const struct net_cidr *range, const char *const *dns, struct firewall **ret,
	    struct cove_err *err);
struct firewall *fw_close(struct firewall *fw);
/* Makes the table with its base chains, sets and map, unless it is there
 * (*made, if given, says whether it was made). replace: delete and remake
 * it (its settings changed and no slot uses it). */
int fw_ensure_table(struct firewall *fw, bool replace, bool *made, struct cove_err *err);
int fw_delete_table(struct firewall *fw, struct cove_err *err);
/* The slot's chain and its entry in the map, replaced in one transaction. */
int fw_slot_set(struct firewall *fw, unsigned index, const struct net_policy *p, struct cove_err *err);
/* Removes both; what is missing already is fine. */
int fw_slot_remove(struct firewall *fw, unsigned index, struct cove_err *err);
/* Calls fn for every slot chain and every map entry (is_chain tells which). */
int fw_slot_each(struct firewall *fw, int (*fn)(void *ctx, unsigned index, bool is_chain), void *ctx,
		 struct cove_err *err);
/* The commands fw_slot_set runs (exposed for tests). Returns the length, or
 * -ENOSPC when buf is too small. */
int fw_slot_commands(const char *name, unsigned index, const struct net_policy *p, const char *const *dns, char *buf,
		     size_t len);
/* Points TCP 80 and 443 of slots whose policy names domains at the egress
 * proxy on port (0: at nothing; they then meet the slot's chain). */
int fw_set_proxy(struct firewall *fw, uint16_t port, struct cove_err *err);
/* Whether a proxy was set by this process. */
bool fw_has_proxy(struct firewall *fw);
/* The redirect this process set, set again (a table another process made
 * anew lacks it); nothing without one. */
int fw_proxy_again(struct firewall *fw, struct cove_err *err);
/* The rules inside a slot's namespace: SNAT of the guest to ns_end, and no
 * new connections from the guest or the host link into the namespace itself.
 * Runs on a thread inside the namespace. */
int fw_namespace_setup(uint32_t ns_end, struct cove_err *err);
/* The rules inside a slot's namespace for a guest that mounts volumes: its
 * NFS and MOUNT connections to the TAP's address DNAT'd to server (the
 * volume server's address), and segments of connections the namespace never
 * saw (a restored guest's) answered with a reset. Idempotent; runs on a
 * thread inside the namespace. */
int fw_namespace_volumes(uint32_t server, struct cove_err *err);
/* The rules inside the volume server's namespace: only NFS and MOUNT come in
 * from its link, and nothing but replies goes out. */
int fw_server_namespace_setup(struct cove_err *err);

/* --- conntrack.c: the kernel's connection tracking entries of a slot --- */
struct nlattr;
/* An entry of a conntrack dump, as ct_dump_parse hands it over. */
struct ct_entry {
	const struct nlattr *orig; /* CTA_TUPLE_ORIG, inside the buffer parsed */
	uint16_t zone;
	bool has_zone;
};
/* One read of a conntrack dump (IPCTNL_MSG_CT_NEW messages): fn is called
 * for each IPv4 entry one of whose tuples has addr (host byte order) as its
 * source or destination. 1 at the dump's end (NLMSG_DONE), 0 when more is to
 * come, the kernel's error, fn's, or -EINVAL for what does not parse. Pure,
 * for tests and the fuzzer. */
int ct_dump_parse(const void *buf, size_t len, uint32_t addr, int (*fn)(void *ctx, const struct ct_entry *e),
		  void *ctx);
/* Deletes every entry from or to addr (*forgotten: how many, if given). */
int ct_forget_addr(uint32_t addr, unsigned *forgotten, struct cove_err *err);

/* --- slot.c: the kernel objects of one slot --- */
struct slot_layout {
	const char *name;       /* instance name */
	const char *netns_dir;  /* RUN_DIR/netns */
	struct net_cidr range;
};

void slot_host_link(const struct slot_layout *l, unsigned index, char buf[16]);
void slot_netns_path(const struct slot_layout *l, unsigned index, char *buf, size_t len);
/* Makes the namespace (bind-mounted), its persistent TAP, the veth pair, the
 * addresses, routes and namespace rules. On failure, removes what it made. */
int slot_make(const struct slot_layout *l, unsigned index, struct cove_err *err);
/* Removes the host link (and with it the pair) and the namespace's mount.
 * Idempotent: what is already gone is fine. Deleting a link waits for an RCU
 * grace period (~30 ms measured here), so releases use the two halves:
 * slot_release_netns, after which the kernel removes the namespace and all
 * its links in the background, and slot_delete_host_link for what is left. */
int slot_unmake(const struct slot_layout *l, unsigned index, struct cove_err *err);
int slot_release_netns(const struct slot_layout *l, unsigned index, struct cove_err *err);
int slot_delete_host_link(const struct slot_layout *l, unsigned index, struct cove_err *err);
bool slot_host_link_exists(const struct slot_layout *l, unsigned index);
/* True when the namespace is mounted and the host link exists. */
bool slot_intact(const struct slot_layout *l, unsigned index);
/* Opens the mounted namespace, O_CLOEXEC. */
int slot_open_netns(const struct slot_layout *l, unsigned index, struct cove_err *err);
/* The volume server's namespace and link (net_volume_server_open): made as a
 * slot's, without a TAP; removed; opened (-ENOENT when either is missing). */
void server_host_link(const struct slot_layout *l, char buf[16]);
void server_netns_path(const struct slot_layout *l, char *buf, size_t len);
int server_make(const struct slot_layout *l, struct cove_err *err);
int server_unmake(const struct slot_layout *l, struct cove_err *err);
int server_open_netns(const struct slot_layout *l, struct cove_err *err);
int slot_open_tap(int netns_fd, struct cove_err *err);

/* Runs fn on a new thread that first joins netns_fd (or, with -1, a new
 * namespace); the caller's thread never changes namespace. */
int net_run_in_netns(int netns_fd, int (*fn)(void *ctx), void *ctx);

/* --- slots.c and recover.c: the allocator --- */
struct net_slots {
	char name[NET_NAME_MAX + 1];
	char netns_dir[PATH_MAX];
	char range_text[32];
	struct slot_layout layout;
	unsigned max_slots;
	unsigned pool_size;
	struct store *store;
	struct firewall *fw;
	struct proc_identity self;

	pthread_t pool_thread;
	bool pool_running;
	bool pool_stop;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_wake;

	/* Released slots whose links the kernel is still removing; their
	 * records stay (as 'destroying') until the links are gone, so the
	 * index is not handed out again before. Guarded by reap_lock. */
	pthread_t reaper;
	bool reaper_running;
	bool reap_stop;
	struct pending_reap {
		unsigned index;
		int64_t since_ms;
	} *reap;
	size_t nreap, reap_cap;
	int64_t reap_store_failed_ms; /* the reaper's: its last failed record delete */
	pthread_mutex_t reap_lock;
	pthread_cond_t reap_wake;

	/* guard.c's: its thread, its netlink socket, the eventfd that stops it */
	pthread_t guard;
	bool guard_running;
	struct mnl_socket *guard_nl;
	int guard_wake;
};

struct store_slot;

/* True when the process holding the record, or its VMM, still runs. */
bool slots_holder_alive(const struct store_slot *s);
/* Removes everything of a slot: rules, tracked connections, links,
 * namespace. Idempotent. */
int slots_remove_all(struct net_slots *ns, unsigned index, struct cove_err *err);
/* Deletes the kernel's connection tracking entries of the slot's address
 * (conntrack.c); a failure is logged, not returned. */
void slots_forget_flows(struct net_slots *ns, unsigned index);
/* rules.c: net_policy_check's part for network.rules (field: its name). */
int rules_check(const char *field, const struct net_policy *p, struct cove_err *err);

/* net_slots_recover's work; runs inside a store transaction. */
int slots_recover_locked(struct net_slots *ns, bool drain_pool, struct net_recovery *ret, struct cove_err *err);

/* --- guard.c: the table made again when someone deletes it --- */
struct mnl_socket;
/* Starts the thread (ns->guard_wake must be -1 or an fd it owns). */
int guard_start(struct net_slots *ns, struct cove_err *err);
/* Stops it and closes what guard_start opened; safe if it never ran. */
void guard_stop(struct net_slots *ns);

/* --- nfevent.c: nftables notifications --- */
/* 1 when a message of buf (one read of an NFNLGRP_NFTABLES socket) deletes
 * inet table name, 0 when none does, -EINVAL when buf does not parse. */
int nft_event_deletes_table(const void *buf, size_t len, const char *name);

#endif
