/* Sandbox networking: network slots.
 *
 * A slot is what one sandbox's network needs, made as in the reference hosts
 * (Firecracker's and E2B's network slots):
 *   - a network namespace, bind-mounted at RUN_DIR/netns/slot-N so that it
 *     outlives the process that made it;
 *   - inside it a TAP for the VMM, the same in every slot so clones of one
 *     snapshot need no reconfiguration:
 *       guest eth0 169.254.0.21/30, MAC 06:00:ac:10:00:02; TAP 169.254.0.22/30
 *   - a veth pair to the host with a /31 from a configurable private range
 *     (slot N: RANGE+2N on the host side, RANGE+2N+1 in the namespace), the
 *     namespace's default route, and SNAT of the guest to its end;
 *   - a chain in Cove's nftables table (`inet NAME`) holding the sandbox's
 *     egress policy, entered through a verdict map keyed by the veth's name.
 *
 * The host reaches the guest only from inside the namespace (sockets made
 * after setns()), never through the host's interfaces.
 *
 * Slots are recorded in the state database before any kernel object is made
 * or removed, so a process killed at any point leaves records that the next
 * net_slots_open() reconciles with what the kernel holds: slots whose holder
 * or VMM still runs are adopted, everything else of Cove's is removed, and
 * nothing that Cove did not make is touched (names carry the instance name,
 * and host links also an alias saying they are Cove's).
 *
 * Everything goes through the kernel's interfaces: unshare/setns and a bind
 * mount for namespaces, /dev/net/tun for TAPs, rtnetlink (libmnl) for links,
 * addresses, routes and neighbours, libnftables for rules. */
#ifndef COVE_NET_H
#define COVE_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/env.h"
#include "common/err.h"
#include "common/proc.h"
#include "net/dns.h"

#define NET_GUEST_ADDR "169.254.0.21"
#define NET_TAP_ADDR "169.254.0.22"
#define NET_NETMASK "255.255.255.252"
#define NET_PREFIX_LEN 30
#define NET_GUEST_MAC "06:00:ac:10:00:02"
#define NET_TAP_NAME "tap0"
/* The TAP's own MAC, the same in every slot: a guest restored from a
 * snapshot keeps its neighbour entry for the gateway. */
#define NET_TAP_MAC "06:00:ac:10:00:01"

/* The volume server's ports, as guests see them at NET_TAP_ADDR. */
#define NET_NFS_PORT 2049
#define NET_MOUNT_PORT 20048
/* The volume server's host link is NAME-vol; its namespace RUN_DIR/netns/volumes. */
#define NET_VOLUME_LINK "vol"

#define NET_DEFAULT_NAME COVE_DEFAULT_NET_NAME
#define NET_DEFAULT_RANGE COVE_DEFAULT_NET_RANGE
#define NET_DEFAULT_MAX_SLOTS COVE_DEFAULT_NET_MAX_SLOTS
#define NET_MAX_RULES 256

/* A sandbox's egress, as E2B's API has it: allow_internet_access=false is
 * deny_out 0.0.0.0/0, and allow_out wins over deny_out. Entries are IPv4
 * addresses or CIDRs, or domain names (`pypi.org`, `*.github.com`; see
 * proto/domain.h). Whatever the policy, a guest never reaches the host
 * itself, another sandbox, or link-local addresses (the cloud metadata
 * service 169.254.169.254); private networks (10/8, 172.16/12, 192.168/16,
 * 100.64/10, ...) only through allow_out.
 *
 * Domain names are judged by the egress proxy (net_egress_decide): a slot
 * whose policy names one has its TCP to ports 80 and 443 redirected to the
 * proxy, which reads the TLS SNI or the HTTP Host the guest asks for.
 * Other ports are judged by address only, as E2B does. */
/* E2B's network.egressProxy: a SOCKS5 proxy of the user's that allowed TCP
 * connections are dialled through (after allow_out and deny_out judged
 * them); with one, a slot's TCP on every port goes to the egress proxy.
 * address: "host:port" (an IPv4 address or a host name), NULL for none;
 * username and password (RFC 1929; a password only with a username),
 * each at most 255 bytes, or NULL. */
struct net_egress_proxy {
	const char *address, *username, *password;
};

/* E2B's network.rules: headers the egress proxy sets on a sandbox's HTTP
 * and HTTPS requests to host, an exact name or `*.suffix` (lower case; a
 * bare `*` is refused: it would hand the headers to every destination).
 * Values may hold `${e2b.secrets.NAME}` (proto/placeholder.h), filled in
 * by the proxy. Rules grant no access: allow_out and deny_out still judge
 * the connection. For a name, the exact rule wins, then the longest
 * matching wildcard (net_rule_match); rule sets are not merged. */
