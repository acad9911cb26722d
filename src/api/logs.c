/* GET /sandboxes/{id}/logs: the tail of a sandbox's console and VMM logs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "proto/utf8.h"

#define LOG_TAIL_BYTES (1024 * 1024)

/* The last bytes of a file, at most LOG_TAIL_BYTES, NUL-terminated; *cut
 * says whether it began earlier. NULL with *rc set (0: no such file). */
static char *tail_bytes(const char *path, bool *cut, int *rc)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		*rc = errno == ENOENT ? 0 : -errno;
		return NULL;
	}
	char *buf = malloc(LOG_TAIL_BYTES + 1);
	if (!buf) {
		fclose(f);
		*rc = -ENOMEM;
		return NULL;
	}
	long at = 0;
	if (fseek(f, 0, SEEK_END) == 0 && (at = ftell(f)) > LOG_TAIL_BYTES)
		at -= LOG_TAIL_BYTES;
	else
		at = 0;
	fseek(f, at, SEEK_SET);
	size_t n = fread(buf, 1, LOG_TAIL_BYTES, f);
	fclose(f);
	buf[n] = '\0';
	*cut = at > 0;
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
