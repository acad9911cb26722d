/* The etcd client (src/cluster/etcd.c, watch.c) against a real etcd: a
 * single member the test starts on loopback ports of its own (etcd_server.h)
 * and kills at the end. Skipped when the etcd program is not installed
 * (Debian's etcd-server; make deps). */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/etcd.h"
#include "etcd_server.h"

static struct etcd_server etcd;
static const char *endpoint = etcd.endpoint;
static int dead_port;

static int setup(void **state)
{
	(void)state;
	int unused;
	if (etcd_server_free_ports(&dead_port, &unused) < 0)
		return -1;
	return etcd_server_start(&etcd) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	etcd_server_stop(&etcd);
	return 0;
}

static struct etcd_client *client(void)
{
	struct etcd_client *c = NULL;
	struct cove_err err = { 0 };
	assert_int_equal(etcd_client_new(endpoint, 0, &c, &err), 0);
	return c;
}

static void test_put_range_delete(void **state)
{
	(void)state;
	struct etcd_client *c = client();
	struct cove_err err = { 0 };
	int64_t rev = 0, deleted = 0;
	assert_int_equal(etcd_put(c, "/t/a", 4, "x\0y", 3, 0, &rev, &err), 0);
	assert_true(rev > 0);
	assert_int_equal(etcd_put(c, "/t/b", 4, "2", 1, 0, NULL, &err), 0);
	struct etcd_result r;
	assert_int_equal(etcd_range(c, "/t/a", 4, false, &r, &err), 0);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.kvs[0].value.len, 3);
	assert_memory_equal(r.kvs[0].value.data, "x\0y", 3);
	assert_int_equal(r.kvs[0].create_revision, rev);
	etcd_result_clear(&r);
	assert_int_equal(etcd_range(c, "/t/", 3, true, &r, &err), 0);
	assert_int_equal(r.nkvs, 2);
	assert_int_equal(r.count, 2);
	assert_string_equal((char *)r.kvs[1].key.data, "/t/b");
	etcd_result_clear(&r);
	assert_int_equal(etcd_delete(c, "/t/", 3, true, &deleted, &err), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(etcd_range(c, "/t/", 3, true, &r, &err), 0);
	assert_int_equal(r.nkvs, 0);
	etcd_result_clear(&r);
	etcd_client_free(c);
}

/* Compare CREATE == 0: the standard create-if-absent. */
static int claim(struct etcd_client *c, const char *value, struct etcd_txn_result *t)
{
	struct etcd_compare absent = { .target = ETCD_CMP_CREATE,
				       .relation = ETCD_EQUAL,
				       .key = "/t/claim",
				       .key_len = 8 };
	struct etcd_request_op put = { .op = ETCD_OP_PUT,
				       .key = "/t/claim",
				       .key_len = 8,
				       .value = value,
				       .value_len = strlen(value) };
	struct etcd_request_op get = { .op = ETCD_OP_RANGE, .key = "/t/claim", .key_len = 8 };
	struct etcd_txn_request txn = { .compare = &absent,
					.ncompare = 1,
					.success = &put,
					.nsuccess = 1,
					.failure = &get,
					.nfailure = 1 };
	return etcd_txn(c, &txn, t, NULL);
}

static void test_txn_create_if_absent(void **state)
{
	(void)state;
	struct etcd_client *c = client();
	struct etcd_txn_result t;
	assert_int_equal(claim(c, "first", &t), 0);
	assert_true(t.succeeded);
	assert_int_equal(t.nresponses, 1);
	assert_int_equal(t.responses[0].op, ETCD_OP_PUT);
	etcd_txn_result_clear(&t);
	assert_int_equal(claim(c, "second", &t), 0);
	assert_false(t.succeeded);
	assert_int_equal(t.responses[0].op, ETCD_OP_RANGE);
	assert_int_equal(t.responses[0].nkvs, 1);
	assert_string_equal((char *)t.responses[0].kvs[0].value.data, "first");
	etcd_txn_result_clear(&t);
	assert_int_equal(etcd_delete(c, "/t/claim", 8, false, NULL, NULL), 0);
	etcd_client_free(c);
}

