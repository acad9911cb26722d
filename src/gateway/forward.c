/* Relaying a request to the host that serves it (see internal.h): one TCP
 * connection per request to the host's coved, "Connection: close", the
 * request and the response streamed by api/relay.h. A keyed request is only
 * sent once the server has checked its key (the first piece of its body or
 * its handler), never from the header hook: the host takes the cluster's
 * key from the gateway. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/proxy.h"
#include "common/log.h"
#include "gateway/internal.h"
#include "net/net.h"

/* HOST:PORT or [V6]:PORT: the host part into host, the port into *port. */
static int split_addr(const char *addr, char host[CLUSTER_ADDR_MAX + 1], uint16_t *port)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr)
		return -EINVAL;
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p == 0 || p > 65535)
		return -EINVAL;
	size_t n = (size_t)(colon - addr);
	if (addr[0] == '[' && colon[-1] == ']')
		snprintf(host, CLUSTER_ADDR_MAX + 1, "%.*s", (int)n - 2, addr + 1);
	else
		snprintf(host, CLUSTER_ADDR_MAX + 1, "%.*s", (int)n, addr);
	*port = (uint16_t)p;
	return 0;
}

int gateway_connect(const char *addr, int timeout_ms, int *ret, struct cove_err *err)
{
	char host[CLUSTER_ADDR_MAX + 1], ip[INET_ADDRSTRLEN];
	uint16_t port;
	if (split_addr(addr, host, &port) < 0)
		return cove_errf(err, -EINVAL, "host address '%.64s' is not HOST:PORT", addr);
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) != 1) { /* a name: its first IPv4 address */
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
		int rc = getaddrinfo(host, NULL, &hints, &res);
		if (rc != 0 || !res)
			return cove_errf(err, -EHOSTUNREACH, "resolve host %s: %s", host, gai_strerror(rc));
		a = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	int fd = net_connect_tcp_abortive(-1, ip, port, timeout_ms, true, err);
	if (fd < 0)
		return fd;
	*ret = fd;
	return 0;
}

/* The client's headers the gateway sets itself. */
static bool skip_header(const char *name, void *cls)
{
	(void)cls;
	return strcasecmp(name, "X-API-KEY") == 0 || strcasecmp(name, GATEWAY_HOST_HEADER) == 0 ||
	       strcasecmp(name, "X-Forwarded-For") == 0;
}

/* X-Forwarded-For: what the client's said, then the client. */
static void forwarded_for(struct relay_head *h, struct http_request *r)
{
	char ip[INET6_ADDRSTRLEN] = "";
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip));
	else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, ip, sizeof(ip));
	const char *before = http_header(r, "X-Forwarded-For");
	if (before && !strpbrk(before, "\r\n") && *before)
		relay_head_put(h, "X-Forwarded-For: ", before, ip[0] ? ", " : "");
	else if (ip[0])
		relay_head_put(h, "X-Forwarded-For: ", "", "");
	if ((before && *before && !strpbrk(before, "\r\n")) || ip[0])
		relay_head_put(h, ip, "\r\n", "");
}

int gateway_send_head(struct gateway_call *c, struct http_request *r, const char *host, const char *addr)
{
	struct cove_err err = { 0 };
	c->sent = true;
	relay_init(&c->rl, r);
	int rc = gateway_connect(addr, GATEWAY_CONNECT_TIMEOUT_MS, &c->rl.fd, &err);
	if (rc < 0) {
		log_warn("op=gateway_relay host=%s addr=%s msg=\"%s\"", host, addr, err.msg);
		return c->down = rc;
	}
	char head[16384];
	struct relay_head h = { head, 0, sizeof(head), false, skip_header, NULL };
	relay_head_begin(&h, r);
	relay_head_put(&h, GATEWAY_HOST_HEADER ": ", host, "\r\n");
	if (c->keyed)
		relay_head_put(&h, "X-API-KEY: ", c->g->api_key, "\r\n");
	forwarded_for(&h, r);
	relay_head_end(&h, &c->rl, r);
	if (h.overflow)
		return c->down = -E2BIG;
	if (relay_send(&c->rl, head, h.len) < 0)
		return c->down = -EPIPE;
	return 0;
}

static int body(struct http_request *r, const char *data, size_t len)
{
	struct gateway_call *c = r->ctx;
	if (!c)
		return 0; /* finish answers */
	if (!c->sent)
		gateway_send_head(c, r, c->d.host, c->d.addr);
	if (!c->down && relay_body(&c->rl, data, len) < 0)
		c->down = -EPIPE;
	return 0;
}

static enum MHD_Result finish(struct http_request *r)
{
	struct gateway_call *c = r->ctx;
	if (!c)
		return api_reply_error(r, 500, "out of memory");
	if (!c->sent)
		gateway_send_head(c, r, c->d.host, c->d.addr);
	if (!c->down && relay_body_end(&c->rl) < 0)
		c->down = -EPIPE;
	if (!c->down && relay_read_head(&c->rl) < 0)
		c->down = -EPIPE;
	if (c->down == -E2BIG)
		return api_reply_error(r, 431, "request headers too large to relay");
	if (c->down)
		return gateway_host_down(r, c);
	return relay_reply(&c->rl, r, NULL);
}

const struct http_route gateway_relay_route = {
	.method = "*", .pattern = "*", .handler = finish, .body_sink = body, .cleanup = gateway_call_cleanup
};

/* Open: the sandbox's agent checks its own token, as on its host. */
const struct http_route gateway_envd_route = {
	.method = "*", .pattern = "*", .handler = finish, .body_sink = body, .cleanup = gateway_call_cleanup,
	.open = true
};