#define NET_MAX_RULE_HEADERS 32
#define NET_MAX_HEADER_VALUE 8192
struct net_header {
	const char *name, *value;
};
struct net_rule {
	const char *host;
	const struct net_header *headers; /* nheaders, names unique (case-insensitively) */
	size_t nheaders;
};

struct net_policy {
	bool internet;
	/* The guest mounts volumes: its NFS (NET_NFS_PORT) and MOUNT
	 * (NET_MOUNT_PORT) connections to NET_TAP_ADDR reach the volume server
	 * (net_volume_server_open). Cove's own, not E2B's. */
	bool volumes;
	const char *const *allow_out; /* NULL-terminated; may be NULL */
	const char *const *deny_out;  /* NULL-terminated; may be NULL */
	struct net_egress_proxy proxy;
	const struct net_rule *rules; /* nrules (at most NET_MAX_RULES), hosts unique */
	size_t nrules;
};

/* Checks every entry (IPv4 address or CIDR with host bits clear, at most
 * NET_MAX_RULES per list); err names the first bad one. */
int net_policy_check(const struct net_policy *p, struct cove_err *err);
/* The same, naming the lists as the caller's input does ("network.allowOut"). */
int net_policy_check_as(const struct net_policy *p, const char *allow_name, const char *deny_name,
			struct cove_err *err);
/* Whether either list names a domain. */
bool net_policy_has_domains(const struct net_policy *p);
/* Whether the slot's web traffic goes through the egress proxy: its lists
 * name domains, or it has rules. */
bool net_policy_needs_proxy(const struct net_policy *p);
/* The rule for name (normalized, as peek_name gives it), or NULL. */
const struct net_rule *net_rule_match(const struct net_policy *p, const char *name);
/* The proxy's address split: host (a name or IPv4 address) and port.
 * -EINVAL when it is not HOST:PORT. */
int net_egress_proxy_split(const char *address, char host[256], uint16_t *port);

/* What the egress proxy does with a connection a sandbox opened to dst
 * (host byte order) on port 80 or 443, asking for name (TLS SNI or HTTP
 * Host, normalized; "" when it sent none), under policy p:
 *   1. name matches an allow_out domain: NET_EGRESS_BY_NAME (the proxy
 *      resolves the name itself and connects to its address, so a guest
 *      cannot pair an allowed name with an address of its choosing);
 *   2. dst matches an allow_out address or CIDR: NET_EGRESS_DIRECT;
 *   3. name matches a deny_out domain, or the internet is off, or dst is in
 *      deny_out or a private network: NET_EGRESS_DENY;
 *   4. otherwise NET_EGRESS_DIRECT.
 * The proxy still refuses addresses no policy opens (net_egress_forbidden). */
enum net_egress_verdict {
	NET_EGRESS_DENY,
	NET_EGRESS_DIRECT,
	NET_EGRESS_BY_NAME,
};
enum net_egress_verdict net_egress_decide(const struct net_policy *p, uint32_t dst, const char *name);

/* E2B's network.rules object (field names it in errors: "network.rules"):
 * its hosts lower-cased, each host's transforms' headers in order (a later
 * one replacing an earlier one of the same name). Parsed, not checked:
 * net_policy_check does that. The strings point into o, which must outlive
 * the result. */
struct json_t;
struct net_rules_parsed {
	struct net_rule *rules; /* and the hosts' names, in one block */
	struct net_header *headers;
	size_t nrules;
};
int net_rules_parse(struct json_t *o, const char *field, struct net_rules_parsed *ret, struct cove_err *err);
void net_rules_parsed_free(struct net_rules_parsed *p);
/* The rules as E2B's JSON has them: {"HOST": [{"transform": {"headers":
 * {...}}}]}; NULL: out of memory. */
struct json_t *net_rules_json(const struct net_policy *p);

/* A policy as text, as slot records and sandbox records keep it: "" for the
 * default (internet on, no lists), else JSON with E2B's field names. */
bool net_policy_is_default(const struct net_policy *p);
char *net_policy_encode(const struct net_policy *p); /* malloc'd; NULL: out of memory */
/* A policy that owns its lists (decoded, or copied). */
struct net_policy_copy {
	struct net_policy policy; /* points into the fields below */
	const char **allow, **deny;
	struct net_rules_parsed rules;
	struct json_t *json;
};
/* -EINVAL for text that is not a policy this encoding made; NULL or "" is
 * the default. */