static void test_lease(void **state)
{
	(void)state;
	struct etcd_client *c = client();
	struct cove_err err = { 0 };
	int64_t id = 0, ttl = 0;
	assert_int_equal(etcd_lease_grant(c, 30, &id, &ttl, &err), 0);
	assert_true(id != 0);
	assert_int_equal(ttl, 30);
	assert_int_equal(etcd_put(c, "/t/leased", 9, "v", 1, id, NULL, &err), 0);
	struct etcd_result r;
	assert_int_equal(etcd_range(c, "/t/leased", 9, false, &r, &err), 0);
	assert_int_equal(r.nkvs, 1);
	assert_true(r.kvs[0].lease == id);
	etcd_result_clear(&r);
	/* A fenced write: only while the key still holds our lease. */
	struct etcd_compare mine = { .target = ETCD_CMP_LEASE,
				     .relation = ETCD_EQUAL,
				     .key = "/t/leased",
				     .key_len = 9,
				     .number = id };
	struct etcd_request_op put = { .op = ETCD_OP_PUT,
				       .key = "/t/leased",
				       .key_len = 9,
				       .value = "w",
				       .value_len = 1,
				       .lease = id };
	struct etcd_txn_request fenced = { .compare = &mine, .ncompare = 1, .success = &put, .nsuccess = 1 };
	struct etcd_txn_result t;
	assert_int_equal(etcd_txn(c, &fenced, &t, &err), 0);
	assert_true(t.succeeded);
	etcd_txn_result_clear(&t);
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl, &err), 0);
	assert_true(ttl > 0);
	assert_int_equal(etcd_lease_ttl(c, id, &ttl, &err), 0);
	assert_true(ttl > 0 && ttl <= 30);
	assert_int_equal(etcd_lease_revoke(c, id, &err), 0);
	/* The key went with the lease. */
	assert_int_equal(etcd_range(c, "/t/leased", 9, false, &r, &err), 0);
	assert_int_equal(r.nkvs, 0);
	etcd_result_clear(&r);
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "lost"));
	assert_non_null(strstr(err.msg, endpoint));
	assert_int_equal(etcd_lease_ttl(c, id, &ttl, &err), -ENOENT);
	assert_int_equal(etcd_lease_revoke(c, id, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/v3/lease/revoke"));
	/* The fenced write now fails its compare. */
	assert_int_equal(etcd_txn(c, &fenced, &t, &err), 0);
	assert_false(t.succeeded);
	etcd_txn_result_clear(&t);
	etcd_client_free(c);
}

struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int created;
	int64_t compact_revision;
	bool canceled;
	struct etcd_event events[8];
	size_t n;
};

static int on_watch(const struct etcd_watch_msg *msg, void *data)
{
	struct seen *s = data;
	pthread_mutex_lock(&s->lock);
	s->created += msg->created;
	s->canceled |= msg->canceled;
	s->compact_revision = msg->compact_revision;
	for (size_t i = 0; i < msg->nevents && s->n < 8; i++) {
		struct etcd_event *e = &s->events[s->n++];
		e->type = msg->events[i].type;
		e->kv.mod_revision = msg->events[i].kv.mod_revision;
		e->kv.value.len = msg->events[i].kv.value.len;
		e->kv.key.len = msg->events[i].kv.key.len;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Waits (5 s at most) for n events, or with n 0 for the end of the watch. */
static void wait_events(struct seen *s, size_t n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&s->lock);
	while ((n ? s->n < n : !s->canceled) && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
		;
	pthread_mutex_unlock(&s->lock);
}

/* A watch from the revision after a list sees a PUT, then a DELETE. */
static void watch_put_delete(const char *endpoints)
{
	struct etcd_client *c;
	struct cove_err err = { 0 };
	assert_int_equal(etcd_client_new(endpoints, 0, &c, &err), 0);
	struct etcd_result list;
	assert_int_equal(etcd_range(c, "/w/", 3, true, &list, &err), 0);
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct etcd_watch_request req = { .key = "/w/",
					  .key_len = 3,
					  .prefix = true,
					  .start_revision = list.header.revision + 1 };
	etcd_result_clear(&list);
	struct etcd_watch *w = NULL;
	assert_int_equal(etcd_watch_start(c, &req, on_watch, &s, &w, &err), 0);
	assert_int_equal(s.created, 1);
	int64_t rev;
	assert_int_equal(etcd_put(c, "/w/x", 4, "hello", 5, 0, &rev, &err), 0);
	assert_int_equal(etcd_delete(c, "/w/x", 4, false, NULL, &err), 0);
	wait_events(&s, 2);
	etcd_watch_stop(w);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.events[0].type, ETCD_EVENT_PUT);
	assert_int_equal(s.events[0].kv.mod_revision, rev);
	assert_int_equal(s.events[0].kv.value.len, 5);
	assert_int_equal(s.events[1].type, ETCD_EVENT_DELETE);
	assert_int_equal(s.events[1].kv.mod_revision, rev + 1);
	etcd_client_free(c);
}

static void test_watch(void **state)
{
	(void)state;
	watch_put_delete(endpoint);
}

/* A watch from a compacted revision is cancelled, saying where history
 * now begins, so its owner lists again. */
static void test_watch_compacted(void **state)
{
	(void)state;
	struct etcd_client *c = client();
	struct cove_err err = { 0 };
	int64_t first, second;
	assert_int_equal(etcd_put(c, "/c/k", 4, "1", 1, 0, &first, &err), 0);
	assert_int_equal(etcd_put(c, "/c/k", 4, "2", 1, 0, &second, &err), 0);
	assert_int_equal(etcd_compact(c, second, &err), 0);
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct etcd_watch_request req = { .key = "/c/", .key_len = 3, .prefix = true, .start_revision = first };
	struct etcd_watch *w = NULL;
	assert_int_equal(etcd_watch_start(c, &req, on_watch, &s, &w, &err), 0);
	wait_events(&s, 0);
	etcd_watch_stop(w);
	assert_true(s.canceled);
	assert_int_equal(s.compact_revision, second);
	assert_int_equal(s.n, 0);
	etcd_client_free(c);
}

static void test_failover(void **state)
{
	(void)state;
	char both[160];
	snprintf(both, sizeof(both), "http://127.0.0.1:%d,%s/", dead_port, endpoint);
	struct etcd_client *c;
	struct cove_err err = { 0 };
	assert_int_equal(etcd_client_new(both, 0, &c, &err), 0);
	assert_non_null(strstr(etcd_client_endpoint(c), ":"));
	assert_int_equal(etcd_put(c, "/t/f", 4, "1", 1, 0, NULL, &err), 0);
	/* The next request goes to the endpoint that answered. */
	assert_string_equal(etcd_client_endpoint(c), endpoint);
	etcd_client_free(c);
	/* A watch fails over the same way. */
	watch_put_delete(both);
	/* With no live endpoint the error names the operation and the endpoint. */
	char dead[64];
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", dead_port);
	assert_int_equal(etcd_client_new(dead, 0, &c, &err), 0);
	assert_int_equal(etcd_put(c, "/t/f", 4, "1", 1, 0, NULL, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.msg, dead));
	assert_non_null(strstr(err.msg, "/v3/kv/put"));
	struct etcd_watch_request req = { .key = "/w/", .key_len = 3 };
	struct etcd_watch *w = NULL;
	assert_true(etcd_watch_start(c, &req, on_watch, NULL, &w, &err) < 0);
	assert_non_null(strstr(err.msg, "/v3/watch"));
	etcd_client_free(c);
	assert_int_equal(etcd_client_new("ftp://x", 0, &c, &err), -EINVAL);
	assert_int_equal(etcd_client_new("", 0, &c, &err), -EINVAL);
}

/* The member dies and comes back: the watch resumes after the last event
 * it delivered, neither losing nor repeating one. */
static void test_watch_resumes(void **state)
{
	(void)state;
	struct etcd_client *c = client();
	struct cove_err err = { 0 };
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct etcd_watch_request req = { .key = "/r/", .key_len = 3, .prefix = true };
	struct etcd_watch *w = NULL;
	assert_int_equal(etcd_watch_start(c, &req, on_watch, &s, &w, &err), 0);
	int64_t a, b;
	assert_int_equal(etcd_put(c, "/r/a", 4, "1", 1, 0, &a, &err), 0);
	wait_events(&s, 1);
	etcd_server_kill(&etcd);
	assert_int_equal(etcd_server_spawn(&etcd), 0);
	assert_int_equal(etcd_server_wait_ready(&etcd), 0);
	assert_int_equal(etcd_put(c, "/r/b", 4, "2", 1, 0, &b, &err), 0);
	wait_events(&s, 2);
	etcd_watch_stop(w);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.created, 1);
	assert_int_equal(s.events[0].kv.mod_revision, a);
	assert_int_equal(s.events[1].kv.mod_revision, b);
	etcd_client_free(c);
}

