/* Connections to hosts with rules (see intercept.h): handed over by the
 * loop, served by two threads each. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "egress/intercept.h"
#include "egress/internal.h"
#include "proto/http1.h"
#include "proto/placeholder.h"
#include "tls/tls.h"

#define BUF_SIZE (HTTP1_MAX_HEAD + 16384)
#define BACK_BUF 65536
#define STACK_SIZE (512 * 1024)

struct icpt {
	struct egress *e;
	struct icpt *prev, *next; /* the proxy's, under its lock */
	int client, up;
	bool tls;
	unsigned slot;
	char name[PEEK_NAME_MAX + 1];
	uint8_t head[PEEK_MAX];
	size_t head_len;
	/* The rule's headers: names and values as the policy has them, then
	 * the values with secrets filled in (zeroed before freed). */
	struct http1_header set[NET_MAX_RULE_HEADERS];
	char *names[NET_MAX_RULE_HEADERS], *raw[NET_MAX_RULE_HEADERS], *filled[NET_MAX_RULE_HEADERS];
	size_t nset;
	struct side g, u;
	gnutls_certificate_credentials_t cred;
	pthread_t back;
	bool back_running;
	bool counted; /* in its slot's quota (passed on from the loop's conn) */
	char buf[BUF_SIZE], out[BUF_SIZE], scratch[BUF_SIZE];
	char back_buf[BACK_BUF]; /* the responses' thread's */
};

/* --- the rule's headers --- */

#define MAX_FILLS 32

/* One placeholder's secret, checked to be a header's bytes. */
static int secret_of(struct egress *e, const struct placeholder *p, char **value, size_t *len, struct cove_err *err)
{
	char name[PLACEHOLDER_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%.*s", (int)p->name_len, p->name);
	if (!e->c.secret)
		return cove_errf(err, -ENOENT, "secret '%s': secrets are not kept on this host", name);
	int r = e->c.secret(e->c.secret_ctx, name, value, len, err);
	for (size_t i = 0; r == 0 && i < *len; i++)
		if (((unsigned char)(*value)[i] < ' ' && (*value)[i] != '\t') || (*value)[i] == 127)
			r = cove_errf(err, -EINVAL, "secret '%s' holds bytes a header cannot carry", name);
	return r;
}

/* raw with each ${e2b.secrets.NAME} replaced by the secret's value. */
static int fill(struct egress *e, const char *raw, char **ret, struct cove_err *err)
{
	struct placeholder ph[MAX_FILLS];
	char *vals[MAX_FILLS] = { 0 };
	size_t vlen[MAX_FILLS] = { 0 }, len = strlen(raw), total = len, n = 0, at = 0;
	int r = 0;
	while (r == 0 && n < MAX_FILLS) {
		if ((r = placeholder_next(raw, len, at, &ph[n], err)) <= 0)
			break;
		r = secret_of(e, &ph[n], &vals[n], &vlen[n], err);
		total += vlen[n];
		at = ph[n].at + ph[n].len;
		n++;
	}
	if (r == 0 && n == MAX_FILLS && placeholder_next(raw, len, at, &(struct placeholder){ 0 }, NULL) != 0)
		r = cove_errf(err, -E2BIG, "more than %d placeholders", MAX_FILLS);
	char *out = r < 0 ? NULL : malloc(total + 1);
	if (r >= 0 && !out)
		r = cove_errf(err, -ENOMEM, "out of memory");
	size_t used = 0;
	at = 0;
	for (size_t i = 0; i < n; i++) {
		if (out) {
			memcpy(out + used, raw + at, ph[i].at - at);
			used += ph[i].at - at;
			memcpy(out + used, vals[i], vlen[i]);
			used += vlen[i];
			at = ph[i].at + ph[i].len;
		}
		if (vals[i])
			explicit_bzero(vals[i], vlen[i]);
		free(vals[i]);
	}
	if (r < 0)
		return r;
	memcpy(out + used, raw + at, len - at);
	out[used + len - at] = '\0';
	*ret = out;
	return 0;
}

static int fill_all(struct icpt *ic, struct cove_err *err)
{
	for (size_t i = 0; i < ic->nset; i++) {
		int r = fill(ic->e, ic->raw[i], &ic->filled[i], err);
		if (r < 0)
			return cove_err_prefix(err, "header %s", ic->names[i]);
		ic->set[i] = (struct http1_header){ ic->names[i], ic->filled[i] };
	}
	return 0;
}

/* --- requests --- */

static void reply(struct icpt *ic, unsigned code, const char *reason, const char *msg)
{
	char text[1024];
	int n = snprintf(text, sizeof(text),
			 "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\ncove egress: %s\n",
			 code, reason, strlen(msg) + 14, msg);
	if (n > 0 && (size_t)n < sizeof(text))
		side_write(&ic->g, text, (size_t)n);
	log_info("op=egress-rule slot=%u name=\"%s\" status=%u msg=\"%s\"", ic->slot, ic->name, code, msg);
}

/* Whether a request's Host (port dropped, one trailing dot ignored) is
 * the name the connection was judged by. */
static bool host_is(const char *host, const char *name)
{
	if (!host)
		return false;
	size_t n = strcspn(host, ":");
	if (host[0] == '[')
		return false;
	if (n && host[n - 1] == '.')
		n--;
	return n == strlen(name) && strncasecmp(host, name, n) == 0;
}

static void *back_main(void *arg);

/* Reads more of the guest's bytes into buf; false at the end or on error. */
static bool read_more(struct icpt *ic, size_t *len)
{
	if (*len == sizeof(ic->buf))
		return false;
	ssize_t n = side_read(&ic->g, ic->buf + *len, sizeof(ic->buf) - *len);
	if (n <= 0)
		return false;
	*len += (size_t)n;
	return true;
}

/* Sends buf[0, n) upstream and drops it from buf. */
static bool pass(struct icpt *ic, size_t n, size_t *len)
{
	if (n && side_write(&ic->u, ic->buf, n) < 0)
		return false;
	memmove(ic->buf, ic->buf + n, *len - n);
	*len -= n;
	return true;
}

static bool pass_body(struct icpt *ic, const struct http1_request *rq, size_t *len)
{
	if (rq->chunked) {
		struct http1_chunked ch = { 0 };
		while (!ch.done) {
			size_t used = 0, made;
			if (*len && http1_chunked_decode(&ch, (uint8_t *)ic->buf, *len, (uint8_t *)ic->scratch, &used,
							 &made) < 0)
				return false;
			if (!pass(ic, used, len) || (!ch.done && used == 0 && !read_more(ic, len)))
				return false;
		}
		return true;
	}
	for (int64_t left = rq->content_length > 0 ? rq->content_length : 0; left > 0;) {
		if (!*len && !read_more(ic, len))
			return false;
		size_t n = (uint64_t)left < *len ? (size_t)left : *len;
		if (!pass(ic, n, len))
			return false;
		left -= (int64_t)n;
	}
	return true;
}

/* One request head at the start of buf, ending at end: checked, its
 * headers set, sent upstream. false ends the connection (with a reply when
 * nothing has been sent upstream yet). */
static bool pass_head(struct icpt *ic, size_t end, struct http1_request *rq)
{
	bool first = !ic->back_running;
	if (http1_parse_request(ic->buf, end, rq) < 0) {
		if (first)
			reply(ic, 400, "Bad Request", "a request Cove's egress proxy could not read as HTTP/1.1");
		return false;
	}
	if (rq->target[0] != '/' && strcmp(rq->target, "*") != 0) {
		if (first)
			reply(ic, 400, "Bad Request", "only origin-form request targets ('/path') are passed on");
		return false;
	}
	if (!host_is(rq->host, ic->name)) {
		if (first)
			reply(ic, 421, "Misdirected Request", "the request's Host is not the name it was allowed for");
		return false;
	}
	long n = http1_request_compose(rq, ic->set, ic->nset, ic->out, sizeof(ic->out));
	if (n < 0) {
		if (first)
			reply(ic, 431, "Request Header Fields Too Large", "the request head is too large");
		return false;
	}
	int r = side_write(&ic->u, ic->out, (size_t)n);
	explicit_bzero(ic->out, (size_t)n);
	if (r < 0)
		return false;
	if (first) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, STACK_SIZE);
		ic->back_running = pthread_create(&ic->back, &a, back_main, ic) == 0;
		pthread_attr_destroy(&a);
		return ic->back_running;
	}
	return true;
}

