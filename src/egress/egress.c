/* The egress proxy (see egress.h): its thread and listener, and each
 * connection's setup: find the slot and destination, read until the name
 * is known, judge, resolve and dial, then hand over to the relay. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "egress/internal.h"

static const char *const verdict_names[] = { "deny", "direct", "by-name" };

static void conn_unlink(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->e->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* Reset, not FIN: a refused guest sees its connection fail at once. */
static void close_reset(int fd)
{
	if (fd < 0)
		return;
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void conn_close(struct conn *c, bool abort)
{
	if (c->ev)
		event_free(c->ev);
	if (c->lookup)
		evdns_cancel_request(c->e->dns, c->lookup); /* its callback sees DNS_ERR_CANCEL and returns */
	relay_free(c);
	if (abort) {
		close_reset(c->client);
		close_reset(c->up);
	} else {
		close(c->client);
		if (c->up >= 0)
			close(c->up);
	}
	if (c->counted)
		quota_give(c->e, c->slot);
	net_policy_copy_free(&c->policy);
	conn_unlink(c);
	free(c);
}

static void deny(struct conn *c, const char *why)
{
	char dst[INET_ADDRSTRLEN];
	uint32_t be = htonl(c->dst);
	inet_ntop(AF_INET, &be, dst, sizeof(dst));
	log_info("op=egress slot=%u dst=%s:%u name=\"%s\" verdict=deny why=\"%s\"", c->slot, dst, c->port, c->name,
		 why);
	conn_close(c, true);
}

static void dial_next(struct conn *c);

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (what & EV_TIMEOUT)
		soerr = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	event_free(c->ev);
	c->ev = NULL;
	if (soerr) {
		log_debug("op=egress slot=%u name=\"%s\" msg=\"connect: %s\"", c->slot, c->name, strerror(soerr));
		close(c->up);
		c->up = -1;
		dial_next(c);
		return;
	}
	if ((c->via_proxy ? socks_begin(c) : relay_start(c)) < 0)
		conn_close(c, true);
}

/* Dials the next candidate address, or gives up (reset) when none is left. */
static void dial_next(struct conn *c)
{
	while (c->next_addr < c->naddrs) {
		uint32_t addr = c->addrs[c->next_addr++];
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(c->dial_port),
					  .sin_addr = { htonl(addr) } };
		c->up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->up < 0)
			break;
		if (connect(c->up, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
			close(c->up);
			c->up = -1;
			continue;
		}
		unsigned ms = c->e->c.connect_timeout_ms;
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		c->ev = event_new(c->e->base, c->up, EV_WRITE, on_connected, c);
		if (!c->ev || event_add(c->ev, &tv) < 0)
			break;
		return;
	}
	log_info("op=egress slot=%u name=\"%s\" msg=\"no address of it could be reached\"", c->slot, c->name);
	conn_close(c, true);
}

/* The candidates: those of the name's addresses a policy may open, the one
 * the guest dialled first when it is among them. */
static void use_addrs(struct conn *c, const uint32_t *addrs, size_t n)
{
	for (size_t i = 0; i < n && c->naddrs < EGRESS_MAX_ADDRS; i++) {
		if (net_egress_forbidden(c->e->c.slots, addrs[i]))
			continue;
		/* A name with rules dialled by name, not by an allow_out entry for
		 * it: each of its addresses judged as if the guest had dialled it. */
		if (c->rule && net_egress_decide(&c->policy.policy, addrs[i], c->name) == NET_EGRESS_DENY)
			continue;
		c->addrs[c->naddrs++] = addrs[i];
		if (addrs[i] == c->dst) {
			c->addrs[c->naddrs - 1] = c->addrs[0];
			c->addrs[0] = addrs[i];
		}
	}
	if (c->naddrs == 0) {
		deny(c, "it resolves to no address a sandbox may reach");
		return;
	}
	dial_next(c);
}

static void on_resolved(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	if (result == DNS_ERR_CANCEL)
		return; /* conn_close is under way, or done: arg is not read */
	struct conn *c = arg;
	c->lookup = NULL;
	if (result != DNS_ERR_NONE || type != DNS_IPv4_A || count <= 0) {
		deny(c, result != DNS_ERR_NONE ? evdns_err_to_string(result) : "it has no IPv4 address");
		return;
	}
	uint32_t addrs[EGRESS_MAX_ADDRS];
	size_t n = (size_t)count < EGRESS_MAX_ADDRS ? (size_t)count : EGRESS_MAX_ADDRS;
	for (size_t i = 0; i < n; i++)
		addrs[i] = ntohl(((const uint32_t *)addresses)[i]);
	names_put(&c->e->names, c->resolving, addrs, n, ttl);
	use_addrs(c, addrs, n);
}

/* Resolves host (a name, or an IPv4 address as is) through the sandboxes'
 * nameservers, or the cache while its TTL lasts, and dials its addresses. */