/* A member that takes the connection and never answers (a partitioned or
 * wedged one) costs one timeout, then the next endpoint answers. */
static void test_failover_on_timeout(void **state)
{
	(void)state;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0); /* the kernel completes handshakes; nobody reads */
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	char both[160];
	snprintf(both, sizeof(both), "http://127.0.0.1:%d,%s", ntohs(sa.sin_port), endpoint);
	struct etcd_client *c;
	struct cove_err err = { 0 };
	assert_int_equal(etcd_client_new(both, 300, &c, &err), 0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(etcd_put(c, "/t/slow", 7, "1", 1, 0, NULL, &err), 0);
	long ms = etcd_server_ms_since(&t0);
	assert_true(ms >= 250 && ms < 2000);
	assert_string_equal(etcd_client_endpoint(c), endpoint);
	etcd_client_free(c);
	/* Alone, it is a timeout that names it. */
	snprintf(both, sizeof(both), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(etcd_client_new(both, 300, &c, &err), 0);
	assert_int_equal(etcd_range(c, "/t/slow", 7, false, NULL, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, both));
	etcd_client_free(c);
	close(fd);
}

static void *put_many(void *data)
{
	struct etcd_client *c = data;
	char key[32];
	snprintf(key, sizeof(key), "/t/thread/%lx", (unsigned long)pthread_self());
	for (int i = 0; i < 20; i++)
		if (etcd_put(c, key, strlen(key), "v", 1, 0, NULL, NULL) < 0)
			return (void *)1;
	return NULL;
}

/* One client shared by several threads. */
static void test_threads(void **state)
{
	(void)state;
	struct etcd_client *c = client();
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, put_many, c), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	int64_t deleted;
	assert_int_equal(etcd_delete(c, "/t/thread/", 10, true, &deleted, NULL), 0);
	assert_int_equal(deleted, 4);
	etcd_client_free(c);
}

int main(void)
{
	if (etcd_server_find(&etcd) < 0) {
		printf("1..0 # SKIP the etcd program is not installed (Debian's etcd-server; make deps)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_range_delete),
		cmocka_unit_test(test_txn_create_if_absent),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_watch_compacted),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_failover_on_timeout),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_watch_resumes), /* last: it restarts etcd */
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
