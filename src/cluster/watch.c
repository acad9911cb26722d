/* The etcd client's watches (cluster/etcd.h): one thread per watch runs a
 * streaming POST /v3/watch in a curl multi handle, so that
 * etcd_watch_stop() can wake it at once (curl_multi_wakeup), splits the
 * stream into messages and hands them to the caller. A broken stream is
 * resumed on the next endpoint from the revision after the last one
 * delivered. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/etcd.h"
#include "cluster/internal.h"
#include "common/log.h"

/* A pause after every endpoint failed in turn, so a dead cluster is not spun on. */
#define WATCH_RETRY_MS 500

enum start_state { START_PENDING, START_CREATED, START_FAILED };

struct etcd_watch {
	struct etcd_client *client;
	etcd_watch_fn fn;
	void *data;
	uint8_t *key; /* the request's key, owned */
	size_t key_len;
	bool prefix, prev_kv;
	int64_t next_revision; /* where a resumed stream starts; 0: not known yet */
	bool ended;            /* canceled by etcd, or fn asked to stop */
	atomic_bool stop;
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t lock; /* start, start_err; the cond for the start and the retry pause */
	pthread_cond_t cond;
	enum start_state start;
	struct cove_err start_err;
	/* the current stream's */
	struct etcd_lines lines;
	bool created;
	struct cove_err stream_err;
};

