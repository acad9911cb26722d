#include "agent/watch.h"

#include <errno.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fs_service.h"
#include "agent/users.h"
#include "common/fs.h"
#include "proto/envelope.h"
#include "proto/process.h"
#include "proto/utf8.h"

#define KEEPALIVE_MS 50000
#define MAX_WATCHES 8192 /* directories under one recursive watch */
#define MAX_WATCHERS 256 /* polled watchers alive at once */
#define MASK (IN_CREATE | IN_MODIFY | IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB)

struct watch {
	int fd;        /* inotify */
	bool recursive;
	bool entries;  /* includeEntry */
	char root[PATH_MAX];
	struct {
		int wd;
		char *rel; /* directory relative to root ("" for root) */
	} dirs[MAX_WATCHES];
	size_t ndirs;
};

static void watch_free(struct watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i].rel);
	free(w);
}

static int add_dir(struct watch *w, const char *rel)
{
	if (w->ndirs >= MAX_WATCHES)
		return -ENOSPC;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s%s", w->root, *rel ? "/" : "", rel);
	int wd = inotify_add_watch(w->fd, path, MASK | IN_ONLYDIR);
	if (wd < 0)
		return -errno;
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return 0;
	w->dirs[w->ndirs].wd = wd;
	w->dirs[w->ndirs].rel = strdup(rel);
	if (!w->dirs[w->ndirs].rel)
		return -ENOMEM;
	w->ndirs++;
	if (!w->recursive)
		return 0;
	DIR *d = opendir(path);
	struct dirent *de;
	int r = 0;
	while (d && r == 0 && (de = readdir(d))) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		r = add_dir(w, sub);
	}
	if (d)
		closedir(d);
	return r;
}

static int watch_open(json_t *req, const char *home, struct watch **ret, struct cove_err *err)
{
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return cove_errf(err, -ENOMEM, "out of memory");
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->recursive = json_is_true(json_object_get(req, "recursive"));
	w->entries = json_is_true(json_object_get(req, "includeEntry"));
	int r = w->fd < 0 ? cove_errno(err, -errno, "inotify") : 0;
	if (r == 0 && fs_resolve(json_string_value(json_object_get(req, "path")), home, w->root, sizeof(w->root)) < 0)
		r = cove_errf(err, -EINVAL, "path is required");
	struct stat st;
	if (r == 0 && (stat(w->root, &st) < 0 || !S_ISDIR(st.st_mode)))
		r = cove_errf(err, errno == ENOENT ? -ENOENT : -ENOTDIR, "watch %s: not a directory", w->root);
	if (r == 0 && (r = add_dir(w, "")) < 0)
		cove_errno(err, r, "watch %s", w->root);
	if (r < 0) {
		watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

/* A watch on the request's path, resolved for the request's user. */
static int watch_for_request(struct http_request *r, json_t *req, struct watch **ret, struct cove_err *err)
{
	struct user_info user;
	int rc = user_for_request(r, &user, err);
	return rc < 0 ? rc : watch_open(req, user.home, ret, err);
}

static const char *rel_of(const struct watch *w, int wd)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return w->dirs[i].rel;
	return NULL;
}

/* fsnotify's (and so envd's) mapping of inotify events. */
static const char *event_type(uint32_t mask)
{
	if (mask & (IN_CREATE | IN_MOVED_TO))
		return "EVENT_TYPE_CREATE";
	if (mask & (IN_DELETE | IN_DELETE_SELF))
		return "EVENT_TYPE_REMOVE";
	if (mask & IN_MOVED_FROM)
		return "EVENT_TYPE_RENAME";
	if (mask & IN_MODIFY)
		return "EVENT_TYPE_WRITE";
	if (mask & IN_ATTRIB)
		return "EVENT_TYPE_CHMOD";
	return NULL;
}

/* Reads what inotify has queued and appends FilesystemEvents to events. */
static void watch_drain(struct watch *w, json_t *events)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			const char *dir = rel_of(w, ev->wd);
			const char *type = event_type(ev->mask);
			if (!dir || !type || (ev->mask & IN_DELETE_SELF && *dir))
				continue;
			char name[PATH_MAX];
			snprintf(name, sizeof(name), "%s%s%s", dir, *dir && ev->len ? "/" : "", ev->len ? ev->name : "");
			if (w->recursive && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
				add_dir(w, name);
			json_t *e = json_pack("{s:o, s:s}", "name", json_string_lossy(name), "type", type);
			if (e && w->entries && !(ev->mask & (IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM))) {
				char full[PATH_MAX * 2];
				snprintf(full, sizeof(full), "%s/%s", w->root, name);
				json_t *entry = fs_entry_json(full);
				if (entry)
					json_object_set_new(e, "entry", entry);
			}
			json_array_append_new(events, e);
		}
	}
}

/* --- WatchDir: a stream ------------------------------------------------ */

struct watch_stream {
	struct watch *w;
	struct MHD_Connection *conn;
	bool started;
	uint8_t *buf;
	size_t off, len, cap;
};

