/* GET /sandboxes/{id}/logs: the tail of a sandbox's console and VMM logs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "proto/utf8.h"

#define LOG_TAIL_BYTES (1024 * 1024)

/* Up to want bytes from the end of path into buf; their count, 0 for no
 * such file, or -errno. *earlier: the file holds more before them. */
static long tail_of(const char *path, char *buf, long want, bool *earlier)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	long at = 0;
	if (fseek(f, 0, SEEK_END) == 0 && (at = ftell(f)) > want)
		at -= want;
	else
		at = 0;
	fseek(f, at, SEEK_SET);
	size_t n = fread(buf, 1, (size_t)want, f);
	fclose(f);
	*earlier = at > 0;
	return (long)n;
}

/* The last bytes of a log, at most LOG_TAIL_BYTES, NUL-terminated: of the
 * file, and before it of the one it was rotated to (PATH.1) as far as it
 * takes. *cut says whether the log began earlier. NULL with *rc set (0:
 * no such file). */
static char *tail_bytes(const char *path, bool *cut, int *rc)
{
	char *buf = malloc(LOG_TAIL_BYTES + 1), *last = malloc(LOG_TAIL_BYTES);
	char rotated[PATH_MAX + 4];
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	long n = buf && last ? tail_of(path, last, LOG_TAIL_BYTES, cut) : -ENOMEM;
	long m = 0;
	if (n >= 0 && !*cut && n < LOG_TAIL_BYTES)
		m = tail_of(rotated, buf, LOG_TAIL_BYTES - n, cut);
	if (n < 0 || m < 0 || (n == 0 && m == 0)) {
		*rc = n < 0 ? (int)n : m < 0 ? (int)m : 0;
		free(buf);
		free(last);
		return NULL;
	}
	memcpy(buf + m, last, (size_t)n);
	buf[m + n] = '\0';
	free(last);
	return buf;
}

static int add_line(const char *text, const char *source, const char *ts, json_t *logs, json_t *entries)
{
	json_t *line = json_string_lossy(text);
	json_t *l = line ? json_pack("{s:s, s:O}", "timestamp", ts, "line", line) : NULL;
	json_t *e = line ? json_pack("{s:s, s:s, s:O, s:{s:s}}", "timestamp", ts, "level", "info", "message", line,
				     "fields", "source", source)
			 : NULL;
	int r = l && e && json_array_append_new(logs, l) == 0 && json_array_append_new(entries, e) == 0 ? 0 : -ENOMEM;
	json_decref(line);
	return r;
}

/* The last lines of a log file (at most LOG_TAIL_BYTES of it), each as
 * {"timestamp", "line"} in logs and {"timestamp", "level", "message",
 * "fields": {"source"}} in entries, as E2B's logs route has them. */
static int tail_lines(const char *path, const char *source, const char *ts, size_t limit, json_t *logs,
		      json_t *entries)
{
	bool cut = false;
	int r = 0;
	char *buf = tail_bytes(path, &cut, &r);
	if (!buf)
		return r;
	/* Whole lines only: a cut first line goes. */
	char *p = buf;
	if (cut && (p = strchr(buf, '\n')))
		p++;
	size_t total = 0;
	for (char *q = p; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL)
		total++;
	for (size_t i = 0; p && *p && r == 0; i++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		size_t len = strlen(p);
		if (len && p[len - 1] == '\r')
			p[len - 1] = '\0';
		if (i + limit >= total)
			r = add_line(p, source, ts, logs, entries);
		p = nl ? nl + 1 : NULL;
	}
	free(buf);
	return r;
}

enum MHD_Result api_sandbox_logs(struct http_request *r)
{
	struct cove_err err = { 0 };
	char console[PATH_MAX], vmm[PATH_MAX];
	struct manager_info info = { 0 };
	struct api_logs_query q;
	struct api_query in = api_query_of(r);
	/* An unknown sandbox is 404 whatever the query says. */
	int rc = manager_log_paths(api_manager(r), r->params[0], console, vmm, &err);
	if (rc == 0)
		rc = manager_get(api_manager(r), r->params[0], &info, &err);
	if (rc == 0)
		rc = api_logs_query_parse(&in, &q, &err);
	char ts[32];
	api_iso8601(info.started_ms, ts);
	manager_info_clear(&info);
	if (rc < 0)
		return api_reply_failure(r, rc, &err);
	json_t *logs = json_array(), *entries = json_array();
	rc = logs && entries ? 0 : -ENOMEM;
	if (rc == 0)
		rc = tail_lines(console, "console", ts, q.limit, logs, entries);
	if (rc == 0)
		rc = tail_lines(vmm, "vmm", ts, q.limit, logs, entries);
	if (rc < 0) {
		json_decref(logs);
		json_decref(entries);
		return api_reply_error(r, 500, "read the logs of %s: %s", r->params[0], strerror(-rc));
	}
	return http_reply_json(r, 200, json_pack("{s:o, s:o}", "logs", logs, "logEntries", entries));
}
