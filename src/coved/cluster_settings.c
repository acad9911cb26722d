/* coved's cluster settings (cluster.h): parsed from flags or the config
 * file, then completed and checked together. */
#include "coved/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/host.h"
#include "common/env.h"

void coved_cluster_defaults(struct coved_cluster *c)
{
	*c = (struct coved_cluster){ .roles = COVED_ROLE_HOST | COVED_ROLE_GATEWAY,
				     .lease_ttl_s = CLUSTER_HOST_DEFAULT_TTL_S,
				     .dead_after_s = COVED_CLUSTER_DEFAULT_DEAD_AFTER_S };
}

bool coved_cluster_known(const char *name)
{
	static const char *const names[] = { "cluster-etcd", "host-id", "advertise", "role", "host-lease-ttl",
					     "dead-after" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static int set_text(char *dst, size_t size, const char *name, const char *v)
{
	if (!*v || strlen(v) >= size) {
		fprintf(stderr, "coved: %s '%.64s': empty or longer than %zu characters\n", name, v, size - 1);
		return -1;
	}
	snprintf(dst, size, "%s", v);
	return 0;
}

static int set_seconds(unsigned *dst, const char *name, const char *v, unsigned lo, unsigned hi)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < lo || n > hi) {
		fprintf(stderr, "coved: %s '%s': expected seconds from %u to %u\n", name, v, lo, hi);
		return -1;
	}
	*dst = (unsigned)n;
	return 0;
}

static int set_roles(struct coved_cluster *c, const char *v)
{
	if (strcmp(v, "host") == 0)
		c->roles = COVED_ROLE_HOST;
	else if (strcmp(v, "gateway") == 0)
		c->roles = COVED_ROLE_GATEWAY;
	else if (strcmp(v, "host,gateway") == 0 || strcmp(v, "gateway,host") == 0)
		c->roles = COVED_ROLE_HOST | COVED_ROLE_GATEWAY;
	else {
		fprintf(stderr, "coved: role '%.64s': expected host, gateway or host,gateway\n", v);
		return -1;
	}
	return 0;
}

int coved_cluster_set(struct coved_cluster *c, const char *name, const char *v)
{
	if (strcmp(name, "cluster-etcd") == 0)
		return set_text(c->etcd, sizeof(c->etcd), name, v);
	if (strcmp(name, "host-id") == 0) {
		struct cove_err err = { 0 };
		if (cluster_host_id_check(v, &err) < 0) {
			fprintf(stderr, "coved: host-id: %s\n", err.msg);
			return -1;
		}
		return set_text(c->host_id, sizeof(c->host_id), name, v);
	}
	if (strcmp(name, "advertise") == 0)
		return set_text(c->advertise, sizeof(c->advertise), name, v);
	if (strcmp(name, "role") == 0)
		return set_roles(c, v);
	if (strcmp(name, "host-lease-ttl") == 0)
		return set_seconds(&c->lease_ttl_s, name, v, 2, 3600);
	if (strcmp(name, "dead-after") == 0)
		return set_seconds(&c->dead_after_s, name, v, 1, 30 * 24 * 3600);
	fprintf(stderr, "coved: unknown setting '%s'\n", name);
	return -1;
}

/* HOST:PORT with a port, and not the any-address (nobody can dial it). */
static int advertise_check(const char *a)
{
	const char *colon = strrchr(a, ':');
	char *end;
	unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
	if (!colon || colon == a || !colon[1] || *end || port == 0 || port > 65535) {
		fprintf(stderr, "coved: advertise '%s': expected HOST:PORT\n", a);
		return -1;
	}
	if (strncmp(a, "0.0.0.0:", 8) == 0) {
		fprintf(stderr, "coved: advertise '%s': gateways cannot dial 0.0.0.0: give --advertise with this "
				"host's address\n", a);
		return -1;
	}
	return 0;
}

int coved_cluster_check(struct coved_cluster *c, const char *listen)
{
	bool on = coved_cluster_on(c);
	if (!on) {
		if (c->host_id[0] || c->advertise[0]) {
			fprintf(stderr, "coved: host-id and advertise need cluster-etcd\n");
			return -1;
		}
		return 0;
	}
	if (!c->host_id[0]) {
		char name[256] = "";
		struct cove_err err = { 0 };
		if (gethostname(name, sizeof(name) - 1) < 0 || cluster_host_id_check(name, &err) < 0) {
			fprintf(stderr, "coved: the host name '%s' is no host id (%s): give --host-id\n", name,
				err.msg[0] ? err.msg : "unknown");
			return -1;
		}
		snprintf(c->host_id, sizeof(c->host_id), "%s", name);
	}
	/* Without one, --listen's address and the port it is bound to (known
	 * once it listens: coved_cluster_register). */
	if (c->advertise[0] && advertise_check(c->advertise) < 0)
		return -1;
	if (!c->advertise[0] && strncmp(listen, "0.0.0.0:", 8) == 0) {
		fprintf(stderr, "coved: listen '%s': gateways cannot dial 0.0.0.0: give --advertise\n", listen);
		return -1;
	}
	if ((c->roles & COVED_ROLE_GATEWAY) && c->dead_after_s <= c->lease_ttl_s) {
		fprintf(stderr, "coved: dead-after (%u s) must be longer than host-lease-ttl (%u s)\n",
			c->dead_after_s, c->lease_ttl_s);
		return -1;
	}
	return 0;
}