static int queue(struct watch_stream *s, uint8_t flags, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	if (s->len + ENVELOPE_HEADER_SIZE + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + ENVELOPE_HEADER_SIZE + n)
			cap *= 2;
		uint8_t *nb = realloc(s->buf, cap);
		if (!nb) {
			free(text);
			return -ENOMEM;
		}
		s->buf = nb;
		s->cap = cap;
	}
	envelope_header_encode(flags, (uint32_t)n, s->buf + s->len);
	memcpy(s->buf + s->len + ENVELOPE_HEADER_SIZE, text, n);
	s->len += ENVELOPE_HEADER_SIZE + n;
	free(text);
	return 0;
}

/* Waits for inotify, or for the client to hang up (then the stream ends). */
static int wait_events(struct watch_stream *s)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p[2] = { { .fd = s->w->fd, .events = POLLIN }, { .fd = ci ? ci->connect_fd : -1, .events = POLLRDHUP } };
	int r = poll(p, 2, KEEPALIVE_MS);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
		return -ECONNRESET;
	if (r == 0)
		return queue(s, 0, json_pack("{s:{}}", "keepalive"));
	json_t *events = json_array();
	watch_drain(s->w, events);
	size_t i;
	json_t *e;
	int rc = 0;
	json_array_foreach(events, i, e)
		if (rc == 0)
			rc = queue(s, 0, json_pack("{s:O}", "filesystem", e));
	json_decref(events);
	return rc;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct watch_stream *s = cls;
	while (s->off == s->len) {
		s->off = s->len = 0;
		int r = s->started ? wait_events(s) : queue(s, 0, json_pack("{s:{}}", "start"));
		s->started = true;
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void watch_stream_free(void *cls)
{
	struct watch_stream *s = cls;
	watch_free(s->w);
	free(s->buf);
	free(s);
}

enum MHD_Result watch_dir(struct http_request *r)
{
	uint8_t flags;
	uint32_t len;
	struct cove_err err = { 0 };
	json_t *req = NULL;
	if (r->len >= ENVELOPE_HEADER_SIZE &&
	    envelope_header_decode((const uint8_t *)r->body, r->route->body_limit, &flags, &len) == 0 &&
	    len == r->len - ENVELOPE_HEADER_SIZE)
		req = json_loadb(r->body + ENVELOPE_HEADER_SIZE, len, 0, NULL);
	if (!json_is_object(req)) {
		json_decref(req);
		return agent_stream_error(r, "invalid_argument", "request is not one Connect envelope with a JSON object");
	}
	struct watch *w;
	int rc = watch_for_request(r, req, &w, &err);
	json_decref(req);
	if (rc < 0)
		return agent_stream_error(r, rc == -ENOENT ? "not_found" : "invalid_argument", err.msg);
	struct watch_stream *s = calloc(1, sizeof(*s));
	if (!s) {
		watch_free(w);
		return MHD_NO;
	}
	s->w = w;
	s->conn = r->conn;
	return http_stream(r, "application/connect+json", watch_read, s, watch_stream_free);
}

/* --- the polled trio --------------------------------------------------- */

static pthread_mutex_t watchers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char id[33];
	struct watch *w;
} watchers[MAX_WATCHERS];

enum MHD_Result watcher_create(struct http_request *r)
{
	struct cove_err err = { 0 };
	json_t *req = agent_json_body(r, &err);
	if (!req)
		return agent_reply_error(r, "invalid_argument", err.msg);
	struct watch *w;
	int rc = watch_for_request(r, req, &w, &err);
	json_decref(req);
	if (rc < 0)
		return agent_reply_error(r, rc == -ENOENT ? "not_found" : "invalid_argument", err.msg);
	char id[33];
	random_hex(id, 16);
	pthread_mutex_lock(&watchers_lock);
	size_t slot = MAX_WATCHERS;
	for (size_t i = 0; i < MAX_WATCHERS && slot == MAX_WATCHERS; i++)
		if (!watchers[i].w)
			slot = i;
	if (slot < MAX_WATCHERS) {
		watchers[slot].w = w;
		memcpy(watchers[slot].id, id, sizeof(id));
	}
	pthread_mutex_unlock(&watchers_lock);
	if (slot == MAX_WATCHERS) {
		watch_free(w);
		return agent_reply_error(r, "resource_exhausted", "too many watchers");
	}
	return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "watcherId", id));
}

/* Runs fn on the watcher named in the request, under the lock. */
static enum MHD_Result with_watcher(struct http_request *r, bool remove)
{
	struct cove_err err = { 0 };
	json_t *req = agent_json_body(r, &err);
	const char *id = json_string_value(json_object_get(req, "watcherId"));
	json_t *out = NULL;
	pthread_mutex_lock(&watchers_lock);
	for (size_t i = 0; id && i < MAX_WATCHERS && !out; i++) {
		if (!watchers[i].w || strcmp(watchers[i].id, id) != 0)
			continue;
		if (remove) {
			watch_free(watchers[i].w);
			watchers[i].w = NULL;
			out = json_object();
		} else {
			json_t *events = json_array();
			watch_drain(watchers[i].w, events);
			out = json_pack("{s:o}", "events", events);
		}
	}
	pthread_mutex_unlock(&watchers_lock);
	json_decref(req);
	if (!out)
		return agent_reply_error(r, "not_found", "no watcher with that id");
	return http_reply_json(r, MHD_HTTP_OK, out);
}

enum MHD_Result watcher_get_events(struct http_request *r)
{
	return with_watcher(r, false);
}

enum MHD_Result watcher_remove(struct http_request *r)
{
	return with_watcher(r, true);
}