static void resolve_and_dial(struct conn *c, const char *host)
{
	struct in_addr literal;
	uint32_t addrs[EGRESS_MAX_ADDRS];
	if (inet_pton(AF_INET, host, &literal) == 1) {
		addrs[0] = ntohl(literal.s_addr);
		use_addrs(c, addrs, 1);
		return;
	}
	size_t n = names_get(&c->e->names, host, addrs);
	if (n) {
		use_addrs(c, addrs, n);
		return;
	}
	snprintf(c->resolving, sizeof(c->resolving), "%s", host);
	c->lookup = evdns_base_resolve_ipv4(c->e->dns, c->resolving, DNS_QUERY_NO_SEARCH, on_resolved, c);
	if (!c->lookup)
		deny(c, "its name could not be looked up");
}

/* Through the sandbox's own SOCKS5 proxy: it is dialled (never one of the
 * addresses no policy opens), and asked to connect to the name allowed, or
 * to the address. */
static void dial_via_proxy(struct conn *c, enum net_egress_verdict v)
{
	char host[256];
	if (net_egress_proxy_split(c->policy.policy.proxy.address, host, &c->dial_port) < 0) {
		deny(c, "its egressProxy address is not HOST:PORT");
		return;
	}
	c->via_proxy = true;
	c->socks_by_name = v == NET_EGRESS_BY_NAME || c->rule;
	resolve_and_dial(c, host);
}

static void judge(struct conn *c)
{
	if (c->ev)
		event_free(c->ev);
	c->ev = NULL;
	enum net_egress_verdict v = net_egress_decide(&c->policy.policy, c->dst, c->name);
	log_debug("op=egress slot=%u name=\"%s\" verdict=%s", c->slot, c->name, verdict_names[v]);
	c->dial_port = c->port;
	/* A name with rules, asked for the way the port speaks: its requests
	 * get the rule's headers, and it is always dialled by name, so that
	 * the headers go only where the name leads. */
	if (v != NET_EGRESS_DENY && ((c->port == 443 && c->kind == PEEK_TLS) || (c->port == 80 && c->kind == PEEK_HTTP)))
		c->rule = net_rule_match(&c->policy.policy, c->name);
	if (v == NET_EGRESS_DENY) {
		deny(c, "the sandbox's network policy");
	} else if (v == NET_EGRESS_DIRECT && net_egress_forbidden(c->e->c.slots, c->dst)) {
		deny(c, "an address no policy opens");
	} else if (c->policy.policy.proxy.address) {
		dial_via_proxy(c, v);
	} else if (v == NET_EGRESS_DIRECT && !c->rule) {
		c->addrs[0] = c->dst;
		c->naddrs = 1;
		dial_next(c);
	} else {
		resolve_and_dial(c, c->name);
	}
}

/* For the client's next bytes, until the deadline set at accept: a client
 * that sends a byte at a time gets no more time than one that sends none. */
static int wait_client(struct conn *c)
{
	int64_t left = c->deadline_ms - now_ms();
	if (left < 0)
		left = 0;
	struct timeval tv = { left / 1000, (left % 1000) * 1000 };
	return event_add(c->ev, &tv);
}

static void on_client(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (what & EV_TIMEOUT) {
		judge(c); /* no name in time: judged by address */
		return;
	}
	ssize_t n = recv(fd, c->head + c->head_len, sizeof(c->head) - c->head_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c, n < 0);
		return;
	}
	if (n < 0) {
		if (wait_client(c) < 0)
			conn_close(c, true);
		return;
	}
	c->head_len += (size_t)n;
	struct cove_err err = { 0 };
	int r = peek_name(c->head, c->head_len, c->name, &err);
	if (r == PEEK_MORE) {
		if (wait_client(c) < 0)
			conn_close(c, true);
		return;
	}
	if (r < 0) {
		/* Neither TLS nor HTTP, or malformed: judged by address alone. */
		c->name[0] = '\0';
		log_debug("op=egress slot=%u msg=\"%s\"", c->slot, err.msg);
	}
	c->kind = r > 0 ? r : 0;
	judge(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)salen;
	struct egress *e = arg;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close_reset(fd);
		return;
	}
	c->e = e;
	c->end = conn_close;
	c->client = fd;
	c->up = -1;
	c->peer = ntohl(((struct sockaddr_in *)sa)->sin_addr.s_addr);
	c->next = e->conns;
	if (e->conns)
		e->conns->prev = c;
	e->conns = c;
	struct sockaddr_in orig;
	socklen_t len = sizeof(orig);
	struct cove_err err = { 0 };
	/* Only what the redirect brought: a connection made to the port itself
	 * has itself as its original destination. */
	if (sa->sa_family != AF_INET || getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len) < 0 ||
	    ntohs(orig.sin_port) == e->port || net_egress_lookup(e->c.slots, c->peer, &c->slot, &c->policy, &err) < 0) {
		log_debug("op=egress msg=\"refused a connection not redirected from a slot: %s\"", err.msg);
		conn_close(c, true);
		return;
	}
	c->dst = ntohl(orig.sin_addr.s_addr);
	c->port = ntohs(orig.sin_port);
	if (!(c->counted = quota_take(e, c->slot))) {
		conn_close(c, true);
		return;
	}
	/* Web ports are read for a name; other ports (redirected for an
	 * egressProxy) are judged by address at once: their servers may speak
	 * first. */
	if (c->port != 80 && c->port != 443) {
		judge(c);
		return;
	}
	c->deadline_ms = now_ms() + e->c.peek_timeout_ms;
	c->ev = event_new(e->base, fd, EV_READ, on_client, c);
	if (!c->ev || wait_client(c) < 0)
		conn_close(c, true);
}