int net_policy_decode(const char *text, struct net_policy_copy *ret);
/* Leaves the default policy behind. NULL-safe fields. */
void net_policy_copy_free(struct net_policy_copy *pc);

struct net_config {
	const char *name;      /* instance name: table `inet NAME`, links NAME-N; [a-z0-9]{1,8}; NULL: "cove" */
	const char *state_dir; /* the state database; NULL: the store's default */
	const char *run_dir;   /* slot namespaces in RUN_DIR/netns; NULL: /run/cove */
	const char *netns_dir; /* where slot namespaces are mounted; NULL: RUN_DIR/netns */
	const char *range;     /* IPv4 CIDR the veth /31s come from; NULL: NET_DEFAULT_RANGE */
	unsigned max_slots;    /* 0: NET_DEFAULT_MAX_SLOTS (capped by the range's size) */
	unsigned pool_size;    /* ready slots kept made in the background; 0: none */
	/* The sandboxes' nameservers (IPv4 addresses, at most NET_DNS_MAX),
	 * NULL-terminated; may be NULL. A policy that names domains but denies
	 * the internet keeps DNS (port 53) to them open. */
	const char *const *dns;
};

/* Fills a config from the environment (common/env.h): COVE_NET_NAME,
 * COVE_STATE_DIR, COVE_RUN_DIR, COVE_NET_DIR, COVE_NET_RANGE,
 * COVE_NET_MAX_SLOTS, COVE_NET_POOL. The strings point into the environment.
 *
 * The name identifies the instance: every process using one name must use
 * the same state directory and namespace directory (recovery removes what
 * that instance's records do not know). */
void net_config_from_env(struct net_config *c);

struct net_recovery {
	unsigned adopted;  /* slots whose sandbox still runs, or ready in the pool */
	unsigned removed;  /* slots (records and kernel objects) removed */
	unsigned strays;   /* kernel objects of Cove's without a record, removed */
	unsigned restored; /* adopted slots whose rules were gone and were put back */
};

struct net_slots;

/* Checks what is needed (root, /dev/net/tun, nftables), opens the state,
 * makes Cove's nftables table if missing, enables IPv4 forwarding, and
 * reconciles records with the kernel (see above). With a pool, starts the
 * thread that keeps it filled. recovery may be NULL. */
int net_slots_open(const struct net_config *c, struct net_slots **ret, struct net_recovery *recovery,
		   struct cove_err *err);
/* Stops the pool thread. Slots stay as they are (pool slots stay ready, for
 * the next process to use); release them first. NULL-safe. */
struct net_slots *net_slots_close(struct net_slots *ns);

/* The egress proxy of this process listens on port (of every host address;
 * 0: none does): slots whose policy names domains have TCP 80 and 443
 * redirected to it. Without one, a policy that names domains is refused
 * (-ENOTSUP) by net_slot_acquire and net_slot_set_policy: nothing could
 * enforce it (`cove run` without coved). */
int net_slots_set_proxy(struct net_slots *ns, uint16_t port, struct cove_err *err);
/* For a connection the proxy accepted from peer (host byte order): the
 * slot it came from and that slot's policy now. -ENOENT when peer is not
 * the address of a slot of this instance, or the slot is free. */
int net_egress_lookup(struct net_slots *ns, uint32_t peer, unsigned *index, struct net_policy_copy *ret,
		      struct cove_err *err);
/* Addresses no policy opens: this host's own (any interface), loopback,
 * link-local, multicast, 0/8, and the slot range (other sandboxes). */
bool net_egress_forbidden(struct net_slots *ns, uint32_t addr);

/* Runs the reconciliation again (cove net gc). drain_pool also removes the
 * ready slots. */
int net_slots_recover(struct net_slots *ns, bool drain_pool, struct net_recovery *ret, struct cove_err *err);

/* Makes pool slots until the pool holds pool_size; returns how many it made. */
int net_slots_fill_pool(struct net_slots *ns, struct cove_err *err);

struct net_slot;

/* Gives sandbox a slot (from the pool when one is ready, else made now) with
 * its policy applied, held by the calling process until release. */
int net_slot_acquire(struct net_slots *ns, const char *sandbox, const struct net_policy *policy,
		     struct net_slot **ret, struct cove_err *err);
/* Records the VMM using the slot, so the slot is kept while it runs even if
 * the holding process dies (a daemon restarting). */