/* The guest's requests, one after another, until either side ends. */
static void requests(struct icpt *ic)
{
	size_t len = 0;
	if (!ic->tls) {
		memcpy(ic->buf, ic->head, ic->head_len);
		len = ic->head_len;
	}
	for (;;) {
		size_t end;
		while (!(end = http1_head_end(ic->buf, len)))
			if (!read_more(ic, &len)) {
				if (len == sizeof(ic->buf) && !ic->back_running)
					reply(ic, 431, "Request Header Fields Too Large", "the request head is too large");
				return;
			}
		struct http1_request rq;
		if (!pass_head(ic, end, &rq))
			return;
		memmove(ic->buf, ic->buf + end, len - end);
		len -= end;
		if (rq.tunnel) {
			while (pass(ic, len, &len) && read_more(ic, &len))
				;
			return;
		}
		if (!pass_body(ic, &rq, &len))
			return;
	}
}

/* The responses, untouched. */
static void *back_main(void *arg)
{
	struct icpt *ic = arg;
	ssize_t n;
	while ((n = side_read(&ic->u, ic->back_buf, sizeof(ic->back_buf))) > 0)
		if (side_write(&ic->g, ic->back_buf, (size_t)n) < 0)
			break;
	if (n == 0)
		side_shut_write(&ic->g);
	else
		shutdown(ic->client, SHUT_RDWR); /* wakes the request side */
	return NULL;
}

/* --- the connection's life --- */

static void icpt_free(struct icpt *ic)
{
	side_free(&ic->g);
	side_free(&ic->u);
	if (ic->cred)
		gnutls_certificate_free_credentials(ic->cred);
	close(ic->client);
	close(ic->up);
	for (size_t i = 0; i < ic->nset; i++) {
		if (ic->filled[i])
			explicit_bzero(ic->filled[i], strlen(ic->filled[i]));
		free(ic->filled[i]);
		free(ic->names[i]);
		free(ic->raw[i]);
	}
	explicit_bzero(ic->buf, sizeof(ic->buf));
	free(ic);
}