static void set_start(struct etcd_watch *w, enum start_state s, const struct cove_err *err)
{
	pthread_mutex_lock(&w->lock);
	if (w->start == START_PENDING) {
		w->start = s;
		if (err)
			w->start_err = *err;
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* One message of the stream; false to end the stream. */
static bool handle_message(struct etcd_watch *w, const char *line, size_t len)
{
	struct etcd_watch_msg msg;
	if (etcd_watch_parse(line, len, &msg, &w->stream_err) < 0)
		return false;
	bool created = msg.created;
	bool resumed_creation = created && w->start != START_PENDING;
	if (created) {
		w->created = true;
		if (w->next_revision == 0)
			w->next_revision = msg.header.revision + 1; /* "from now on" is now fixed */
	}
	if (msg.nevents > 0)
		w->next_revision = msg.events[msg.nevents - 1].kv.mod_revision + 1;
	/* A resumed stream's creation is ours, not news to the caller. */
	if (!resumed_creation && w->fn(&msg, w->data) != 0)
		w->ended = true;
	if (msg.canceled)
		w->ended = true;
	etcd_watch_msg_clear(&msg);
	if (created || w->ended)
		set_start(w, START_CREATED, NULL);
	return !w->ended;
}

static size_t on_data(char *p, size_t size, size_t n, void *data)
{
	struct etcd_watch *w = data;
	int r = etcd_lines_append(&w->lines, p, size * n);
	if (r < 0) {
		cove_errno(&w->stream_err, r, "etcd watch: a message");
		return 0;
	}
	const char *line;
	size_t len;
	while (etcd_lines_next(&w->lines, false, &line, &len))
		if (!handle_message(w, line, len))
			return 0;
	return size * n;
}

/* Runs the stream's transfer until it ends or the watch is stopped. */
static CURLcode run_transfer(struct etcd_watch *w, CURL *easy)
{
	CURLcode result = CURLE_OK;
	if (curl_multi_add_handle(w->multi, easy) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	int running = 1;
	while (running && !atomic_load(&w->stop)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	int left;
	CURLMsg *m;
	while ((m = curl_multi_info_read(w->multi, &left)))
		if (m->msg == CURLMSG_DONE)
			result = m->data.result;
	curl_multi_remove_handle(w->multi, easy);
	return result;
}

/* One streaming request to endpoint i, from next_revision on. */
static void stream_once(struct etcd_watch *w, size_t i)
{
	struct etcd_client *c = w->client;
	struct etcd_watch_request req = { .key = w->key,
					  .key_len = w->key_len,
					  .prefix = w->prefix,
					  .start_revision = w->next_revision,
					  .prev_kv = w->prev_kv };
	_cleanup_free_ char *body = etcd_watch_encode(&req);
	_cleanup_curl_slist_ struct curl_slist *headers = NULL;
	_cleanup_curl_ CURL *easy = body ? etcd_easy_new(c, i, "/v3/watch", body, &headers) : NULL;
	cove_err_clear(&w->stream_err);
	etcd_lines_clear(&w->lines);
	w->created = false;
	if (!easy) {
		cove_errf(&w->stream_err, -ENOMEM, "etcd %s /v3/watch: out of memory", c->endpoints[i]);
		return;
	}
	/* A member that vanishes without a reset (a partition) is noticed by TCP keepalives. */
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 2L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, w);
	CURLcode code = run_transfer(w, easy);
	/* The last message may lack its newline (an error body does). */
	const char *line;
	size_t len;
	while (!w->ended && !atomic_load(&w->stop) && w->stream_err.code == 0 &&
	       etcd_lines_next(&w->lines, true, &line, &len))
		handle_message(w, line, len);
	if (w->stream_err.code == 0 && !w->ended && !atomic_load(&w->stop))
		cove_errf(&w->stream_err, -EPIPE, "%s",
			  code != CURLE_OK ? curl_easy_strerror(code) : "the stream ended");
	if (w->stream_err.code != 0)
		cove_err_prefix(&w->stream_err, "etcd %s /v3/watch", c->endpoints[i]);
}

/* Waits ms unless the watch is stopped first. */
static void pause_ms(struct etcd_watch *w, long ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!atomic_load(&w->stop) && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
		;
	pthread_mutex_unlock(&w->lock);
}

static void *watch_thread(void *data)
{
	struct etcd_watch *w = data;
	struct etcd_client *c = w->client;
	size_t first = atomic_load(&c->current) % c->n;
	for (size_t k = 0; !w->ended && !atomic_load(&w->stop); k++) {
		size_t i = (first + k) % c->n;
		stream_once(w, i);
		if (w->ended || atomic_load(&w->stop))
			break;
		/* Not confirmed by any endpoint yet: etcd_watch_start() reports the error. */
		if (w->start == START_PENDING && k + 1 == c->n) {
			set_start(w, START_FAILED, &w->stream_err);
			break;
		}
		if (w->start != START_PENDING)
			log_warn("op=etcd_watch error=\"%s\" resume_revision=%" PRId64, w->stream_err.msg,
				 w->next_revision);
		if ((k + 1) % c->n == 0)
			pause_ms(w, WATCH_RETRY_MS);
	}
	set_start(w, START_FAILED, &w->stream_err); /* stopped before it was confirmed */
	return NULL;
}

static struct etcd_watch *watch_free(struct etcd_watch *w)
{
	if (!w)
		return NULL;
	if (w->multi)
		curl_multi_cleanup(w->multi);
	etcd_lines_clear(&w->lines);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->key);
	free(w);
	return NULL;
}

static struct etcd_watch *watch_new(struct etcd_client *c, const struct etcd_watch_request *req)
{
	struct etcd_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	w->client = c;
	w->key_len = req->key_len;
	w->key = malloc(req->key_len ? req->key_len : 1);
	w->multi = curl_multi_init();
	if (!w->key || !w->multi)
		return watch_free(w);
	if (req->key_len)
		memcpy(w->key, req->key, req->key_len);
	w->prefix = req->prefix;
	w->prev_kv = req->prev_kv;
	w->next_revision = req->start_revision;
	return w;
}

int etcd_watch_start(struct etcd_client *c, const struct etcd_watch_request *req, etcd_watch_fn fn, void *data,
		     struct etcd_watch **ret, struct cove_err *err)
{
	struct etcd_watch *w = watch_new(c, req);
	if (!w)
		return cove_errf(err, -ENOMEM, "etcd watch: out of memory");
	w->fn = fn;
	w->data = data;
	int r = pthread_create(&w->thread, NULL, watch_thread, w);
	if (r != 0) {
		watch_free(w);
		return cove_errno(err, -r, "etcd watch: start its thread");
	}
	pthread_mutex_lock(&w->lock);
	while (w->start == START_PENDING)
		pthread_cond_wait(&w->cond, &w->lock);
	bool failed = w->start == START_FAILED;
	pthread_mutex_unlock(&w->lock);
	if (failed) {
		pthread_join(w->thread, NULL);
		r = w->start_err.code ? w->start_err.code : -EIO;
		if (err)
			*err = w->start_err;
		watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct etcd_watch *etcd_watch_stop(struct etcd_watch *w)
{
	if (!w)
		return NULL;
	atomic_store(&w->stop, true);
	curl_multi_wakeup(w->multi);
	pthread_mutex_lock(&w->lock);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	return watch_free(w);
}