static void *loop_main(void *arg)
{
	struct egress *e = arg;
	event_base_loop(e->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int listen_on(struct egress *e, struct cove_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cove_errno(err, -errno, "egress: socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(e->c.port),
				  .sin_addr = { htonl(INADDR_ANY) } };
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int r = -errno;
		close(fd);
		return cove_errno(err, r, "egress: bind port %u", e->c.port);
	}
	e->port = ntohs(sa.sin_port);
	e->listener = evconnlistener_new(e->base, on_accept, e, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
					 fd);
	if (!e->listener) {
		close(fd);
		return cove_errf(err, -ENOMEM, "egress: listen on port %u", e->port);
	}
	return 0;
}

static int dns_setup(struct egress *e, struct cove_err *err)
{
	e->dns = evdns_base_new(e->base, 0);
	if (!e->dns)
		return cove_errf(err, -ENOMEM, "egress: evdns");
	int r = 0;
	size_t n = 0;
	for (; e->c.dns && e->c.dns[n] && r == 0; n++)
		r = evdns_base_nameserver_ip_add(e->dns, e->c.dns[n]);
	if (r == 0 && n == 0)
		r = evdns_base_resolv_conf_parse(e->dns, DNS_OPTION_NAMESERVERS | DNS_OPTION_MISC, "/etc/resolv.conf");
	if (r != 0)
		return cove_errf(err, -EINVAL, "egress: nameservers %s", n ? "given" : "of /etc/resolv.conf");
	evdns_base_set_option(e->dns, "timeout:", "2");
	evdns_base_set_option(e->dns, "attempts:", "2");
	return 0;
}

/* What upstream servers of hosts with rules are verified with: the host's
 * trust store, and the extra CA file if one is given. */
static int trust_setup(struct egress *e, struct cove_err *err)
{
	int rc = gnutls_certificate_allocate_credentials(&e->trust);
	if (rc < 0) {
		e->trust = NULL;
		return cove_errf(err, -ENOMEM, "egress: TLS credentials: %s", gnutls_strerror(rc));
	}
	if ((rc = gnutls_certificate_set_x509_system_trust(e->trust)) < 0)
		log_info("op=egress-start msg=\"no system trust store: %s\"", gnutls_strerror(rc));
	if (e->c.upstream_ca &&
	    (rc = gnutls_certificate_set_x509_trust_file(e->trust, e->c.upstream_ca, GNUTLS_X509_FMT_PEM)) <= 0)
		return cove_errf(err, -EINVAL, "egress: upstream CA file %s: %s", e->c.upstream_ca,
				 rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
	return 0;
}

int egress_start(const struct egress_config *c, struct egress **ret, struct cove_err *err)
{
	static pthread_once_t threads = PTHREAD_ONCE_INIT;
	pthread_once(&threads, (void (*)(void))evthread_use_pthreads);
	struct egress *e = calloc(1, sizeof(*e));
	if (!e)
		return cove_errf(err, -ENOMEM, "egress: out of memory");
	e->c = *c;
	pthread_mutex_init(&e->icpt_lock, NULL);
	pthread_cond_init(&e->icpt_done, NULL);
	pthread_mutex_init(&e->quota_lock, NULL);
	if (!e->c.peek_timeout_ms)
		e->c.peek_timeout_ms = 5000;
	if (!e->c.connect_timeout_ms)
		e->c.connect_timeout_ms = 10000;
	e->base = event_base_new();
	int r = e->base ? 0 : cove_errf(err, -ENOMEM, "egress: event base");
	r = r ?: dns_setup(e, err);
	r = r ?: trust_setup(e, err);
	r = r ?: listen_on(e, err);
	if (r == 0 && (r = -pthread_create(&e->thread, NULL, loop_main, e)) < 0)
		cove_errno(err, r, "egress: start its thread");
	e->running = r == 0;
	r = r ?: net_slots_set_proxy(c->slots, e->port, err);
	if (r < 0) {
		egress_stop(e);
		return r;
	}
	log_info("op=egress-start port=%u", e->port);
	*ret = e;
	return 0;
}

void egress_stop(struct egress *e)
{
	if (!e)
		return;
	if (e->running) {
		event_base_loopbreak(e->base);
		pthread_join(e->thread, NULL);
	}
	while (e->conns)
		conn_close(e->conns, true);
	intercept_stop_all(e);
	if (e->trust)
		gnutls_certificate_free_credentials(e->trust);
	pthread_cond_destroy(&e->icpt_done);
	pthread_mutex_destroy(&e->icpt_lock);
	pthread_mutex_destroy(&e->quota_lock);
	free(e->quota);
	if (e->listener)
		evconnlistener_free(e->listener);
	if (e->dns)
		evdns_base_free(e->dns, 0);
	if (e->base)
		event_base_free(e->base);
	free(e);
}