int net_slot_set_vmm(struct net_slots *ns, struct net_slot *slot, const struct proc_identity *vmm,
		     struct cove_err *err);
/* Replaces the slot's egress policy, atomically. */
int net_slot_set_policy(struct net_slots *ns, struct net_slot *slot, const struct net_policy *policy,
			struct cove_err *err);
/* Removes the slot's rules, links and namespace, and its record. The VMM must
 * be gone. Always frees slot. */
int net_slot_release(struct net_slots *ns, struct net_slot *slot, struct cove_err *err);
/* Forgets the slot without touching it (a process handing it on). NULL-safe. */
struct net_slot *net_slot_free(struct net_slot *slot);

/* The volume server's network namespace (made when missing, idempotent):
 * bind-mounted at RUN_DIR/netns/volumes, a veth pair NAME-vol to the host
 * with the range's last /31 (no slot is given it; *addr gets the server's
 * end), rules letting in only NFS and MOUNT over TCP from its link. Only
 * slots whose policy has volumes reach it, and only on those ports.
 * Returns an fd of the namespace (O_CLOEXEC; the caller closes it). */
int net_volume_server_open(struct net_slots *ns, char addr[16], struct cove_err *err);
/* Removes it (its link and mount); what is gone already is fine. */
int net_volume_server_remove(struct net_slots *ns, struct cove_err *err);

/* Connects to TCP port of the sandbox's guest from inside its slot: how the
 * host reaches the agent (49983) or a user's server, without publishing the
 * guest anywhere. Returns the connected socket (closing abortively, see
 * net_tcp_socket_in) or a negative errno. */
int net_slot_connect(const struct net_slot *slot, uint16_t port, int timeout_ms, struct cove_err *err);

/* Removes whatever is left of the slot of a sandbox that has ended (its
 * release could not be recorded: the state's file system full), whoever
 * held it; 0 when it has none. -EBUSY while its recorded VMM still runs. */
int net_slot_forget(struct net_slots *ns, const char *sandbox, struct cove_err *err);

/* Opens the slot of a running sandbox by its id (cove port-forward). */
int net_slot_find(struct net_slots *ns, const char *sandbox, struct net_slot **ret, struct cove_err *err);

unsigned net_slot_index(const struct net_slot *slot);
int net_slot_netns_fd(const struct net_slot *slot);
/* Opens the slot's TAP for the VMM (O_CLOEXEC; the caller owns the fd). */
int net_slot_open_tap(const struct net_slot *slot, struct cove_err *err);
/* The namespace's end of the veth (the guest's address as the host's
 * firewall sees it, after SNAT), e.g. "10.200.0.1". */
const char *net_slot_address(const struct net_slot *slot);
/* The host's end of the veth, e.g. "cove-0". */
const char *net_slot_host_link(const struct net_slot *slot);
/* RUN_DIR/netns, the mount point of every slot's namespace: a VMM's private
 * mount namespace drops it (vmm_config.hide_mounts). */
const char *net_slot_netns_dir(const struct net_slot *slot);

struct net_slot_info {
	unsigned index;
	const char *state;   /* creating, ready, used, destroying */
	const char *sandbox; /* "" when none */
	char host_link[16];
	char address[16];    /* the namespace's end */
	bool holder_alive, vmm_alive;
	pid_t holder_pid, vmm_pid;
};
typedef int (*net_slot_info_fn)(void *ctx, const struct net_slot_info *info);
int net_slots_list(struct net_slots *ns, net_slot_info_fn fn, void *ctx, struct cove_err *err);

/* A new TCP socket (O_CLOEXEC) that lives in the namespace netns_fd, or in
 * the caller's when netns_fd is -1. Returns it or a negative errno. It closes
 * abortively (SO_LINGER 0: a reset, freed at once), as suits requests whose
 * answers have been read: a socket left in FIN_WAIT to a guest that is being
 * killed would keep the slot's namespace alive for minutes. */
int net_tcp_socket_in(int netns_fd);

/* Opens a TCP connection to addr:port from inside the namespace, waiting at
 * most timeout_ms. Returns the connected socket (O_CLOEXEC, blocking) or a
 * negative errno (-ECONNREFUSED, -ETIMEDOUT, ...) with err filled. It closes
 * gracefully (relayed byte streams); _abortive chooses. */
int net_connect_tcp(int netns_fd, const char *addr, uint16_t port, int timeout_ms, struct cove_err *err);
int net_connect_tcp_abortive(int netns_fd, const char *addr, uint16_t port, int timeout_ms, bool abortive,
			     struct cove_err *err);

#endif
