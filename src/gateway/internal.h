/* Inside the gateway (see gateway.h): its state, the decision taken for a
 * request from its headers (decide.c, pure but for catalog reads), and the
 * routes that carry each decision out (relay.c, create.c, list.c). */
#ifndef COVE_GATEWAY_INTERNAL_H
#define COVE_GATEWAY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "api/relay.h"
#include "api/request.h"
#include "cluster/placement.h"
#include "gateway/gateway.h"

struct gateway {
	struct etcd_client *etcd;
	struct etcd_client *probe; /* NULL: none (gateway_config.probe_endpoints) */
	struct catalog *cat;
	char self_id[CLUSTER_HOST_ID_MAX + 1]; /* "": a gateway only */
	char api_key[256];
	char domain[API_DOMAIN_MAX];
	pthread_mutex_t lock; /* placement's table and rng, and known */
	struct placement_inflight inflight;
	struct placement_rng rng;
	/* Every host's address as its last record said: a host whose lease
	 * is gone may still serve (cut off from etcd only, multihost §4.7), so
	 * its sandboxes' requests still go there until it does not answer. */
	struct gateway_known {
		char id[CLUSTER_HOST_ID_MAX + 1];
		char addr[CLUSTER_ADDR_MAX + 1];
	} *known;
	size_t nknown, known_cap;
};

/* known.c: under g->lock, h's address is remembered; host's last known
 * address into addr (it takes the lock): -ENOENT when never seen. */
void gateway_remember(struct gateway *g, const struct cluster_host *h);
int gateway_last_addr(struct gateway *g, const char *host, char addr[CLUSTER_ADDR_MAX + 1]);

/* What becomes of a request. */
enum gateway_action {
	GATEWAY_LOCAL,       /* served here, as a single host would */
	GATEWAY_MISDIRECTED, /* 421: forwarded for another host */
	GATEWAY_CREATE,      /* placed, forwarded */
	GATEWAY_LIST,        /* from the catalog */
	GATEWAY_RELAY,       /* to host at addr (a sandbox's route, or anything else) */
	GATEWAY_ENVD,        /* a sandbox's envd traffic, to host at addr (open: the agent checks its token) */
	GATEWAY_ENVD_GONE,   /* 502: no such sandbox, or its host is gone */
	GATEWAY_NOT_FOUND,   /* 404: no record of the sandbox */
	GATEWAY_HOST_DOWN,   /* the owner's key is gone and its address unknown: see gateway_host_down */
	GATEWAY_FAIL,        /* status with err's message */
};

/* The request as the decision sees it (its headers). */
struct gateway_request {
	const char *method, *path;
	const char *cove_host;                /* X-Cove-Host */
	const char *sandbox_id, *sandbox_port; /* E2b-Sandbox-Id, E2b-Sandbox-Port */
	const char *host;                     /* Host */
};

struct gateway_decision {
	enum gateway_action action;
	char sandbox[CLUSTER_SANDBOX_ID_MAX + 1]; /* the sandbox it is for; "": none */
	char host[CLUSTER_HOST_ID_MAX + 1];       /* the host it goes to (or went to, gone) */
	char addr[CLUSTER_ADDR_MAX + 1];
	unsigned status;                          /* GATEWAY_FAIL */
	bool v2;                                  /* GATEWAY_LIST: /v2/sandboxes */
	bool sandbox_root;                        /* the path is /sandboxes/ID itself (info, kill) */
	struct cove_err err;
};

/* One request the gateway took (r->ctx), whatever route carries it. */
struct gateway_call {
	struct gateway *g;
	struct gateway_decision d;
	bool keyed;      /* the cluster's key goes along (not on envd traffic) */
	bool sent;       /* the head went to the host */
	int down;        /* connecting or relaying failed: the host did not answer */
	struct relay rl; /* rl.fd: to the host, closed by gateway_call_cleanup */
};
void gateway_call_cleanup(struct http_request *r);

/* decide.c: never fails; a catalog error becomes LOCAL on a host and a
 * FAIL (503) on a gateway only. */
void gateway_decide(struct gateway *g, const struct gateway_request *req, struct gateway_decision *d);
/* A sandbox id in a request (an old SDK's "ID-cove" as ID): 0, or -ENOENT
 * when it cannot be one. */
int gateway_sandbox_id(const char *given, char id[CLUSTER_SANDBOX_ID_MAX + 1]);
/* The live host with the lowest id into id and addr: -ENOENT when none. */
int gateway_any_host(struct gateway *g, char id[CLUSTER_HOST_ID_MAX + 1], char addr[CLUSTER_ADDR_MAX + 1]);

/* forward.c: the routes that relay to a host (keyed, and envd's open
 * one). */
extern const struct http_route gateway_relay_route, gateway_envd_route;
/* A TCP connection to a host's HOST:PORT (IPv4 or a name) into *ret. */
int gateway_connect(const char *addr, int timeout_ms, int *ret, struct cove_err *err);
/* Connects c->rl to the host at addr and sends r's head (its headers as
 * sent but hop-by-hop ones, X-Cove-Host: host, the cluster's key when
 * c->keyed, X-Forwarded-For): 0, or the connection's error (c->down). */
int gateway_send_head(struct gateway_call *c, struct http_request *r, const char *host, const char *addr);

/* answers.c: what the gateway answers itself, and for a sandbox whose
 * host is gone or does not answer (info from the record, a kill as an
 * intent, else 503). */
extern const struct http_route gateway_answer_route, gateway_envd_gone_route;
enum MHD_Result gateway_host_down(struct http_request *r, struct gateway_call *c);
/* A record as GET /sandboxes/{id} and the lists show a sandbox. */
json_t *gateway_sandbox_json(const struct cluster_sandbox *sb);

/* create.c */
extern const struct http_route gateway_create_route;
/* list.c */
extern const struct http_route gateway_list_route;

/* create.c: the name a create's templateID is placed by, as hosts
 * publish their templates and snapshots: template_ref's canonical form
 * (ALIAS or ALIAS:TAG: "base:default" is "base", a namespace dropped), or
 * the text as given when it is no such reference. */
void gateway_template_name(const char *given, char name[CLUSTER_TEMPLATE_NAME_MAX + 1]);

#endif
