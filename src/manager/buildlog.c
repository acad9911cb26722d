/* Build logs: each build's lines, in memory for the builds read lately and
 * in BUILD_DIR/logs/ID.jsonl (one JSON object a line, appended as they
 * come), so that a build's log is there after a restart of coved. The
 * status route reads them by offset, as the SDK polls. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "manager/internal.h"

/* A build's log keeps at most this many lines (pip's output can be long);
 * the rest is counted and said once. */
#define LOG_MAX_LINES 20000
#define LOG_MAX_MSG 4096
/* Logs kept in memory besides the one building. */
#define LOGS_IN_MEMORY 8

struct log_line {
	int64_t ms;
	int level;
	char step[16];
	char *msg;
};

struct build_log {
	struct build_log *next;
	char id[40];
	struct log_line *lines;
	size_t n, cap;
	bool capped;
};

static void log_file(const struct manager *m, const char *id, char path[PATH_MAX])
{
	snprintf(path, PATH_MAX, "%s/logs/%s.jsonl", m->build_dir, id);
}

static int push(struct build_log *l, int64_t ms, int level, const char *step, const char *msg)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct log_line *lines = realloc(l->lines, cap * sizeof(*lines));
		if (!lines)
			return -ENOMEM;
		l->lines = lines;
		l->cap = cap;
	}
	struct log_line *ln = &l->lines[l->n];
	ln->ms = ms;
	ln->level = level;
	snprintf(ln->step, sizeof(ln->step), "%s", step);
	if (!(ln->msg = strndup(msg, LOG_MAX_MSG)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static void log_free(struct build_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i].msg);
	free(l->lines);
	free(l);
}

/* Under the lock: the log of id in memory, read from its file if need be
 * (and made most recently used); NULL when it has none (yet). */
static struct build_log *log_get(struct manager *m, const char *id, bool create)
{
	struct build_log **pp = &m->logs;
	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			struct build_log *l = *pp;
			*pp = l->next;
			l->next = m->logs;
			m->logs = l;
			return l;
		}
	}
	char path[PATH_MAX];
	log_file(m, id, path);
	FILE *f = fopen(path, "re");
	if (!f && !create)
		return NULL;
	struct build_log *l = calloc(1, sizeof(*l));
	if (!l) {
		if (f)
			fclose(f);
		return NULL;
	}
	snprintf(l->id, sizeof(l->id), "%s", id);
	char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "message"));
		if (msg)
			push(l, json_integer_value(json_object_get(j, "ms")),
			     (int)json_integer_value(json_object_get(j, "level")),
			     json_string_value(json_object_get(j, "step")) ?: "", msg);
		json_decref(j);
	}
	free(line);
	if (f)
		fclose(f);
	l->capped = l->n >= LOG_MAX_LINES;
	l->next = m->logs;
	m->logs = l;
	return l;
}

void build_log_add(struct manager *m, const char *id, int level, const char *step, const char *msg)
{
	int64_t ms = wall_ms();
	pthread_mutex_lock(&m->lock);
	struct build_log *l = log_get(m, id, true);
	bool keep = l && l->n < LOG_MAX_LINES;
	if (l && !keep && !l->capped) {
		l->capped = true;
		keep = true;
		level = 2; /* warn */
		msg = "the log is cut here: the build writes more lines than Cove keeps";
	}
	if (keep && push(l, ms, level, step, msg) < 0)
		keep = false;
	pthread_mutex_unlock(&m->lock);
	if (!keep)
		return;
	/* Appended outside the lock: the builder thread is its one writer. */
	char path[PATH_MAX];
	log_file(m, id, path);
	json_t *j = json_pack("{s:I, s:i, s:s, s:s%}", "ms", (json_int_t)ms, "level", level, "step", step, "message",
			      msg, strnlen(msg, LOG_MAX_MSG));
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	FILE *f = text ? fopen(path, "ae") : NULL;
	if (f) {
		fprintf(f, "%s\n", text);
		fclose(f);
	} else {
		log_warn("build=%s op=log msg=\"cannot write %s\"", id, path);
	}
	free(text);
	json_decref(j);
}

int manager_build_logs(struct manager *m, const char *build_id, size_t offset, size_t limit, int min_level,
		       manager_log_fn fn, void *ctx, struct cove_err *err)
{
	(void)err;
	pthread_mutex_lock(&m->lock);
	struct build_log *l = log_get(m, build_id, false);
	int r = 0;
	/* The offset counts the lines of min_level and above, as they are
	 * sent (the SDK adds what it got). */
	size_t seen = 0, sent = 0;
	for (size_t i = 0; l && i < l->n && sent < limit && r == 0; i++) {
		if (l->lines[i].level < min_level || seen++ < offset)
			continue;
		struct manager_log_entry e = { l->lines[i].ms, l->lines[i].level, "", l->lines[i].msg };
		snprintf(e.step, sizeof(e.step), "%s", l->lines[i].step);
		r = fn(ctx, &e);
		sent++;
	}
	build_logs_trim(m);
	pthread_mutex_unlock(&m->lock);
	return r;
}

void build_logs_trim(struct manager *m)
{
	unsigned kept = 0;
	for (struct build_log **pp = &m->logs; *pp;) {
		struct build_log *l = *pp;
		if (strcmp(l->id, m->building) != 0 && ++kept > LOGS_IN_MEMORY) {
			*pp = l->next;
			log_free(l);
		} else {
			pp = &l->next;
		}
	}
}

void build_log_remove(struct manager *m, const char *id)
{
	pthread_mutex_lock(&m->lock);
	for (struct build_log **pp = &m->logs; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			struct build_log *l = *pp;
			*pp = l->next;
			log_free(l);
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	char path[PATH_MAX];
	log_file(m, id, path);
	unlink(path);
}

void build_logs_free(struct manager *m)
{
	while (m->logs) {
		struct build_log *l = m->logs;
		m->logs = l->next;
		log_free(l);
	}
}