static void serve(struct icpt *ic)
{
	struct cove_err err = { 0 };
	side_init(&ic->g, ic->client, ic->tls ? ic->head : NULL, ic->tls ? ic->head_len : 0);
	side_init(&ic->u, ic->up, NULL, 0);
	if (ic->tls) {
		if (tls_minter_credentials(ic->e->c.minter, ic->name, &ic->cred, &err) < 0 ||
		    side_serve_tls(&ic->g, ic->cred, &err) < 0) {
			log_info("op=egress-rule slot=%u name=\"%s\" msg=\"%s\"", ic->slot, ic->name, err.msg);
			return;
		}
		if (side_connect_tls(&ic->u, ic->e->trust, ic->name, &err) < 0) {
			reply(ic, 502, "Bad Gateway", err.msg);
			return;
		}
	}
	if (fill_all(ic, &err) < 0) {
		reply(ic, 502, "Bad Gateway", err.msg);
		return;
	}
	requests(ic);
}

static void *icpt_main(void *arg)
{
	struct icpt *ic = arg;
	struct egress *e = ic->e;
	serve(ic);
	/* Whichever side ended, the other is told; the responses' thread
	 * ends when the upstream does. */
	if (ic->back_running) {
		side_shut_write(&ic->u);
		pthread_join(ic->back, NULL);
	}
	/* Before it is unregistered: egress_stop waits for that alone. */
	if (ic->counted)
		quota_give(e, ic->slot);
	pthread_mutex_lock(&e->icpt_lock);
	if (ic->prev)
		ic->prev->next = ic->next;
	else
		e->icpts = ic->next;
	if (ic->next)
		ic->next->prev = ic->prev;
	e->nicpt--;
	pthread_cond_broadcast(&e->icpt_done);
	pthread_mutex_unlock(&e->icpt_lock);
	icpt_free(ic);
	return NULL;
}

static struct icpt *icpt_new(struct conn *c)
{
	struct icpt *ic = calloc(1, sizeof(*ic));
	if (!ic)
		return NULL;
	ic->e = c->e;
	ic->tls = c->kind == PEEK_TLS;
	ic->slot = c->slot;
	snprintf(ic->name, sizeof(ic->name), "%s", c->name);
	memcpy(ic->head, c->head, c->head_len);
	ic->head_len = c->head_len;
	ic->client = ic->up = -1;
	bool ok = true;
	for (size_t i = 0; i < c->rule->nheaders && i < NET_MAX_RULE_HEADERS; i++) {
		ic->names[i] = strdup(c->rule->headers[i].name);
		ic->raw[i] = strdup(c->rule->headers[i].value);
		ic->nset = i + 1;
		ok = ok && ic->names[i] && ic->raw[i];
	}
	if (!ok) {
		icpt_free(ic);
		return NULL;
	}
	return ic;
}

int intercept_start(struct conn *c)
{
	struct egress *e = c->e;
	if (!e->c.minter && c->kind == PEEK_TLS)
		return -1;
	struct icpt *ic = icpt_new(c);
	if (!ic)
		return -1;
	pthread_mutex_lock(&e->icpt_lock);
	bool room = e->nicpt < INTERCEPT_MAX && !e->stopping;
	if (room) {
		ic->client = c->client;
		ic->up = c->up;
		ic->next = e->icpts;
		if (e->icpts)
			e->icpts->prev = ic;
		e->icpts = ic;
		e->nicpt++;
	}
	pthread_mutex_unlock(&e->icpt_lock);
	if (!room) {
		icpt_free(ic);
		log_info("op=egress-rule slot=%u name=\"%s\" msg=\"refused: %d intercepted connections already\"",
			 c->slot, c->name, INTERCEPT_MAX);
		return -1;
	}
	log_info("op=egress-rule slot=%u name=\"%s\" tls=%d headers=%zu", c->slot, c->name, ic->tls, ic->nset);
	/* The sockets are the thread's now, and its place in the quota; the
	 * loop's part of c ends. */
	c->client = c->up = -1;
	ic->counted = c->counted;
	c->counted = false;
	c->end(c, false);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, STACK_SIZE);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int r = pthread_create(&t, &a, icpt_main, ic);
	pthread_attr_destroy(&a);
	if (r != 0)
		icpt_main(ic); /* nothing served: unregisters and frees, the sockets closed */
	return 0;
}

void intercept_stop_all(struct egress *e)
{
	pthread_mutex_lock(&e->icpt_lock);
	e->stopping = true;
	for (struct icpt *ic = e->icpts; ic; ic = ic->next) {
		shutdown(ic->client, SHUT_RDWR);
		shutdown(ic->up, SHUT_RDWR);
	}
	while (e->nicpt)
		pthread_cond_wait(&e->icpt_done, &e->icpt_lock);
	pthread_mutex_unlock(&e->icpt_lock);
}
