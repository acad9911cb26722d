/* A gateway-only API server over an etcd cluster's catalog, for
 * tests/integration/gateway.sh until coved's --role gateway is wired: the
 * gateway's routing (src/gateway/) in front of hosts it relays to, and no
 * routes of its own. Usage: gateway ETCD_URL API_KEY [DOMAIN]; it prints
 * "gateway: listening on 127.0.0.1:PORT" and serves until SIGTERM or
 * SIGINT. */
#include <signal.h>
#include <stdio.h>

#include "api/server.h"
#include "common/curl.h"
#include "gateway/gateway.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: gateway ETCD_URL API_KEY [DOMAIN]\n");
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server's threads too */
	cove_curl_init();
	struct cove_err err = { 0 };
	struct etcd_client *etcd = NULL;
	struct gateway *g = NULL;
	struct api_server *s = NULL;
	struct gateway_config gc = { .api_key = argv[2], .domain = argc > 3 ? argv[3] : NULL };
	int rc = etcd_client_new(argv[1], 0, &etcd, &err);
	gc.etcd = etcd;
	if (rc == 0)
		rc = gateway_start(&gc, &g, &err);
	struct api_server_config ac = { .address = "127.0.0.1", .api_key = argv[2], .domain = gc.domain };
	if (rc == 0) {
		gateway_api_config(g, &ac);
		rc = api_server_start(&ac, &s, &err);
	}
	if (rc == 0) {
		printf("gateway: listening on 127.0.0.1:%u\n", api_server_port(s));
		fflush(stdout);
		int sig;
		sigwait(&set, &sig);
	} else {
		fprintf(stderr, "gateway: %s\n", err.msg);
	}
	api_server_stop(s);
	gateway_stop(g);
	etcd_client_free(etcd);
	return rc == 0 ? 0 : 1;
}
